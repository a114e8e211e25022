"""The console's HTML pages (server-rendered, Simplified Chinese): login, search with export, the document page
with triage, the reviewer queue, trends and the watch-list, the risk list and institution profiles, the audit
log and the admin pages. Every route declares its role; every state-changing one checks the CSRF token."""

from __future__ import annotations

import re
from datetime import date
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, Request
from fastapi import Path as PathParam
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from app import audit, catalog, explore, registries, risk, trends
from app import triage as triage_uc
from app import users as users_uc
from app.documents import document_view
from app.search import SearchParams
from console.web.render import templates
from console.web.security import csrf_protect, csrf_token, public, require

router = APIRouter(include_in_schema=False)
STAFF, ANALYST, ADMIN = Depends(require("staff")), Depends(require("analyst")), Depends(require("admin"))
PUBLIC, CSRF = Depends(public), Depends(csrf_protect)


def page(request: Request, name: str, context: dict[str, Any] | None = None, status: int = 200) -> Response:
    user = getattr(request.state, "user", None)
    return templates.TemplateResponse(
        request, name, {"user": user, "csrf": csrf_token(request), **(context or {})}, status_code=status
    )


def open_cases_of(ctx: Any) -> list[dict[str, Any]]:
    """Cases a document may still be attached or captured into (not closed), newest first."""
    from app.cases import list_cases

    return [c for c in list_cases(ctx.settings) if c["status"] != "closed"]


def client_ip(request: Request) -> str:
    return request.client.host if request.client else ""


def ctx_of(request: Request) -> Any:
    return request.app.state.ctx


# ------------------------------------------------------------------------------------------------ login
@router.get("/healthz", dependencies=[PUBLIC])
def healthz() -> dict[str, bool]:
    return {"ok": True}


@router.get("/login", dependencies=[PUBLIC])
def login_form(request: Request) -> Response:
    return page(request, "login.html", {"error": None, "name": ""})


@router.post("/login", dependencies=[PUBLIC, CSRF])
async def login(request: Request) -> Response:
    form = await request.form()
    name, password = str(form.get("name") or "").strip(), str(form.get("password") or "")
    ctx, ip, throttle = ctx_of(request), client_ip(request), request.app.state.throttle
    if throttle.locked(name, ip):
        audit.record(ctx, name or "-", "login_locked", name, {}, ip)
        return page(request, "login.html", {"error": "登录失败次数过多，账号已临时锁定，请 5 分钟后再试。",
                                            "name": name}, status=429)  # fmt: skip
    user = users_uc.authenticate(ctx, name, password)
    if user is None:
        locked = throttle.failed(name, ip)
        audit.record(ctx, name or "-", "login_failed", name, {"locked": locked}, ip)
        return page(
            request, "login.html", {"error": "用户名或密码错误，或账号已停用。", "name": name}, status=401
        )
    throttle.succeeded(name, ip)
    request.session.clear()
    request.session["user"] = user["name"]
    csrf_token(request)  # a fresh token for the new session
    audit.record(ctx, user["name"], "login", user["name"], {"role": user["role"]}, ip)
    return RedirectResponse("/search", status_code=303)


@router.post("/logout", dependencies=[CSRF])
def logout(request: Request, user: dict = STAFF) -> Response:
    audit.record(ctx_of(request), user["name"], "logout", user["name"], {}, client_ip(request))
    request.session.clear()
    return RedirectResponse("/login", status_code=303)


@router.get("/")
def home(user: dict = STAFF) -> Response:
    return RedirectResponse("/search", status_code=303)


# ----------------------------------------------------------------------------------------------- search
class BadQuery(ValueError):
    pass


def _date(value: str | None, what: str) -> date | None:
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError as exc:
        raise BadQuery(f"{what}日期格式应为 YYYY-MM-DD") from exc


def _int(value: str | None, default: int, what: str) -> int:
    if value in (None, ""):
        return default
    try:
        return int(value)
    except ValueError as exc:
        raise BadQuery(f"{what}应为整数") from exc


