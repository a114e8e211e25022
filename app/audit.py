"""Use-cases on the append-only audit log: record who did what (logins, triage, exports, admin changes) and read
it back, newest first."""

from __future__ import annotations

from typing import Any

from app.context import AppContext
from store.console import AuditRepo

ACTION_NAMES = {
    "login": "登录",
    "login_failed": "登录失败",
    "login_locked": "登录被锁定",
    "logout": "退出",
    "triage": "审核",
    "export": "导出",
    "user_add": "添加用户",
    "user_update": "修改用户",
    "source_add": "添加来源",
    "source_update": "修改来源",
    "institution_add": "添加机构",
    "institution_update": "修改机构",
    "watch_add": "加入关注",
    "watch_remove": "取消关注",
    "case_create": "新建案件",
    "case_status": "案件状态变更",
    "case_attach": "文档加入案件",
    "case_note": "案件备注",
    "case_capture": "网页取证",
    "case_export": "导出证据包",
    "case_verify": "校验证据包",
}


def record(ctx: AppContext, actor: str, action: str, target: str = "", detail: dict[str, Any] | None = None,
           ip: str = "") -> int:  # fmt: skip
    return AuditRepo(ctx.store).add(actor=actor, action=action, target=target, detail=detail, ip=ip)


def entries(ctx: AppContext, *, limit: int = 100, offset: int = 0, action: str | None = None,
            actor: str | None = None) -> tuple[int, list[dict[str, Any]]]:  # fmt: skip
    """(total, entries newest first)."""
    return AuditRepo(ctx.store).list(limit=limit, offset=offset, action=action, actor=actor)
