"""Use-cases of cases and evidence: create and manage cases (status, documents, notes), snapshot a web page into a
case, export a case as a sealed bundle and verify one, the signing key (``yijian init``, ``yijian key export``),
and the automatic capture of severe findings after a crawl run.

Every action on evidence (a case created, a capture, a view, a document attached, an export) appends to the case's
hash-chained custody log. Shells (CLI, web console) call these functions and render what they return.
"""

from __future__ import annotations

import getpass
import importlib.metadata
import json
import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cases import custody
from cases.capture import BrowserSession, CaptureError, CaptureLimits, capture_page, discard, html_to_pdf
from cases.safety import TargetRefused, check_target
from cases.sealing import (
    DIGEST,
    MANIFEST,
    KeyMissing,
    check_signature,
    ensure_key,
    fingerprint,
    key_paths,
    load_private_key,
    load_public_pem,
    public_pem,
    seal_directory,
    sha256_file,
)
from cases.status import STATUS_NAMES, STATUSES, TRANSITIONS, InvalidTransition, check_transition
from cases.timestamp import stamp_directory
from cases.verify import BundleUnreadable, VerifyReport, verify_bundle
from config import Settings
from domain.labels import SEVERITIES
from store.cases import CaseNotFound, CaseRepository, ChainMoved, StaleStatus, utc_iso
from store.db import Store

__all__ = [
    "STATUSES",
    "BrowserSession",
    "STATUS_NAMES",
    "BundleUnreadable",
    "CaptureError",
    "CaseNotFound",
    "ExportConflict",
    "InvalidTransition",
    "KeyMissing",
    "TargetRefused",
    "VerifyReport",
    "add_note",
    "attach_document",
    "auto_capture_after_run",
    "capture_document",
    "capture_file",
    "check_capture",
    "create_case",
    "export_case",
    "init_evidence",
    "list_cases",
    "next_statuses",
    "public_key_pem",
    "set_status",
    "show_case",
    "snapshot",
    "verify",
]

AUTO_ACTOR = "auto-capture"


class ExportConflict(RuntimeError):
    """The case's custody log changed while its bundle was being written; export again."""


_INCOMING = ".incoming"


def default_actor() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


def _yijian_version() -> str:
    try:
        return importlib.metadata.version("yijian")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


@contextmanager
def _repo(settings: Settings, store: Store | None = None) -> Iterator[CaseRepository]:
    if store is not None:
        yield CaseRepository(store)
        return
    own = Store.from_settings(settings)
    try:
        yield CaseRepository(own)
    finally:
        own.close()


def _log(repo: CaseRepository, case_id: int, actor: str, action: str, obj: str, **details: Any) -> dict:
    return repo.append_custody(
        case_id, actor=actor, action=action, obj=obj, details=details, seal=custody.entry_hash
    )


# ------------------------------------------------------------------------------------------------- keys
def init_evidence(settings: Settings) -> dict[str, Any]:
    """Create the database and the evidence signing key pair unless they exist (idempotent)."""
    Store.from_settings(settings).close()
    paths, created = ensure_key(settings.key_dir)
    return {
        "data_dir": str(settings.data_dir.resolve()),
        "key_created": created,
        "private_key": str(paths.private),
        "public_key": str(paths.public),
        "fingerprint": fingerprint(load_private_key(settings.key_dir)),
    }


def public_key_pem(settings: Settings) -> str:
    return public_pem(load_private_key(settings.key_dir)).decode("ascii")


# ------------------------------------------------------------------------------------------------ cases
def create_case(
    settings: Settings,
    title: str,
    *,
    institution_id: str | None = None,
    categories: list[str] | None = None,
    assignee: str = "",
    actor: str | None = None,
) -> int:
    title = title.strip()
    if not title:
        raise ValueError("案件名称不能为空")
    actor = actor or default_actor()
    with _repo(settings) as repo:
        case_id = repo.create_case(
            title=title,
            institution_id=institution_id,
            categories=categories,
            assignee=assignee,
            created_by=actor,
        )
        _log(repo, case_id, actor, "created", f"case:{case_id}", title=title)
        return case_id


def list_cases(
    settings: Settings, *, status: str | None = None, institution_id: str | None = None
) -> list[dict]:
    with _repo(settings) as repo:
        return repo.list_cases(status=status, institution_id=institution_id)