def parse_query(values: Any) -> tuple[explore.ConsoleQuery, dict[str, Any]]:
    """A ConsoleQuery from query-string or form values; also the raw values for re-rendering the form."""

    def many(key: str) -> list[str]:
        return [v for v in values.getlist(key) if v]

    raw = {
        "q": str(values.get("q") or "")[:200], "label": many("label"), "category": many("category"),
        "severity": many("severity"), "source": many("source"), "institution": many("institution"),
        "region": many("region"), "from": values.get("from") or "", "to": values.get("to") or "",
        "triage": many("triage"), "sort": values.get("sort") or "relevance", "page": values.get("page") or "1",
    }  # fmt: skip
    params = SearchParams(
        text=raw["q"], labels=raw["label"], categories=raw["category"], severities=raw["severity"],
        source_ids=raw["source"], institution_ids=raw["institution"], regions=raw["region"],
        date_from=_date(raw["from"], "起始"), date_to=_date(raw["to"], "截止"),
        size=20, page=_int(raw["page"], 1, "页码"),
    )  # fmt: skip
    cq = explore.ConsoleQuery(params, raw["triage"], raw["sort"])
    try:
        cq.validate()
    except ValueError as exc:
        raise BadQuery(str(exc)) from exc
    return cq, raw


@router.get("/search")
def search_page(request: Request, user: dict = STAFF) -> Response:
    ctx = ctx_of(request)
    try:
        cq, raw = parse_query(request.query_params)
        result = explore.run(ctx, cq)
        error = None
    except BadQuery as exc:
        cq, raw, result, error = None, dict(request.query_params), None, str(exc)
    institutions = catalog.institution_names(ctx)
    return page(request, "search.html", {"raw": raw, "result": result, "error": error,
                                         "institutions": institutions, "sorts": SORT_NAMES},
                status=400 if error else 200)  # fmt: skip


_LOCAL_PATH = re.compile(
    r"^/(?!/)[A-Za-z0-9_\-/]*$"
)  # a redirect target on this site (no "//host", no "/\\host")
SORT_NAMES = {"relevance": "相关度", "time": "时间", "severity": "严重度", "score": "模型分数"}


@router.post("/search/export", dependencies=[CSRF])
async def search_export(request: Request, user: dict = STAFF) -> Response:
    form = await request.form()
    try:
        cq, raw = parse_query(form)
    except BadQuery as exc:
        return page(request, "error.html", {"status": 400, "message": str(exc)}, status=400)
    fmt = form.get("format")
    if fmt not in ("csv", "xlsx"):
        return page(request, "error.html", {"status": 400, "message": "导出格式应为 csv 或 xlsx"}, status=400)
    ctx = ctx_of(request)
    header, rows = explore.export_rows(ctx, cq)
    raw.pop("page", None)
    audit.record(ctx, user["name"], "export", "search", {"format": fmt, "rows": len(rows), "query": raw},
                 client_ip(request))  # fmt: skip
    return _download(header, rows, str(fmt), "检索结果")


def _download(header: list[str], rows: list[list[Any]], fmt: str, name: str) -> Response:
    if fmt == "csv":
        body, media = explore.to_csv(header, rows), "text/csv; charset=utf-8"
    else:
        body = explore.to_xlsx(header, rows, name)
        media = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    filename = f"{name}.{fmt}"
    return Response(body, media_type=media, headers={
        "content-disposition": f"attachment; filename=\"export.{fmt}\"; filename*=UTF-8''{quote(filename)}"})  # fmt: skip


# -------------------------------------------------------------------------------------------- documents
@router.get("/documents/{doc_id}")
def document_page(request: Request, doc_id: str, user: dict = STAFF) -> Response:
    ctx = ctx_of(request)
    view = document_view(ctx, doc_id[:64])
    if view is None:
        return page(request, "error.html", {"status": 404, "message": "文档不存在。"}, status=404)
    # Investigators get the "加入案件" and "取证" forms, with the cases still open.
    open_cases = open_cases_of(ctx) if users_uc.role_at_least(user["role"], "investigator") else None
    return page(request, "document.html", {"v": view, "open_cases": open_cases})


@router.post("/documents/{doc_id}/findings/{finding_id}/triage", dependencies=[CSRF])
async def triage_finding(
    request: Request, doc_id: str, finding_id: Annotated[int, PathParam(ge=1, le=2**62)], user: dict = STAFF
) -> Response:
    form = await request.form()
    ctx = ctx_of(request)
    try:
        triage_uc.triage(ctx, document_id=doc_id, finding_id=finding_id, decision=str(form.get("decision") or ""),
                         reason=str(form.get("reason") or ""), reviewer=user["name"], ip=client_ip(request))  # fmt: skip
    except triage_uc.TriageError as exc:
        return page(request, "error.html", {"status": 400, "message": str(exc)}, status=400)
    back = str(form.get("back") or "")
    if back == "queue" and request.headers.get("hx-request") == "true":
        return HTMLResponse("")  # htmx on the queue page: the triaged row is swapped out, no reload
    target = "/queue" if back == "queue" else f"/documents/{quote(doc_id)}#f-{finding_id}"
    return RedirectResponse(target, status_code=303)


