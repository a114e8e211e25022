"""Use-cases on single pages and texts outside a crawl: read a page from a file or URL, extract it, analyse it
(decode, extract, OCR, rules and model, institution and licence scope) without storing it, and classify a JSONL
file of texts in batches."""

from __future__ import annotations

import json
import time
import zlib
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
from pipelines.process import for_analysis, ocr_candidates

# Bounds on a page read for `yijian extract|analyze` (the crawl has the same size cap, DOWNLOAD_MAXSIZE).
MAX_INPUT_BYTES = 5 * 1024 * 1024  # of the body after decompression
INPUT_BUDGET_S = 20.0  # total seconds to fetch a URL, however slowly the server drips it
_STALL_S = 5.0  # longest wait for the next bytes


class InputError(ValueError):
    """A page that cannot be read: a missing file, an unreachable URL, an HTTP error status, a body over the size
    cap or a fetch over the time budget. ``kind`` is an error kind of ``domain.ERROR_KINDS``."""

    def __init__(self, message: str, kind: str = "connection_error") -> None:
        super().__init__(message)
        self.kind = kind


class MissingFile(InputError):
    """The path names no readable file."""


@dataclass(frozen=True, slots=True)
class PageInput:
    body: bytes
    headers: dict[str, str]
    url: str


def read_input(
    path_or_url: str, *, timeout: float = INPUT_BUDGET_S, max_bytes: int = MAX_INPUT_BYTES
) -> PageInput:
    """The bytes, response headers and URL of a local file or an http(s) address, at most ``max_bytes`` (after
    decompression: a gzip bomb is refused while it inflates) and, for a URL, within ``timeout`` seconds in all."""
    if path_or_url.startswith(("http://", "https://")):
        return _read_url(path_or_url, timeout, max_bytes)
    path = Path(path_or_url)
    if not path.is_file():
        raise MissingFile(f"找不到文件：{path_or_url}", "parse_error")
    size = path.stat().st_size
    if size > max_bytes:
        raise InputError(f"文件过大：{size} 字节，上限 {max_bytes} 字节（{path_or_url}）", "too_large")
    with path.open("rb") as fh:
        body = fh.read(max_bytes + 1)  # the file may grow between stat and read
    if len(body) > max_bytes:
        raise InputError(f"文件过大：超过上限 {max_bytes} 字节（{path_or_url}）", "too_large")
    return PageInput(body, {}, path.resolve().as_uri())


def _read_url(url: str, budget: float, max_bytes: int) -> PageInput:
    deadline = time.monotonic() + budget
    too_slow = f"无法获取 {url}：超过总时间预算 {budget:g} 秒"
    stall = min(_STALL_S, budget)
    try:
        with httpx.stream(
            "GET", url, follow_redirects=True, timeout=httpx.Timeout(budget, read=stall)
        ) as resp:
            if resp.status_code >= 400:
                raise InputError(f"无法获取 {url}：HTTP {resp.status_code}", f"http_{resp.status_code}")
            encoding = resp.headers.get("content-encoding", "").strip().lower()
            inflate = _Inflater(encoding, max_bytes)
            parts: list[bytes] = []
            size = 0
            raw = resp.iter_raw() if inflate.handles else resp.iter_bytes()
            for chunk in raw:
                data = inflate.feed(chunk) if inflate.handles else chunk
                size += len(data)
                if size > max_bytes:
                    what = "解压后" if encoding else ""
                    raise InputError(f"无法获取 {url}：响应{what}超过上限 {max_bytes} 字节", "too_large")
                parts.append(data)
                if time.monotonic() > deadline:
                    raise InputError(too_slow, "timeout")
            headers = {k: v for k, v in resp.headers.items() if k.lower() != "content-encoding"}
            return PageInput(b"".join(parts), headers, str(resp.url))
    except httpx.TimeoutException as exc:
        raise InputError(f"无法获取 {url}：超时（{exc}）", "timeout") from exc
    except httpx.HTTPError as exc:
        raise InputError(f"无法获取 {url}：{exc}") from exc


class _Inflater:
    """gzip/deflate decompression that never produces more than ``limit`` + one chunk of output (zlib's
    ``max_length``), so a bomb is refused with bounded memory. Other encodings are left to httpx."""

    def __init__(self, encoding: str, limit: int) -> None:
        self.handles = encoding in ("gzip", "x-gzip", "deflate")
        self.limit = limit
        wbits = 16 + zlib.MAX_WBITS if encoding in ("gzip", "x-gzip") else zlib.MAX_WBITS
        self._z = zlib.decompressobj(wbits)
        self._produced = 0

    def feed(self, chunk: bytes) -> bytes:
        out = []
        data = chunk
        while data:
            room = self.limit + 1 - self._produced
            piece = self._z.decompress(data, max(room, 1))
            self._produced += len(piece)
            out.append(piece)
            if self._produced > self.limit:
                break
            data = self._z.unconsumed_tail
        return b"".join(out)


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
    analyzer = Analyzer(get_classifier(settings), registry, fragment_classifier=get_rules())
    analysis = analyzer.analyze([for_analysis(ex)])[0]
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
