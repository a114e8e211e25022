"""Web console benchmark: server time of the search page (GET /search, rendered HTML) p50/p95 on the demo data,
and optionally on a synthetic index of N documents (the documents of bench/search_bench.py, embedded backend).

    .venv/bin/python bench/console_bench.py                     # crawls the demo web into a temp dir first
    .venv/bin/python bench/console_bench.py --data-dir data     # an existing (demo) data dir
    .venv/bin/python bench/console_bench.py --synthetic 100000  # also a 100k-document index (indexing takes long)

Server time = the app's own time per request, read from the Server-Timing header the bench adds with a timing
middleware (in process, through Starlette's TestClient: no network). Writes bench/results/console.json.
"""

from __future__ import annotations

import argparse
import json
import random
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

from app.context import AppContext  # noqa: E402
from app.users import add_user  # noqa: E402
from config import Settings, get_settings  # noqa: E402
from console.web import create_app  # noqa: E402

QUERIES = [
    {"q": "根治"}, {"q": "无痛人流"}, {"q": "投诉"}, {"q": ""}, {"q": "医院", "sort": "time"},
    {"q": "", "sort": "severity"}, {"q": "治疗", "label": "exaggerated_efficacy"}, {"q": "", "triage": "untriaged"},
    {"q": "专家", "page": "2"}, {"q": "", "severity": "S2", "sort": "score"},
]  # fmt: skip


def pct(values: list[float], p: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, int(round(p / 100 * (len(s) - 1))))]


def timed_app(settings: Settings) -> Any:
    app = create_app(settings)

    @app.middleware("http")
    async def server_timing(request: Any, call_next: Any) -> Any:
        t0 = time.perf_counter()
        resp = await call_next(request)
        resp.headers["server-timing"] = f"app;dur={(time.perf_counter() - t0) * 1000:.3f}"
        return resp

    return app


def measure(settings: Settings, rounds: int) -> dict[str, Any]:
    with AppContext(settings) as ctx:
        from app.users import get_user

        if get_user(ctx, "bench") is None:
            add_user(ctx, "bench", "staff", "bench-password")
    c = TestClient(timed_app(settings))
    page = c.get("/login")
    token = page.text.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
    r = c.post("/login", data={"name": "bench", "password": "bench-password", "csrf_token": token},
               follow_redirects=False)  # fmt: skip
    assert r.status_code == 303, r.text
    for q in QUERIES:  # warm-up
        c.get("/search", params=q, headers={"accept": "text/html"})
    times: list[float] = []
    for _ in range(rounds):
        for q in QUERIES:
            r = c.get("/search", params=q, headers={"accept": "text/html"})
            assert r.status_code == 200, (q, r.status_code)
            times.append(float(r.headers["server-timing"].split("dur=")[1]))
    return {"requests": len(times), "p50_ms": round(statistics.median(times), 2), "p95_ms": round(pct(times, 95), 2),
            "max_ms": round(max(times), 2)}  # fmt: skip


def synthetic(n: int, data: Path) -> Settings:
    from bench.search_bench import make_doc
    from store.search.embedded import EmbeddedSearch

    settings = get_settings(data_dir=data)
    backend = EmbeddedSearch(settings.data_dir / "search.sqlite")
    rng = random.Random(7)
    batch: list[Any] = []
    for i in range(n):
        batch.append(make_doc(i, rng))
        if len(batch) == 2000:
            backend.index(batch)
            batch = []
    if batch:
        backend.index(batch)
    backend.close()
    return settings


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data-dir", type=Path, default=None)
    ap.add_argument("--rounds", type=int, default=10)
    ap.add_argument(
        "--synthetic", type=int, default=0, help="also measure on an index of N synthetic documents"
    )
    args = ap.parse_args(argv)
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        if args.data_dir is None:
            from app.crawl import crawl_demo, demo_web

            settings = get_settings(data_dir=Path(tmp) / "demo")
            with demo_web() as port:
                crawl_demo(settings, port)
        else:
            settings = get_settings(data_dir=args.data_dir)
        results["data"] = {"data_dir": str(settings.data_dir), **measure(settings, args.rounds)}
        print(f"data dir {settings.data_dir}: {results['data']}")
        if args.synthetic:
            t0 = time.perf_counter()
            syn = synthetic(args.synthetic, Path(tmp) / "synthetic")
            results["synthetic"] = {"documents": args.synthetic, "index_seconds": round(time.perf_counter() - t0, 1),
                                    **measure(syn, max(1, args.rounds // 2))}  # fmt: skip
            print(f"synthetic {args.synthetic}: {results['synthetic']}")
    out = ROOT / "bench" / "results"
    out.mkdir(parents=True, exist_ok=True)
    (out / "console.json").write_text(json.dumps(results, ensure_ascii=False, indent=2), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
