"""Thin Scrapy adapter around ``pipelines.process.Processor``.

Reads ``YIJIAN_DATA_DIR`` and ``YIJIAN_RUN_ID`` from the Scrapy settings. The blocking stages (decode, extract,
OCR, classification, storage) run in ``Settings.processing_workers`` worker processes shared by every crawler of
the crawl process (``pipelines.workers``: the reactor and the analysis use separate cores), or, with 0, in threads
of the crawl process itself, so the reactor keeps fetching either way; a page's images are fetched
through the crawler's own downloader (same politeness, same caps) between the two stages, and read (OCR) in the
prepare pool when there is one, else by the second stage. Pages that reach the
analysis stage together are classified in one batch (``YIJIAN_ANALYZE_BATCH``, waiting at most
``YIJIAN_ANALYZE_WAIT`` seconds for a batch to fill), so the model runs batched. Decoding and extraction of a page
run under ``YIJIAN_PAGE_BUDGET`` seconds (default ``pipelines.process.PAGE_BUDGET_S``); past it the page is recorded
as ``timeout`` and the crawl goes on.
"""

from __future__ import annotations

import asyncio
import logging
import sys
from typing import Any

from scrapy import Request
from scrapy.crawler import Crawler

from config import get_settings
from domain import PageItem
from pipelines.process import PAGE_BUDGET_S, Outcome, Prepared, Processor
from pipelines.workers import WorkerDied, WorkerPool, release_pool, shared_pool
from store.db import Store

log = logging.getLogger(__name__)


