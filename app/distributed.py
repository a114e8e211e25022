"""Use-case: a crawl run spread over workers that share one frontier in Redis (scrapy-redis), on one or many hosts.

`yijian crawl --distributed --redis URL --workers N` starts a run and N worker processes on this host; other hosts
join the same run with `--join RUN_ID` (same sources, same database, same Redis) and add their workers. Every
worker runs the same spiders, settings and pipelines as a single-process crawl (crawlers.runner.run_crawl with
``redis_url`` set); they share the frontier and dupefilter (each URL fetched once), the per-host delay
(crawlers.downloadermiddlewares.shared_politeness), and a ledger of who fetched what (crawlers.frontier).

The run's workers are counted in Redis (``yijian:run-<id>-<digest>:active``); whichever host's workers finish last closes
the run in the store and replays the search outbox. The summary adds ``workers`` (pages fetched per worker, all
hosts) and ``duplicates`` (fetches of a URL beyond its first; 0 unless a worker died and its pages were redone).
"""

from __future__ import annotations

import hashlib
import os
import socket
import threading
import time
from contextlib import nullcontext
from typing import Any

import redis

from app.crawl import Progress, after_run, summarize_run
from app.registries import (
    DEMO_INSTITUTIONS,
    DEMO_SOURCES,
    active_sources,
    load_source_registry,
    sync_registries,
)
from config import Settings
from crawlers.runner import CrawlError, run_crawl
from domain.sources import SourceConfig
from store.db import Store


class RedisUnavailable(RuntimeError):
    """Redis cannot be reached at the start of a distributed crawl."""


def frontier_name(store: Store, run_id: int) -> str:
    """The run's Redis key prefix: its id and a digest of its start time, both read from the shared database, so
    that two databases (or a reset one) sharing a Redis never share a frontier because their run ids repeat."""
    for run in store.list_runs(limit=500):
        if run["id"] == run_id:
            digest = hashlib.sha1(f"{run_id}|{run['started_at']}".encode()).hexdigest()[:10]
            return f"run-{run_id}-{digest}"
    raise ValueError(f"运行 #{run_id} 不存在：只能加入其他主机上正在进行的分布式抓取")


def read_ledger(client: redis.Redis, frontier: str) -> dict[str, Any]:
    """Pages fetched per worker and duplicate fetches over every spider of the frontier."""
    per_worker: dict[str, int] = {}
    duplicates = urls = 0
    for key in client.scan_iter(match=f"yijian:{frontier}:*:fetched_by"):
        for w, n in client.hgetall(key).items():
            name = w.decode() if isinstance(w, bytes) else str(w)
            per_worker[name] = per_worker.get(name, 0) + int(n)
    for key in client.scan_iter(match=f"yijian:{frontier}:*:fetched"):
        for n in client.hvals(key):
            urls += 1
            duplicates += max(0, int(n) - 1)
    return {"workers": dict(sorted(per_worker.items())), "duplicates": duplicates, "urls_fetched": urls}


def _merge(results: list[dict[str, Any]]) -> dict[str, Any]:
    """Per-source stats and totals of several workers, numbers summed."""
    per_source: dict[str, dict[str, Any]] = {}
    totals: dict[str, Any] = {}
    for result in results:
        for sid, stats in result.get("per_source", {}).items():
            merged = per_source.setdefault(sid, {})
            for k, v in stats.items():
                if isinstance(v, int | float) and not isinstance(v, bool):
                    merged[k] = merged.get(k, 0) + v
                else:
                    merged.setdefault(k, v)
        for k, v in result.get("totals", {}).items():
            if isinstance(v, int | float) and not isinstance(v, bool) and k != "sources":
                totals[k] = totals.get(k, 0) + v
    totals["sources"] = len(per_source)
    return {"per_source": per_source, "totals": totals}


