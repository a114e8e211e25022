"""The console's JSON API, behind the same sessions as the pages and described at /openapi.json: who am I (with
the CSRF token state-changing calls must send as X-CSRF-Token), search, a document, the reviewer queue, triage,
trends, the risk list and profiles, the audit log and the users."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi import Path as PathParam
from fastapi.encoders import jsonable_encoder
from pydantic import BaseModel, Field

from app import audit, explore, risk, trends
from app import triage as triage_uc
from app import users as users_uc
from app.documents import document_view
from app.search import SearchParams
from console.web.security import csrf_protect, csrf_token, require

router = APIRouter(prefix="/api", tags=["api"])
STAFF, ANALYST, ADMIN = Depends(require("staff")), Depends(require("analyst")), Depends(require("admin"))
CSRF = Depends(csrf_protect)

Label = Literal["exaggerated_efficacy", "unapproved_service", "negative_sentiment"]
Severity = Literal["S1", "S2", "S3", "S4", "P1", "P2", "P3"]
TriageStatus = Literal["untriaged", "confirm", "dismiss", "escalate"]
Text = Annotated[str, Field(max_length=200)]


def _ctx(request: Request) -> Any:
    return request.app.state.ctx


@router.get("/me", summary="当前用户与 CSRF 令牌")
def me(request: Request, user: dict = STAFF) -> dict[str, Any]:
    return {"name": user["name"], "role": user["role"], "csrf_token": csrf_token(request)}


@router.get("/search", summary="检索")
def search(
    request: Request,
    user: dict = STAFF,
    q: Annotated[str, Query(max_length=200)] = "",
    label: Annotated[list[Label], Query()] = [],  # noqa: B006 (FastAPI copies defaults)
    category: Annotated[list[Text], Query(max_length=20)] = [],  # noqa: B006
    severity: Annotated[list[Severity], Query()] = [],  # noqa: B006
    source: Annotated[list[Text], Query(max_length=20)] = [],  # noqa: B006
    institution: Annotated[list[Text], Query(max_length=20)] = [],  # noqa: B006
    region: Annotated[list[Text], Query(max_length=20)] = [],  # noqa: B006
    date_from: Annotated[date | None, Query(alias="from")] = None,
    date_to: Annotated[date | None, Query(alias="to")] = None,
    triage: Annotated[list[TriageStatus], Query()] = [],  # noqa: B006
    sort: Literal["relevance", "time", "severity", "score"] = "relevance",
    page: Annotated[int, Query(ge=1, le=500)] = 1,
    size: Annotated[int, Query(ge=1, le=100)] = 20,
) -> dict[str, Any]:
    params = SearchParams(
        text=q, labels=list(label), categories=category, severities=list(severity), source_ids=source,
        institution_ids=institution, regions=region, date_from=date_from, date_to=date_to, size=size, page=page,
    )  # fmt: skip
    cq = explore.ConsoleQuery(params, list(triage), sort)
    try:
        res = explore.run(_ctx(request), cq)
    except ValueError as exc:
        raise HTTPException(400, str(exc)) from exc
    return jsonable_encoder(
        {
            "total": res.total,
            "page": res.page,
            "size": res.size,
            "pages": res.pages,
            "truncated": res.truncated,
            "hits": res.hits,
            "facets": res.facets,
        }  # fmt: skip
    )


@router.get("/documents/{doc_id}", summary="文档详情（命中、版本与差异、审核记录）")
def document(
    request: Request, doc_id: Annotated[str, PathParam(max_length=64)], user: dict = STAFF
) -> dict[str, Any]:
    view = document_view(_ctx(request), doc_id)
    if view is None:
        raise HTTPException(404, "文档不存在")
    return jsonable_encoder(view)


@router.get("/queue", summary="待审核的 S1/S2 命中")
def queue(request: Request, user: dict = STAFF, limit: Annotated[int, Query(ge=1, le=1000)] = 200) -> Any:
    return jsonable_encoder(triage_uc.queue(_ctx(request), limit=limit))


class TriageIn(BaseModel):
    decision: Literal["confirm", "dismiss", "escalate"]
    reason: str = Field(min_length=1, max_length=2000)


@router.post("/documents/{doc_id}/findings/{finding_id}/triage", summary="审核一条命中", dependencies=[CSRF])
def triage(request: Request, doc_id: Annotated[str, PathParam(max_length=64)], finding_id: Annotated[int, PathParam(ge=1, le=2**62)], body: TriageIn,
           user: dict = STAFF) -> dict[str, Any]:  # fmt: skip
    try:
        return triage_uc.triage(_ctx(request), document_id=doc_id, finding_id=finding_id, decision=body.decision,
                                reason=body.reason, reviewer=user["name"],
                                ip=request.client.host if request.client else "")  # fmt: skip
    except triage_uc.TriageError as exc:
        raise HTTPException(400, str(exc)) from exc


@router.get("/trends", summary="趋势：每日标记与负面舆情")
def trend(
    request: Request,
    user: dict = ANALYST,
    dimension: Literal["institution", "category", "region"] = "institution",
    window: Annotated[int | None, Query(ge=1, le=366)] = None,
    institution: Annotated[list[Text], Query(max_length=50)] = [],  # noqa: B006
    watched: bool = False,
) -> dict[str, Any]:
    ctx = _ctx(request)
    if watched:
        institution = [*institution, *(w["institution_id"] for w in trends.watchlist(ctx))] or ["-"]
    return trends.trends(ctx, dimension, window, institution)


@router.get("/risk", summary="检查对象排名（风险评分）")
def risk_list(
    request: Request,
    user: dict = ANALYST,
    region: Annotated[str | None, Query(max_length=64)] = None,
    type: Annotated[str | None, Query(max_length=64)] = None,  # noqa: A002
) -> list[dict[str, Any]]:
    return risk.ranked(_ctx(request), region=region, itype=type)


@router.get("/institutions/{institution_id}/risk", summary="机构风险画像")
def institution_risk(request: Request, institution_id: Annotated[str, PathParam(max_length=128)],
                     user: dict = ANALYST) -> Any:  # fmt: skip
    prof = risk.profile(_ctx(request), institution_id)
    if prof is None:
        raise HTTPException(404, "机构不存在")
    return jsonable_encoder(prof)


@router.get("/audit", summary="审计日志")
def audit_log(
    request: Request,
    user: dict = ADMIN,
    action: Annotated[str | None, Query(max_length=64)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> dict[str, Any]:
    total, rows = audit.entries(_ctx(request), limit=limit, offset=offset, action=action)
    return {"total": total, "entries": rows}


@router.get("/users", summary="用户列表")
def users(request: Request, user: dict = ADMIN) -> list[dict[str, Any]]:
    return users_uc.list_users(_ctx(request))
