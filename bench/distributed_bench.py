"""Crawl benchmark of distributed mode: the same crawl by one process (no Redis) and by 1, 2, … distributed workers
sharing a Redis frontier (a redis-server started here on a free port).

    .venv/bin/python bench/distributed_bench.py --site generated --workers 1 2   # 20,000-page generated site
    .venv/bin/python bench/distributed_bench.py --site demo --workers 1 2        # the demo web, full pipeline

``generated``: bench/gen_site.py's site (20,000 articles + 201 list/home pages, served by a threaded server in this
process), fetched and parsed by the real spiders, items written by the JSON-lines pipeline — the crawler's own
throughput, not the analysis pipeline's (bench/pipeline_bench.py measures that). Seconds are from start to the last
page served (the 10 s idle close that follows is not counted). ``demo``: `yijian demo --once` (full pipeline, store,
index) single-process vs distributed, through the application layer; seconds are the run's wall time, including
process start and the idle close. Writes ``bench/results/distributed.json``.
"""

from __future__ import annotations

import argparse
import json
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import redis  # noqa: E402

from app.distributed import read_ledger  # noqa: E402
from bench.gen_site import GeneratedSite  # noqa: E402
from config import Settings  # noqa: E402
from crawlers.runner import run_crawl  # noqa: E402
from domain.sources import SourceConfig  # noqa: E402


def start_redis(directory: Path) -> tuple[subprocess.Popen[bytes], str]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    binary = shutil.which("redis-server") or "/usr/bin/redis-server"
    proc = subprocess.Popen(
        [
            binary,
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(directory),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    client = redis.Redis(port=port)
    for _ in range(100):
        try:
            client.ping()
            break
        except redis.ConnectionError:
            time.sleep(0.05)
    client.close()
    return proc, f"redis://127.0.0.1:{port}/0"


def generated(
    tmp: Path, redis_url: str, workers: int | None, lists: int, per_list: int, concurrency: int
) -> dict[str, Any]:
    """One crawl of a fresh generated site; ``workers`` None = single process without Redis."""
    site = GeneratedSite(lists=lists, per_list=per_list).start()
    source = SourceConfig(
        id="gen",
        type="site",
        start_urls=[site.url],
        depth=2,
        max_pages=site.pages + 10,
        concurrency=concurrency,
    )
    frontier = f"bench-{time.time_ns()}"
    n = workers or 1
    results: list[Any] = [None] * n

    def work(i: int) -> None:
        settings = Settings(data_dir=tmp / f"g{i}", redis_url=redis_url if workers else None)
        try:
            results[i] = run_crawl(
                settings,
                [source],
                item_pipelines={"crawlers.export.JsonLinesPipeline": 100},
                overrides={
                    "YIJIAN_JSONL_PATH": str(tmp / f"g{frontier}-{i}.jsonl"),
                    "YIJIAN_FRONTIER": frontier,
                    "YIJIAN_WORKER_ID": f"worker-{i + 1}",
                    "YIJIAN_CONDITIONAL_GET": False,
                    "LOG_LEVEL": "ERROR",
                },
                timeout=3600,
            )
        except Exception as exc:
            results[i] = exc

    t0 = time.monotonic()
    threads = [threading.Thread(target=work, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.monotonic() - t0
    site.stop()
    errors = [str(r) for r in results if not isinstance(r, dict)]
    items = sum(r["per_source"]["gen"].get("item_scraped_count", 0) for r in results if isinstance(r, dict))
    out: dict[str, Any] = {
        "site": "generated",
        "mode": f"distributed ×{workers}" if workers else "single process",
        "pages_in_site": site.pages,
        "pages_stored": items,
        "pages_served": site.served,
        "seconds": round(site.last_served - t0, 1),
        "wall_seconds": round(wall, 1),
        "concurrency_per_worker": concurrency,
        "pages_per_second": round(site.served / max(1e-9, site.last_served - t0), 1),
        "peak_rss_mb_per_worker": [r.get("peak_rss_mb") for r in results if isinstance(r, dict)],
    }
    if workers:
        client = redis.Redis.from_url(redis_url)
        out.update({k: v for k, v in read_ledger(client, frontier).items() if k in ("workers", "duplicates")})
        client.close()
    if errors:
        out["errors"] = errors
    return out


def demo(tmp: Path, redis_url: str, workers: int | None) -> dict[str, Any]:
    from app.crawl import crawl_demo, demo_web
    from app.distributed import crawl_demo_distributed

    settings = Settings(data_dir=tmp / f"demo-{workers or 0}-{time.time_ns()}")
    t0 = time.monotonic()
    with demo_web() as port:
        if workers:
            summary = crawl_demo_distributed(settings, port, redis_url=redis_url, workers=workers)
        else:
            summary = crawl_demo(settings, port)
    out = {
        "site": "demo",
        "mode": f"distributed ×{workers}" if workers else "single process",
        "pages": summary["pages"],
        "documents": summary["documents"],
        "errors": summary["errors"],
        "seconds": round(time.monotonic() - t0, 1),
    }
    if workers:
        out.update(workers=summary["workers"], duplicates=summary["duplicates"])
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--site", choices=["generated", "demo"], default="generated")
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--no-single", action="store_true", help="skip the single-process baseline")
    ap.add_argument(
        "--concurrency", type=int, default=4, help="generated: the source's requests at once, per worker"
    )
    ap.add_argument("--lists", type=int, default=200)
    ap.add_argument("--per-list", type=int, default=100)
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "distributed.json")
    args = ap.parse_args(argv)
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="yijian-dbench-") as tmp_name:
        tmp = Path(tmp_name)
        proc, url = start_redis(tmp)
        try:
            for workers in ([] if args.no_single else [None]) + list(args.workers):
                if args.site == "generated":
                    row = generated(tmp, url, workers, args.lists, args.per_list, args.concurrency)
                else:
                    row = demo(tmp, url, workers)
                print(json.dumps(row, ensure_ascii=False), file=sys.stderr, flush=True)
                rows.append(row)
        finally:
            proc.terminate()
            proc.wait(10)
    report = {
        "generated_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "site": args.site,
        "runs": rows,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    previous = json.loads(args.out.read_text()) if args.out.exists() else {}
    previous[args.site] = report
    args.out.write_text(json.dumps(previous, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    for r in rows:
        print(
            f"{r['site']:<10}{r['mode']:<18}{r.get('pages_served', r.get('pages')):>8} pages "
            f"{r['seconds']:>8} s  {r.get('pages_per_second', '')}  workers={r.get('workers', '-')} "
            f"duplicates={r.get('duplicates', '-')}"
        )
    print(f"written {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