@router.get("/queue")
def queue_page(request: Request, user: dict = STAFF) -> Response:
    ctx = ctx_of(request)
    items = triage_uc.queue(ctx)
    institutions = catalog.institution_names(ctx)
    return page(request, "queue.html", {"items": items, "institutions": institutions})


# ------------------------------------------------------------------------------------ trends and risk
@router.get("/trends")
def trends_page(request: Request, user: dict = ANALYST) -> Response:
    ctx = ctx_of(request)
    return page(
        request, "trends.html", {"watch": trends.watchlist(ctx), "institutions": trends.institutions(ctx)}
    )


@router.post("/watchlist", dependencies=[CSRF])
async def watchlist_change(request: Request, user: dict = ANALYST) -> Response:
    form = await request.form()
    ctx = ctx_of(request)
    inst, action = str(form.get("institution") or ""), str(form.get("action") or "add")
    try:
        changed = trends.watch(ctx, inst, add=action != "remove", note=str(form.get("note") or "")[:500],
                               actor=user["name"])  # fmt: skip
    except KeyError:
        return page(request, "error.html", {"status": 400, "message": "未知机构。"}, status=400)
    if changed:
        audit.record(ctx, user["name"], "watch_remove" if action == "remove" else "watch_add", inst, {},
                     client_ip(request))  # fmt: skip
    nxt = str(form.get("next") or "")
    return RedirectResponse(nxt if _LOCAL_PATH.match(nxt) else "/trends", status_code=303)


@router.get("/risk")
def risk_page(request: Request, user: dict = ANALYST) -> Response:
    ctx = ctx_of(request)
    region, itype = request.query_params.get("region") or "", request.query_params.get("type") or ""
    ranked = risk.ranked(ctx, region=region or None, itype=itype or None)
    return page(request, "risk.html", {"ranked": ranked, "region": region, "type": itype,
                                       "regions": risk.regions(ctx), "types": risk.types(ctx),
                                       "weights": risk.WEIGHTS})  # fmt: skip


@router.post("/risk/export", dependencies=[CSRF])
async def risk_export(request: Request, user: dict = ANALYST) -> Response:
    form = await request.form()
    fmt = str(form.get("format") or "")
    if fmt not in ("csv", "xlsx"):
        return page(request, "error.html", {"status": 400, "message": "导出格式应为 csv 或 xlsx"}, status=400)
    ctx = ctx_of(request)
    region, itype = str(form.get("region") or "") or None, str(form.get("type") or "") or None
    header, rows = risk.export_rows(ctx, region=region, itype=itype)
    audit.record(ctx, user["name"], "export", "risk", {"format": fmt, "rows": len(rows), "region": region,
                                                       "type": itype}, client_ip(request))  # fmt: skip
    return _download(header, rows, fmt, "检查对象清单")


@router.get("/institutions/{institution_id}")
def institution_page(request: Request, institution_id: str, user: dict = ANALYST) -> Response:
    ctx = ctx_of(request)
    prof = risk.profile(ctx, institution_id[:128])
    if prof is None:
        return page(request, "error.html", {"status": 404, "message": "机构不存在。"}, status=404)
    watched = any(w["institution_id"] == institution_id for w in trends.watchlist(ctx))
    return page(request, "institution.html", {"p": prof, "watched": watched, "weights": risk.WEIGHTS})


# ---------------------------------------------------------------------------------------------- audit
@router.get("/audit")
def audit_page(request: Request, user: dict = ADMIN) -> Response:
    action = request.query_params.get("action") or None
    try:
        pg = max(1, int(request.query_params.get("page") or 1))
    except ValueError:
        pg = 1
    total, rows = audit.entries(ctx_of(request), limit=50, offset=(pg - 1) * 50, action=action)
    return page(request, "audit.html", {"rows": rows, "total": total, "page": pg, "action": action or "",
                                        "actions": audit.ACTION_NAMES})  # fmt: skip


# ---------------------------------------------------------------------------------------------- admin
@router.get("/admin/users")
def admin_users(request: Request, user: dict = ADMIN) -> Response:
    return page(request, "admin_users.html", {"users": users_uc.list_users(ctx_of(request)), "error": None,
                                              "roles": users_uc.ROLES})  # fmt: skip


