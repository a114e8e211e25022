"""Incremental recrawl: conditional GET with the previous fetch's validators.

Adds ``If-None-Match`` / ``If-Modified-Since`` to page requests from the lookup built by
``YIJIAN_VALIDATORS_FACTORY`` (default :func:`crawlers.validators.store_validators`). A ``304 Not Modified`` reaches
the spider (``HTTPERROR_ALLOW_ALL``) and becomes a PageItem with status 304 and an empty body. Disabled by
``YIJIAN_CONDITIONAL_GET = False`` or when the factory returns ``None``. Requests with
``meta["dont_conditional"]`` are left alone, and so is everything the spider did not mark
``meta["yijian_conditional"]``: only leaf pages (news and WeChat articles, pages at the source's maximum depth) are
fetched conditionally. A 304 has no body, so on a hub page (home, list) it would hide every link below it and the
recrawl would stop there; hubs are fetched in full and the pipeline recognises an identical body as unchanged.
Robots, sitemaps, feeds and images are never conditional, and neither are rendered (``render: js``) pages: given a
304, Chromium aborts the navigation (``net::ERR_ABORTED``) and the page would be recorded as a render error; they are
fetched in full and the pipeline recognises an identical text as unchanged.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from scrapy.exceptions import NotConfigured
from scrapy.http import Request
from scrapy.utils.misc import load_object

if TYPE_CHECKING:
    from scrapy.crawler import Crawler

    from crawlers.validators import ValidatorsLookup

log = logging.getLogger(__name__)


class ConditionalGetMiddleware:
    def __init__(self, crawler: Crawler, lookup: ValidatorsLookup) -> None:
        self.crawler = crawler
        self.lookup = lookup

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> ConditionalGetMiddleware:
        if not crawler.settings.getbool("YIJIAN_CONDITIONAL_GET", True):
            raise NotConfigured
        factory: Any = crawler.settings.get("YIJIAN_VALIDATORS_FACTORY")
        if not factory:
            raise NotConfigured
        if isinstance(factory, str):
            factory = load_object(factory)
        lookup = factory(crawler)
        if lookup is None:
            raise NotConfigured
        return cls(crawler, lookup)

    def process_request(self, request: Request) -> None:
        if request.method != "GET" or request.meta.get("dont_conditional"):
            return
        if not request.meta.get("yijian_conditional") or request.meta.get("playwright"):
            return
        if b"If-None-Match" in request.headers or b"If-Modified-Since" in request.headers:
            return
        try:
            found = self.lookup(request.url)
        except Exception as exc:  # a broken store must not stop the crawl: fetch unconditionally
            log.warning("validators lookup failed for %s: %s", request.url, exc)
            self.crawler.stats.inc_value("yijian/conditional/lookup_error")
            return
        if not found:
            return
        etag, last_modified = found
        if etag:
            request.headers[b"If-None-Match"] = etag
        if last_modified:
            request.headers[b"If-Modified-Since"] = last_modified
        if etag or last_modified:
            self.crawler.stats.inc_value("yijian/conditional/sent")
