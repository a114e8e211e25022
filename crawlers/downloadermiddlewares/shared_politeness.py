"""Distributed mode: one host's delay (``Crawl-delay``, the source's ``delay``) holds across all workers, not per
worker.

Each request to a host with a delay books the next free start time for that host in Redis (key
``yijian:polite:<host>``, one atomic Lua script: ``start = max(now, booked); booked = start + delay``, with Redis's
clock for every worker) and waits until then. The worker's own download slot for the host gets no delay of its own
(the booking is the delay), so N workers fetch a host no faster than one would. Runs after
``RobotsCrawlDelayMiddleware`` (priority 100), which has put the host's delay in the downloader's per-slot settings.
If Redis cannot be reached the worker waits the host's delay locally.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import redis
from scrapy.exceptions import NotConfigured
from scrapy.utils.asyncio import sleep

if TYPE_CHECKING:
    from scrapy.crawler import Crawler
    from scrapy.http import Request

log = logging.getLogger(__name__)

KEY = "yijian:polite:{host}"
# Returns the milliseconds to wait before this request may start.
BOOK = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local booked = tonumber(redis.call('GET', KEYS[1]) or '0')
local start = math.max(now, booked)
redis.call('SET', KEYS[1], start + tonumber(ARGV[1]), 'PX', tonumber(ARGV[1]) + 60000)
return start - now
"""


class SharedPolitenessMiddleware:
    def __init__(self, crawler: Crawler, client: redis.Redis) -> None:
        self.crawler = crawler
        self.client = client
        self.book = client.register_script(BOOK)
        self._default = crawler.settings.getfloat("DOWNLOAD_DELAY")
        self._delays: dict[str, float] = {}

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> SharedPolitenessMiddleware:
        url = crawler.settings.get("REDIS_URL")
        if not url or not crawler.settings.getbool("YIJIAN_SHARED_POLITENESS", True):
            raise NotConfigured
        return cls(crawler, redis.Redis.from_url(url, socket_timeout=5, socket_connect_timeout=5))

    def host_delay(self, key: str) -> float:
        """The host's delay. Whenever a delay appears in the local slot's settings (RobotsCrawlDelayMiddleware puts
        ``Crawl-delay`` there once robots.txt has arrived) it is moved here and the local slot keeps none."""
        downloader: Any = self.crawler.engine.downloader  # type: ignore[union-attr]
        slot_settings = downloader.per_slot_settings.setdefault(key, {})
        local = float(slot_settings.get("delay") or 0.0)
        if local > 0 or key not in self._delays:
            self._delays[key] = local or self._default
            slot_settings["delay"] = 0.0
            slot = downloader.slots.get(key)
            if slot is not None:
                slot.delay = 0.0
            if self._delays[key] > 0:
                self.crawler.stats.set_value(f"yijian/shared_delay/{key}", self._delays[key])
        return self._delays[key]

    async def process_request(self, request: Request) -> None:
        key = self.crawler.engine.downloader.get_slot_key(request)  # type: ignore[union-attr]
        delay = self.host_delay(key)
        if delay <= 0:
            return
        try:
            wait_ms = int(self.book(keys=[KEY.format(host=key)], args=[int(delay * 1000)]))
        except (redis.RedisError, OSError) as exc:
            log.warning("Redis unreachable for the shared delay of %s (%s): waiting locally", key, exc)
            wait_ms = int(delay * 1000)
        if wait_ms > 0:
            self.crawler.stats.inc_value("yijian/shared_delay_waits")
            await sleep(wait_ms / 1000)
