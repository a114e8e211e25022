"""Pick the search backend the settings name."""

from __future__ import annotations

from config import Settings

from .base import SearchBackend


def get_search(settings: Settings) -> SearchBackend:
    """``YIJIAN_SEARCH=embedded`` (default): SQLite FTS5 in ``data_dir/search.sqlite``;
    ``YIJIAN_SEARCH=elasticsearch``: the cluster(s) at ``YIJIAN_ES_URL``."""
    if settings.search == "elasticsearch":
        from .elastic import ElasticSearch

        return ElasticSearch(settings)
    from .embedded import EmbeddedSearch

    return EmbeddedSearch(settings.data_dir / "search.sqlite")
