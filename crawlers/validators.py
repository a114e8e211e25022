"""Where conditional-GET validators (ETag, Last-Modified) come from.

``YIJIAN_VALIDATORS_FACTORY`` names (or is) a callable ``factory(crawler) -> lookup | None`` where
``lookup(url) -> (etag, last_modified)``. ``None`` from the factory disables conditional GET.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from scrapy import signals

from config import Settings
from store.db import Store

if TYPE_CHECKING:
    from scrapy.crawler import Crawler

log = logging.getLogger(__name__)

Validators = tuple[str | None, str | None]
ValidatorsLookup = Callable[[str], Validators | None]


def yijian_settings(crawler: Crawler) -> Settings:
    """The product settings inside a crawler process: ``YIJIAN_SETTINGS`` (a JSON dump passed by the runner),
    with ``YIJIAN_DATA_DIR`` taking precedence when set."""
    values: dict[str, Any] = dict(crawler.settings.getdict("YIJIAN_SETTINGS"))
    data_dir = crawler.settings.get("YIJIAN_DATA_DIR")
    if data_dir:
        values["data_dir"] = data_dir
    return Settings(**{k: v for k, v in values.items() if v is not None})


def store_validators(crawler: Crawler) -> ValidatorsLookup | None:
    """Default factory: the validators recorded by the store for the previous fetch of a URL."""
    store = Store.from_settings(yijian_settings(crawler))
    crawler.signals.connect(lambda *a, **kw: store.close(), signal=signals.spider_closed, weak=False)
    return store.validators


def mapping_validators(crawler: Crawler) -> ValidatorsLookup | None:
    """Validators from the ``YIJIAN_VALIDATORS_MAP`` setting: ``{url: [etag, last_modified]}`` (tests, tools)."""
    mapping = crawler.settings.getdict("YIJIAN_VALIDATORS_MAP")
    if not mapping:
        return None

    def lookup(url: str) -> Validators | None:
        value = mapping.get(url)
        if not value:
            return None
        etag, last_modified = (list(value) + [None, None])[:2]
        return etag, last_modified

    return lookup
