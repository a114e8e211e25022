"""Distributed mode's shared frontier: scrapy-redis's scheduler made safe for workers that die and for Redis
outages, with a ledger of who fetched what.

Keys (``<p>`` = ``yijian:<frontier>:<spider>``): ``<p>:requests`` and ``<p>:dupefilter`` (scrapy-redis),
``<p>:workers`` (set of worker ids), ``<p>:alive:<worker>`` (heartbeat, expires after ``HEARTBEAT_TTL`` s),
``<p>:inflight:<worker>`` (hash fingerprint → serialized request: what the worker took and has not finished),
``<p>:fetched`` (hash URL → times fetched, over all workers) and ``<p>:fetched_by`` (hash worker → pages fetched).

- Taking a request off the frontier records it in the worker's in-flight hash; it is removed when the request's
  item has been through the item pipelines (stored), and the whole hash is cleared whenever the worker is idle
  (everything it took is then finished). A worker killed mid-crawl leaves its hash behind; once its heartbeat has
  expired, another worker renames the hash (atomic: exactly one claims it) and puts the requests back on the
  frontier, past the dupefilter. So every page taken by a dead worker is fetched again and no page is lost; a page
  it had already stored is stored again as "unchanged" (same document, no new version).
- A worker does not consider the crawl done while any other worker has requests in flight (they may add links).
- While Redis cannot be reached the worker waits: new requests are kept in memory and pushed later, acks and ledger
  counts are retried, the frontier counts as non-empty so the spider stays open; after
  ``YIJIAN_REDIS_OUTAGE_MAX`` seconds (default 600) without Redis the spider closes (``redis_unavailable``).
"""

from __future__ import annotations

import logging
import os
import socket
import time
import uuid
import warnings
from collections import Counter
from typing import TYPE_CHECKING, Any

import redis
from scrapy import signals
from scrapy.exceptions import ScrapyDeprecationWarning
from scrapy.http import Response
from scrapy_redis.scheduler import Scheduler
from twisted.internet.task import LoopingCall

if TYPE_CHECKING:
    from scrapy import Request, Spider
    from scrapy.crawler import Crawler
    from scrapy.settings import BaseSettings

log = logging.getLogger(__name__)

HEARTBEAT_EVERY = 2.0
HEARTBEAT_TTL = 10
META_KEY = "yijian_inflight"  # request.meta: the in-flight entry this request (or its redirect) settles
REDIS_ERRORS = (redis.ConnectionError, redis.TimeoutError, redis.BusyLoadingError, OSError)


def worker_id(settings: BaseSettings) -> str:
    return settings.get("YIJIAN_WORKER_ID") or f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"


def ledger_keys(queue_key: str, spider: str) -> dict[str, str]:
    prefix = (queue_key % {"spider": spider}).removesuffix(":requests")
    return {
        "fetched": f"{prefix}:fetched",
        "fetched_by": f"{prefix}:fetched_by",
        "workers": f"{prefix}:workers",
    }


