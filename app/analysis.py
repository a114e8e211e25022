"""Use-cases on single pages and texts outside a crawl: read a page from a file or URL, extract it, analyse it
(decode, extract, OCR, rules and model, institution and licence scope) without storing it, and classify a JSONL
file of texts in batches."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import httpx

from app.registries import load_institution_registry
from classifiers.factory import get_classifier, get_rules
from config import Settings
from domain import Extracted
from pipelines.analyze import Analyzer
from pipelines.extract import extract_bytes
from pipelines.ocr import ocr_image
from pipelines.process import ocr_candidates


class InputError(ValueError):
    """A page that cannot be read: a missing file, an unreachable URL or an HTTP error status."""


class MissingFile(InputError):
    """The path names no readable file."""


@dataclass(frozen=True, slots=True)
class PageInput:
    body: bytes
    headers: dict[str, str]
    url: str


def read_input(path_or_url: str, *, timeout: float = 20.0) -> PageInput:
    """The bytes, response headers and URL of a local file or an http(s) address."""
    if path_or_url.startswith(("http://", "https://")):
        try:
            resp = httpx.get(path_or_url, follow_redirects=True, timeout=timeout)
        except httpx.HTTPError as exc:
            raise InputError(f"无法获取 {path_or_url}：{exc}") from exc
        if resp.status_code >= 400:
            raise InputError(f"无法获取 {path_or_url}：HTTP {resp.status_code}")
        return PageInput(resp.content, dict(resp.headers), str(resp.url))
    path = Path(path_or_url)
    if not path.is_file():
        raise MissingFile(f"找不到文件：{path_or_url}")
    return PageInput(path.read_bytes(), {}, path.resolve().as_uri())


def extract_page(page: PageInput) -> Extracted:
    """Title, text, publish time, author, account and images of one page."""
    return extract_bytes(page.body, page.headers, page.url)


def analyze_page(settings: Settings, page: PageInput) -> dict[str, Any]:
    """Decode, extract, OCR and analyse one page without storing it."""
    ex = extract_page(page)
    if ex.status != "ok":
        return {"url": page.url, "status": ex.status, "detail": ex.error_detail}
    if settings.ocr_enabled:
        for src in ocr_candidates(ex):
            data = _fetch_image(src)
            for img in ex.images:
                if img.src == src and data:
                    img.ocr_text = ocr_image(data)
    registry = load_institution_registry(settings)
    analysis = Analyzer(get_classifier(settings), registry, fragment_classifier=get_rules()).analyze([ex])[0]
    return {
        **ex.to_json(),
        "labels": analysis.labels,
        "scores": analysis.scores,
        "findings": [f.to_json() for f in analysis.findings],
        "institution": analysis.institution_id,
        "valid_review_certs": analysis.valid_certs,
    }


def _fetch_image(src: str) -> bytes | None:
    if src.startswith("file://"):
        p = Path(unquote(urlsplit(src).path))
        return p.read_bytes() if p.is_file() else None
    try:
        resp = httpx.get(src, timeout=10.0, follow_redirects=True)
    except httpx.HTTPError:
        return None
    return resp.content if resp.status_code == 200 else None


@dataclass(frozen=True, slots=True)
class ClassifySummary:
    classified: int
    skipped: int
    seconds: float


def classify_jsonl(
    settings: Settings,
    input_path: Path,
    output_path: Path,
    *,
    batch_size: int = 64,
    on_skip: Callable[[int, str], None] | None = None,
) -> ClassifySummary:
    """Classify every ``{"id", "text"}`` line of ``input_path``; write each record with labels, scores and
    findings to ``output_path``. Invalid lines are skipped and reported through ``on_skip(lineno, reason)``."""
    clf = get_classifier(settings)
    records: list[dict[str, Any]] = []
    bad = 0
    with input_path.open(encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                rec = json.loads(line)
                if not isinstance(rec, dict) or not isinstance(rec.get("text"), str):
                    raise ValueError('需要 {"id","text"} 对象')
            except ValueError as exc:
                if on_skip:
                    on_skip(lineno, str(exc))
                bad += 1
                continue
            records.append(rec)
    t0 = time.perf_counter()
    with output_path.open("w", encoding="utf-8") as fh:
        for i in range(0, len(records), batch_size):
            batch = records[i : i + batch_size]
            for rec, res in zip(batch, clf.classify([r["text"] for r in batch]), strict=True):
                fh.write(json.dumps({**rec, **res.to_json()}, ensure_ascii=False) + "\n")
    return ClassifySummary(len(records), bad, time.perf_counter() - t0)