def show_case(settings: Settings, case_id: int, *, actor: str | None = None) -> dict[str, Any]:
    """The case with its notes, documents, captures and custody log; ``actor`` given: the view is logged."""
    with _repo(settings) as repo:
        case = repo.get_case(case_id)
        if actor:
            _log(repo, case_id, actor, "viewed", f"case:{case_id}")
        docs = []
        for link in repo.case_documents(case_id):
            summary = repo.document_summary(link["document_id"]) or {
                "id": link["document_id"],
                "missing": True,
            }
            summary.pop("text", None)
            docs.append({**summary, **link})
        entries = repo.custody(case_id)
        brk = custody.verify_chain(entries)
        return {
            "case": case,
            "status_name": STATUS_NAMES.get(case["status"], case["status"]),
            "notes": repo.notes(case_id),
            "documents": docs,
            "captures": repo.captures(case_id),
            "custody": entries,
            "custody_intact": brk is None,
            "custody_break": brk.describe() if brk else None,
        }


def next_statuses(status: str) -> list[str]:
    """The statuses a case in ``status`` may move to, in life-cycle order (a form offers only these)."""
    allowed = TRANSITIONS.get(status, frozenset())
    return [s for s in STATUSES if s in allowed]


def set_status(settings: Settings, case_id: int, status: str, *, actor: str | None = None) -> dict[str, Any]:
    with _repo(settings) as repo:
        current = repo.get_case(case_id)["status"]
        check_transition(current, status)
        try:
            repo.set_status(case_id, current, status, actor or default_actor())
        except StaleStatus as exc:
            raise InvalidTransition(f"案件状态已被他人修改，请刷新后重试（{exc}）") from exc
        return repo.get_case(case_id)


def add_note(settings: Settings, case_id: int, text: str, *, author: str | None = None) -> int:
    if not text.strip():
        raise ValueError("备注内容不能为空")
    with _repo(settings) as repo:
        return repo.add_note(case_id, author or default_actor(), text.strip())


def attach_document(settings: Settings, case_id: int, document_id: str, *, actor: str | None = None) -> bool:
    """Attach a stored document to a case; False if it was attached already. Raises KeyError for an unknown
    document."""
    actor = actor or default_actor()
    with _repo(settings) as repo:
        return _attach(repo, case_id, document_id, actor)


def _attach(repo: CaseRepository, case_id: int, document_id: str, actor: str) -> bool:
    doc = repo.document_summary(document_id)
    if doc is None:
        raise KeyError(f"没有文档 {document_id}")
    repo.get_case(case_id)
    if not repo.attach_document(case_id, document_id, doc["content_hash"], actor):
        return False
    _log(
        repo,
        case_id,
        actor,
        "attached",
        f"document:{document_id}",
        url=doc["url"],
        content_hash=doc["content_hash"],
    )
    return True


# --------------------------------------------------------------------------------------------- snapshot
def _limits(settings: Settings) -> CaptureLimits:
    return CaptureLimits(
        timeout_s=float(settings.snapshot_timeout_s),
        max_bytes=int(settings.snapshot_max_mb * 1024 * 1024),
        allow_private=settings.snapshot_allow_private,
    )


def _new_capture_id() -> str:
    return f"{datetime.now(UTC):%Y%m%dT%H%M%SZ}-{secrets.token_hex(4)}"


