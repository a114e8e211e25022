"""The crawl runner: one Scrapy ``CrawlerProcess`` in a fresh child process, one crawler per source.

Scrapy's reactor can run only once per OS process, so every call of :func:`run_crawl` spawns a child
(multiprocessing "spawn"), runs all sources there concurrently, and returns the per-source stats and totals.
It may be called repeatedly from the same parent (CLI, scheduler, tests). With the Yijian item pipeline, the child
first starts the processing workers (``pipelines.workers``: decode → index in their own processes, one core each,
dying with the child) and reports their peak memory next to its own.

Distributed mode: when ``settings.redis_url`` is set the scheduler is crawlers.frontier's (scrapy-redis's, plus
recovery of what a killed worker had taken, waiting out Redis outages, and a ledger of fetches) and the dupefilter
scrapy-redis's, so several workers (processes or hosts) calling :func:`run_crawl` with the same sources and the same
frontier key share one frontier and fetch every URL once; a host's delay is booked in Redis for all workers
(crawlers.downloadermiddlewares.shared_politeness). The Redis keys are ``yijian:<frontier>:<spider>:…`` with
``<frontier>`` = the ``YIJIAN_FRONTIER`` override, else ``YIJIAN_RUN_ID``, else ``"default"``; they persist after
the crawl (workers finish at different times) and expire after ``YIJIAN_FRONTIER_TTL`` seconds (default 1 day) —
a new run must use a new frontier key to recrawl. Trap guards and page caps are counted per worker. Each worker takes
at most ``CONCURRENT_REQUESTS`` (4 in this mode) requests off the frontier at a time; a worker closes when the
frontier is empty, no other worker has requests in flight, and it has been idle for ``YIJIAN_IDLE_GRACE`` seconds
(default 10 in this mode).
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import resource
import traceback
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from multiprocessing.connection import Connection

    import config
    from domain.sources import SourceConfig

log = logging.getLogger(__name__)

YIJIAN_PIPELINE = "pipelines.scrapy_adapter.YijianPipeline"
DEFAULT_ITEM_PIPELINES: dict[str, int] = {YIJIAN_PIPELINE: 300}


class CrawlError(RuntimeError):
    """The crawl child process failed (an exception before or around the crawl, a crash, or a timeout)."""


def scrapy_settings(
    settings: config.Settings,
    *,
    item_pipelines: dict[str, int] | None = None,
    overrides: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The Scrapy settings of a crawl (on top of ``crawlers.settings``), as a plain dict."""
    values: dict[str, Any] = {
        "USER_AGENT": settings.user_agent,
        "ITEM_PIPELINES": DEFAULT_ITEM_PIPELINES if item_pipelines is None else dict(item_pipelines),
        "YIJIAN_SETTINGS": settings.model_dump(mode="json"),
        "YIJIAN_DATA_DIR": str(settings.data_dir),
    }
    overrides = dict(overrides or {})
    if settings.redis_url:
        from crawlers import settings as crawler_defaults

        frontier = overrides.get("YIJIAN_FRONTIER") or overrides.get("YIJIAN_RUN_ID") or "default"
        values.update(
            {
                "SCHEDULER": "crawlers.frontier.SharedFrontierScheduler",
                "DUPEFILTER_CLASS": "scrapy_redis.dupefilter.RFPDupeFilter",
                "REDIS_URL": settings.redis_url,
                "SCHEDULER_PERSIST": True,
                "SCHEDULER_QUEUE_KEY": f"yijian:{frontier}:%(spider)s:requests",
                "SCHEDULER_DUPEFILTER_KEY": f"yijian:{frontier}:%(spider)s:dupefilter",
                "SCHEDULER_IDLE_BEFORE_CLOSE": 1,
                # Scrapy pulls up to CONCURRENT_REQUESTS requests into its own downloader queues; keep that small so
                # a worker does not hoard the shared frontier while others sit idle (and close).
                "CONCURRENT_REQUESTS": 4,
                "YIJIAN_IDLE_GRACE": 10.0,
                "EXTENSIONS": {
                    "crawlers.extensions.frontier_ttl.FrontierTTL": 500,
                    "crawlers.extensions.idle_grace.IdleGrace": 510,
                },
                # A setting given here replaces crawlers.settings' whole dict: extend it.
                "DOWNLOADER_MIDDLEWARES": {
                    **crawler_defaults.DOWNLOADER_MIDDLEWARES,
                    "crawlers.downloadermiddlewares.shared_politeness.SharedPolitenessMiddleware": 110,
                },
            }
        )
    values.update(overrides)
    return values


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, int | float | str | bool) or value is None:
        return value
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set):
        return [_jsonable(v) for v in value]
    return str(value)


