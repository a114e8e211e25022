"""Text analysis shared by both search backends, so that both index and query the very same tokens.

* Both sides first normalise the text with ``domain.normalize`` (invisible characters, compatibility forms,
  spaced-out characters, traditional → simplified, the homophone/pinyin table of key terms), so ``根治`` finds a page
  that writes 根\u200b治, 根 治 or 根治 in 繁體, and a query in traditional characters finds simplified pages.
* Index side: jieba search-mode segmentation (``domain.text.tokenize_for_index``), each token reduced to
  its letter/digit runs, joined by single spaces. SQLite FTS5 (``unicode61``) and Elasticsearch (``whitespace``
  tokenizer + ``lowercase``) then see exactly these tokens.
* Query side: jieba precise-mode words of the query, normalised the same way; every word must match (AND), in the
  title or the body.
* Highlights are computed here, on the original (unsegmented) text, because the segmented field holds overlapping
  sub-words and cannot be mapped back to the text a reviewer reads: terms are matched in the normalised text and
  mapped back to the original through the normaliser's offset map. Invisible characters (a bidi override would
  reorder the fragment) are dropped and everything outside ``<em>`` is HTML-escaped.
"""

from __future__ import annotations

import html
import re
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from domain.normalize import normalize, normalize_text, strip_invisible
from domain.text import cut, tokenize_for_index
from store.models import as_utc

from .base import IndexDoc

# Letter/digit runs: what both FTS5 unicode61 and our ES whitespace analyzer treat as one token.
_WORD = re.compile(r"[^\W_]+")

# Histogram buckets and date filters follow the reviewers' calendar (China Standard Time, no DST since 1991).
CST = timezone(timedelta(hours=8), "Asia/Shanghai")
HISTOGRAM_INTERVALS: tuple[str, ...] = ("day", "week", "month")
SORTS: tuple[str, ...] = ("relevance", "date")
FRAGMENT_CHARS = 120
MAX_FRAGMENTS = 3


def index_text(text: str) -> str:
    """The pre-segmented form of ``text`` that both backends index."""
    if not text:
        return ""
    return " ".join(
        tok for word in tokenize_for_index(normalize(text)).split() for tok in _WORD.findall(word)
    )


def query_terms(text: str) -> list[str]:
    """Distinct normalised words of a user query, in order (empty for a blank query = match all)."""
    seen: dict[str, None] = {}
    for word in cut(normalize(text or "")):
        for tok in _WORD.findall(word.lower()):
            seen.setdefault(tok, None)
    return list(seen)


def doc_date(doc: IndexDoc) -> datetime | None:
    """The date a document is filtered, sorted and histogrammed by: published_at, else fetched_at."""
    return as_utc(doc.published_at or doc.fetched_at)


def to_ms(value: datetime) -> int:
    return int(as_utc(value).timestamp() * 1000)  # type: ignore[union-attr]


def from_ms(ms: int | None) -> datetime | None:
    if ms is None:
        return None
    return datetime.fromtimestamp(ms / 1000, tz=UTC)


def bucket_start(ms: int, interval: str) -> str:
    """ISO date (China Standard Time) of the histogram bucket holding the instant ``ms``."""
    day = datetime.fromtimestamp(ms / 1000, tz=CST).date()
    if interval == "week":
        day = day - timedelta(days=day.weekday())  # weeks start on Monday, as in Elasticsearch
    elif interval == "month":
        day = day.replace(day=1)
    return day.isoformat()


def next_bucket(key: str, interval: str) -> str:
    day = datetime.fromisoformat(key).date()
    if interval == "day":
        day += timedelta(days=1)
    elif interval == "week":
        day += timedelta(days=7)
    else:
        day = (day.replace(day=28) + timedelta(days=4)).replace(day=1)
    return day.isoformat()


def fill_histogram(counts: dict[str, int], interval: str) -> list[tuple[str, int]]:
    """Buckets from the first to the last non-empty one, empty ones in between reported as 0."""
    if not counts:
        return []
    keys = sorted(counts)
    out: list[tuple[str, int]] = []
    key = keys[0]
    while key <= keys[-1]:
        out.append((key, counts.get(key, 0)))
        key = next_bucket(key, interval)
    return out


