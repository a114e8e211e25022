"""The life cycle of a case: open → investigating → referred → closed, and which changes are allowed."""

from __future__ import annotations

STATUSES: tuple[str, ...] = ("open", "investigating", "referred", "closed")
STATUS_NAMES: dict[str, str] = {
    "open": "待处理",
    "investigating": "调查中",
    "referred": "已移送",
    "closed": "已结案",
}

# Forward along the life cycle; a case may also be closed early (dismissed) from any open state.
TRANSITIONS: dict[str, frozenset[str]] = {
    "open": frozenset({"investigating", "closed"}),
    "investigating": frozenset({"referred", "closed"}),
    "referred": frozenset({"closed"}),
    "closed": frozenset(),
}


class InvalidTransition(ValueError):
    """A status change the life cycle does not allow."""


def check_transition(current: str, new: str) -> None:
    if new not in STATUSES:
        raise InvalidTransition(f"未知状态：{new}（可选：{'、'.join(STATUSES)}）")
    if new not in TRANSITIONS.get(current, frozenset()):
        allowed = "、".join(sorted(TRANSITIONS.get(current, frozenset()))) or "无（已结案）"
        raise InvalidTransition(f"案件状态不能从 {current} 改为 {new}；当前可改为：{allowed}")
