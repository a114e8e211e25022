"""Search benchmark: bulk indexing throughput and query latency of both backends on N synthetic Chinese documents.

    .venv/bin/python bench/search_bench.py            # 100 000 documents, both backends
    .venv/bin/python bench/search_bench.py --n 5000 --backend embedded
    .venv/bin/python bench/search_bench.py --es-url http://localhost:9200   # a real cluster instead of osmem
    .venv/bin/python bench/search_bench.py --n 1000000 --backend embedded --db /tmp/s1m.sqlite   # keep the file
    .venv/bin/python bench/search_bench.py --n 1000000 --backend embedded --db /tmp/s1m.sqlite --reuse  # queries only

The Elasticsearch run starts an osmem-server (in-memory, single process) unless ``--es-url`` is given: its
numbers say how our code behaves against the wire protocol, not how a real cluster performs. Indexing time
includes jieba segmentation (done by the backends). Writes ``bench/results/search.json`` and prints a table.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from store.search.base import IndexDoc, SearchQuery  # noqa: E402
from store.search.elastic import ElasticSearch  # noqa: E402
from store.search.embedded import EmbeddedSearch  # noqa: E402

DISEASES = [
    "糖尿病",
    "高血压",
    "帕金森",
    "银屑病",
    "白癜风",
    "不孕不育",
    "痛风",
    "颈椎病",
    "脱发",
    "近视",
    "痔疮",
]
SERVICES = [
    "干细胞回输",
    "无痛人流",
    "双眼皮手术",
    "玻尿酸注射",
    "试管婴儿",
    "种植牙",
    "激光祛斑",
    "中医调理",
    "体检套餐",
]
CLAIMS = [
    "一次根治",
    "永不复发",
    "治愈率高达98%",
    "无效退款",
    "无副作用",
    "国家级专家",
    "全国第一",
    "祖传秘方",
    "包治百病",
]
NEUTRAL = [
    "门诊时间为周一至周五",
    "请携带身份证和医保卡",
    "我院内分泌科开展健康讲座",
    "专家提醒合理膳食适量运动",
    "患者应在医生指导下用药",
    "本院严格执行医疗收费标准",
    "糖尿病目前还不能根治需要长期管理",
    "预约挂号请拨打服务电话",
]
COMPLAINTS = ["患者投诉乱收费", "家属质疑过度医疗", "医疗纠纷引发关注", "院方回应网友质疑", "卫健委介入调查"]
INSTITUTIONS = [f"inst_{i:03d}" for i in range(300)]
REGIONS = ["北京", "上海", "广州", "深圳", "杭州", "成都", "武汉", "西安", "南京", "重庆", "天津", "长沙"]
SOURCES = [f"src_{i:03d}" for i in range(120)]
CATEGORIES = {
    "exaggerated_efficacy": ["ad_efficacy_guarantee", "ad_cure_rate_stats", "ad_absolute_superlative"],
    "unapproved_service": ["svc_unapproved_cell_gene_therapy", "svc_non_medical_beauty"],
    "negative_sentiment": ["sent_overcharging", "sent_medical_accident", "sent_service_attitude"],
}
SEVERITY = {"exaggerated_efficacy": "S2", "unapproved_service": "S1", "negative_sentiment": "P3"}
T0 = datetime(2024, 1, 1, tzinfo=UTC)


def make_doc(i: int, rng: random.Random) -> IndexDoc:
    disease, service = rng.choice(DISEASES), rng.choice(SERVICES)
    kind = rng.random()
    labels: list[str] = []
    sentences = [rng.choice(NEUTRAL) for _ in range(rng.randint(2, 6))]
    if kind < 0.25:
        labels.append("exaggerated_efficacy")
        sentences += [f"{service}治疗{disease}，{rng.choice(CLAIMS)}", rng.choice(CLAIMS)]
        if "干细胞" in service or rng.random() < 0.2:
            labels.append("unapproved_service")
    elif kind < 0.35:
        labels.append("negative_sentiment")
        sentences += [rng.choice(COMPLAINTS), f"涉及{service}项目"]
    else:
        sentences.append(f"关于{disease}的科普：{rng.choice(NEUTRAL)}")
    rng.shuffle(sentences)
    categories = sorted({rng.choice(CATEGORIES[label]) for label in labels})
    published = T0 + timedelta(minutes=rng.randint(0, 365 * 24 * 60))
    return IndexDoc(
        doc_id=f"bench{i:07d}",
        url=f"https://site{i % 997}.example/article/{i}",
        title=f"{rng.choice(REGIONS)}{disease}{rng.choice(['专科', '门诊', '资讯', '新闻', '科普'])}",
        text="。".join(sentences) + "。",
        source_id=rng.choice(SOURCES),
        source_type=rng.choice(["site", "wechat", "news"]),
        institution_id=rng.choice(INSTITUTIONS),
        region=rng.choice(REGIONS),
        published_at=published if rng.random() < 0.8 else None,
        fetched_at=published + timedelta(hours=rng.randint(1, 72)),
        labels=labels,
        categories=categories,
        severities=sorted({SEVERITY[label] for label in labels}),
        scores={label: round(rng.uniform(0.6, 0.99), 3) for label in labels},
    )


def make_queries(n: int, rng: random.Random) -> list[SearchQuery]:
    queries = []
    for k in range(n):
        words = [rng.choice(DISEASES + SERVICES + ["根治", "投诉", "专家", "收费", "秘方"])]
        if rng.random() < 0.4:
            words.append(rng.choice(["根治", "医院", "治疗", "复发", "患者"]))
        q = SearchQuery(text=" ".join(words), size=20)
        r = k % 5
        if r == 1:
            q.labels = [rng.choice(list(CATEGORIES))]
        elif r == 2:
            q.regions = [rng.choice(REGIONS)]
            q.date_from = T0 + timedelta(days=rng.randint(0, 200))
            q.date_to = q.date_from + timedelta(days=60)
        elif r == 3:
            q.sort = "date"
            q.histogram_interval = "week"
        elif r == 4:
            q.flagged_only = True
            q.offset = 40
        queries.append(q)
    return queries


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    k = max(0, min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1))))
    return ordered[k]


def generate(n: int, batch: int, seed: int = 20240301) -> Iterator[list[IndexDoc]]:
    """The ``n`` synthetic documents in batches, generated as they are indexed (1M documents do not fit in a list
    comfortably); the same seed gives the same documents on every run and for every backend."""
    rng = random.Random(seed)
    for start in range(0, n, batch):
        yield [make_doc(i, rng) for i in range(start, min(n, start + batch))]


def run_backend(
    backend: Any, n: int, queries: list[SearchQuery], batch: int, *, reuse: bool = False
) -> dict[str, Any]:
    index_s = None
    chars = 0
    if not (reuse and backend.count() == n):
        backend.clear()
        t = time.perf_counter()
        last = t
        for done, docs in enumerate(generate(n, batch), 1):
            chars += sum(len(d.text) for d in docs)
            backend.index(docs)
            if time.perf_counter() - last > 60:
                last = time.perf_counter()
                print(f"  {backend.name}: {done * batch} docs, {last - t:.0f} s", file=sys.stderr, flush=True)
        index_s = time.perf_counter() - t
    if hasattr(backend, "client"):
        backend.client.indices.refresh(index=backend.names.read_alias("docs"))
    assert backend.count() == n, f"{backend.name}: {backend.count()} != {n}"
    for q in queries[:5]:  # warm caches
        backend.search(q)
    latencies, totals = [], []
    for q in queries:
        t = time.perf_counter()
        res = backend.search(q)
        latencies.append((time.perf_counter() - t) * 1000)
        totals.append(res.total)
    match_all = []
    for _ in range(5):
        t = time.perf_counter()
        backend.search(SearchQuery(histogram_interval="month"))
        match_all.append((time.perf_counter() - t) * 1000)
    return {
        "backend": backend.name,
        "documents": n,
        "index_seconds": None if index_s is None else round(index_s, 2),
        "docs_per_second": None if index_s is None else round(n / index_s, 1),
        "avg_text_chars": round(chars / n, 1) if chars else None,
        "queries": len(queries),
        "search_p50_ms": round(pct(latencies, 50), 2),
        "search_p95_ms": round(pct(latencies, 95), 2),
        "search_mean_ms": round(statistics.fmean(latencies), 2),
        "search_max_ms": round(max(latencies), 2),
        "match_all_with_facets_p50_ms": round(pct(match_all, 50), 2),
        "mean_hits_per_query": round(statistics.fmean(totals), 1),
        "_totals": totals,
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=100_000, help="number of synthetic documents")
    ap.add_argument("--queries", type=int, default=300)
    ap.add_argument("--batch", type=int, default=1000, help="documents per index() call")
    ap.add_argument("--backend", choices=["embedded", "elasticsearch", "both"], default="both")
    ap.add_argument("--es-url", default=None, help="real cluster URL (default: start an osmem-server)")
    ap.add_argument(
        "--db", type=Path, default=None, help="embedded: index file to build and keep (default: temp)"
    )
    ap.add_argument("--reuse", action="store_true", help="embedded: query an existing --db of --n documents")
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "search.json")
    args = ap.parse_args(argv)

    queries = make_queries(args.queries, random.Random(20240302))
    results: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="yijian-bench-") as tmp:
        if args.backend in ("embedded", "both"):
            path = args.db or Path(tmp) / "search.sqlite"
            t = time.perf_counter()
            backend = EmbeddedSearch(path)
            open_s = time.perf_counter() - t
            results.append(run_backend(backend, args.n, queries, args.batch, reuse=args.reuse))
            results[-1]["open_seconds"] = round(open_s, 2)
            backend.close()
            results[-1]["file_mb"] = round(
                sum(p.stat().st_size for p in path.parent.glob(path.name + "*")) / 1e6, 1
            )
            print(json.dumps({k: v for k, v in results[-1].items() if k != "_totals"}), file=sys.stderr)
        if args.backend in ("elasticsearch", "both"):
            results.append(run_elastic(args, Path(tmp), queries))
            print(json.dumps({k: v for k, v in results[-1].items() if k != "_totals"}), file=sys.stderr)

    totals = [r.pop("_totals") for r in results]
    report = {
        "generated_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "documents": args.n,
        "batch": args.batch,
        "results": results,
        # Both backends run the same queries: the same match counts show they implement one contract.
        "same_totals_across_backends": len(totals) < 2 or all(t == totals[0] for t in totals),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    print(f"\n{'backend':<14}{'docs':>9}{'docs/s':>10}{'p50 ms':>9}{'p95 ms':>9}{'all+facets':>12}")
    for r in results:
        print(
            f"{r['backend'] + r.get('server', ''):<14}{r['documents']:>9}{r['docs_per_second'] or '-':>10}"
            f"{r['search_p50_ms']:>9}{r['search_p95_ms']:>9}{r['match_all_with_facets_p50_ms']:>12}"
        )
    print(f"same totals across backends: {report['same_totals_across_backends']}")
    print(f"\nwritten {args.out}")
    return 0


def run_elastic(args: argparse.Namespace, tmp: Path, queries: list[SearchQuery]) -> dict:
    from config import Settings

    if args.es_url:
        settings = Settings(
            data_dir=tmp, search="elasticsearch", es_url=args.es_url, es_index_prefix="yijian-bench"
        )
        backend = ElasticSearch(settings, request_timeout=120)
        backend.install()
        result = run_backend(backend, args.n, queries, args.batch)
        result["server"] = ""
        return result
    from tests.osmem import OsmemProcess, es_backend  # noqa: I001

    with OsmemProcess() as server:
        backend = es_backend(server.url, "bench", tmp, request_timeout=300)
        backend.refresh = False
        backend.install()
        result = run_backend(backend, args.n, queries, args.batch)
        result["server"] = "(osmem)"
        return result


if __name__ == "__main__":
    raise SystemExit(main())
