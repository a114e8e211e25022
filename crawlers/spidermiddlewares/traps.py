"""Crawler-trap guards: every request the spider yields is checked before it is scheduled.

A refused URL is recorded ONCE as a PageItem with ``error_kind="trap"`` and a Chinese reason (the middleware
replaces the request with that item); a later link to the same URL is dropped silently. Guards, per source
(one spider per source, so middleware state is per source):

* depth: ``meta["depth"] > source.depth`` (Scrapy's ``DepthMiddleware`` is disabled; spiders set depth);
* page cap: at most ``source.max_pages`` page requests scheduled;
* URL length: longer than ``TRAP_URL_MAX_LENGTH`` (Scrapy's ``UrlLengthMiddleware`` is disabled);
* repeated path segments: one segment occurring more than ``TRAP_MAX_SEGMENT_REPEATS`` times (``/a/b/a/b/a``);
* number patterns: URLs that differ only in their numbers (``/calendar/2025/03`` → ``/calendar/2025/04``) found on a
  page of the same pattern form a chain; at most ``TRAP_PATTERN_MAX`` such self-referential links per pattern.
  Links from a different-pattern page (an article list linking to ``/news/123.html``) are not counted, so
  ordinary article ids do not trip it; pagination chains and calendars do;
* discovery fetches (sitemaps, feeds) are capped at ``TRAP_MAX_DISCOVERY`` per source.

Requests with ``meta["yijian_unguarded"]`` pass untouched. ``TRAP_ENABLED = False`` disables the middleware.
"""

from __future__ import annotations

import re
from collections import Counter
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from scrapy.exceptions import NotConfigured
from scrapy.spidermiddlewares.base import BaseSpiderMiddleware

from crawlers.items import trap_item
from domain.urls import canonical_url

if TYPE_CHECKING:
    from scrapy.crawler import Crawler
    from scrapy.http import Request, Response

_DIGITS = re.compile(r"\d+")


def url_pattern(url: str) -> str | None:
    """The URL with every digit run replaced by ``0``; ``None`` when it has no digits in path or query."""
    parts = urlsplit(url)
    tail = parts.path + ("?" + parts.query if parts.query else "")
    if not _DIGITS.search(tail):
        return None
    return f"{parts.netloc}{_DIGITS.sub('0', tail)}"


class TrapGuardMiddleware(BaseSpiderMiddleware):
    def __init__(self, crawler: Crawler) -> None:
        super().__init__(crawler)
        s = crawler.settings
        if not s.getbool("TRAP_ENABLED", True):
            raise NotConfigured
        self.max_url_length = s.getint("TRAP_URL_MAX_LENGTH", 2083)
        self.max_segment_repeats = s.getint("TRAP_MAX_SEGMENT_REPEATS", 2)
        self.pattern_max = s.getint("TRAP_PATTERN_MAX", 20)
        self.max_discovery = s.getint("TRAP_MAX_DISCOVERY", 50)
        self._passed: set[str] = set()
        self._refused: set[str] = set()
        self._pages = 0
        self._discovery = 0
        self._patterns: Counter[str] = Counter()

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> TrapGuardMiddleware:
        return cls(crawler)

    def get_processed_request(self, request: Request, response: Response | None) -> Any:
        if request.meta.get("yijian_unguarded"):
            return request
        key = canonical_url(request.url)
        if key in self._passed:
            return request  # the dupefilter decides
        if key in self._refused:
            self.crawler.stats.inc_value("yijian/trap/repeat_refusal")
            return None
        reason, pattern = self._check(request, response)
        stats = self.crawler.stats
        if reason is not None:
            self._refused.add(key)
            stats.inc_value("yijian/trap/refused")
            spider = self.crawler.spider
            return trap_item(spider.source.id, request, reason)  # type: ignore[union-attr]
        self._passed.add(key)
        if pattern is not None:
            self._patterns[pattern] += 1
        if request.meta.get("yijian_kind", "page") == "page":
            self._pages += 1
        else:
            self._discovery += 1
        return request

    def _check(self, request: Request, response: Response | None) -> tuple[str | None, str | None]:
        source = self.crawler.spider.source  # type: ignore[union-attr]
        url = request.url
        if len(url) > self.max_url_length:
            return f"URL 过长（{len(url)} > {self.max_url_length} 个字符）", None
        segments = [seg for seg in urlsplit(url).path.split("/") if seg]
        if segments:
            seg, count = Counter(segments).most_common(1)[0]
            if count > self.max_segment_repeats:
                return f"路径段重复（“{seg}”出现 {count} 次）", None
        if request.meta.get("yijian_kind", "page") != "page":
            if self._discovery >= self.max_discovery:
                return f"站点地图/订阅源数量达到上限 {self.max_discovery}", None
            return None, None
        depth = int(request.meta.get("depth", 0))
        if depth > source.depth:
            return f"超过最大抓取深度 {source.depth}（深度 {depth}）", None
        counted: str | None = None
        pattern = url_pattern(url)
        if pattern is not None and response is not None and url_pattern(response.url) == pattern:
            if self._patterns[pattern] >= self.pattern_max:
                return f"URL 模式重复（仅数字不同的链接超过 {self.pattern_max} 个: {pattern}）", None
            counted = pattern
        if self._pages >= source.max_pages:
            return f"达到信息源页面上限 {source.max_pages}", None
        return None, counted
