"""Use-cases around a crawl run: crawl these sources (fetch, analyse, store, index) and summarise the run, and the
demo (start the bundled demo web and crawl every demo source)."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from typing import Any

from app.cases import auto_capture_after_run
from app.registries import (
    DEMO_INSTITUTIONS,
    DEMO_SOURCES,
    active_sources,
    load_source_registry,
    sync_registries,
)
from config import Settings
from crawlers.runner import run_crawl
from demo.server import DemoWeb, find_free_port
from domain.sources import SourceConfig
from store.db import Store
from store.indexer import Indexer
from store.search.factory import get_search

# A shell may wrap the crawl itself in something that shows progress (the CLI shows a spinner).
Progress = Callable[[str], AbstractContextManager[Any]]
log = logging.getLogger(__name__)


def crawl_sources(
    settings: Settings, sources: list[SourceConfig], *, progress: Progress | None = None
) -> dict[str, Any]:
    """One crawl run over ``sources``: fetch, analyse, store, index. Returns the run summary."""
    store = Store.from_settings(settings)
    try:
        sync_registries(store, settings, sources)
        run_id = store.start_run([s.id for s in sources])
        t0 = time.perf_counter()
        overrides = {"YIJIAN_RUN_ID": run_id, "YIJIAN_DATA_DIR": str(settings.data_dir.resolve())}
        status = "finished"
        try:
            with progress(f"正在抓取 {len(sources)} 个来源…") if progress else nullcontext():
                crawl_stats = run_crawl(settings, sources, overrides=overrides)
        except BaseException:
            status = "failed"
            raise
        finally:
            seconds = time.perf_counter() - t0
            if status == "failed":
                store.finish_run(run_id, {"seconds": seconds}, status="failed")
        summary = summarize_run(store, run_id, crawl_stats, seconds)
        store.finish_run(run_id, summary, status=status)
        after_run(settings, store, run_id, summary, status)
        return summary
    finally:
        store.close()


def after_run(settings: Settings, store: Store, run_id: int, summary: dict[str, Any], status: str) -> None:
    """What follows a stored run, single-process or distributed: replay the search outbox, send threshold alerts
    (finished runs only), capture evidence of the most severe pages. Adds their results to ``summary``."""
    Indexer(store, get_search(settings)).replay()
    if status == "finished":
        summary["alerts"] = _alert(settings, store, run_id)
    summary["auto_capture"] = auto_capture_after_run(settings, store, run_id)  # never raises


def _alert(settings: Settings, store: Store, run_id: int) -> dict[str, Any]:
    """Threshold alerts for the stored run (app/digest.py). They never fail the crawl: an error is logged and
    the items stay queued for the scheduler's retry job."""
    try:
        from app.digest import alert_after_run

        return alert_after_run(settings, run_id, store=store)
    except Exception as exc:
        log.exception("alerts after crawl run %s failed", run_id)
        return {"error": f"{type(exc).__name__}: {exc}"}


def summarize_run(store: Store, run_id: int, crawl_stats: dict[str, Any], seconds: float) -> dict[str, Any]:
    totals = crawl_stats.get("totals", {})
    outcome = {k: int(totals.get(f"yijian/outcome/{k}", 0)) for k in ("new", "changed", "unchanged", "error")}
    run = store.run_stats(run_id)
    overall = store.stats()
    names = {i["id"]: i["name"] for i in store.get_institutions()}
    top = overall.get("flagged_documents_by_institution", {})
    return {
        "run_id": run_id,
        "seconds": round(seconds, 2),
        "pages": sum(outcome.values()),
        "new": outcome["new"],
        "changed": outcome["changed"],
        "unchanged": outcome["unchanged"],
        "errors": sum(run.get("errors_by_kind", {}).values()),
        "errors_by_kind": run.get("errors_by_kind", {}),
        "flags_by_label": overall.get("documents_by_label", overall.get("findings_by_label", {})),
        "flags_by_category": overall.get("findings_by_category", {}),
        "flags_by_severity": overall.get("findings_by_severity", {}),
        "top_institutions": {f"{names.get(k, k)}（{k}）": v for k, v in top.items()},
        "documents": overall.get("documents", 0),
        "per_source": crawl_stats.get("per_source", {}),
    }


@contextmanager
def demo_web(port: int | None = None) -> Iterator[int]:
    """The bundled demo web served on 127.0.0.x while the block runs; yields its port."""
    port = port or find_free_port()
    web = DemoWeb()
    web.start(port)
    try:
        yield port
    finally:
        web.stop()


def crawl_demo(settings: Settings, port: int, *, progress: Progress | None = None) -> dict[str, Any]:
    """Crawl every demo source of the demo web on ``port``; analyse, store and index. Returns the run summary."""
    if settings.institutions_file is None:
        settings.institutions_file = DEMO_INSTITUTIONS
    settings.snapshot_allow_private = True  # the demo web is on 127.0.0.x; evidence of it is captured there
    # the console's edits apply to the demo registry too; a paused demo source is skipped like by `crawl --all`
    sources = active_sources(load_source_registry(settings, DEMO_SOURCES, {"demo_port": str(port)}))
    summary = crawl_sources(settings, sources, progress=progress)
    summary["demo_port"] = port
    return summary
