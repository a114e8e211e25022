"""The work behind the CLI commands (and the scheduler): crawl runs, the demo, one-off analysis."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from config import PACKAGE_ROOT, Settings
from domain.sources import SourceConfig, load_sources

DEMO_SOURCES = PACKAGE_ROOT / "demo" / "sources.yaml"
DEMO_INSTITUTIONS = PACKAGE_ROOT / "demo" / "institutions.yaml"


def load_registry(
    settings: Settings, sources_file: Path | None = None, variables: dict[str, str] | None = None
):
    import os

    path = sources_file or settings.resolve_sources_file()
    variables = {"demo_port": os.environ.get("YIJIAN_DEMO_PORT", ""), **(variables or {})}
    return load_sources(path, variables)


def crawl_sources(
    settings: Settings, sources: list[SourceConfig], *, progress: bool = False
) -> dict[str, Any]:
    """One crawl run over ``sources``: fetch, analyse, store, index. Returns the run summary."""
    from classifiers.institutions import InstitutionRegistry
    from crawlers.runner import run_crawl
    from store.db import Store

    store = Store.from_settings(settings)
    try:
        registry = InstitutionRegistry.load(settings.resolve_institutions_file())
        store.upsert_institutions(registry.as_dicts())
        store.upsert_sources([s.model_dump(mode="json") for s in sources])
        run_id = store.start_run([s.id for s in sources])
        t0 = time.perf_counter()
        overrides = {"YIJIAN_RUN_ID": run_id, "YIJIAN_DATA_DIR": str(settings.data_dir.resolve())}
        status = "finished"
        try:
            if progress:
                from rich.console import Console

                with Console(stderr=True).status(f"正在抓取 {len(sources)} 个来源…"):
                    crawl_stats = run_crawl(settings, sources, overrides=overrides)
            else:
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
        _replay_outbox(settings, store)
        return summary
    finally:
        store.close()


def _replay_outbox(settings: Settings, store: Any) -> None:
    from store.indexer import Indexer
    from store.search.factory import get_search

    Indexer(store, get_search(settings)).replay()


def summarize_run(store: Any, run_id: int, crawl_stats: dict[str, Any], seconds: float) -> dict[str, Any]:
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


def run_demo(
    settings: Settings, *, port: int | None = None, once: bool = True, progress: bool = True
) -> dict[str, Any]:
    """Start the bundled demo web, crawl every demo source, analyse and index; keep serving unless ``once``."""
    from demo.server import DemoWeb, find_free_port

    port = port or find_free_port()
    if settings.institutions_file is None:
        settings.institutions_file = DEMO_INSTITUTIONS
    web = DemoWeb()
    web.start(port)
    try:
        sources = load_sources(DEMO_SOURCES, {"demo_port": str(port)})
        summary = crawl_sources(settings, sources, progress=progress)
        summary["demo_port"] = port
        if not once:
            from rich.console import Console

            Console(stderr=True).print(f"演示网站运行中：http://127.0.0.1:{port}/  （Ctrl-C 退出）")
            try:
                while True:
                    time.sleep(3600)
            except KeyboardInterrupt:
                pass
        return summary
    finally:
        web.stop()


def analyze_one(settings: Settings, body: bytes, headers: dict[str, str], url: str) -> dict[str, Any]:
    """Decode, extract, OCR and analyse one page without storing it."""
    from classifiers.factory import get_classifier, get_rules
    from classifiers.institutions import InstitutionRegistry
    from pipelines.analyze import Analyzer
    from pipelines.extract import extract_bytes
    from pipelines.ocr import ocr_image
    from pipelines.process import ocr_candidates

    ex = extract_bytes(body, headers, url)
    if ex.status != "ok":
        return {"url": url, "status": ex.status, "detail": ex.error_detail}
    if settings.ocr_enabled:
        for src in ocr_candidates(ex):
            data = _fetch_image(src)
            for img in ex.images:
                if img.src == src and data:
                    img.ocr_text = ocr_image(data)
    registry = InstitutionRegistry.load(settings.resolve_institutions_file())
    analysis = Analyzer(get_classifier(settings), registry, fragment_classifier=get_rules()).analyze([ex])[0]
    return {
        **ex.to_json(),
        "labels": analysis.labels,
        "scores": analysis.scores,
        "findings": [f.to_json() for f in analysis.findings],
        "institution": analysis.institution_id,
        "valid_review_certs": analysis.valid_certs,
    }


def _fetch_image(src: str) -> bytes | None:
    if src.startswith("file://"):
        from urllib.parse import unquote, urlsplit

        p = Path(unquote(urlsplit(src).path))
        return p.read_bytes() if p.is_file() else None
    import httpx

    try:
        resp = httpx.get(src, timeout=10.0, follow_redirects=True)
    except httpx.HTTPError:
        return None
    return resp.content if resp.status_code == 200 else None