def crawl_distributed(
    settings: Settings,
    sources: list[SourceConfig],
    *,
    redis_url: str,
    workers: int = 1,
    join_run: int | None = None,
    progress: Progress | None = None,
    timeout: float | None = None,
) -> dict[str, Any]:
    """Run ``workers`` worker processes on this host for a new run (or the run ``join_run``); returns the summary."""
    if workers < 1:
        raise ValueError("workers must be at least 1")
    settings = settings.model_copy(update={"redis_url": redis_url})
    client = redis.Redis.from_url(redis_url, socket_connect_timeout=10)
    try:
        client.ping()  # fail early, with a clear error, if Redis is not there
    except (redis.RedisError, OSError) as exc:
        raise RedisUnavailable(f"连不上 Redis（{redis_url}）：{exc}") from exc
    store = Store.from_settings(settings)
    try:
        sync_registries(store, settings, sources)
        run_id = join_run if join_run is not None else store.start_run([s.id for s in sources])
        frontier = frontier_name(store, run_id)
        active_key = f"yijian:{frontier}:active"
        if join_run is not None and not client.exists(active_key):
            raise ValueError(f"运行 #{join_run} 不存在或已结束：只能加入其他主机上正在进行的分布式抓取")
        client.incrby(active_key, workers)
        client.expire(active_key, 86400)
        host = socket.gethostname()
        results: list[dict[str, Any] | BaseException] = [RuntimeError("not run")] * workers

        def work(i: int) -> None:
            try:
                results[i] = run_crawl(
                    settings,
                    sources,
                    overrides={
                        "YIJIAN_RUN_ID": run_id,
                        "YIJIAN_DATA_DIR": str(settings.data_dir.resolve()),
                        "YIJIAN_FRONTIER": frontier,
                        "YIJIAN_WORKER_ID": f"{host}-{os.getpid()}-w{i + 1}",
                    },
                    timeout=timeout,
                )
            except BaseException as exc:  # reported in the summary; the other workers go on
                results[i] = exc

        t0 = time.perf_counter()
        threads = [
            threading.Thread(target=work, args=(i,), name=f"yijian-worker-{i + 1}") for i in range(workers)
        ]
        with (
            progress(f"正在分布式抓取 {len(sources)} 个来源（本机 {workers} 个进程）…")
            if progress
            else nullcontext()
        ):
            for t in threads:
                t.start()
            for t in threads:
                t.join()
        seconds = time.perf_counter() - t0
        remaining = client.decrby(active_key, workers)

        ok = [r for r in results if isinstance(r, dict)]
        errors = [f"{type(r).__name__}: {r}".splitlines()[0] for r in results if not isinstance(r, dict)]
        summary = summarize_run(store, run_id, _merge(ok), seconds)
        summary.update(read_ledger(client, frontier))
        summary["distributed"] = {
            "frontier": frontier,
            "local_workers": workers,
            "joined": join_run is not None,
            "other_workers_running": max(0, int(remaining)),
        }
        if errors:
            summary["worker_errors"] = errors
        if remaining <= 0:  # the last workers of the run out close it
            status = "failed" if errors else "finished"
            store.finish_run(run_id, summary, status=status)
            after_run(settings, store, run_id, summary, status)
        if not ok:
            raise CrawlError("; ".join(errors))
        return summary
    finally:
        store.close()
        client.close()


def crawl_demo_distributed(
    settings: Settings, port: int, *, redis_url: str, workers: int, progress: Progress | None = None
) -> dict[str, Any]:
    """The demo crawl (every demo source of the demo web on ``port``) done by ``workers`` distributed workers."""
    if settings.institutions_file is None:
        settings.institutions_file = DEMO_INSTITUTIONS
    sources = active_sources(load_source_registry(settings, DEMO_SOURCES, {"demo_port": str(port)}))
    summary = crawl_distributed(settings, sources, redis_url=redis_url, workers=workers, progress=progress)
    summary["demo_port"] = port
    return summary
