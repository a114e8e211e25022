"""Use-case of the document page: a stored document with its current text cut into segments where rule spans
are highlighted (with category, legal basis and severity), the model's labels and scores with the model
version, OCR'd images with their text, the institution with its licence and licensed scope and the scope
check, the triage decisions, and every version with a readable diff against the one before it."""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from typing import Any

from app.context import AppContext
from app.triage import decisions_for_document
from app.vocab import category_name
from store.console import ConsoleQueries

MAX_DIFF_CHARS = 200_000  # longer texts are compared line by line only
CONTEXT_CHARS = 80  # unchanged text kept around a change


@dataclass(slots=True)
class Segment:
    text: str
    findings: list[int] = field(default_factory=list)  # ids of the findings covering this segment
    severity: str = ""  # the most severe of them


def segments(text: str, spans: list[dict[str, Any]]) -> list[Segment]:
    """``text`` cut at every finding boundary; each segment knows which findings cover it. Spans outside the
    text are clipped; overlapping spans are fine."""
    from app.vocab import severity_rank

    n = len(text)
    cuts = {0, n}
    clipped = []
    for f in spans:
        a, b = max(0, min(int(f["start"]), n)), max(0, min(int(f["end"]), n))
        if a < b:
            clipped.append((a, b, f))
            cuts.update((a, b))
    points = sorted(cuts)
    out: list[Segment] = []
    for a, b in zip(points, points[1:], strict=False):
        covering = [f for s, e, f in clipped if s <= a and b <= e]
        sev = min((f.get("severity") or "" for f in covering), key=severity_rank, default="")
        out.append(Segment(text[a:b], [f["id"] for f in covering], sev))
    return out


def diff(old: str, new: str) -> list[dict[str, str]]:
    """A readable diff of two texts: ``equal`` / ``delete`` / ``insert`` pieces, character-level inside changed
    lines, long unchanged stretches shortened to their ends."""
    pieces: list[dict[str, str]] = []
    if len(old) + len(new) <= MAX_DIFF_CHARS:
        sm = difflib.SequenceMatcher(None, old, new, autojunk=False)
        for op, a1, a2, b1, b2 in sm.get_opcodes():
            if op == "equal":
                pieces.append({"op": "equal", "text": old[a1:a2]})
                continue
            if a2 > a1:
                pieces.append({"op": "delete", "text": old[a1:a2]})
            if b2 > b1:
                pieces.append({"op": "insert", "text": new[b1:b2]})
    else:
        for line in difflib.ndiff(old.splitlines(), new.splitlines()):
            tag, body = line[:2], line[2:] + "\n"
            kind = {"  ": "equal", "- ": "delete", "+ ": "insert"}.get(tag)
            if kind:
                pieces.append({"op": kind, "text": body})
    for i, p in enumerate(pieces):
        if p["op"] == "equal" and len(p["text"]) > 2 * CONTEXT_CHARS + 10:
            t = p["text"]
            head = t[:CONTEXT_CHARS] if i > 0 else ""
            tail = t[-CONTEXT_CHARS:] if i < len(pieces) - 1 else ""
            p["text"] = f"{head}…{tail}" if head or tail else "…"
    return pieces


def document_view(ctx: AppContext, doc_id: str) -> dict[str, Any] | None:
    store = ctx.store
    doc = store.get_document(doc_id)
    if doc is None:
        return None
    q = ConsoleQueries(store)
    version = doc.get("version") or {}
    findings = doc.get("findings", [])
    for f in findings:
        f["category_name"] = category_name(f["category"])
    decisions = decisions_for_document(ctx, doc_id)
    latest: dict[int, dict[str, Any]] = {}
    for d in decisions:
        if d["finding_id"] is not None:
            latest[d["finding_id"]] = d
    for f in findings:
        f["triage"] = latest.get(f["id"])
    by_field: dict[str, list[dict[str, Any]]] = {}
    for f in findings:
        if not f["source"].startswith("model:"):  # the model's labels cover the whole text: not a span
            by_field.setdefault(f["field"], []).append(f)
    images = []
    for img in version.get("images") or []:
        ocr = img.get("ocr_text") or ""
        images.append(
            {**img, "segments": segments(ocr, by_field.get(f"image:{img.get('src', '')}", [])) if ocr else []}
        )
    model_versions = sorted(
        {f["source"].split(":", 1)[1] for f in findings if f["source"].startswith("model:")}
    )
    institution = q.institution(doc["institution_id"]) if doc.get("institution_id") else None
    scope = [f for f in findings if f["source"].startswith("institutions:")]
    versions = q.versions(doc_id)
    history = []
    for prev, cur in zip([None, *versions], versions, strict=False):
        entry = {k: cur[k] for k in ("id", "version", "title", "fetched_at", "published_at", "labels")}
        if prev is not None:
            entry["diff"] = diff(f"{prev['title']}\n{prev['text']}", f"{cur['title']}\n{cur['text']}")
            entry["labels_removed"] = sorted(set(prev["labels"]) - set(cur["labels"]))
            entry["labels_added"] = sorted(set(cur["labels"]) - set(prev["labels"]))
            entry["changed"] = any(p["op"] != "equal" for p in entry["diff"])
        history.append(entry)
    return {
        "document": doc,
        "version": version,
        "title_segments": segments(version.get("title") or "", by_field.get("title", [])),
        "text_segments": segments(version.get("text") or "", by_field.get("text", [])),
        "findings": findings,
        "images": images,
        "model_versions": model_versions,
        "institution": institution,
        "scope_findings": scope,
        "decisions": decisions,
        "history": history,
    }