def snapshot(
    settings: Settings,
    url: str,
    case_id: int,
    *,
    operator: str | None = None,
    document_id: str | None = None,
    run_id: int | None = None,
    trigger: str = "manual",
    store: Store | None = None,
    session: BrowserSession | None = None,
) -> dict[str, Any]:
    """Capture ``url`` into case ``case_id``: browser capture in a temporary directory, sealed (manifest +
    signature), moved into ``data_dir/evidence/<id>`` in one rename, recorded, logged. Raises CaseNotFound,
    KeyMissing, TargetRefused or CaptureError; on any failure nothing is left behind. ``session``: a browser
    kept open across several snapshots (see :class:`cases.capture.BrowserSession`)."""
    operator = operator or default_actor()
    limits = _limits(settings)
    with _repo(settings, store) as repo:
        repo.get_case(case_id)
        key = load_private_key(settings.key_dir)
        check_target(url, allow_private=limits.allow_private)  # refused before anything is written
        capture_id = _new_capture_id()
        incoming = settings.evidence_dir / _INCOMING / capture_id
        final = settings.evidence_dir / capture_id
        incoming.mkdir(parents=True)
        try:
            doc_hash = repo.document_summary(document_id)["content_hash"] if document_id else None  # type: ignore[index]
            record = capture_page(
                url, incoming, limits=limits, operator=operator, case_id=case_id, capture_id=capture_id,
                extra={"document_id": document_id, "trigger": trigger, "run_id": run_id}, session=session,
            )  # fmt: skip
            manifest_sha = seal_directory(
                incoming,
                key,
                {"name": f"capture-{capture_id}", "title": f"取证 {capture_id}：{record['final_url']}",
                 "created": record["capture_finished_utc"], "software": f"Yijian {_yijian_version()}"},
            )  # fmt: skip
            stamp = stamp_directory(incoming, settings.tsa_url) if settings.tsa_url else None
            os.replace(incoming, final)
        except BaseException:
            discard(incoming)
            raise
        try:
            repo.add_capture(
                id=capture_id, case_id=case_id, url=url, final_url=record["final_url"], document_id=document_id,
                run_id=run_id, trigger=trigger, operator=operator, status="ok",
                captured_at=datetime.fromisoformat(record["capture_started_utc"].replace("Z", "+00:00")),
                path=str(final.relative_to(settings.data_dir)), manifest_sha256=manifest_sha,
                content_sha256=record["raw_html_sha256"],
                meta={"title": record["title"], "http_status": record["http_status"],
                      "duration_s": record["duration_s"], "document_content_hash": doc_hash, "timestamp": stamp},
            )  # fmt: skip
            _log(repo, case_id, operator, "captured", f"capture:{capture_id}", url=url,
                 final_url=record["final_url"], manifest_sha256=manifest_sha)  # fmt: skip
        except BaseException:
            discard(final)
            raise
        return repo.get_capture(capture_id) or {}


def capture_document(
    settings: Settings, document_id: str, *, case_id: int | None = None, operator: str | None = None
) -> dict[str, Any]:
    """The "capture evidence" button of a document page: snapshot the stored document's URL into ``case_id``, or
    into a new case named after the document (with its institution) when none is given; the document is attached
    to the case first. Returns ``{"case_id", "capture"}``; raises like :func:`snapshot`, KeyError for an unknown
    document."""
    operator = operator or default_actor()
    with _repo(settings) as repo:
        doc = repo.document_summary(document_id)
        if doc is None:
            raise KeyError(f"没有文档 {document_id}")
        if case_id is None:
            case_id = repo.create_case(
                title=f"取证：{doc['title'] or doc['url']}"[:200],
                institution_id=doc["institution_id"],
                categories=sorted({f["category"] for f in doc["findings"]}),
                created_by=operator,
            )
            _log(repo, case_id, operator, "created", f"case:{case_id}", document=document_id)
        _attach(repo, case_id, document_id, operator)
        capture = snapshot(settings, doc["url"], case_id, operator=operator, document_id=document_id,
                           store=repo.store)  # fmt: skip
    return {"case_id": case_id, "capture": capture}


def capture_file(settings: Settings, capture_id: str, name: str) -> Path:
    """The path of one file of a stored capture (for a page that shows the screenshot); KeyError if none."""
    with _repo(settings) as repo:
        cap = repo.get_capture(capture_id)
    if cap is None or cap["status"] != "ok":
        raise KeyError(f"没有取证 {capture_id}")
    root = (settings.data_dir / cap["path"]).resolve()
    path = (root / name).resolve()
    if root not in path.parents or not path.is_file():
        raise KeyError(f"取证 {capture_id} 中没有文件 {name}")
    return path


def check_capture(settings: Settings, capture_id: str) -> list[str]:
    """Problems with a stored capture's seal (empty: every file matches its signed manifest)."""
    root = capture_file(settings, capture_id, MANIFEST).parent
    manifest_data = (root / MANIFEST).read_bytes()
    manifest = json.loads(manifest_data)
    problems = []
    listed = set()
    for res in manifest["resources"]:
        listed.add(res["path"])
        p = root / res["path"]
        if not p.is_file():
            problems.append(f"文件缺失：{res['path']}")
        elif "sha256:" + sha256_file(p) != res["hash"]:
            problems.append(f"文件被改动：{res['path']}")
    for p in root.rglob("*"):
        rel = p.relative_to(root).as_posix()
        if p.is_file() and rel not in listed and rel not in (MANIFEST, DIGEST):
            problems.append(f"多出文件：{rel}")
    public = load_public_pem(public_pem(load_private_key(settings.key_dir)))
    problems += check_signature(public, manifest_data, json.loads((root / DIGEST).read_bytes()))
    return problems


