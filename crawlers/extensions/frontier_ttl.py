"""Distributed mode: give a crawl's shared Redis frontier keys (and its fetch ledger) a TTL when a worker closes its spider, so
persisted queues and dupefilters of finished runs do not pile up (``YIJIAN_FRONTIER_TTL`` seconds, default 1 day;
0 disables)."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from scrapy import signals
from scrapy.exceptions import NotConfigured

if TYPE_CHECKING:
    from scrapy import Spider
    from scrapy.crawler import Crawler

log = logging.getLogger(__name__)


class FrontierTTL:
    def __init__(self, crawler: Crawler, ttl: int) -> None:
        self.crawler = crawler
        self.ttl = ttl

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> FrontierTTL:
        ttl = crawler.settings.getint("YIJIAN_FRONTIER_TTL", 86400)
        if ttl <= 0 or not crawler.settings.get("REDIS_URL"):
            raise NotConfigured
        ext = cls(crawler, ttl)
        crawler.signals.connect(ext.spider_closed, signal=signals.spider_closed)
        return ext

    def spider_closed(self, spider: Spider) -> None:
        import redis

        s = self.crawler.settings
        keys = [s.get("SCHEDULER_QUEUE_KEY", ""), s.get("SCHEDULER_DUPEFILTER_KEY", "")]
        if keys[0]:  # the fetch ledger of crawlers.frontier (read by the run summary, then left to expire)
            from crawlers.frontier import ledger_keys

            ledger = ledger_keys(keys[0], spider.name)
            keys += [ledger["fetched"], ledger["fetched_by"]]
        try:
            client = redis.Redis.from_url(s.get("REDIS_URL"))
            for key in keys:
                if key:
                    client.expire(key % {"spider": spider.name}, self.ttl)
            client.close()
        except Exception as exc:  # housekeeping only
            log.warning("could not set TTL on frontier keys: %s", exc)
