"""Extraction quality on real third-party pages: our extractor vs plain trafilatura.

Usage: ``python bench/extraction_eval.py [--realdata DIR] [--out bench/results/extraction.json]``

Reads ``DIR/extraction/`` (cwced, readability_zh, trafilatura_zh, goose3_bbc_chinese) and ``DIR/wechat/``
(default DIR: ``../shared/realdata`` relative to the repository root). When the folder is missing it prints
"skipped: ..." and exits 0. Prints a Markdown table and writes the numbers as JSON.

Metrics (scored by ``pipelines/extract_eval.py``, which the extraction gate in ``make test`` uses too): body
character F1 (bag of characters, whitespace removed), also per page type; title/author exact match; date match
(calendar date in Asia/Shanghai); snippet pass rate (all "with" present, all "without" absent); WeChat
title/account/time accuracy; crashes (an exception or a non-``ok`` status on a real page). The licences of the
evaluated sets are kept next to them in the realdata folder.

``--realdata tests/fixtures/extraction_real`` runs the same comparison on the licensed copies the gate uses.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from pipelines.decode import decode_body  # noqa: E402
from pipelines.extract import _parse, _strip_boilerplate, density_text, trafilatura_text  # noqa: E402
from pipelines.extract_eval import (  # noqa: E402
    METRICS,
    Case,
    aggregate,
    body_f1,
    load_cases,
    score,
    summarize,
)
from pipelines.extract_eval import run_ours as extract_case  # noqa: E402


def run_ours(case: Case) -> dict[str, Any]:
    out = extract_case(case)
    # Components, to see which one wins where.
    decoded = decode_body(case.body, {}, case.url)
    work = _parse(decoded.text)
    _strip_boilerplate(work)
    body = work.find("body")
    dens, _ = density_text(body if body is not None else work)
    out["density_text"] = dens
    out["trafilatura_recall_text"] = trafilatura_text(decoded.text, case.url)
    return out


def run_trafilatura(case: Case) -> dict[str, Any]:
    import trafilatura

    t0 = time.perf_counter()
    text = trafilatura.extract(case.body, url=case.url or None) or ""
    meta = trafilatura.extract_metadata(case.body, default_url=case.url or None)
    elapsed = time.perf_counter() - t0
    return {
        "text": text,
        "title": (meta.title if meta else "") or "",
        "author": (meta.author if meta else "") or "",
        "date": (meta.date if meta else None),
        "account": (meta.sitename if meta else "") or "",
        "seconds": elapsed,
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--realdata", type=Path, default=REPO.parent / "shared" / "realdata")
    ap.add_argument("--out", type=Path, default=REPO / "bench" / "results" / "extraction.json")
    ap.add_argument("--verbose", "-v", action="store_true", help="print per-page scores")
    args = ap.parse_args(argv)

    if not args.realdata.is_dir():
        print(f"skipped: real-data folder {args.realdata} not found")
        return 0
    cases = load_cases(args.realdata)
    if not cases:
        print(f"skipped: no evaluation sets found under {args.realdata}")
        return 0

    per_page: list[dict[str, Any]] = []
    ours_rows: list[dict[str, Any]] = []
    traf_rows: list[dict[str, Any]] = []
    dens_f1: list[float] = []
    recall_f1: list[float] = []
    crashes: list[str] = []
    t_ours = t_traf = 0.0
    for case in cases:
        ours = run_ours(case)
        traf = run_trafilatura(case)
        t_ours += ours["seconds"]
        t_traf += traf["seconds"]
        if ours["status"] != "ok":
            crashes.append(f"{case.key}: {ours['crash'] or ours['status']}")
        so, st = score(case, ours), score(case, traf)
        if case.text is not None:
            dens_f1.append(body_f1(ours["density_text"], case))
            recall_f1.append(body_f1(ours["trafilatura_recall_text"], case))
        ours_rows.append(so)
        traf_rows.append(st)
        page = {
            "dataset": case.dataset,
            "page": case.name,
            "type": case.page_type,
            "ours": so,
            "trafilatura": st,
            "ours_title": ours["title"],
            "ours_author": ours["author"],
            "ours_source": ours["source"],
            "ours_date": ours["date"].isoformat() if ours["date"] else None,
            "ours_status": ours["status"],
        }
        if case.text is not None:
            page["density_f1"] = dens_f1[-1]
            page["trafilatura_recall_f1"] = recall_f1[-1]
        per_page.append(page)
        if args.verbose:
            print(json.dumps(page, ensure_ascii=False, default=str))

    summary: dict[str, Any] = {}
    ours_sum, traf_sum = summarize(cases, ours_rows), summarize(cases, traf_rows)
    lines = ["| 指标 | 样本数 | ours | trafilatura |", "|---|---:|---:|---:|"]
    for key, label in METRICS:
        o, n = aggregate(ours_rows, key)
        t, _ = aggregate(traf_rows, key)
        if n == 0:
            continue
        summary[key] = {"n": n, "ours": o, "trafilatura": t}
        lines.append(f"| {label} | {n} | {o:.3f} | {t:.3f} |")
    summary["body_f1_by_type"] = {}
    for page_type, row in ours_sum["body_f1_by_type"].items():
        t_mean = traf_sum["body_f1_by_type"][page_type]["mean"]
        summary["body_f1_by_type"][page_type] = {"n": row["n"], "ours": row["mean"], "trafilatura": t_mean}
        lines.append(f"| 正文 F1：{page_type} | {row['n']} | {row['mean']:.3f} | {t_mean:.3f} |")
    if dens_f1:
        summary["body_f1_components"] = {
            "density_only": sum(dens_f1) / len(dens_f1),
            "trafilatura_favor_recall": sum(recall_f1) / len(recall_f1),
        }
        lines.append(
            f"| 正文 F1：仅密度算法 / 仅 trafilatura(favor_recall) | {len(dens_f1)} | "
            f"{summary['body_f1_components']['density_only']:.3f} | "
            f"{summary['body_f1_components']['trafilatura_favor_recall']:.3f} |"
        )
    summary["crashes"] = crashes
    lines.append(f"| 崩溃或非 ok 状态（ours） | {len(cases)} | {len(crashes)} | |")
    summary["seconds_per_page"] = {"ours": t_ours / len(cases), "trafilatura": t_traf / len(cases)}
    lines.append(f"| 每页耗时 (秒) | {len(cases)} | {t_ours / len(cases):.3f} | {t_traf / len(cases):.3f} |")
    print(f"Extraction evaluation on {len(cases)} pages from {args.realdata}\n")
    print("\n".join(lines))
    for crash in crashes:
        print(f"crash: {crash}")

    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(
        json.dumps({"summary": summary, "pages": per_page}, ensure_ascii=False, indent=1, default=str) + "\n",
        encoding="utf-8",
    )
    print(f"\nwrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