# ------------------------------------------------------------------------------------------ export/verify
def export_case(settings: Settings, case_id: int, out: Path, *, actor: str | None = None) -> dict[str, Any]:
    """Write the case's sealed bundle to ``out``. Its custody log ends with this export's entry, which is stored
    only once the bundle is written (a failed export leaves no "exported" entry and no file)."""
    from cases.bundle import write_bundle

    actor = actor or default_actor()
    with _repo(settings) as repo:
        case = repo.get_case(case_id)
        key = load_private_key(settings.key_dir)
        captures = [c for c in repo.captures(case_id) if c["status"] == "ok"]
        documents = [
            d for link in repo.case_documents(case_id) if (d := repo.document_summary(link["document_id"]))
        ]
        institution = None
        if case["institution_id"]:
            names = {i["id"]: i["name"] for i in repo.store.get_institutions()}
            institution = f"{names.get(case['institution_id'], '')}（{case['institution_id']}）"
        entries = repo.custody(case_id)
        store = repo.store

        def raw_body(doc: dict[str, Any]) -> bytes | None:
            blob = doc.get("raw_blob")
            if not blob:
                return None
            try:
                return store.blobs.get(blob)
            except (OSError, KeyError, ValueError):
                return None

        # The export's own custody entry must be inside the bundle, and must not be stored if no bundle is
        # written: prepare it on the current head, write the bundle, then store it only if the head has not moved.
        exported: dict[str, Any] = {
            "case_id": case_id,
            "seq": len(entries) + 1,
            "at": utc_iso(),
            "actor": actor,
            "action": "exported",
            "object": f"case:{case_id}",
            "details": {"file": out.name, "captures": [c["id"] for c in captures]},
            "prev_hash": entries[-1]["entry_hash"] if entries else custody.GENESIS_HASH,
        }
        exported["entry_hash"] = custody.entry_hash(exported)
        result = write_bundle(
            out, case=case, institution=institution, notes=repo.notes(case_id), documents=documents,
            document_raw=raw_body, captures=[(c, settings.data_dir / c["path"]) for c in captures],
            custody_entries=[*entries, exported], key=key, html_to_pdf=html_to_pdf,
            yijian_version=_yijian_version(), tsa_url=settings.tsa_url,
        )  # fmt: skip
        try:
            stored = repo.append_custody(
                case_id, actor=actor, action="exported", obj=exported["object"], details=exported["details"],
                seal=custody.entry_hash, at=exported["at"], expect_prev=exported["prev_hash"],
            )  # fmt: skip
        except ChainMoved as exc:
            out.unlink(missing_ok=True)
            raise ExportConflict("导出期间案件有新的保管记录，请重新导出") from exc
        if stored["entry_hash"] != exported["entry_hash"]:  # a bug: the bundle must end with the stored entry
            out.unlink(missing_ok=True)
            raise ExportConflict("保管记录与证据包不一致，未导出")
        return result


def verify(path: Path, *, public_key: Path | None = None, tsa_ca: Path | None = None) -> VerifyReport:
    """Check a bundle (see cases.verify); ``public_key``: also require that it was signed with this key;
    ``tsa_ca``: verify RFC 3161 timestamps' signatures against this CA certificate (PEM)."""
    return verify_bundle(
        path,
        expected_public_pem=public_key.read_bytes() if public_key else None,
        tsa_ca_pem=tsa_ca.read_bytes() if tsa_ca else None,
    )


# ---------------------------------------------------------------------------------------------- auto
def parse_thresholds(value: str) -> dict[str, int]:
    """``"S1,P1"`` → ``{"S": 1, "P": 1}``; raises ValueError for an unknown severity."""
    out: dict[str, int] = {}
    for part in (p.strip().upper() for p in (value or "").split(",")):
        if not part:
            continue
        if part not in SEVERITIES:
            raise ValueError(f"未知严重度 {part}（可选：{', '.join(SEVERITIES)}）")
        out[part[0]] = int(part[1:])
    return out


