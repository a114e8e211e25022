"""The console's case pages for investigators: the case list with its filters and the create form, the case page
(documents, notes, status with only the allowed changes, captures with their files, hashes and seal check, the
custody log, the sealed bundle's download), bundle verification by upload, and — from a document page — attaching
the document to a case and capturing its page as evidence ("取证"). A capture drives Chromium for seconds, so it runs
in a worker thread (:class:`CaptureJobs`) and the browser is sent to a job page that follows it to the case.

Every route demands the investigator role; every state-changing one checks the CSRF token; creating a case,
changing its status, attaching, capturing, exporting and verifying are written to the audit log. The logged-in
user is the actor of the custody entries ("viewed" when the case page opens, "exported" on download)."""

from __future__ import annotations

import json
import logging
import secrets
import shutil
import tempfile
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi import Path as PathParam
from fastapi.responses import FileResponse, RedirectResponse, Response
from starlette.background import BackgroundTask
from starlette.concurrency import run_in_threadpool

from app import audit, catalog
from app import cases as cases_uc
from app import users as users_uc
from app.vocab import category_names
from console.web.pages import client_ip, ctx_of, page
from console.web.security import csrf_protect, require

log = logging.getLogger(__name__)

router = APIRouter(include_in_schema=False)
INVESTIGATOR, CSRF = Depends(require("investigator")), Depends(csrf_protect)
CaseId = Annotated[int, PathParam(ge=1, le=2**62)]

CUSTODY_NAMES = {"created": "建档", "viewed": "查看", "attached": "加入文档", "captured": "取证",
                 "exported": "导出"}  # fmt: skip
TRIGGER_NAMES = {"manual": "手动取证", "auto": "自动取证"}
MAX_UPLOAD_BYTES = 512 * 1024 * 1024


# ---------------------------------------------------------------------------------------- capture jobs
@dataclass
class CaptureJob:
    id: str
    user: str
    document_id: str
    case_id: int | None
    ip: str = ""
    status: str = "running"  # running | ok | failed
    started: datetime = field(default_factory=lambda: datetime.now(UTC))
    finished: datetime | None = None
    capture_id: str = ""
    error: str = ""


class CaptureJobs:
    """Captures running in worker threads (at most ``workers`` browsers at once; more wait their turn), kept in
    memory for an hour after they finish so the job page can follow them. Jobs are per process: a restart forgets
    running ones (their captures are either sealed and recorded, or leave nothing behind)."""

    KEEP_S = 3600.0

    def __init__(self, workers: int = 2) -> None:
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="yijian-capture")
        self._jobs: dict[str, CaptureJob] = {}
        self._lock = threading.Lock()

    def submit(self, ctx: Any, job: CaptureJob) -> CaptureJob:
        now = datetime.now(UTC)
        with self._lock:
            for old in [j for j in self._jobs.values() if j.finished and (now - j.finished).total_seconds()
                        > self.KEEP_S]:  # fmt: skip
                del self._jobs[old.id]
            self._jobs[job.id] = job
        self._pool.submit(_run_capture, ctx, job)
        return job

    def get(self, job_id: str) -> CaptureJob | None:
        with self._lock:
            return self._jobs.get(job_id)

    def for_case(self, case_id: int) -> list[CaptureJob]:
        with self._lock:
            return [j for j in self._jobs.values() if j.case_id == case_id and j.status != "ok"]

    def shutdown(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)


def _message(exc: BaseException) -> str:
    if isinstance(exc, cases_uc.KeyMissing):
        return "没有取证签名密钥：请管理员在服务器上运行 yijian init 后再取证。"
    if isinstance(exc, cases_uc.CaseNotFound):
        return "案件不存在。"
    if isinstance(exc, KeyError):
        return str(exc.args[0]) if exc.args else "没有该文档。"
    if isinstance(exc, cases_uc.TargetRefused):
        return f"该网址不允许取证：{exc}"
    if isinstance(exc, cases_uc.CaptureError):
        return f"网页未能取证：{exc}"
    return str(exc) or type(exc).__name__


