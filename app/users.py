"""Use-cases on console users: add a user with a role, list, disable, change role or password, and check a
login (argon2id hashes via argon2-cffi). Roles are ordered: staff < analyst < investigator < admin."""

from __future__ import annotations

import re
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from app.context import AppContext
from store.console import UserRepo
from store.models import utcnow

ROLES: tuple[str, ...] = ("staff", "analyst", "investigator", "admin")
ROLE_NAMES = {"staff": "监管人员", "analyst": "分析员", "investigator": "调查员", "admin": "管理员"}
MIN_PASSWORD = 8
_NAME = re.compile(r"^[A-Za-z0-9_.\-\u4e00-\u9fff]{2,64}$")

_hasher = PasswordHasher()
# Verified against when the user does not exist, so a wrong name costs as much time as a wrong password.
_DUMMY_HASH = _hasher.hash("not-a-real-password")


class UserError(ValueError):
    """Invalid user input: a bad name, an unknown role, a short password, an existing or unknown user."""


def role_at_least(role: str, minimum: str) -> bool:
    return role in ROLES and ROLES.index(role) >= ROLES.index(minimum)


def _check(name: str, role: str | None = None, password: str | None = None) -> None:
    if not _NAME.match(name or ""):
        raise UserError("用户名须为 2–64 个字母、数字、汉字或 _ . -")
    if role is not None and role not in ROLES:
        raise UserError(f"未知角色 {role!r}，应为 {' / '.join(ROLES)}")
    if password is not None and len(password) < MIN_PASSWORD:
        raise UserError(f"密码至少 {MIN_PASSWORD} 个字符")


def add_user(ctx: AppContext, name: str, role: str, password: str) -> dict[str, Any]:
    _check(name, role, password)
    try:
        return UserRepo(ctx.store).add(name, role, _hasher.hash(password))
    except ValueError as exc:
        raise UserError(str(exc)) from exc


def list_users(ctx: AppContext) -> list[dict[str, Any]]:
    return UserRepo(ctx.store).list()


def get_user(ctx: AppContext, name: str) -> dict[str, Any] | None:
    user = UserRepo(ctx.store).get(name)
    if user:
        user.pop("password_hash", None)
    return user


def _update(ctx: AppContext, name: str, **values: Any) -> dict[str, Any]:
    try:
        return UserRepo(ctx.store).update(name, **values)
    except KeyError as exc:
        raise UserError(f"没有用户 {name}") from exc


def set_active(ctx: AppContext, name: str, active: bool) -> dict[str, Any]:
    return _update(ctx, name, active=active)


def set_role(ctx: AppContext, name: str, role: str) -> dict[str, Any]:
    _check(name, role)
    return _update(ctx, name, role=role)


def set_password(ctx: AppContext, name: str, password: str) -> dict[str, Any]:
    _check(name, None, password)
    return _update(ctx, name, password_hash=_hasher.hash(password))


def authenticate(ctx: AppContext, name: str, password: str) -> dict[str, Any] | None:
    """The user when the name and password match an active user, else None."""
    repo = UserRepo(ctx.store)
    user = repo.get(name) if _NAME.match(name or "") else None
    try:
        _hasher.verify(user["password_hash"] if user else _DUMMY_HASH, password or "")
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return None
    if user is None or not user["active"]:
        return None
    if _hasher.check_needs_rehash(user["password_hash"]):
        repo.update(name, password_hash=_hasher.hash(password))
    user = repo.update(name, last_login_at=utcnow())
    return user