def _qualifies(severity: str, thresholds: dict[str, int]) -> bool:
    if len(severity) < 2 or severity[0] not in thresholds or not severity[1:].isdigit():
        return False
    return int(severity[1:]) <= thresholds[severity[0]]


def auto_capture_after_run(settings: Settings, store: Store, run_id: int) -> dict[str, Any]:
    """Capture the pages of this run's findings at or above ``auto_capture_min_severity``, most severe first, at
    most ``auto_capture_budget`` of them, each into its institution's open auto-capture case (created on first
    need; pages of no known institution share one). A failure is recorded as a failed capture in that case and
    never raised: the crawl has succeeded whatever happens here."""
    summary: dict[str, Any] = {"candidates": 0, "captured": 0, "failed": 0, "skipped": None, "cases": []}
    try:
        thresholds = parse_thresholds(settings.auto_capture_min_severity)
        if not thresholds or settings.auto_capture_budget <= 0:
            summary["skipped"] = "自动取证已关闭"
            return summary
        if not key_paths(settings.key_dir).private.exists():
            summary["skipped"] = "没有取证签名密钥（运行 yijian init 后启用自动取证）"
            return summary
        repo = CaseRepository(store)
        best: dict[str, dict[str, Any]] = {}
        for f in repo.run_findings(run_id):
            if not _qualifies(f["severity"], thresholds):
                continue
            rank = (SEVERITIES.index(f["severity"]), f["url"])
            if f["document_id"] not in best or rank < best[f["document_id"]]["rank"]:
                best[f["document_id"]] = {**f, "rank": rank}
        todo = [
            d for d in sorted(best.values(), key=lambda d: d["rank"])
            if not repo.captured_content(d["document_id"], d["content_hash"])
        ]  # fmt: skip
        summary["candidates"] = len(todo)
        names = {i["id"]: i["name"] for i in store.get_institutions()}
        session = BrowserSession() if todo else None  # one browser for the batch, a fresh context per capture
        try:
            _auto_batch(
                settings, store, repo, run_id, todo[: settings.auto_capture_budget], names, session, summary
            )
        finally:
            if session is not None:
                session.close()
                summary["browser_launches"] = session.launches
        summary["over_budget"] = max(0, len(todo) - settings.auto_capture_budget)
    except Exception as exc:  # a broken setting or store must not fail the crawl either
        summary["skipped"] = f"自动取证出错：{type(exc).__name__}: {exc}"
    return summary


def _auto_batch(
    settings: Settings,
    store: Store,
    repo: CaseRepository,
    run_id: int,
    todo: list[dict[str, Any]],
    names: dict[str, str],
    session: BrowserSession | None,
    summary: dict[str, Any],
) -> None:
    """Capture each document into its auto-capture case; a failure becomes a failed capture row."""
    for doc in todo:
        case_id = _auto_case(repo, doc["institution_id"], names)
        if case_id not in summary["cases"]:
            summary["cases"].append(case_id)
        try:
            _attach(repo, case_id, doc["document_id"], AUTO_ACTOR)
            snapshot(settings, doc["url"], case_id, operator=AUTO_ACTOR, document_id=doc["document_id"],
                     run_id=run_id, trigger="auto", store=store, session=session)  # fmt: skip
            summary["captured"] += 1
        except Exception as exc:  # recorded, never fatal
            summary["failed"] += 1
            repo.add_capture(
                id=_new_capture_id(), case_id=case_id, url=doc["url"], document_id=doc["document_id"],
                run_id=run_id, trigger="auto", operator=AUTO_ACTOR, status="failed",
                error=f"{type(exc).__name__}: {exc}"[:2000],
            )  # fmt: skip


def _auto_case(repo: CaseRepository, institution_id: str | None, names: dict[str, str]) -> int:
    existing = repo.find_open_auto_case(institution_id)
    if existing is not None:
        return existing
    title = (
        f"自动取证：{names.get(institution_id, institution_id)}"
        if institution_id
        else "自动取证（未关联机构）"
    )
    case_id = repo.create_case(
        title=title, institution_id=institution_id, created_by=AUTO_ACTOR, origin="auto"
    )
    _log(repo, case_id, AUTO_ACTOR, "created", f"case:{case_id}", title=title)
    return case_id