def _run_capture(ctx: Any, job: CaptureJob) -> None:
    """The worker: capture the document's page into the job's case (or a new one), then audit the outcome."""
    try:
        res = cases_uc.capture_document(ctx.settings, job.document_id, case_id=job.case_id, operator=job.user)
        job.case_id, job.capture_id, job.status = int(res["case_id"]), str(res["capture"].get("id", "")), "ok"
    except (KeyError, ValueError, cases_uc.CaptureError, cases_uc.KeyMissing) as exc:
        job.status, job.error = "failed", _message(exc)
    except Exception as exc:  # a browser or disk fault: reported on the job page, logged for the operator
        log.exception("capture job %s failed", job.id)
        job.status, job.error = "failed", f"取证失败（{type(exc).__name__}）：{exc}"[:500]
    finally:
        job.finished = datetime.now(UTC)
        try:
            audit.record(ctx, job.user, "case_capture", f"case:{job.case_id}" if job.case_id else "",
                         {"document_id": job.document_id, "status": job.status, "capture_id": job.capture_id,
                          "error": job.error}, job.ip)  # fmt: skip
        except Exception:
            log.exception("could not audit capture job %s", job.id)


def jobs_of(request: Request) -> CaptureJobs:
    return request.app.state.capture_jobs  # type: ignore[no-any-return]


# ------------------------------------------------------------------------------------------------ helpers
def _error(request: Request, status: int, message: str) -> Response:
    return page(request, "error.html", {"status": status, "message": message}, status=status)


def _investigators(ctx: Any) -> list[str]:
    return [u["name"] for u in users_uc.list_users(ctx) if u["active"] and
            users_uc.role_at_least(u["role"], "investigator")]  # fmt: skip


def _capture_details(ctx: Any, capture: dict[str, Any]) -> dict[str, Any]:
    """A capture with its sealed files (path, size, SHA-256 from its signed manifest) and the seal check."""
    out = {**capture, "files": [], "problems": [], "screenshot": False}
    if capture["status"] != "ok":
        return out
    try:
        manifest = cases_uc.capture_file(ctx.settings, capture["id"], "datapackage.json")
        resources = json.loads(manifest.read_text(encoding="utf-8")).get("resources", [])
        out["files"] = [{"path": str(r.get("path", "")), "bytes": r.get("bytes"),
                         "sha256": str(r.get("hash", "")).removeprefix("sha256:")} for r in resources]  # fmt: skip
        out["screenshot"] = any(f["path"] == "screenshot.png" for f in out["files"])
        out["problems"] = cases_uc.check_capture(ctx.settings, capture["id"])
    except (KeyError, OSError, ValueError) as exc:
        out["problems"] = [f"无法读取取证文件：{_message(exc)}"]
    except cases_uc.KeyMissing:
        out["problems"] = ["没有取证签名密钥，无法核验签名"]
    return out


def _case_or_error(request: Request, case_id: int, actor: str | None = None) -> dict[str, Any] | Response:
    try:
        return cases_uc.show_case(ctx_of(request).settings, case_id, actor=actor)
    except cases_uc.CaseNotFound:
        return _error(request, 404, "案件不存在。")


# ---------------------------------------------------------------------------------------------- list
@router.get("/cases")
def cases_list(request: Request, user: dict = INVESTIGATOR) -> Response:
    ctx = ctx_of(request)
    status = request.query_params.get("status") or ""
    institution = request.query_params.get("institution") or ""
    if status and status not in cases_uc.STATUSES:
        status = ""
    rows = cases_uc.list_cases(ctx.settings, status=status or None, institution_id=institution[:128] or None)
    return page(request, "cases.html", _list_context(ctx, rows, status, institution))


