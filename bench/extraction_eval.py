"""Extraction quality on real third-party pages: our extractor vs plain trafilatura.

Usage: ``python bench/extraction_eval.py [--realdata DIR] [--out bench/results/extraction.json]``

Reads ``DIR/extraction/`` (cwced, readability_zh, trafilatura_zh, goose3_bbc_chinese) and ``DIR/wechat/``
(default DIR: ``../shared/realdata`` relative to the repository root). When the folder is missing it prints
"skipped: ..." and exits 0. Prints a Markdown table and writes the numbers as JSON.

Metrics: body character F1 (bag of characters, whitespace removed), title/author exact match, date match
(calendar date in Asia/Shanghai), snippet pass rate (all "with" present, all "without" absent), WeChat
title/account/time accuracy. The licences of the evaluated sets are kept next to them in the realdata folder.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from lxml import html as lxml_html  # noqa: E402

from pipelines.dates import SHANGHAI, parse_chinese_datetime  # noqa: E402
from pipelines.decode import decode_body  # noqa: E402
from pipelines.extract import _parse, _strip_boilerplate, density_text, extract_html, trafilatura_text  # noqa: E402

_WS = re.compile(r"\s+")


def char_f1(pred: str, gold: str) -> float:
    p = Counter(_WS.sub("", pred))
    g = Counter(_WS.sub("", gold))
    if not p or not g:
        return 1.0 if not p and not g else 0.0
    overlap = sum((p & g).values())
    if overlap == 0:
        return 0.0
    precision = overlap / sum(p.values())
    recall = overlap / sum(g.values())
    return 2 * precision * recall / (precision + recall)


def body_f1(pred: str, case: Case) -> float:
    gold = case.text or ""
    if case.gold_is_prefix:
        # Compare with the same number of leading characters (whitespace removed) of our text.
        n = len(_WS.sub("", gold))
        pred = _WS.sub("", pred)[:n]
    return char_f1(pred, gold)


def _norm(s: str | None) -> str:
    return _WS.sub(" ", s or "").strip()


def _day(value: Any) -> str | None:
    """Calendar date (Asia/Shanghai) of a datetime or a date string; None when not a full date."""
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.astimezone(SHANGHAI).date().isoformat()
    s = str(value).strip()
    if not re.search(r"\d{4}\D+\d{1,2}\D+\d{1,2}", s):
        return None
    dt = parse_chinese_datetime(s)
    return dt.astimezone(SHANGHAI).date().isoformat() if dt else None


@dataclass
class Case:
    dataset: str
    name: str
    body: bytes
    url: str = ""
    text: str | None = None  # gold main text
    title: str | None = None
    author: str | None = None
    date: str | None = None
    with_snippets: list[str] = field(default_factory=list)
    without_snippets: list[str] = field(default_factory=list)
    account: str | None = None
    ct: str | None = None
    gold_is_prefix: bool = False  # goose3's expected text is only the article's first paragraphs


def load_cases(root: Path) -> list[Case]:
    cases: list[Case] = []
    ex = root / "extraction"
    cw = ex / "cwced"
    if cw.is_dir():
        for gt_file in sorted((cw / "gt").glob("*.json")):
            gt = json.loads(gt_file.read_text(encoding="utf-8"))
            html_file = cw / "original" / f"{gt_file.stem}.html"
            if not html_file.is_file():
                continue
            unknown = {"UNKNOWN", ""}
            cases.append(
                Case(
                    "cwced",
                    gt_file.stem[:8],
                    html_file.read_bytes(),
                    text=gt.get("content") or "",
                    author=None if gt.get("author") in unknown else gt["author"],
                    date=None if gt.get("date") in unknown else gt["date"],
                )
            )
    rz = ex / "readability_zh"
    if rz.is_dir():
        for d in sorted(p for p in rz.iterdir() if p.is_dir()):
            meta = json.loads((d / "expected-metadata.json").read_text(encoding="utf-8"))
            expected = lxml_html.fromstring((d / "expected.html").read_text(encoding="utf-8"))
            cases.append(
                Case(
                    "readability_zh",
                    d.name,
                    (d / "source.html").read_bytes(),
                    text=expected.text_content(),
                    title=meta.get("title"),
                    author=meta.get("byline"),
                )
            )
    tz = ex / "trafilatura_zh"
    if tz.is_dir():
        evaldata = json.loads((tz / "evaldata_zh.json").read_text(encoding="utf-8"))
        for url, item in evaldata.items():
            f = tz / "eval" / item["file"]
            if not f.is_file():
                continue
            cases.append(
                Case(
                    "trafilatura_zh",
                    item["file"][:30],
                    f.read_bytes(),
                    url=url,
                    title=item.get("title") or None,
                    author=item.get("author") or None,
                    date=item.get("date") or None,
                    with_snippets=item.get("with", []),
                    without_snippets=item.get("without", []),
                )
            )
    gb = ex / "goose3_bbc_chinese"
    if gb.is_dir():
        gt = json.loads((gb / "test_bbc_chinese.json").read_text(encoding="utf-8"))
        cases.append(
            Case(
                "goose3_bbc",
                "bbc_chinese",
                (gb / "test_bbc_chinese.html").read_bytes(),
                url=gt.get("url", ""),
                text=gt["expected"]["cleaned_text"],
                gold_is_prefix=True,
            )
        )
    wx = root / "wechat"
    if (wx / "expected.json").is_file():
        expected = json.loads((wx / "expected.json").read_text(encoding="utf-8"))
        for name, item in expected.items():
            cases.append(
                Case(
                    "wechat",
                    name.removesuffix(".html")[:30],
                    (wx / name).read_bytes(),
                    title=item.get("msg_title"),
                    account=item.get("nickname"),
                    ct=item.get("ct"),
                )
            )
    return cases


def run_ours(case: Case) -> dict[str, Any]:
    t0 = time.perf_counter()
    decoded = decode_body(case.body, {}, case.url)
    ex = extract_html(decoded.text, case.url, encoding=decoded.encoding)
    elapsed = time.perf_counter() - t0
    # Components, to see which one wins where.
    work = _parse(decoded.text)
    _strip_boilerplate(work)
    body = work.find("body")
    dens, _ = density_text(body if body is not None else work)
    return {
        "text": ex.text,
        "title": ex.title,
        "author": ex.author,
        "date": ex.published_at,
        "account": ex.account,
        "status": ex.status,
        "seconds": elapsed,
        "density_text": dens,
        "trafilatura_recall_text": trafilatura_text(decoded.text, case.url),
    }


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


def score(case: Case, out: dict[str, Any]) -> dict[str, Any]:
    row: dict[str, Any] = {}
    text = out["text"] or ""
    if case.text is not None:
        row["body_f1"] = body_f1(text, case)
    if case.title is not None and case.dataset != "wechat":
        row["title"] = _norm(out["title"]) == _norm(case.title)
        # Gold titles are sometimes the whole <title> with the site name; count a headline inside it.
        got = _norm(out["title"])
        row["title_contained"] = bool(got) and (got in _norm(case.title) or _norm(case.title) in got)
    if case.author is not None:
        row["author"] = _norm(out["author"]) == _norm(case.author)
    if case.date is not None and _day(case.date) is not None:
        row["date"] = _day(out["date"]) == _day(case.date)
    if case.with_snippets or case.without_snippets:
        ok = all(s in text for s in case.with_snippets) and not any(s in text for s in case.without_snippets)
        row["snippets"] = ok
    if case.dataset == "wechat":
        row["wx_title"] = _norm(out["title"]) == _norm(case.title)
        row["wx_account"] = _norm(out["account"]) == _norm(case.account)
        ct_day = None
        if case.ct:
            ct_day = datetime.fromtimestamp(int(case.ct), tz=SHANGHAI).date().isoformat()
        if isinstance(out["date"], datetime) and case.ct:
            row["wx_time"] = int(out["date"].timestamp()) == int(case.ct)
        else:
            row["wx_time"] = _day(out["date"]) == ct_day
        row["wx_body"] = len(_WS.sub("", text)) > 0
    return row


METRICS = (
    ("body_f1", "正文字符 F1 (mean)"),
    ("title", "标题准确率"),
    ("title_contained", "标题（互相包含）"),
    ("author", "作者准确率"),
    ("date", "日期准确率"),
    ("snippets", "片段通过率"),
    ("wx_title", "微信标题"),
    ("wx_account", "微信公众号"),
    ("wx_time", "微信发布时间"),
    ("wx_body", "微信正文非空"),
)


def aggregate(rows: list[dict[str, Any]], key: str) -> tuple[float | None, int]:
    vals = [float(r[key]) for r in rows if key in r]
    return (sum(vals) / len(vals) if vals else None, len(vals))


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
    t_ours = t_traf = 0.0
    for case in cases:
        ours = run_ours(case)
        traf = run_trafilatura(case)
        t_ours += ours["seconds"]
        t_traf += traf["seconds"]
        so, st = score(case, ours), score(case, traf)
        if case.text is not None:
            dens_f1.append(body_f1(ours["density_text"], case))
            recall_f1.append(body_f1(ours["trafilatura_recall_text"], case))
        ours_rows.append(so)
        traf_rows.append(st)
        page = {
            "dataset": case.dataset,
            "page": case.name,
            "ours": so,
            "trafilatura": st,
            "ours_title": ours["title"],
            "ours_author": ours["author"],
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
    lines = ["| 指标 | 样本数 | ours | trafilatura |", "|---|---:|---:|---:|"]
    for key, label in METRICS:
        o, n = aggregate(ours_rows, key)
        t, _ = aggregate(traf_rows, key)
        if n == 0:
            continue
        summary[key] = {"n": n, "ours": o, "trafilatura": t}
        lines.append(f"| {label} | {n} | {o:.3f} | {t:.3f} |")
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
    summary["seconds_per_page"] = {"ours": t_ours / len(cases), "trafilatura": t_traf / len(cases)}
    lines.append(f"| 每页耗时 (秒) | {len(cases)} | {t_ours / len(cases):.3f} | {t_traf / len(cases):.3f} |")
    print(f"Extraction evaluation on {len(cases)} pages from {args.realdata}\n")
    print("\n".join(lines))

    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(
        json.dumps({"summary": summary, "pages": per_page}, ensure_ascii=False, indent=1, default=str) + "\n",
        encoding="utf-8",
    )
    print(f"\nwrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
