"""robots.txt obeyed, including ``Crawl-delay`` (which Scrapy itself ignores).

Replaces Scrapy's ``RobotsTxtMiddleware`` (same settings: ``ROBOTSTXT_OBEY``, ``ROBOTSTXT_PARSER``,
``ROBOTSTXT_USER_AGENT``). After the host's robots.txt is parsed, the download slot of the request gets
``delay = max(Crawl-delay, DOWNLOAD_DELAY)`` (``DOWNLOAD_DELAY`` carries the source's ``delay``), without jitter,
counted from the arrival of robots.txt. The value also goes into the downloader's per-slot settings so a slot
recreated after garbage collection keeps it.
``Crawl-delay`` is capped by ``ROBOTSTXT_MAX_CRAWL_DELAY`` so a hostile robots.txt cannot stall a crawl.

Disallowed requests raise :class:`~crawlers.items.RobotsDisallowed` (recorded once per URL by the spider's
errback, the dupefilter keeping the URL from being requested twice). The host's ``Sitemap:`` lines are put in
``request.meta["robots_sitemaps"]`` for the spider.

An unreachable robots.txt disallows the whole host for this crawl (RFC 9309 §2.3.1.4), where Scrapy would allow
everything: a 5xx or 429 answer (after the retry middleware's retries) or a timeout. The host's requests raise
:class:`~crawlers.items.RobotsUnreachable` (kind ``robots_disallowed``, the cause in the detail); the next crawl
asks again. A 4xx answer still means no rules (§2.3.1.3), and a host that cannot be resolved or refuses the
connection is left to fail each page with its own kind (``dns_error``, ``connection_error``), which says more.
"""

from __future__ import annotations

from time import monotonic
from typing import TYPE_CHECKING, Any

from scrapy.downloadermiddlewares.robotstxt import RobotsTxtMiddleware
from scrapy.exceptions import DownloadTimeoutError, IgnoreRequest
from scrapy.http import Request
from scrapy.utils.httpobj import urlparse_cached
from twisted.internet import error as tx_error
from twisted.internet.defer import Deferred

from crawlers.items import RobotsDisallowed, RobotsUnreachable

TIMEOUTS = (DownloadTimeoutError, tx_error.TimeoutError, TimeoutError)

if TYPE_CHECKING:
    from scrapy.crawler import Crawler
    from scrapy.robotstxt import RobotParser


class Unreachable:
    """The parser of a host whose robots.txt could not be read: it disallows everything, and says why."""

    def __init__(self, why: str) -> None:
        self.why = why


class RobotsCrawlDelayMiddleware(RobotsTxtMiddleware):
    def __init__(self, crawler: Crawler) -> None:
        super().__init__(crawler)
        self._base_delay = crawler.settings.getfloat("DOWNLOAD_DELAY")
        self._max_crawl_delay = crawler.settings.getfloat("ROBOTSTXT_MAX_CRAWL_DELAY", 30.0)
        self._applied: dict[str, float] = {}

    async def process_request(self, request: Request) -> None:  # type: ignore[override]
        if request.meta.get("dont_obey_robotstxt"):
            return
        if urlparse_cached(request).scheme not in ("http", "https"):
            return
        rp = await self.robot_parser(request)
        if rp is None:
            return
        if isinstance(rp, Unreachable):
            self.crawler.stats.inc_value("yijian/robots/unreachable_refused")
            raise RobotsUnreachable(f"robots.txt 无法获取（{rp.why}），按 RFC 9309 视为全站禁止抓取")
        self._apply_robots(rp, request)
        try:
            self.process_request_2(rp, request)
        except IgnoreRequest as exc:
            raise RobotsDisallowed(f"robots.txt 禁止抓取: {request.url}") from exc

    async def _parse_robots(self, response: Any, netloc: str, request: Request) -> None:
        if response.status >= 500 or response.status == 429:
            self._unreachable(netloc, f"HTTP {response.status}")
            return
        await super()._parse_robots(response, netloc, request)

    def _robots_error(self, exc: Exception, netloc: str) -> None:
        if isinstance(exc, TIMEOUTS):
            self._unreachable(netloc, f"超时：{type(exc).__name__}")
            return
        super()._robots_error(exc, netloc)

    def _unreachable(self, netloc: str, why: str) -> None:
        self.crawler.stats.inc_value("yijian/robots/unreachable")
        rp_dfd = self._parsers[netloc]
        self._parsers[netloc] = Unreachable(why)  # type: ignore[assignment]
        if isinstance(rp_dfd, Deferred):
            rp_dfd.callback(self._parsers[netloc])

    def _useragent(self, request: Request) -> str:
        ua: Any = self._robotstxt_useragent or request.headers.get(b"User-Agent", self._default_useragent)
        return ua.decode("latin-1") if isinstance(ua, bytes) else str(ua)

    def _apply_robots(self, rp: RobotParser, request: Request) -> None:
        protego = getattr(rp, "rp", None)  # scrapy.robotstxt.ProtegoRobotParser wraps a protego.Protego
        if protego is None:
            return
        sitemaps = list(getattr(protego, "sitemaps", []) or [])
        if sitemaps:
            request.meta["robots_sitemaps"] = sitemaps
        downloader = self.crawler.engine.downloader
        key = downloader.get_slot_key(request)
        if key in self._applied:
            return
        crawl_delay = (
            protego.crawl_delay(self._useragent(request)) if hasattr(protego, "crawl_delay") else None
        )
        delay = self._base_delay
        if crawl_delay:
            delay = max(delay, min(float(crawl_delay), self._max_crawl_delay))
            self.crawler.stats.set_value(f"yijian/crawl_delay/{key}", delay)
        self._applied[key] = delay
        if delay <= 0:
            return
        slot_settings = downloader.per_slot_settings.setdefault(key, {})
        slot_settings["delay"] = delay
        slot_settings["jitter"] = 0.0
        slot = downloader.slots.get(key)
        if slot is not None:
            slot.delay = delay
            slot.jitter = 0.0
            # Count the delay from now (robots.txt just arrived), not from when its request was sent.
            slot.lastseen = max(slot.lastseen, monotonic())