def _list_context(ctx: Any, rows: list[dict], status: str, institution: str, **extra: Any) -> dict[str, Any]:
    return {"cases": rows, "status": status, "institution": institution, "statuses": cases_uc.STATUS_NAMES,
            "institutions": catalog.institution_names(ctx), "categories": category_names(),
            "assignees": _investigators(ctx), "error": None, "form": {}, **extra}  # fmt: skip


@router.post("/cases", dependencies=[CSRF])
async def case_create(request: Request, user: dict = INVESTIGATOR) -> Response:
    form = await request.form()
    ctx = ctx_of(request)
    title = str(form.get("title") or "").strip()[:200]
    institution = str(form.get("institution") or "")
    categories = [str(c) for c in form.getlist("categories") if c]
    assignee = str(form.get("assignee") or "")
    names, known_categories = catalog.institution_names(ctx), category_names()
    error = None
    if not title:
        error = "请填写案件名称。"
    elif institution and institution not in names:
        error = "未知机构。"
    elif any(c not in known_categories for c in categories):
        error = "未知违规类别。"
    elif assignee and assignee not in _investigators(ctx):
        error = "承办人须为在用的调查员或管理员账号。"
    if error:
        raw = {"title": title, "institution": institution, "categories": categories, "assignee": assignee}
        return page(request, "cases.html", _list_context(ctx, cases_uc.list_cases(ctx.settings), "", "",
                                                         error=error, form=raw), status=400)  # fmt: skip
    case_id = cases_uc.create_case(ctx.settings, title, institution_id=institution or None, categories=categories,
                                   assignee=assignee, actor=user["name"])  # fmt: skip
    audit.record(ctx, user["name"], "case_create", f"case:{case_id}", {"title": title, "institution": institution,
                 "categories": categories, "assignee": assignee}, client_ip(request))  # fmt: skip
    return RedirectResponse(f"/cases/{case_id}", status_code=303)


# ---------------------------------------------------------------------------------------------- case
@router.get("/cases/{case_id}")
def case_page(request: Request, case_id: CaseId, user: dict = INVESTIGATOR) -> Response:
    ctx = ctx_of(request)
    shown = _case_or_error(request, case_id, actor=user["name"])  # the view is a custody entry
    if isinstance(shown, Response):
        return shown
    case = shown["case"]
    captures = [_capture_details(ctx, c) for c in shown["captures"]]
    return page(request, "case.html", {
        "s": shown, "c": case, "captures": captures, "next_statuses": cases_uc.next_statuses(case["status"]),
        "statuses": cases_uc.STATUS_NAMES, "institutions": catalog.institution_names(ctx),
        "custody_names": CUSTODY_NAMES, "trigger_names": TRIGGER_NAMES,
        "jobs": jobs_of(request).for_case(case_id), "error": request.query_params.get("error") or None,
    })  # fmt: skip


@router.post("/cases/{case_id}/status", dependencies=[CSRF])
async def case_status(request: Request, case_id: CaseId, user: dict = INVESTIGATOR) -> Response:
    form = await request.form()
    ctx = ctx_of(request)
    new = str(form.get("status") or "")
    try:
        before = cases_uc.show_case(ctx.settings, case_id)["case"]["status"]
        cases_uc.set_status(ctx.settings, case_id, new, actor=user["name"])
    except cases_uc.CaseNotFound:
        return _error(request, 404, "案件不存在。")
    except cases_uc.InvalidTransition as exc:
        return _error(request, 400, str(exc))
    audit.record(ctx, user["name"], "case_status", f"case:{case_id}", {"from": before, "to": new},
                 client_ip(request))  # fmt: skip
    return RedirectResponse(f"/cases/{case_id}", status_code=303)


