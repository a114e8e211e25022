"""Distributed mode: a worker does not close the moment its view of the shared frontier is empty.

With a shared Redis frontier a worker can find it empty while another worker is still fetching the pages whose
links will refill it (typically at start-up: the start URL is already taken, its links not yet pushed). The spider
stays open until it has been idle for ``YIJIAN_IDLE_GRACE`` seconds (default 3; 0 disables); while waiting the
engine is nudged every half second to look at the frontier again (instead of Scrapy's 5 s heartbeat).
"""

from __future__ import annotations

from time import monotonic
from typing import TYPE_CHECKING, Any

from scrapy import signals
from scrapy.exceptions import DontCloseSpider, NotConfigured
from twisted.internet import reactor

if TYPE_CHECKING:
    from scrapy.crawler import Crawler

POKE_INTERVAL = 0.5


class IdleGrace:
    def __init__(self, crawler: Crawler, grace: float) -> None:
        self.crawler = crawler
        self.grace = grace
        self.last_active = monotonic()

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> IdleGrace:
        grace = crawler.settings.getfloat("YIJIAN_IDLE_GRACE", 3.0)
        if grace <= 0:
            raise NotConfigured
        ext = cls(crawler, grace)
        for sig in (signals.spider_opened, signals.request_scheduled, signals.response_received):
            crawler.signals.connect(ext.active, signal=sig)
        crawler.signals.connect(ext.spider_idle, signal=signals.spider_idle)
        return ext

    def active(self, *args: Any, **kwargs: Any) -> None:
        self.last_active = monotonic()

    def spider_idle(self, *args: Any, **kwargs: Any) -> None:
        if monotonic() - self.last_active >= self.grace:
            return
        reactor.callLater(POKE_INTERVAL, self._poke)  # type: ignore[attr-defined]
        raise DontCloseSpider("waiting for the shared frontier")

    def _poke(self) -> None:
        slot = getattr(getattr(self.crawler, "_engine", None), "_slot", None)
        nextcall = getattr(slot, "nextcall", None)
        if nextcall is not None:
            nextcall.schedule()
