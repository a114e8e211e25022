"""Scoring of the extractor against human gold on real third-party pages, shared by the benchmark
(``bench/extraction_eval.py``, on ``../shared/realdata``) and the extraction gate in ``make test``
(``tests/test_extraction_gate.py``, on the licensed copies in ``tests/fixtures/extraction_real``).

Both folders have the same layout (one sub-folder per upstream set, each with its licence file); :func:`load_cases`
reads whichever sets are present. Metrics: body character F1 (bag of characters, whitespace removed), title and
author exact match, date match (calendar date in Asia/Shanghai), snippet pass rate (all "with" present, all
"without" absent), WeChat title/account/time. Body F1 is also reported per page type (:data:`PAGE_TYPES`).
"""

from __future__ import annotations

import json
import re
import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from lxml import html as lxml_html

from pipelines.dates import SHANGHAI, parse_chinese_datetime
from pipelines.decode import decode_body
from pipelines.extract import extract_html

__all__ = [
    "METRICS",
    "PAGE_TYPES",
    "Case",
    "aggregate",
    "body_f1",
    "char_f1",
    "day",
    "load_cases",
    "run_ours",
    "score",
    "summarize",
]

_WS = re.compile(r"\s+")

# What kind of page each evaluated page is. The upstream sets do not say; this is our reading of each page,
# so body extraction can be reported per kind (a news article and a forum thread fail differently).
PAGE_TYPES: dict[str, str] = {
    "cwced/0d931936": "news",
    "cwced/0df12126": "notice",  # admissions notice on an arts portal
    "cwced/0ef8393b": "news",
    "cwced/2168485b": "notice",  # conference agenda, with readers' comments below
    "cwced/2397c95d": "paper",  # journal article landing page
    "cwced/33a95b71": "news",
    "cwced/3832838a": "news",
    "cwced/386d70f8": "forum",  # forum error page around a thread title
    "cwced/455de1c0": "education",  # popular-science explainer
    "cwced/54e89e4e": "blog",  # blog post with a long comment thread
    "readability_zh/gmw": "news",
    "readability_zh/pixnet": "blog",
    "readability_zh/qq": "news",
    "readability_zh/youth": "news",
    "trafilatura_zh/xinhuanet.com.c_1125597921.htm": "news",
    "trafilatura_zh/banyuetan.org.1000200033136171": "news",
    "trafilatura_zh/baike.baidu.com.tanya.html": "encyclopedia",
    "trafilatura_zh/archive.org.he.xinhuanet.com.2": "news",
    "goose3_bbc/bbc_chinese": "news",
    "list_pages/china_news1": "news",
    "list_pages/netease_rolling_news": "list",
    "list_pages/rtfund_xxpl": "list",
    "list_pages/tencent_important_news": "list",
}


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
    files: list[Path] = field(default_factory=list)  # the input and gold files this case was read from

    @property
    def key(self) -> str:
        return f"{self.dataset}/{self.name}"

    @property
    def page_type(self) -> str:
        return "wechat" if self.dataset == "wechat" else PAGE_TYPES.get(self.key, "other")


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


def day(value: Any) -> str | None:
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


def load_cases(root: Path) -> list[Case]:
    """Every page under ``root``: with gold in ``extraction/{cwced,readability_zh,trafilatura_zh,
    goose3_bbc_chinese}`` and ``wechat``, without (crash check only) in ``list_pages``; sets or pages that are
    absent are skipped."""
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
                    files=[html_file, gt_file],
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
                    files=[d / "source.html", d / "expected.html", d / "expected-metadata.json"],
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
                    files=[f, tz / "evaldata_zh.json"],
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
                files=[gb / "test_bbc_chinese.html", gb / "test_bbc_chinese.json"],
            )
        )
    wx = root / "wechat"
    if (wx / "expected.json").is_file():
        expected = json.loads((wx / "expected.json").read_text(encoding="utf-8"))
        for name, item in expected.items():
            if not (wx / name).is_file():
                continue
            cases.append(
                Case(
                    "wechat",
                    name.removesuffix(".html")[:30],
                    (wx / name).read_bytes(),
                    title=item.get("msg_title"),
                    account=item.get("nickname"),
                    ct=item.get("ct"),
                    files=[wx / name, wx / "expected.json"],
                )
            )
    lp = root / "list_pages"
    for kind in ("detail", "list"):
        for f in sorted((lp / kind).glob("*.html")) if lp.is_dir() else []:
            # No gold: these pages count for the crash check and are listed per page.
            cases.append(Case("list_pages", f.stem[:30], f.read_bytes(), files=[f]))
    return cases


def run_ours(case: Case) -> dict[str, Any]:
    """Our extractor on one page, as the fields :func:`score` compares (``crash`` holds an exception's text)."""
    t0 = time.perf_counter()
    try:
        decoded = decode_body(case.body, {}, case.url)
        ex = extract_html(decoded.text, case.url, encoding=decoded.encoding)
    except Exception as exc:  # a crash is a measured failure, not the end of the evaluation
        return {"text": "", "title": "", "author": "", "source": "", "date": None, "account": "", "status": "crash",
                "crash": f"{type(exc).__name__}: {exc}", "seconds": time.perf_counter() - t0}  # fmt: skip
    return {
        "text": ex.text,
        "title": ex.title,
        "author": ex.author,
        "source": ex.source,
        "date": ex.published_at,
        "account": ex.account,
        "status": ex.status,
        "crash": "",
        "seconds": time.perf_counter() - t0,
    }


def score(case: Case, out: dict[str, Any]) -> dict[str, Any]:
    """Per-page scores of one extraction output against the case's gold (only the fields the gold has)."""
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
    if case.date is not None and day(case.date) is not None:
        row["date"] = day(out["date"]) == day(case.date)
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
            row["wx_time"] = day(out["date"]) == ct_day
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


def aggregate(rows: Iterable[dict[str, Any]], key: str) -> tuple[float | None, int]:
    vals = [float(r[key]) for r in rows if key in r]
    return (sum(vals) / len(vals) if vals else None, len(vals))


def summarize(cases: list[Case], rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Means of every metric over the pages that have it, and body F1 per page type: ``{metric: {"n", "mean"}}``
    plus ``{"body_f1_by_type": {type: {"n", "mean"}}}``."""
    out: dict[str, Any] = {}
    for key, _ in METRICS:
        mean, n = aggregate(rows, key)
        if n:
            out[key] = {"n": n, "mean": mean}
    by_type: dict[str, list[dict[str, Any]]] = {}
    for case, row in zip(cases, rows, strict=True):
        if "body_f1" in row:
            by_type.setdefault(case.page_type, []).append(row)
    out["body_f1_by_type"] = {
        t: {"n": len(rs), "mean": aggregate(rs, "body_f1")[0]} for t, rs in sorted(by_type.items())
    }
    return out
