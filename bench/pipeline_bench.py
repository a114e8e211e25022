"""Full-pipeline throughput on the demo web, next to bare Scrapy fetching the same pages in the same run.

A mirror host (127.0.0.20) serves COPIES × every static page of the demo web (real demo content, each copy at
its own URL) from a hub page; both crawls fetch exactly those pages with the same spider and settings:

* bare Scrapy: no item pipeline (fetch + link extraction only);
* full pipeline: decode → extract → dedupe/version → OCR → analyze (rules + model) → store → index.

The two crawls run alternately ``--repeat`` times (default 3): on a shared VM the bare crawl alone varied from 53
to 130 pages/s between runs, so one pair says little; the median ratio is the result. Prints every run and
writes bench/results/pipeline.json (the median pair under ``rows``, every pair under ``runs``). Usage:

    .venv/bin/python bench/pipeline_bench.py [--copies 8] [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from config import get_settings  # noqa: E402
from crawlers.runner import run_crawl  # noqa: E402
from demo.server import SITES_DIR, DemoWeb  # noqa: E402
from domain.sources import SourceConfig  # noqa: E402

MIRROR_HOST = "127.0.0.20"
SKIP_SITES = {"index", "messy"}  # hostile pages measure timeouts, not throughput


def demo_pages() -> list[tuple[str, str]]:
    pages = []
    for site_dir in sorted(SITES_DIR.iterdir()):
        if not site_dir.is_dir() or site_dir.name in SKIP_SITES:
            continue
        for p in sorted(site_dir.rglob("*.html")):
            rel = p.relative_to(site_dir).as_posix()
            if not any(seg.startswith("_") for seg in rel.split("/")):
                pages.append((site_dir.name, "/" + rel))
    return pages


class Mirror:
    def __init__(self, web: DemoWeb, copies: int) -> None:
        self.web = web
        self.pages = demo_pages()
        self.copies = copies
        mirror = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.0"

            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                status, ctype, body = mirror.serve(self.path)
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.server = ThreadingHTTPServer((MIRROR_HOST, 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def urls(self) -> list[str]:
        return [f"/m/{i}/{site}{path}" for i in range(self.copies) for site, path in self.pages]

    def serve(self, path: str) -> tuple[int, str, bytes]:
        if path == "/robots.txt":
            return 200, "text/plain", b"User-agent: *\nAllow: /\n"
        if path == "/":
            links = "".join(f'<li><a href="{u}">{u}</a></li>' for u in self.urls())
            return 200, "text/html; charset=utf-8", f"<html><body><ul>{links}</ul></body></html>".encode()
        m = re.match(r"^/m/(\d+)/([a-z_]+)(/.*)$", path)
        if not m:
            return 404, "text/plain", b"not found"
        resp = self.web.handle(m.group(2), "GET", m.group(3), {})
        body = resp.body if isinstance(resp.body, bytes) else b"".join(resp.body)
        return resp.status, resp.headers.get("Content-Type", "text/html"), body

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def crawl(label: str, source: SourceConfig, pipelines: dict[str, int] | None, data_dir: Path) -> dict:
    settings = get_settings(data_dir=data_dir)
    overrides = {"YIJIAN_DATA_DIR": str(data_dir), "LOG_LEVEL": "ERROR", "CONCURRENT_REQUESTS_PER_DOMAIN": 8}
    t0 = time.perf_counter()
    result = run_crawl(settings, [source], item_pipelines=pipelines, overrides=overrides)
    seconds = time.perf_counter() - t0
    totals = result["totals"]
    # pages only: the full pipeline also fetches the pages' images for OCR (their responses are counted apart)
    pages = int(totals.get("response_received_count", 0)) - int(totals.get("yijian/image_responses", 0))
    return {
        "system": label,
        "pages": pages,
        "seconds": round(seconds, 2),
        "pages_per_s": round(pages / seconds, 1),
        "image_responses": int(totals.get("yijian/image_responses", 0)),
        "peak_rss_mb": round(result.get("peak_rss_mb", 0) + result.get("workers_peak_rss_mb", 0), 1),
        "crawl_process_peak_rss_mb": result.get("peak_rss_mb"),
        "workers_peak_rss_mb": result.get("workers_peak_rss_mb"),
        "worker_restarts": result.get("worker_restarts"),
        "outcomes": {k.split("/")[-1]: v for k, v in totals.items() if k.startswith("yijian/outcome/")},
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--copies", type=int, default=8, help="copies of every demo page (default 8)")
    ap.add_argument(
        "--repeat",
        type=int,
        default=3,
        help="bare/full pairs, run alternately; the median ratio counts (default 3)",
    )
    args = ap.parse_args()

    web = DemoWeb()
    web.start()
    mirror = Mirror(web, args.copies)
    pairs: list[list[dict]] = []
    try:
        n = len(mirror.urls())
        source = SourceConfig(
            id="bench-mirror",
            type="site",
            start_urls=[f"http://{MIRROR_HOST}:{mirror.port}/"],
            depth=1,
            max_pages=n + 10,
            concurrency=8,
            schedule=None,
        )
        for _ in range(max(1, args.repeat)):
            pair = []
            with tempfile.TemporaryDirectory() as tmp:
                pair.append(crawl("bare Scrapy (fetch only)", source, {}, Path(tmp) / "bare"))
            with tempfile.TemporaryDirectory() as tmp:
                pair.append(
                    crawl("full pipeline (model + rules, store, index)", source, None, Path(tmp) / "full")
                )
            pair[1]["ratio"] = (
                round(pair[1]["pages_per_s"] / pair[0]["pages_per_s"], 3) if pair[0]["pages_per_s"] else 0.0
            )
            pairs.append(pair)
    finally:
        mirror.close()
        web.stop()

    from classifiers.factory import get_classifier

    clf = get_classifier(get_settings(data_dir=Path(tempfile.gettempdir())))
    ratios = sorted(full["ratio"] for _, full in pairs)
    median = ratios[len(ratios) // 2]
    median_pair = next(p for p in pairs if p[1]["ratio"] == median)
    result = {
        "pages_in_site": n + 1,
        "classifier": f"{clf.name} {clf.version}",
        "rows": median_pair,  # the pair with the median ratio
        "runs": pairs,
        "ratio": median,
    }
    print(f"\nDemo web mirror: {n + 1} pages ({args.copies} copies of {len(mirror.pages)} demo pages + hub)")
    print(f"classifier: {result['classifier']}\n")
    print("| run | system | pages | seconds | pages/s | ratio | peak RSS (MB): crawl + workers |")
    print("|---|---|---:|---:|---:|---:|---:|")
    for i, pair in enumerate(pairs, 1):
        for r in pair:
            rss = f"{r['peak_rss_mb']} ({r['crawl_process_peak_rss_mb']} + {r['workers_peak_rss_mb']})"
            ratio = f"{r.get('ratio', 1.0):.0%}"
            print(
                f"| {i} | {r['system']} | {r['pages']} | {r['seconds']} | {r['pages_per_s']} | {ratio} | {rss} |"
            )
    print(f"\nmedian ratio of {len(pairs)} runs: {median:.0%} (all: {', '.join(f'{r:.0%}' for r in ratios)})")
    out = ROOT / "bench" / "results"
    out.mkdir(parents=True, exist_ok=True)
    (out / "pipeline.json").write_text(json.dumps(result, ensure_ascii=False, indent=2), encoding="utf-8")
    print(f"\nwrote {out / 'pipeline.json'}")


if __name__ == "__main__":
    main()