MAX_RESULT_WINDOW = 10_000  # Elasticsearch's index.max_result_window; both backends enforce it alike


def validate_query(interval: str | None, sort: str, offset: int = 0, size: int = 0) -> None:
    if offset + size > MAX_RESULT_WINDOW:
        raise ValueError(f"翻页过深（offset+size 超过 {MAX_RESULT_WINDOW}），请改用 search_after 游标翻页")
    if interval is not None and interval not in HISTOGRAM_INTERVALS:
        raise ValueError(f"未知的直方图间隔: {interval!r}（可选 day/week/month）")
    if sort not in SORTS:
        raise ValueError(f"未知的排序方式: {sort!r}（可选 relevance/date）")


def highlight(text: str, terms: list[str], title: str = "") -> list[str]:
    """Up to three fragments of ``text`` with every query term wrapped in ``<em>``; all else HTML-escaped.

    Falls back to the title when the body has no match, and to the leading snippet for a blank query.
    """
    if terms:
        pattern = re.compile(
            "|".join(re.escape(t) for t in sorted(terms, key=len, reverse=True)), re.IGNORECASE
        )
        for source in (text, title):
            frags = _fragments(source or "", pattern)
            if frags:
                return frags
    snippet = (text or title or "")[:FRAGMENT_CHARS]
    return [_show(snippet)] if snippet else []


def _fragments(text: str, pattern: re.Pattern[str]) -> list[str]:
    nz = normalize_text(text)
    matches = [nz.span(*m.span()) for m in pattern.finditer(nz.text)]
    if not matches:
        return []
    matches.sort()
    # Windows around matches, merged when they overlap.
    windows: list[list[int]] = []
    half = FRAGMENT_CHARS // 2
    for start, end in matches:
        lo, hi = max(0, start - half // 2), min(len(text), end + half)
        if windows and lo <= windows[-1][1]:
            windows[-1][1] = max(windows[-1][1], hi)
        else:
            if len(windows) == MAX_FRAGMENTS:
                break
            windows.append([lo, hi])
    frags: list[str] = []
    for lo, hi in windows:
        parts: list[str] = []
        pos = lo
        for start, end in matches:
            if end <= lo or start >= hi:
                continue
            start, end = max(start, pos), min(end, hi)
            if start < pos:
                continue
            parts.append(_show(text[pos:start]))
            parts.append("<em>" + _show(text[start:end]) + "</em>")
            pos = end
        parts.append(_show(text[pos:hi]))
        frags.append("".join(parts).strip())
    return frags


def _show(text: str) -> str:
    return html.escape(strip_invisible(text))


def doc_fields(doc: IndexDoc) -> dict[str, Any]:
    """Flat, JSON-ready fields of a document as both backends store them."""
    date = doc_date(doc)
    return {
        "doc_id": doc.doc_id,
        "url": doc.url,
        "title": doc.title,
        "text": doc.text,
        "title_seg": index_text(doc.title) if doc.title_seg is None else doc.title_seg,
        "text_seg": index_text(doc.text) if doc.text_seg is None else doc.text_seg,
        "source_id": doc.source_id,
        "source_type": doc.source_type,
        "institution_id": doc.institution_id,
        "region": doc.region,
        "published_at": as_utc(doc.published_at).isoformat() if doc.published_at else None,  # type: ignore[union-attr]
        "fetched_at": as_utc(doc.fetched_at).isoformat() if doc.fetched_at else None,  # type: ignore[union-attr]
        "date": date.isoformat() if date else None,
        "version": doc.version,
        "labels": sorted(set(doc.labels)),
        "categories": sorted(set(doc.categories)),
        "severities": sorted(set(doc.severities)),
        "flagged": bool(doc.labels),
        "scores": dict(doc.scores),
        "findings": list(doc.findings),
        "account": doc.account,
        "author": doc.author,
    }


def parse_dt(value: str | None) -> datetime | None:
    if not value:
        return None
    return as_utc(datetime.fromisoformat(value.replace("Z", "+00:00")))
