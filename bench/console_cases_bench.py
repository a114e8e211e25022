"""Console case pages benchmark on the demo data: how long the "取证" POST holds the request (it only queues the
capture), seconds from the click to the sealed capture (the job page's redirect), the case page's server time,
and the export (seconds and bundle size, verified before download).

    .venv/bin/python bench/console_cases_bench.py             # crawls the demo web into a temp dir first
    .venv/bin/python bench/console_cases_bench.py --pages 5

In process, through Starlette's TestClient (no network); the demo web serves on 127.0.0.x meanwhile.
Writes bench/results/console_cases.json.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from fastapi.testclient import TestClient  # noqa: E402

from app.cases import init_evidence  # noqa: E402
from app.context import AppContext  # noqa: E402
from app.crawl import crawl_demo, demo_web  # noqa: E402
from app.users import add_user  # noqa: E402
from bench.console_bench import pct  # noqa: E402
from config import get_settings  # noqa: E402
from console.web import create_app  # noqa: E402

HTML = {"accept": "text/html"}


def _token(c: TestClient) -> str:
    return str(c.get("/api/me").json()["csrf_token"])


def run(pages: int) -> dict[str, Any]:
    data = Path(tempfile.mkdtemp(prefix="yijian-cases-bench-"))
    settings = get_settings(data_dir=data)
    with demo_web() as port:
        crawl_demo(settings, port)  # allows the demo's private addresses on these settings
        init_evidence(settings)
        with AppContext(settings) as ctx:
            add_user(ctx, "bench-inv", "investigator", "bench-password")
        c = TestClient(create_app(settings))
        tok = c.get("/login").text.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
        c.post("/login", data={"name": "bench-inv", "password": "bench-password", "csrf_token": tok})
        r = c.post("/cases", data={"csrf_token": _token(c), "title": "bench"}, follow_redirects=False)
        case_id = int(r.headers["location"].rsplit("/", 1)[1])
        hits = c.get("/api/search", params={"q": "", "sort": "severity", "size": 50}).json()["hits"]
        docs = [h["doc_id"] for h in hits if f":{port}/" in h["url"] and h["severities"]][:pages]
        post_ms, capture_s = [], []
        for doc in docs:
            t0 = time.perf_counter()
            r = c.post(f"/documents/{doc}/capture", data={"csrf_token": _token(c), "case_id": case_id},
                       follow_redirects=False)  # fmt: skip
            post_ms.append((time.perf_counter() - t0) * 1000)
            job = r.headers["location"]
            while (r := c.get(job, headers=HTML, follow_redirects=False)).status_code == 200:
                assert 'data-status="failed"' not in r.text, r.text[-800:]
                time.sleep(0.1)
            capture_s.append(time.perf_counter() - t0)
        page_ms = []
        for _ in range(5):
            t0 = time.perf_counter()
            assert c.get(f"/cases/{case_id}", headers=HTML).status_code == 200
            page_ms.append((time.perf_counter() - t0) * 1000)
        t0 = time.perf_counter()
        r = c.post(f"/cases/{case_id}/export", data={"csrf_token": _token(c)})
        export_s = time.perf_counter() - t0
        assert r.status_code == 200 and r.headers["x-yijian-verified"].startswith("ok"), r.text[:300]
    return {
        "captures": len(docs),
        "capture_post_ms_max": round(max(post_ms), 1),
        "capture_click_to_sealed_s_median": round(statistics.median(capture_s), 2),
        "capture_click_to_sealed_s_p95": round(pct(capture_s, 95), 2),
        "case_page_ms_median": round(statistics.median(page_ms), 1),
        "export_s": round(export_s, 2),
        "bundle_bytes": len(r.content),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pages", type=int, default=3)
    result = run(ap.parse_args().pages)
    out = ROOT / "bench" / "results" / "console_cases.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, ensure_ascii=False, indent=2), encoding="utf-8")
    print(json.dumps(result, ensure_ascii=False, indent=2))


if __name__ == "__main__":
    main()
