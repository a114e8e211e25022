"""Base spider: one instance per source; every fetch attempt ends as exactly one PageItem.

* each request carries ``errback=self.on_error`` → failures (timeouts, DNS, refused, too large, redirect loops,
  robots) become PageItems with an ``error_kind``;
* responses of any status reach the callbacks (``HTTPERROR_ALLOW_ALL``) → a PageItem with ``http_<code>`` for
  4xx/5xx, status 304 with an empty body for a conditional GET hit;
* links are only extracted from successful, text (non-binary) responses, and an extraction bug is counted in
  the stats, never allowed to swallow the page's item (the item is yielded first);
* discovery fetches (sitemaps, feeds) produce PageItems only when they fail (or cannot be parsed); successful ones
  are counted in ``yijian/discovery/*`` stats — they are not documents.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterable, Iterator
from typing import Any, ClassVar
from urllib.parse import urldefrag, urlsplit

import scrapy
from scrapy.crawler import Crawler
from scrapy.http import Request, Response, TextResponse
from scrapy.linkextractors import IGNORED_EXTENSIONS
from twisted.python.failure import Failure

from crawlers.items import page_item_from_failure, page_item_from_response
from domain import PageItem
from domain.sources import SourceConfig

log = logging.getLogger(__name__)

_IGNORED_EXT = {"." + e for e in IGNORED_EXTENSIONS}
_SKIP_SCHEMES = ("javascript:", "mailto:", "tel:", "data:", "#")


def apply_source_settings(settings: Any, source: SourceConfig) -> None:
    """Per-source Scrapy settings (one crawler per source): politeness and the JS download handler."""
    settings.set("DOWNLOAD_DELAY", source.delay, priority="spider")
    settings.set("CONCURRENT_REQUESTS_PER_DOMAIN", source.concurrency, priority="spider")
    if source.render == "js":
        handler = settings.get("YIJIAN_PLAYWRIGHT_HANDLER")
        handlers = dict(settings.getdict("DOWNLOAD_HANDLERS"))
        handlers.update({"http": handler, "https": handler})
        settings.set("DOWNLOAD_HANDLERS", handlers, priority="spider")


def is_text_response(response: Response) -> bool:
    """A text response worth parsing for links (binary bodies, even if labelled text/html, are not)."""
    return isinstance(response, TextResponse) and b"\x00" not in response.body[:4096]


class SourceSpider(scrapy.Spider):
    source_type: ClassVar[str] = ""

    def __init__(self, source: SourceConfig | dict[str, Any], *args: Any, **kwargs: Any) -> None:
        if not isinstance(source, SourceConfig):
            source = SourceConfig.model_validate(source)
        kwargs.setdefault("name", f"{self.source_type or 'source'}-{source.id}")
        super().__init__(*args, **kwargs)
        self.source = source
        if source.timeout is not None:
            self.download_timeout = source.timeout  # read by Scrapy's DownloadTimeoutMiddleware
        self._include = [re.compile(p) for p in source.include]
        self._exclude = [re.compile(p) for p in source.exclude]
        self._robots_sitemap_hosts: set[str] = set()

    @classmethod
    def from_crawler(cls, crawler: Crawler, *args: Any, **kwargs: Any) -> SourceSpider:
        spider = super().from_crawler(crawler, *args, **kwargs)
        apply_source_settings(crawler.settings, spider.source)
        return spider

    # -- requests -------------------------------------------------------------------------------------------
    def make_request(
        self,
        url: str,
        callback: Callable[..., Any],
        *,
        depth: int,
        kind: str = "page",
        meta: dict[str, Any] | None = None,
        dont_filter: bool = False,
        leaf: bool | None = None,
    ) -> Request:
        """A request with our errback. ``leaf``: its links will not be followed (default: at the source's maximum
        depth); only leaves are fetched conditionally — a 304 on a hub page would hide the links below it."""
        m: dict[str, Any] = {"depth": depth, "yijian_kind": kind, **(meta or {})}
        if kind == "page":
            m["yijian_conditional"] = depth >= self.source.depth if leaf is None else leaf
        if kind == "page" and self.source.render == "js":
            timeout_ms = int(self.settings.getfloat("YIJIAN_RENDER_TIMEOUT", 15.0) * 1000)
            m["playwright"] = True
            m["playwright_page_goto_kwargs"] = {
                "wait_until": self.settings.get("YIJIAN_RENDER_WAIT_UNTIL", "networkidle"),
                "timeout": timeout_ms,
            }
        return Request(url, callback=callback, errback=self.on_error, meta=m, dont_filter=dont_filter)

    def on_error(self, failure: Failure) -> Iterator[PageItem]:
        item = page_item_from_failure(self.source.id, failure)
        if item.error_kind == "connection_error" and failure.request.meta.get("playwright"):  # type: ignore[attr-defined]
            item.error_kind = "render_error"
        self.crawler.stats.inc_value(f"yijian/fetch_error/{item.error_kind}")
        yield item

    def page_item(self, response: Response) -> PageItem:
        item = page_item_from_response(self.source.id, response)
        stats = self.crawler.stats
        stats.inc_value("yijian/pages")
        if item.error_kind:
            stats.inc_value(f"yijian/fetch_error/{item.error_kind}")
        elif item.status == 304:
            stats.inc_value("yijian/not_modified")
        return item

    def ok_for_links(self, response: Response) -> bool:
        return response.status == 200 and is_text_response(response)

    # -- links ----------------------------------------------------------------------------------------------
    def allowed_url(self, url: str) -> bool:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not self.source.allows_host(parts.hostname):
            return False
        path = parts.path.lower()
        dot = path.rfind(".")
        if dot != -1 and "/" not in path[dot:] and path[dot:] in _IGNORED_EXT:
            return False
        if self._include and not any(p.search(url) for p in self._include):
            return False
        return not any(p.search(url) for p in self._exclude)

    def extract_links(self, response: Response, xpath: str = "//a/@href | //area/@href") -> list[str]:
        """Absolute, de-fragmented, allowed, unique link URLs of a text response, in document order."""
        out: list[str] = []
        seen: set[str] = set()
        for href in response.xpath(xpath).getall():
            href = href.strip()
            if not href or href.lower().startswith(_SKIP_SCHEMES):
                continue
            url = urldefrag(response.urljoin(href))[0]
            if url in seen or not self.allowed_url(url):
                continue
            seen.add(url)
            out.append(url)
        return out

    def safely(self, response: Response, produce: Callable[[], Iterable[Any]]) -> Iterator[Any]:
        """Run a link/child producer; a parsing bug is logged and counted, never fatal for the crawl."""
        try:
            yield from produce()
        except Exception as exc:
            log.warning("link extraction failed for %s: %s", response.url, exc, exc_info=True)
            self.crawler.stats.inc_value("yijian/link_extraction_error")

    def robots_sitemap_requests(self, response: Response) -> Iterator[Request]:
        """Sitemaps named by the host's robots.txt ``Sitemap:`` lines (once per host)."""
        host = urlsplit(response.url).netloc
        sitemaps = response.meta.get("robots_sitemaps") or []
        if not sitemaps or host in self._robots_sitemap_hosts:
            return
        self._robots_sitemap_hosts.add(host)
        for url in sitemaps:
            if self.source.allows_host(urlsplit(url).hostname):
                yield self.make_request(url, self.parse_sitemap, depth=0, kind="sitemap")

    def parse_sitemap(self, response: Response) -> Iterator[Any]:
        from crawlers.spiders.sitemaps import parse_sitemap

        if response.status != 200:
            yield self.page_item(response)
            return
        try:
            kind, locs = parse_sitemap(response)
        except ValueError as exc:
            item = self.page_item(response)
            item.error_kind, item.error_detail = "parse_error", f"站点地图无法解析: {exc}"
            self.crawler.stats.inc_value("yijian/fetch_error/parse_error")
            yield item
            return
        self.crawler.stats.inc_value("yijian/discovery/sitemap")
        depth = int(response.meta.get("depth", 0))
        for loc in locs:
            if kind == "sitemapindex":
                if self.source.allows_host(urlsplit(loc).hostname):
                    yield self.make_request(loc, self.parse_sitemap, depth=depth, kind="sitemap")
            elif self.allowed_url(loc):
                yield self.make_request(loc, self.parse_page, depth=depth)

    def parse_page(self, response: Response) -> Iterator[Any]:  # pragma: no cover - overridden
        yield self.page_item(response)