@router.post("/cases/{case_id}/notes", dependencies=[CSRF])
async def case_note(request: Request, case_id: CaseId, user: dict = INVESTIGATOR) -> Response:
    form = await request.form()
    ctx = ctx_of(request)
    text = str(form.get("text") or "")[:5000]
    try:
        note_id = cases_uc.add_note(ctx.settings, case_id, text, author=user["name"])
    except cases_uc.CaseNotFound:
        return _error(request, 404, "案件不存在。")
    except ValueError as exc:
        return _error(request, 400, str(exc))
    audit.record(ctx, user["name"], "case_note", f"case:{case_id}", {"note_id": note_id}, client_ip(request))
    return RedirectResponse(f"/cases/{case_id}#notes", status_code=303)


@router.post("/cases/{case_id}/export", dependencies=[CSRF])
def case_export(request: Request, case_id: CaseId, user: dict = INVESTIGATOR) -> Response:
    """The sealed bundle as a download. Runs in the threadpool (the record's PDF is printed by Chromium); the
    bundle is verified before it is sent, so an investigator never carries away a bundle that does not verify."""
    ctx = ctx_of(request)
    tmp = Path(tempfile.mkdtemp(prefix="yijian-export-"))
    name = f"case-{case_id}-{datetime.now(UTC):%Y%m%dT%H%M%SZ}.zip"
    out = tmp / name
    try:
        result = cases_uc.export_case(ctx.settings, case_id, out, actor=user["name"])
        report = cases_uc.verify(out)
    except cases_uc.CaseNotFound:
        shutil.rmtree(tmp, ignore_errors=True)
        return _error(request, 404, "案件不存在。")
    except (cases_uc.KeyMissing, cases_uc.ExportConflict) as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        return _error(request, 409, _message(exc))
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    audit.record(ctx, user["name"], "case_export", f"case:{case_id}", {
        "file": name, "bytes": out.stat().st_size, "verified": report.ok, "files_checked": report.files_checked,
        "problems": report.problems(), "manifest_sha256": result.get("manifest_sha256"),
    }, client_ip(request))  # fmt: skip
    if not report.ok:
        shutil.rmtree(tmp, ignore_errors=True)
        return _error(request, 500, "证据包自检未通过，未下载：" + "；".join(report.problems()))
    return FileResponse(out, media_type="application/zip", filename=name,
                        headers={"x-yijian-verified": f"ok; files={report.files_checked}"},
                        background=BackgroundTask(shutil.rmtree, tmp, ignore_errors=True))  # fmt: skip


@router.get("/captures/{capture_id}/files/{name:path}")
def capture_file(request: Request, capture_id: str, name: str, user: dict = INVESTIGATOR) -> Response:
    """One file of a sealed capture. Only the screenshot is shown inline; everything else (crawled HTML
    included) is a download with no sniffable type, so a captured page never runs in the console's origin."""
    try:
        path = cases_uc.capture_file(ctx_of(request).settings, capture_id[:64], name[:200])
    except KeyError:
        return _error(request, 404, "取证文件不存在。")
    if path.name == "screenshot.png":
        return FileResponse(path, media_type="image/png")
    return FileResponse(path, media_type="application/octet-stream", filename=path.name,
                        content_disposition_type="attachment")  # fmt: skip


@router.post("/cases/verify", dependencies=[CSRF])
async def bundle_verify(request: Request, user: dict = INVESTIGATOR) -> Response:
    """Check an uploaded bundle (hashes, signature, custody chain) and show the result."""
    form = await request.form(max_files=1, max_fields=10)
    upload = form.get("bundle")
    if upload is None or isinstance(upload, str) or not upload.filename:
        return _error(request, 400, "请选择要校验的证据包（.zip）。")
    tmp = Path(tempfile.mkdtemp(prefix="yijian-verify-"))
    try:
        dest, size = tmp / "bundle.zip", 0
        with dest.open("wb") as fh:
            while chunk := await upload.read(1 << 20):
                size += len(chunk)
                if size > MAX_UPLOAD_BYTES:
                    return _error(request, 413, "证据包过大。")
                fh.write(chunk)
        report = await run_in_threadpool(_verify_quietly, dest)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    filename = str(upload.filename)[:200]
    audit.record(ctx_of(request), user["name"], "case_verify", filename, {"ok": report["ok"],
                 "problems": report["problems"]}, client_ip(request))  # fmt: skip
    return page(request, "verify.html", {"r": report, "filename": filename}, status=200)


