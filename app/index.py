"""Use-cases of index maintenance: install the Elasticsearch templates, the index status and outbox backlog, and a
rebuild of the index from the store."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from config import Settings
from store.db import Store
from store.indexer import Indexer
from store.search.base import SearchUnavailable
from store.search.factory import get_search

__all__ = ["NotElasticsearch", "SearchUnavailable", "index_status", "install_templates", "rebuild_index"]


class NotElasticsearch(RuntimeError):
    """The configured backend is the embedded index, which needs no templates."""


@contextmanager
def _indexer(settings: Settings) -> Iterator[Indexer]:
    backend = get_search(settings)
    store = Store.from_settings(settings)
    try:
        yield Indexer(store, backend)
    finally:
        store.close()


def install_templates(
    settings: Settings,
    *,
    analyzer_profile: str | None = None,
    shards: int | None = None,
    replicas: int | None = None,
) -> list[str]:
    """Install index templates, the ILM policy and aliases (idempotent); returns what was done, line by line.
    Raises ``SearchUnavailable`` when the cluster cannot be reached."""
    if settings.search != "elasticsearch":
        raise NotElasticsearch("embedded search")
    from store.search.elastic import ElasticSearch  # optional backend: loaded only when configured

    backend = ElasticSearch(settings)
    return list(backend.install(analyzer_profile=analyzer_profile, shards=shards, replicas=replicas))


def index_status(settings: Settings) -> dict[str, Any]:
    with _indexer(settings) as indexer:
        return indexer.status()


def rebuild_index(settings: Settings, *, batch: int = 500) -> dict[str, Any]:
    """Empty the index and index every document again, then replay the outbox."""
    with _indexer(settings) as indexer:
        return indexer.rebuild(batch=batch)
