"""Evidence snapshot cost on the demo web: seconds per snapshot (median and p95) and bytes per capture, then the
size and time of exporting all of them as one sealed bundle, and of verifying it.

Each snapshot is the full `app.cases.snapshot` use-case (address check, a fresh Chromium, PNG, PDF, MHTML, WARC,
WACZ, sealing, store, custody log). Prints a table and writes bench/results/snapshot.json. Usage:

    .venv/bin/python bench/snapshot_bench.py [--pages 12] [--session]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from app import cases  # noqa: E402
from config import Settings  # noqa: E402
from demo import site_url  # noqa: E402
from demo.server import DemoWeb, find_free_port  # noqa: E402

# A mix of the demo's page types: hospital home pages, the JS-rendered ad, a long news article, a WeChat-style
# article, a GBK legacy page, an image-only ad.
PAGES = [
    ("private_hospital", "/ad-js.html"),
    ("private_hospital", "/"),
    ("public_hospital", "/"),
    ("public_hospital", "/departments.html"),
    ("beauty_clinic", "/"),
    ("beauty_salon", "/stemcell.html"),
    ("news", "/"),
    ("news", "/article/2026/0306-overtreatment.html"),
    ("wechat", "/s/Hk7Qm2xLpZ3vN8aR1cT5bw"),
    ("gbk_clinic", "/"),
    ("gbk_clinic", "/ad-image.html"),
    ("private_hospital", "/treatment.html"),
]


def p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--pages", type=int, default=len(PAGES))
    parser.add_argument(
        "--session",
        action="store_true",
        help="one browser for all snapshots (as auto-capture does), not one each",
    )
    args = parser.parse_args()
    session = cases.BrowserSession() if args.session else None
    web = DemoWeb()
    web.start(find_free_port())
    try:
        with tempfile.TemporaryDirectory() as tmp:
            settings = Settings(data_dir=Path(tmp), snapshot_allow_private=True)
            cases.init_evidence(settings)
            case_id = cases.create_case(settings, "基准测试", actor="bench")
            rows = []
            for site, path in PAGES[: args.pages]:
                url = site_url(site, web.port, path)
                t0 = time.perf_counter()
                cap = cases.snapshot(settings, url, case_id, operator="bench", session=session)
                seconds = time.perf_counter() - t0
                size = sum(
                    p.stat().st_size for p in (settings.data_dir / cap["path"]).rglob("*") if p.is_file()
                )
                rows.append({"url": url, "seconds": round(seconds, 2), "bytes": size})
                print(f"{seconds:6.2f} s  {size / 1024:8.0f} KiB  {url}", flush=True)
            t0 = time.perf_counter()
            bundle = cases.export_case(settings, case_id, Path(tmp) / "bundle.zip", actor="bench")
            export_s = time.perf_counter() - t0
            t0 = time.perf_counter()
            report = cases.verify(Path(bundle["path"]))
            verify_s = time.perf_counter() - t0
            assert report.ok, report.problems()
    finally:
        if session is not None:
            session.close()
        web.stop()
    secs = [r["seconds"] for r in rows]
    sizes = [r["bytes"] for r in rows]
    result = {
        "browser": "one per batch" if args.session else "one per snapshot",
        "snapshots": len(rows),
        "seconds_median": round(statistics.median(secs), 2),
        "seconds_p95": round(p95(secs), 2),
        "capture_kib_median": round(statistics.median(sizes) / 1024, 1),
        "capture_kib_max": round(max(sizes) / 1024, 1),
        "bundle_files": bundle["files"],
        "bundle_mib": round(bundle["bytes"] / 1024 / 1024, 2),
        "export_seconds": round(export_s, 2),
        "verify_seconds": round(verify_s, 2),
        "pages": rows,
    }
    print(json.dumps({k: v for k, v in result.items() if k != "pages"}, ensure_ascii=False, indent=2))
    out = ROOT / "bench" / "results" / ("snapshot_session.json" if args.session else "snapshot.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