def _totals(per_source: dict[str, dict[str, Any]]) -> dict[str, Any]:
    totals: dict[str, Any] = {}
    for stats in per_source.values():
        for key, value in stats.items():
            if isinstance(value, bool) or not isinstance(value, int | float):
                continue
            if key.endswith(("_time", "_seconds")) or key.startswith(("memusage/", "yijian/crawl_delay/")):
                continue
            totals[key] = totals.get(key, 0) + value
    totals["sources"] = len(per_source)
    return totals


def _crawl_in_child(payload: dict[str, Any]) -> dict[str, Any]:
    workers = None
    if YIJIAN_PIPELINE in (payload["scrapy_settings"].get("ITEM_PIPELINES") or {}):
        from pipelines.workers import release_pool, start_workers

        # first thing, before Scrapy is imported: the workers load the model while this process starts Scrapy
        workers = start_workers(payload["scrapy_settings"].get("YIJIAN_DATA_DIR"))

    try:
        from scrapy.crawler import CrawlerProcess
        from scrapy.settings import Settings as ScrapySettings

        from crawlers.spiders import spider_for
        from domain.sources import SourceConfig

        s = ScrapySettings()
        s.setmodule("crawlers.settings", priority="project")
        s.update(payload["scrapy_settings"], priority="cmdline")
        process = CrawlerProcess(s)
        crawlers = []
        for raw in payload["sources"]:
            source = SourceConfig.model_validate(raw)
            crawler = process.create_crawler(spider_for(source.type))
            crawlers.append((source.id, crawler))
            process.crawl(crawler, source=source)
        process.start()
    finally:
        if workers is not None:
            release_pool(workers)
    per_source = {sid: _jsonable(crawler.stats.get_stats()) for sid, crawler in crawlers}
    usage = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return {
        "per_source": per_source,
        "totals": _totals(per_source),
        # ru_maxrss is in KiB on Linux; children = the processing workers and Chromium for render: js sources
        "peak_rss_mb": round(usage.ru_maxrss / 1024, 1),
        "children_peak_rss_mb": round(children.ru_maxrss / 1024, 1),
        # the processing workers' peaks, summed over the workers
        "workers_peak_rss_mb": workers.peak_rss_mb if workers is not None else 0.0,
        "worker_restarts": workers.total_restarts if workers is not None else 0,
    }


def _die_with_parent(parent_pid: int) -> None:
    """Linux: the kernel SIGKILLs this child when its parent dies, so a killed ``yijian crawl`` leaves no orphan
    crawler writing to the store behind the next run's back (the next start closes the run as interrupted)."""
    try:
        import ctypes
        import signal

        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):  # not Linux: best effort only
        return
    if os.getppid() != parent_pid:  # the parent died before prctl took effect
        os._exit(1)


def _child_main(conn: Connection, payload: dict[str, Any]) -> None:
    _die_with_parent(payload.get("parent_pid", os.getppid()))
    try:
        result = _crawl_in_child(payload)
    except BaseException as exc:  # report everything to the parent, including SystemExit
        result = {"error": f"{type(exc).__name__}: {exc}", "traceback": traceback.format_exc()}
    try:
        conn.send(result)
    finally:
        conn.close()


def run_crawl(
    settings: config.Settings,
    sources: list[SourceConfig],
    *,
    item_pipelines: dict[str, int] | None = None,
    overrides: dict[str, Any] | None = None,
    timeout: float | None = None,
) -> dict[str, Any]:
    """Crawl ``sources`` in a fresh child process and return ``{"per_source": {id: stats}, "totals": {...}}``.

    ``item_pipelines`` default to the Yijian processing pipeline; ``overrides`` are Scrapy settings applied last
    (e.g. ``YIJIAN_RUN_ID``, ``YIJIAN_DATA_DIR``, ``LOG_LEVEL``). Raises :class:`CrawlError` if the child fails or
    runs longer than ``timeout`` seconds (it is then terminated).
    """
    if not sources:
        return {"per_source": {}, "totals": {"sources": 0}}
    payload = {
        "scrapy_settings": scrapy_settings(settings, item_pipelines=item_pipelines, overrides=overrides),
        "sources": [s.model_dump(mode="json") for s in sources],
        "parent_pid": os.getpid(),
    }
    ctx = multiprocessing.get_context("spawn")
    recv_conn, send_conn = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=_child_main, args=(send_conn, payload), name="yijian-crawl")
    proc.start()
    send_conn.close()
    try:
        if not recv_conn.poll(timeout):
            raise CrawlError(f"crawl did not finish within {timeout} s")
        try:
            result = recv_conn.recv()
        except EOFError as exc:
            raise CrawlError(f"crawl process died (exit code {proc.exitcode})") from exc
    finally:
        recv_conn.close()
        proc.join(5 if proc.is_alive() else None)
        if proc.is_alive():
            proc.terminate()
            proc.join(5)
            if proc.is_alive():
                proc.kill()
                proc.join()
    if "error" in result:
        raise CrawlError(f"crawl failed: {result['error']}\n{result.get('traceback', '')}")
    return result