class YijianPipeline:
    def __init__(self, crawler: Crawler) -> None:
        self.crawler = crawler
        self.processor: Processor | None = None  # in-process mode (processing_workers = 0)
        self.pool: WorkerPool | None = None  # worker-process mode
        self.store: Store | None = None  # errors recorded by the adapter itself
        self.source_meta: dict[str, tuple[str | None, str | None]] = {}
        data_dir = crawler.settings.get("YIJIAN_DATA_DIR")
        self.settings = get_settings(data_dir=data_dir)
        run_id = crawler.settings.get("YIJIAN_RUN_ID")
        self.run_id = int(run_id) if run_id not in (None, "") else None
        self.batch_size = crawler.settings.getint("YIJIAN_ANALYZE_BATCH", 16)
        self.batch_wait = crawler.settings.getfloat("YIJIAN_ANALYZE_WAIT", 0.2)
        self.page_budget_s = crawler.settings.getfloat("YIJIAN_PAGE_BUDGET", PAGE_BUDGET_S)
        self._pending: list[tuple[Prepared, dict[str, bytes], asyncio.Future[Outcome]]] = []
        self._flush_handle: asyncio.TimerHandle | None = None
        self._in_model: asyncio.Semaphore | None = None  # batches in flight: one per worker process
        self._tasks: set[asyncio.Task[None]] = set()  # strong references: the loop keeps only weak ones

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> YijianPipeline:
        return cls(crawler)

    def open_spider(self) -> None:
        source = getattr(self.crawler.spider, "source", None)
        if source is not None:
            self.source_meta = {source.id: (source.institution, source.region or None)}
        if self.settings.processing_workers > 0:
            self.store = Store.from_settings(self.settings)
            self.pool = shared_pool(self.settings)
        else:
            self.processor = Processor.from_settings(self.settings, sources=[source] if source else None)
            self.store = self.processor.store

    def close_spider(self) -> None:
        pool, self.pool = self.pool, None
        if pool is not None:
            try:
                release_pool(pool)
            finally:
                if self.store is not None:
                    self.store.close()
        if self.processor is not None:
            self.processor.close()
        self.store = None

    @property
    def _open(self) -> bool:
        return self.pool is not None or self.processor is not None

    async def _prepare(self, item: PageItem) -> Prepared | Outcome:
        if self.pool is not None:
            return await self.pool.prepare(item, self.run_id, self.page_budget_s)
        assert self.processor is not None
        return await asyncio.wait_for(
            asyncio.to_thread(self.processor.prepare, item, self.run_id), self.page_budget_s
        )

    async def _read_images(
        self, prep: Prepared, images: dict[str, bytes]
    ) -> tuple[Prepared, dict[str, bytes]]:
        """OCR in the prepare pool; past the page budget the page goes on without its images' text (logged),
        as when OCR fails."""
        assert self.pool is not None
        try:
            return await self.pool.read_images(prep, images, self.page_budget_s), {}
        except (TimeoutError, WorkerDied):  # a hostile image must not sink its page
            log.warning(
                "OCR over the page budget (%gs) or its worker died; page kept without image text: %s",
                self.page_budget_s,
                prep.page.url,
            )
            return prep, {}

    async def _finish_many(self, batch: list[tuple[Prepared, dict[str, bytes]]]) -> list[Outcome]:
        if self.pool is not None:
            return await self.pool.finish_many(batch, self.run_id, self.source_meta)
        assert self.processor is not None
        return await asyncio.to_thread(self.processor.finish_many, batch, self.run_id)

    async def _record_error(self, item: PageItem, kind: str, detail: str) -> None:
        if self.store is not None:
            await asyncio.to_thread(
                self.store.record_error, self.run_id, item.source_id, item.url, kind, detail
            )

    async def process_item(self, item: Any) -> Any:
        if not isinstance(item, PageItem) or not self._open:
            return item
        stats = self.crawler.stats
        try:
            try:
                # decode + extract under the per-page time budget (the thread cannot be killed, but the crawl
                # goes on and the page is recorded; prepare writes nothing but an unchanged mark, an error
                # or the body's content-addressed blob, which a version may later point at)
                prep = await self._prepare(item)
            except TimeoutError:
                detail = f"解码与抽取超过每页时间预算（{self.page_budget_s:g} 秒）"
                await self._record_error(item, "timeout", detail)
                prep = Outcome("error", item.url, error_kind="timeout")
            if isinstance(prep, Outcome):
                outcome = prep
            else:
                images = await self._fetch_images(prep.ocr_candidates)
                if images and self.pool is not None and self.pool.prepare_pool is not None:
                    prep, images = await self._read_images(prep, images)
                outcome = await self._finish_batched(prep, images)
        except Exception as exc:  # a bug in one stage must not stop the crawl: record it as data
            log.exception("processing failed for %s", item.url)
            await self._record_error(item, "parse_error", f"{type(exc).__name__}: {exc}")
            outcome = Outcome("error", item.url, error_kind="parse_error")
        if stats is not None:
            stats.inc_value(f"yijian/outcome/{outcome.kind}")
            if outcome.error_kind:
                stats.inc_value(f"yijian/error/{outcome.error_kind}")
        # Drop the body: nothing downstream needs it and items may be kept by feed exporters.
        item.body = b""
        return item

    async def _finish_batched(self, prep: Prepared, images: dict[str, bytes]) -> Outcome:
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[Outcome] = loop.create_future()
        self._pending.append((prep, images, fut))
        if len(self._pending) >= self.batch_size:
            self._spawn_flush()
        elif self._flush_handle is None:
            self._flush_handle = loop.call_later(self.batch_wait, self._spawn_flush)
        return await fut

    def _spawn_flush(self) -> None:
        task = asyncio.get_running_loop().create_task(self._flush())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _flush(self) -> None:
        if self._flush_handle is not None:
            self._flush_handle.cancel()
            self._flush_handle = None
        batch, self._pending = self._pending, []
        if not batch:
            return
        if not self._open:  # closed under us: fail the waiting pages rather than leave them hanging
            for _, _, fut in batch:
                if not fut.done():
                    fut.set_exception(RuntimeError("pipeline closed"))
            return
        if self._in_model is None:
            self._in_model = asyncio.Semaphore(self.pool.workers if self.pool is not None else 1)
        # one batch per processing worker (one in all in-process); the next one fills meanwhile
        async with self._in_model:
            try:
                outcomes = await self._finish_many([(p, imgs) for p, imgs, _ in batch])
            except Exception:
                if len(batch) == 1:
                    raise_into = batch[0][2]
                    if not raise_into.done():
                        raise_into.set_exception(sys.exc_info()[1] or RuntimeError("batch failed"))
                    return
                # One bad page must not sink its batch: retry each page alone.
                log.warning("batch of %d failed; processing its pages one by one", len(batch), exc_info=True)
                for prep, imgs, fut in batch:
                    try:
                        (outcome,) = await self._finish_many([(prep, imgs)])
                    except Exception as exc:
                        fut.set_exception(exc)
                    else:
                        fut.set_result(outcome)
                return
        for (_, _, fut), outcome in zip(batch, outcomes, strict=True):
            if not fut.done():
                fut.set_result(outcome)

    async def _fetch_images(self, urls: list[str]) -> dict[str, bytes]:
        out: dict[str, bytes] = {}
        engine = self.crawler.engine
        if engine is None:
            return out
        stats = self.crawler.stats
        for url in urls:
            req = Request(url, dont_filter=True, meta={"yijian_image": True, "dont_obey_robotstxt": False})
            try:
                resp = await engine.download_async(req)
            except Exception as exc:
                log.info("image fetch failed %s: %s", url, exc)
                continue
            if stats is not None:  # image responses are not pages (bench/pipeline_bench.py counts pages)
                stats.inc_value("yijian/image_responses")
            if resp.status == 200 and resp.body:
                out[url] = resp.body
        return out
