"""Turning every fetch attempt — response, failure or guard refusal — into exactly one PageItem."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from scrapy import Request
from scrapy.exceptions import (
    CannotResolveHostError,
    DownloadCancelledError,
    DownloadConnectionRefusedError,
    DownloadFailedError,
    DownloadTimeoutError,
    IgnoreRequest,
    ResponseDataLossError,
)
from scrapy.http import Response
from twisted.internet import error as tx_error
from twisted.python.failure import Failure

from domain import PageItem


class RobotsDisallowed(IgnoreRequest):
    """The request is forbidden by the host's robots.txt."""


class RobotsUnreachable(RobotsDisallowed):
    """The host's robots.txt answered 5xx or 429, or did not answer in time: RFC 9309 §2.3.1.4 says to assume
    complete disallow (until a later crawl fetches it)."""


class RedirectLoop(IgnoreRequest):
    """A redirect points back to a URL already in the redirect chain."""


class TooManyRedirects(IgnoreRequest):
    """The redirect chain is longer than REDIRECT_MAX_TIMES."""


def _headers(response: Response | None) -> dict[str, str]:
    if response is None:
        return {}
    out: dict[str, str] = {}
    for key, values in response.headers.items():
        name = key.decode("latin-1").lower()
        out[name] = ", ".join(v.decode("latin-1") for v in values)
    return out


def original_url(request: Request) -> str:
    """The URL the request was first made for (before redirects)."""
    chain = request.meta.get("redirect_urls")
    return chain[0] if chain else request.url


def page_item_from_response(source_id: str, response: Response) -> PageItem:
    """A PageItem for a response of any status; 4xx/5xx get ``error_kind`` ``http_<code>``."""
    request = response.request
    status = response.status
    error_kind = error_detail = None
    if status >= 400:
        error_kind = f"http_{status}"
        error_detail = f"HTTP {status}"
    body = b"" if status == 304 else response.body
    return PageItem(
        source_id=source_id,
        url=original_url(request) if request is not None else response.url,
        final_url=response.url,
        status=status,
        headers=_headers(response),
        body=body,
        fetched_at=datetime.now(UTC),
        rendered="playwright" in response.flags,
        depth=int(request.meta.get("depth", 0)) if request is not None else 0,
        error_kind=error_kind,
        error_detail=error_detail,
    )


def classify_exception(exc: BaseException) -> tuple[str, str]:
    """Map a download exception to an error kind from ``domain.ERROR_KINDS`` and a detail."""
    detail = f"{type(exc).__name__}: {exc}".strip()
    module = type(exc).__module__ or ""
    if isinstance(exc, RobotsUnreachable):
        return "robots_disallowed", str(exc)
    if isinstance(exc, RobotsDisallowed):
        return "robots_disallowed", "robots.txt 禁止抓取"
    if isinstance(exc, RedirectLoop):
        return "redirect_loop", str(exc)
    if isinstance(exc, TooManyRedirects):
        return "too_many_redirects", str(exc)
    if isinstance(exc, IgnoreRequest):
        text = str(exc)
        if "robots.txt" in text:
            return "robots_disallowed", "robots.txt 禁止抓取"
        if "max redirections" in text:
            return "too_many_redirects", text
        if (
            "DOWNLOAD_MAXSIZE" in text
        ):  # HttpCompressionMiddleware: a gzip/brotli bomb, refused while inflating
            return "too_large", f"解压后超过 DOWNLOAD_MAXSIZE（压缩炸弹）：{text}"
        return "connection_error", detail
    if module.startswith("playwright"):
        return "render_error", detail
    if isinstance(exc, DownloadTimeoutError | tx_error.TimeoutError | TimeoutError):
        return "timeout", detail
    if isinstance(exc, CannotResolveHostError | tx_error.DNSLookupError):
        return "dns_error", detail
    if isinstance(exc, DownloadCancelledError):
        # Scrapy cancels a download for exceeding DOWNLOAD_MAXSIZE: with the size in the message when the
        # Content-Length announces it, with an empty message when a streamed body grows past the cap.
        return "too_large", str(exc) or "响应体超过 DOWNLOAD_MAXSIZE，下载已中止"
    if isinstance(
        exc,
        DownloadConnectionRefusedError
        | DownloadFailedError
        | ResponseDataLossError
        | tx_error.ConnectError
        | tx_error.ConnectionLost
        | tx_error.ConnectionDone
        | ConnectionError,
    ):
        return "connection_error", detail
    return "connection_error", detail


def page_item_from_failure(source_id: str, failure: Failure) -> PageItem:
    """A PageItem for a failed fetch; ``failure.request`` is the request that failed."""
    request: Request = failure.request  # type: ignore[attr-defined]
    exc = failure.value
    response: Response | None = getattr(exc, "response", None)
    kind, detail = classify_exception(exc)
    return PageItem(
        source_id=source_id,
        url=original_url(request),
        final_url=request.url,
        status=response.status if response is not None else 0,
        headers=_headers(response),
        body=b"",
        fetched_at=datetime.now(UTC),
        rendered=False,
        depth=int(request.meta.get("depth", 0)),
        error_kind=kind,
        error_detail=detail,
    )


def trap_item(source_id: str, request: Request, reason: str) -> PageItem:
    """A PageItem for a URL a trap guard refused to fetch."""
    return PageItem(
        source_id=source_id,
        url=request.url,
        final_url=request.url,
        status=0,
        headers={},
        body=b"",
        fetched_at=datetime.now(UTC),
        depth=int(request.meta.get("depth", 0)),
        error_kind="trap",
        error_detail=reason,
    )


def item_to_json(item: PageItem) -> dict[str, Any]:
    """A JSON-able view of a PageItem (body as length + text preview), for logs and tests."""
    return {
        "source_id": item.source_id,
        "url": item.url,
        "final_url": item.final_url,
        "status": item.status,
        "headers": item.headers,
        "body_len": len(item.body),
        "fetched_at": item.fetched_at.isoformat(),
        "rendered": item.rendered,
        "depth": item.depth,
        "error_kind": item.error_kind,
        "error_detail": item.error_detail,
    }
