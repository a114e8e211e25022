"""The web console's app factory: FastAPI with signed session cookies, the security headers, the static files
(vendored htmx and ECharts included: nothing is loaded from outside), the page and API routers, and the error
pages. `create_app` refuses to build an app with a route that declares no role (default deny)."""

from __future__ import annotations

import os
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware.sessions import SessionMiddleware

from app.context import AppContext
from config import Settings
from console.web.render import templates
from console.web.security import (
    CsrfFailed,
    Forbidden,
    LoginThrottle,
    NotAuthenticated,
    SecurityHeaders,
    check_routes,
)

STATIC_DIR = Path(__file__).resolve().parent / "static"


def _secret(settings: Settings) -> str:
    if settings.console_secret:
        return settings.console_secret
    path = settings.data_dir / "console_secret"
    if path.is_file():
        return path.read_text(encoding="utf-8").strip()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    value = secrets.token_urlsafe(48)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(value)
    return value


def _wants_html(request: Request) -> bool:
    return not request.url.path.startswith("/api/") and "text/html" in request.headers.get(
        "accept", "text/html"
    )


def create_app(settings: Settings, *, https: bool = False, throttle: LoginThrottle | None = None) -> FastAPI:
    """The console app over the data of ``settings``. ``https``: the session cookie is marked Secure."""
    from console.web import api, cases_pages, pages

    ctx = AppContext(settings)
    capture_jobs = cases_pages.CaptureJobs()

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        yield
        capture_jobs.shutdown()
        ctx.close()

    app = FastAPI(
        lifespan=lifespan,
        title="医鉴 Yijian 控制台 API",
        version="1",
        description="医鉴 Web 控制台的 JSON 接口。除本文档外，每个接口都需要登录会话（与网页共用）；"
        "修改类请求需带 X-CSRF-Token 头（值见 GET /api/me）。",
        docs_url=None,
        redoc_url=None,
        swagger_ui_oauth2_redirect_url=None,
    )
    app.state.ctx = ctx
    app.state.throttle = throttle or LoginThrottle()
    app.state.capture_jobs = capture_jobs
    app.add_middleware(
        SessionMiddleware,
        secret_key=_secret(settings),
        session_cookie="yijian_session",
        max_age=settings.console_session_hours * 3600,
        same_site="lax",
        https_only=https,
    )
    app.add_middleware(SecurityHeaders)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    app.include_router(pages.router)
    app.include_router(cases_pages.router)
    app.include_router(api.router)

    @app.exception_handler(NotAuthenticated)
    async def _not_authenticated(request: Request, exc: NotAuthenticated) -> Response:
        if _wants_html(request) and request.method == "GET":
            return RedirectResponse("/login", status_code=303)
        return JSONResponse({"detail": "未登录"}, status_code=401)

    @app.exception_handler(Forbidden)
    async def _forbidden(request: Request, exc: Forbidden) -> Response:
        return _error(request, 403, "无权访问：您的角色不能使用此功能。")

    @app.exception_handler(CsrfFailed)
    async def _csrf(request: Request, exc: CsrfFailed) -> Response:
        return _error(request, 403, "请求缺少有效的 CSRF 令牌，请刷新页面后重试。")

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        messages = {404: "页面不存在。", 405: "不支持的请求方式。"}
        return _error(request, exc.status_code, str(exc.detail) if exc.status_code not in messages
                      else messages[exc.status_code])  # fmt: skip

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> Response:
        if not _wants_html(request):
            return JSONResponse({"detail": _jsonable_errors(exc)}, status_code=422)
        return _error(request, 422, "请求参数无效。")

    check_routes(app.routes)
    return app


def _jsonable_errors(exc: RequestValidationError) -> list[dict[str, Any]]:
    return [{"loc": list(e.get("loc", ())), "msg": str(e.get("msg", ""))} for e in exc.errors()]


def _error(request: Request, status: int, message: str) -> Response:
    if not _wants_html(request):
        return JSONResponse({"detail": message}, status_code=status)
    return templates.TemplateResponse(
        request, "error.html", {"status": status, "message": message, "user": None}, status_code=status
    )