class SharedFrontierScheduler(Scheduler):
    """scrapy-redis ``Scheduler`` + in-flight recovery, outage waiting and the fetch ledger (module docstring)."""

    crawler: Crawler

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> SharedFrontierScheduler:
        outage_max = crawler.settings.getfloat("YIJIAN_REDIS_OUTAGE_MAX", 600.0)
        deadline = time.monotonic() + outage_max
        while True:  # a worker started while Redis is down waits for it
            try:
                instance = cls.from_settings(crawler.settings)
                break
            except REDIS_ERRORS as exc:
                if time.monotonic() > deadline:
                    raise
                log.warning("Redis unreachable (%s); waiting", exc)
                time.sleep(1.0)
        instance.stats = crawler.stats
        instance.crawler = crawler
        instance.worker = worker_id(crawler.settings)
        instance.outage_max = outage_max
        instance._down_since = None
        instance._unpushed = []
        instance._unacked = set()
        instance._ledger = Counter()
        instance._ledger_by = 0
        instance._beat = LoopingCall(instance._heartbeat)
        crawler.signals.connect(instance._on_item, signal=signals.item_scraped)
        crawler.signals.connect(instance._on_item, signal=signals.item_dropped)
        crawler.signals.connect(instance._on_item, signal=signals.item_error)
        crawler.signals.connect(instance._on_response, signal=signals.response_received)
        return instance

    # -- keys ------------------------------------------------------------------------------------------------
    def _k(self, name: str, worker: str | None = None) -> str:
        prefix = (self.queue_key % {"spider": self.spider.name}).removesuffix(":requests")
        return f"{prefix}:{name}" + (f":{worker}" if worker else "")

    # -- lifecycle -------------------------------------------------------------------------------------------
    def open(self, spider: Spider) -> None:
        super().open(spider)
        self.server.sadd(self._k("workers"), self.worker)
        self.server.set(self._k("alive", self.worker), time.time(), ex=HEARTBEAT_TTL)
        self._beat.start(HEARTBEAT_EVERY, now=True)

    def close(self, reason: str) -> None:
        if self._beat.running:
            self._beat.stop()
        try:
            self._flush()
            pipe = self.server.pipeline()
            pipe.delete(self._k("inflight", self.worker), self._k("alive", self.worker))
            pipe.srem(self._k("workers"), self.worker)
            pipe.execute()
        except REDIS_ERRORS as exc:
            log.warning("could not deregister worker %s: %s", self.worker, exc)
        super().close(reason)

    def _heartbeat(self) -> None:
        try:
            self.server.set(self._k("alive", self.worker), time.time(), ex=HEARTBEAT_TTL)
            self.server.sadd(self._k("workers"), self.worker)
            self._flush()
            self._recover_dead()
        except REDIS_ERRORS as exc:
            self._down(exc)
            return
        self._up()

    # -- Redis outages ---------------------------------------------------------------------------------------
    def _down(self, exc: BaseException) -> None:
        if self._down_since is None:
            self._down_since = time.monotonic()
            log.warning("Redis unreachable (%s); worker %s waits", exc, self.worker)
            self.stats.inc_value("yijian/redis_outages")
        elif time.monotonic() - self._down_since > self.outage_max:
            log.error("Redis unreachable for %.0f s; closing", time.monotonic() - self._down_since)
            from scrapy.utils.defer import deferred_from_coro

            deferred_from_coro(self.crawler.engine.close_spider_async(reason="redis_unavailable"))  # type: ignore[union-attr]

    def _up(self) -> None:
        if self._down_since is not None:
            log.warning("Redis is back after %.1f s", time.monotonic() - self._down_since)
            self._down_since = None

    def _flush(self) -> None:
        """Push what waited out an outage: requests, acks, ledger counts."""
        while self._unpushed:
            super().enqueue_request(self._unpushed[0])
            self._unpushed.pop(0)
        if self._unacked:
            self.server.hdel(self._k("inflight", self.worker), *self._unacked)
            self._unacked.clear()
        if self._ledger or self._ledger_by:
            pipe = self.server.pipeline()
            for url, n in self._ledger.items():
                pipe.hincrby(self._k("fetched"), url, n)
            if self._ledger_by:
                pipe.hincrby(self._k("fetched_by"), self.worker, self._ledger_by)
            pipe.execute()
            self._ledger.clear()
            self._ledger_by = 0

    # -- the frontier ----------------------------------------------------------------------------------------
    def enqueue_request(self, request: Request) -> bool:
        try:
            if self._unpushed:
                self._flush()
            return super().enqueue_request(request)
        except REDIS_ERRORS as exc:
            self._down(exc)
            self._unpushed.append(request)
            return True

    def next_request(self) -> Request | None:
        request = None
        try:
            request = super().next_request()
            if request is not None:
                fp = self.df.request_fingerprint(request)
                request.meta[META_KEY] = fp
                self.server.hset(self._k("inflight", self.worker), fp, self.queue._encode_request(request))
        except REDIS_ERRORS as exc:
            # A request popped just before the outage is still fetched; its in-flight entry may be missing,
            # which only matters if this worker also dies.
            self._down(exc)
            return request
        self._up()
        return request

    def _locally_idle(self) -> bool:
        engine = self.crawler.engine
        scraper_slot = getattr(getattr(engine, "scraper", None), "slot", None)
        return bool(
            engine is not None
            and not engine.downloader.active
            and scraper_slot is not None
            and scraper_slot.is_idle()
            and getattr(engine, "_start", None) is None
        )

    def has_pending_requests(self) -> bool:
        try:
            if len(self) > 0:
                return True
            if self._locally_idle():
                # Everything this worker took has been processed (pages without an item, such as sitemaps,
                # included): none of it needs recovering. Without this, two workers each holding an entry
                # that no item settles would wait for each other forever.
                self._flush()
                self.server.delete(self._k("inflight", self.worker))
            others = [
                w.decode() if isinstance(w, bytes) else w for w in self.server.smembers(self._k("workers"))
            ]
            pipe = self.server.pipeline()
            for w in others:
                if w != self.worker:
                    pipe.hlen(self._k("inflight", w))
            return any(pipe.execute())
        except REDIS_ERRORS as exc:
            self._down(exc)
            return True  # unknown: do not close while Redis is away

    def _recover_dead(self) -> None:
        for raw in self.server.smembers(self._k("workers")):
            w = raw.decode() if isinstance(raw, bytes) else raw
            if w == self.worker or self.server.exists(self._k("alive", w)):
                continue
            claimed = self._k("recovering", f"{w}:{self.worker}")
            try:
                self.server.rename(self._k("inflight", w), claimed)  # atomic: one worker wins
            except redis.ResponseError:  # no such key: nothing in flight, or another worker took it
                self.server.srem(self._k("workers"), w)
                continue
            entries = self.server.hgetall(claimed)
            for data in entries.values():
                self.queue.push(self.queue._decode_request(data))
            self.server.delete(claimed)
            self.server.srem(self._k("workers"), w)
            self.stats.inc_value("yijian/recovered_requests", len(entries))
            log.warning(
                "worker %s is gone: %d request(s) it had taken are back on the frontier", w, len(entries)
            )

    # -- signals ---------------------------------------------------------------------------------------------
    def _on_item(self, item: Any, response: Any = None, spider: Any = None, **kw: Any) -> None:
        request = response.request if isinstance(response, Response) else getattr(response, "request", None)
        fp = getattr(request, "meta", {}).get(META_KEY) if request is not None else None
        if not fp:
            return
        try:
            self.server.hdel(self._k("inflight", self.worker), fp)
        except REDIS_ERRORS as exc:
            self._down(exc)
            self._unacked.add(fp)

    def _on_response(self, response: Response, request: Request, spider: Spider) -> None:
        if request.url.endswith("/robots.txt") or request.meta.get("yijian_image"):
            return
        self._ledger[request.url] += 1
        self._ledger_by += 1
        try:
            self._flush()
        except REDIS_ERRORS as exc:
            self._down(exc)


# scrapy-redis 0.9 still passes ``spider=`` to the stats collector and calls Spider.log(); not ours to fix.
warnings.filterwarnings("ignore", category=ScrapyDeprecationWarning, module="scrapy_redis")
