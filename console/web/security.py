"""Security of the web console: who is logged in (signed session cookie), role checks as route dependencies
(default deny: `check_routes` refuses to start an app with a route that has none), CSRF tokens on every
state-changing request, the login throttle with lock-out, the strict Content-Security-Policy and other response
headers, and which URLs may become links."""

from __future__ import annotations

import secrets
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any

from fastapi import Request
from fastapi.routing import APIRoute
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.users import ROLES, role_at_least

# Routes anyone may reach: the login page, the OpenAPI document (it holds no data), a health probe.
PUBLIC_PATHS = frozenset({"/login", "/openapi.json", "/healthz"})
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; font-src 'self'; "
    "connect-src 'self'; object-src 'none'; frame-src 'none'; child-src 'none'; worker-src 'none'; "
    "frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
)
SECURITY_HEADERS = [
    (b"content-security-policy", CSP.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"permissions-policy", b"camera=(), microphone=(), geolocation=()"),
]


class NotAuthenticated(Exception):
    """No valid session: pages redirect to the login page, the API answers 401."""


class Forbidden(Exception):
    """Logged in, but the role may not do this (403)."""


class CsrfFailed(Exception):
    """A state-changing request without the session's CSRF token (403)."""


# ------------------------------------------------------------------------------------------- roles
def current_user(request: Request) -> dict[str, Any]:
    """The logged-in, still active user (re-read on every request, so disabling a user takes effect at once)."""
    from app.users import get_user

    name = request.session.get("user")
    if not name:
        raise NotAuthenticated()
    user = get_user(request.app.state.ctx, name)
    if user is None or not user["active"]:
        request.session.clear()
        raise NotAuthenticated()
    return user


def require(minimum: str) -> Callable[[Request], dict[str, Any]]:
    """A dependency: the current user, whose role must be at least ``minimum``."""
    if minimum not in ROLES:
        raise ValueError(minimum)

    def dependency(request: Request) -> dict[str, Any]:
        user = current_user(request)
        if not role_at_least(user["role"], minimum):
            raise Forbidden()
        request.state.user = user
        return user

    dependency.yijian_role = minimum  # type: ignore[attr-defined]
    dependency.__name__ = f"require_{minimum}"
    return dependency


def public(request: Request) -> None:
    """Marks a route deliberately open to everyone (only for PUBLIC_PATHS)."""


public.yijian_role = "public"  # type: ignore[attr-defined]


def route_role(route: APIRoute) -> str | None:
    """The role a route demands (``public`` for open routes), or None when it declares none."""
    for dep in route.dependant.dependencies:
        role = getattr(dep.call, "yijian_role", None)
        if role:
            return str(role)
    return None


def route_checks_csrf(route: APIRoute) -> bool:
    return any(getattr(dep.call, "yijian_csrf", False) for dep in route.dependant.dependencies)


def iter_routes(routes: list[Any]) -> list[Any]:
    """Every route, with included routers flattened (FastAPI keeps an included router as one node)."""
    out: list[Any] = []
    for r in routes:
        inner = getattr(r, "original_router", None)
        if inner is not None:
            out += iter_routes(list(inner.routes))
        else:
            out.append(r)
    return out


def check_routes(routes: list[Any]) -> None:
    """Default deny: every route must declare its role; every state-changing one must check CSRF; only the
    PUBLIC_PATHS may be public. Raises RuntimeError naming the offenders."""
    problems = []
    for r in iter_routes(routes):
        if not isinstance(r, APIRoute):
            continue
        role = route_role(r)
        if role is None:
            problems.append(f"{r.path}: no role dependency")
        elif role == "public" and r.path not in PUBLIC_PATHS:
            problems.append(f"{r.path}: public but not in PUBLIC_PATHS")
        if set(r.methods or ()) & UNSAFE_METHODS and not route_checks_csrf(r):
            problems.append(f"{r.path}: state-changing without CSRF check")
    if problems:
        raise RuntimeError("routes violate the console's access rules: " + "; ".join(problems))


# -------------------------------------------------------------------------------------------- CSRF
def csrf_token(request: Request) -> str:
    """The session's CSRF token (created on first use, also for the anonymous login form)."""
    token = request.session.get("csrf")
    if not token:
        token = secrets.token_urlsafe(32)
        request.session["csrf"] = token
    return str(token)


async def csrf_protect(request: Request) -> None:
    """A dependency for state-changing routes: the ``X-CSRF-Token`` header or the ``csrf_token`` form field must
    equal the session's token."""
    expected = request.session.get("csrf")
    sent = request.headers.get("x-csrf-token")
    if not sent and request.headers.get("content-type", "").startswith(
        ("application/x-www-form-urlencoded", "multipart/form-data")
    ):
        form = await request.form()
        value = form.get("csrf_token")
        sent = value if isinstance(value, str) else None
    if not expected or not sent or not secrets.compare_digest(str(expected), sent):
        raise CsrfFailed()


csrf_protect.yijian_csrf = True  # type: ignore[attr-defined]


# ----------------------------------------------------------------------------------- login throttle
class LoginThrottle:
    """At most ``limit`` failed logins per user name and per client address within ``window`` seconds; the next
    attempt (right password or not) is refused until ``lockout`` seconds after the last failure."""

    def __init__(self, limit: int = 5, window: float = 60.0, lockout: float = 300.0) -> None:
        self.limit, self.window, self.lockout = limit, window, lockout
        self._failures: dict[str, deque[float]] = {}
        self._locked_until: dict[str, float] = {}
        self._lock = threading.Lock()

    def _keys(self, name: str, ip: str) -> list[str]:
        return [f"user:{name.lower()}", f"ip:{ip}"]

    def locked(self, name: str, ip: str, now: float | None = None) -> bool:
        now = time.monotonic() if now is None else now
        with self._lock:
            return any(self._locked_until.get(k, 0.0) > now for k in self._keys(name, ip))

    def failed(self, name: str, ip: str, now: float | None = None) -> bool:
        """Record a failure; True when it locks the name or the address."""
        now = time.monotonic() if now is None else now
        locked = False
        with self._lock:
            for k in self._keys(name, ip):
                q = self._failures.setdefault(k, deque())
                q.append(now)
                while q and q[0] <= now - self.window:
                    q.popleft()
                if len(q) >= self.limit:
                    self._locked_until[k] = now + self.lockout
                    locked = True
        return locked

    def succeeded(self, name: str, ip: str) -> None:
        with self._lock:
            self._failures.pop(f"user:{name.lower()}", None)


# ----------------------------------------------------------------------------------------- headers
class SecurityHeaders:
    """Pure ASGI middleware: adds the CSP and the other security headers to every response; pages and API
    answers are not cached (static files may be)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        static = scope.get("path", "").startswith("/static/")

        async def wrapped(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [(k, v) for k, v in message.get("headers", []) if k.lower() != b"server"]
                headers += SECURITY_HEADERS
                if not static:
                    headers.append((b"cache-control", b"no-store"))
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, wrapped)


_SAFE_SCHEMES = ("http://", "https://")


def safe_url(url: str | None) -> str | None:
    """The URL when it is http(s), else None (a javascript: or data: link is never rendered as a link)."""
    u = (url or "").strip()
    return u if u.lower().startswith(_SAFE_SCHEMES) and not any(c in u for c in "\"'<> \n\r\t") else None