@router.post("/admin/users", dependencies=[CSRF])
async def admin_users_change(request: Request, user: dict = ADMIN) -> Response:
    form = await request.form()
    ctx = ctx_of(request)
    name, action = str(form.get("name") or "").strip(), str(form.get("action") or "")
    try:
        if action == "add":
            users_uc.add_user(ctx, name, str(form.get("role") or ""), str(form.get("password") or ""))
            detail: dict[str, Any] = {"role": form.get("role")}
        elif action in ("disable", "enable"):
            if name == user["name"]:
                raise users_uc.UserError("不能停用自己的账号")
            users_uc.set_active(ctx, name, action == "enable")
            detail = {"active": action == "enable"}
        elif action == "role":
            users_uc.set_role(ctx, name, str(form.get("role") or ""))
            detail = {"role": form.get("role")}
        else:
            raise users_uc.UserError("未知操作")
    except users_uc.UserError as exc:
        return page(request, "admin_users.html", {"users": users_uc.list_users(ctx), "error": str(exc),
                                                  "roles": users_uc.ROLES}, status=400)  # fmt: skip
    audit.record(ctx, user["name"], "user_add" if action == "add" else "user_update", name,
                 {"action": action, **detail}, client_ip(request))  # fmt: skip
    return RedirectResponse("/admin/users", status_code=303)


SOURCE_ACTIONS = {"pause": {"enabled": False}, "resume": {"enabled": True}}


def _admin_sources_page(request: Request, error: str | None = None, form: dict[str, Any] | None = None,
                        status: int = 200) -> Response:  # fmt: skip
    ctx = ctx_of(request)
    try:
        rows, load_error = registries.source_admin_rows(ctx), None
    except (registries.SourceError, ValueError) as exc:  # a broken sources.yaml is shown, not raised
        rows, load_error = [], str(exc)
    return page(request, "admin_sources.html", {
        "sources": rows, "error": error, "load_error": load_error, "form": form or {},
        "institutions": catalog.institutions(ctx)}, status=status)  # fmt: skip


@router.get("/admin/sources")
def admin_sources(request: Request, user: dict = ADMIN) -> Response:
    return _admin_sources_page(request)


@router.post("/admin/sources", dependencies=[CSRF])
async def admin_sources_change(request: Request, user: dict = ADMIN) -> Response:
    form = {k: str(v) for k, v in (await request.form()).items() if k != "csrf_token"}
    ctx = ctx_of(request)
    action, sid = form.get("action", ""), form.get("id", "").strip()
    try:
        if action == "add":
            source = registries.add_source(ctx, form, user["name"])
            audit_action, detail = "source_add", source.model_dump(mode="json", exclude={"id"})
        elif action in SOURCE_ACTIONS:
            registries.update_source(ctx, sid, SOURCE_ACTIONS[action], user["name"])
            audit_action, detail = "source_update", {"action": action}
        elif action == "update":
            changes = {k: form[k] for k in ("schedule", "render") if k in form}
            registries.update_source(ctx, sid, changes, user["name"])
            audit_action, detail = "source_update", {"action": action, **changes}
        else:
            raise registries.RegistryError("未知操作")
    except registries.RegistryError as exc:
        return _admin_sources_page(request, str(exc), form if action == "add" else None, status=400)
    audit.record(ctx, user["name"], audit_action, sid, detail, client_ip(request))
    return RedirectResponse("/admin/sources", status_code=303)


def _admin_institutions_page(request: Request, error: str | None = None, form: dict[str, Any] | None = None,
                             status: int = 200) -> Response:  # fmt: skip
    try:
        rows, load_error = registries.institution_admin_rows(ctx_of(request)), None
    except ValueError as exc:
        rows, load_error = [], str(exc)
    return page(request, "admin_institutions.html", {
        "institutions": rows, "error": error, "load_error": load_error, "form": form or {},
        "types": registries.INSTITUTION_TYPES}, status=status)  # fmt: skip


@router.get("/admin/institutions")
def admin_institutions(request: Request, user: dict = ADMIN) -> Response:
    return _admin_institutions_page(request)


@router.post("/admin/institutions", dependencies=[CSRF])
async def admin_institutions_change(request: Request, user: dict = ADMIN) -> Response:
    form = {k: str(v) for k, v in (await request.form()).items() if k != "csrf_token"}
    ctx = ctx_of(request)
    action, iid = form.pop("action", ""), form.get("id", "").strip()
    try:
        if action == "add":
            registries.add_institution(ctx, form, user["name"])
            audit_action = "institution_add"
        elif action == "update":
            form.pop("id", None)
            registries.update_institution(ctx, iid, form, user["name"])
            audit_action = "institution_update"
        else:
            raise registries.RegistryError("未知操作")
    except registries.RegistryError as exc:
        return _admin_institutions_page(request, str(exc), {"id": iid, **form} if action == "add" else None,
                                        status=400)  # fmt: skip
    audit.record(ctx, user["name"], audit_action, iid, {k: v for k, v in form.items() if k != "id"},
                 client_ip(request))  # fmt: skip
    return RedirectResponse("/admin/institutions", status_code=303)
