"""Crawler-trap guards: every request the spider yields is checked before it is scheduled.

Refusals are counted per guard and pattern, not stored per URL: the FIRST refused URL of each guard/pattern
(``depth``, ``max_pages``, ``url_length``, ``segment:<seg>``, ``pattern:<pattern>``, ``discovery``) becomes a PageItem
with ``error_kind="trap"`` and a Chinese reason (the middleware replaces the request with that item, so the run's
errors show the trap once); every refusal increments the crawl stat ``yijian/trap/refused/<key>`` (the run summary's
``per_source`` stats). A page with 100,000 links to a trap therefore costs one error row, not 100,000. Guards, per source
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
        self._recorded: set[str] = set()  # guard/pattern keys already recorded as a trap item
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
            if request.url != key and not request.dont_filter:
                # another spelling of a page already scheduled (a new session id, reordered query): the
                # dupefilter would see a new URL and fetch the same page again, using up max_pages
                self.crawler.stats.inc_value("yijian/trap/same_canonical")
                return None
            return request  # the dupefilter decides
        if key in self._refused:
            self.crawler.stats.inc_value("yijian/trap/repeat_refusal")
            return None
        reason, pattern = self._check(request, response)
        stats = self.crawler.stats
        if reason is not None:
            guard, text = reason
            self._refused.add(key)
            stats.inc_value("yijian/trap/refused")
            stats.inc_value(f"yijian/trap/refused/{guard}")
            if guard in self._recorded:
                return None  # counted, not stored again
            self._recorded.add(guard)
            spider = self.crawler.spider
            detail = f"{text}（同一原因的后续拒绝只计数，见运行统计 yijian/trap/refused/{guard}）"
            return trap_item(spider.source.id, request, detail)  # type: ignore[union-attr]
        self._passed.add(key)
        if pattern is not None:
            self._patterns[pattern] += 1
        if request.meta.get("yijian_kind", "page") == "page":
            self._pages += 1
        else:
            self._discovery += 1
        return request

    def _check(
        self, request: Request, response: Response | None
    ) -> tuple[tuple[str, str] | None, str | None]:
        """((guard key, Chinese reason) or None, the number pattern to count when the request passes)."""
        source = self.crawler.spider.source  # type: ignore[union-attr]
        url = request.url
        if len(url) > self.max_url_length:
            return ("url_length", f"URL 过长（{len(url)} > {self.max_url_length} 个字符）"), None
        segments = [seg for seg in urlsplit(url).path.split("/") if seg]
        if segments:
            seg, count = Counter(segments).most_common(1)[0]
            if count > self.max_segment_repeats:
                return (f"segment:{seg[:80]}", f"路径段重复（“{seg}”出现 {count} 次）"), None
        if request.meta.get("yijian_kind", "page") != "page":
            if self._discovery >= self.max_discovery:
                return ("discovery", f"站点地图/订阅源数量达到上限 {self.max_discovery}"), None
            return None, None
        depth = int(request.meta.get("depth", 0))
        if depth > source.depth:
            return ("depth", f"超过最大抓取深度 {source.depth}（深度 {depth}）"), None
        counted: str | None = None
        pattern = url_pattern(url)
        if pattern is not None and response is not None and url_pattern(response.url) == pattern:
            if self._patterns[pattern] >= self.pattern_max:
                why = f"URL 模式重复（仅数字不同的链接超过 {self.pattern_max} 个: {pattern}）"
                return (f"pattern:{pattern[:200]}", why), None
            counted = pattern
        if self._pages >= source.max_pages:
            return ("max_pages", f"达到信息源页面上限 {source.max_pages}"), None
        return None, counted