def _verify_quietly(path: Path) -> dict[str, Any]:
    try:
        report = cases_uc.verify(path)
    except cases_uc.BundleUnreadable as exc:
        return {"ok": False, "problems": [f"无法读取证据包：{exc}"], "files_checked": 0, "custody_entries": 0,
                "key_fingerprint": "", "timestamps": []}  # fmt: skip
    return {"ok": report.ok, "problems": report.problems(), "files_checked": report.files_checked,
            "custody_entries": report.custody_entries, "key_fingerprint": report.key_fingerprint,
            "timestamps": report.timestamps}  # fmt: skip


# ---------------------------------------------------------------------------- from the document page
def _chosen_case(ctx: Any, value: str, *, allow_new: bool) -> int | None | str:
    """The case a form chose: its id, None for "a new case" (when allowed), or an error message."""
    if value == "new" and allow_new:
        return None
    try:
        case_id = int(value)
    except ValueError:
        return "请选择案件。"
    case = next((c for c in cases_uc.list_cases(ctx.settings) if c["id"] == case_id), None)
    if case is None:
        return "案件不存在。"
    if case["status"] == "closed":
        return "案件已结案，不能再加入文档或取证。"
    return case_id


@router.post("/documents/{doc_id}/attach", dependencies=[CSRF])
async def document_attach(request: Request, doc_id: str, user: dict = INVESTIGATOR) -> Response:
    form = await request.form()
    ctx = ctx_of(request)
    chosen = _chosen_case(ctx, str(form.get("case_id") or ""), allow_new=False)
    if isinstance(chosen, str) or chosen is None:
        return _error(request, 400, chosen or "请选择案件。")
    try:
        added = cases_uc.attach_document(ctx.settings, chosen, doc_id[:64], actor=user["name"])
    except KeyError as exc:
        return _error(request, 404, _message(exc))
    if added:
        audit.record(ctx, user["name"], "case_attach", f"case:{chosen}", {"document_id": doc_id[:64]},
                     client_ip(request))  # fmt: skip
    return RedirectResponse(f"/cases/{chosen}#documents", status_code=303)


@router.post("/documents/{doc_id}/capture", dependencies=[CSRF])
async def document_capture(request: Request, doc_id: str, user: dict = INVESTIGATOR) -> Response:
    """The "取证" button: start the capture in a worker thread and send the browser to its job page."""
    form = await request.form()
    ctx = ctx_of(request)
    chosen = _chosen_case(ctx, str(form.get("case_id") or ""), allow_new=True)
    if isinstance(chosen, str):
        return _error(request, 400, chosen)
    job = CaptureJob(id=secrets.token_urlsafe(12), user=user["name"], document_id=doc_id[:64], case_id=chosen,
                     ip=client_ip(request))  # fmt: skip
    jobs_of(request).submit(ctx, job)
    return RedirectResponse(f"/capture-jobs/{job.id}", status_code=303)


@router.get("/capture-jobs/{job_id}")
def capture_job(request: Request, job_id: str, user: dict = INVESTIGATOR) -> Response:
    """A running capture: a page that reloads itself every two seconds (a meta refresh: no script needed); a
    finished one goes on to its case; a failed one says why."""
    job = jobs_of(request).get(job_id[:32])
    if job is None or (job.user != user["name"] and user["role"] != "admin"):
        return _error(request, 404, "取证任务不存在（服务重启后未完成的任务不再显示）。")
    if job.status == "ok":
        return RedirectResponse(f"/cases/{job.case_id}#capture-{job.capture_id}", status_code=303)
    elapsed = int(((job.finished or datetime.now(UTC)) - job.started).total_seconds())
    return page(request, "capture_job.html", {"job": job, "elapsed": elapsed})
