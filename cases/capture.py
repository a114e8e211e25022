"""Capture one web page as evidence with Playwright driving Debian's Chromium.

A fresh browser context (no persistent profile, downloads refused, service workers blocked) loads the page, waits
for the network to go idle so that JavaScript-rendered content is present, and writes into a new directory:

    screenshot.png   full-page screenshot (Chinese text rendered with the system's Noto CJK fonts)
    page.pdf         the page printed by Chromium
    page.mhtml       CDP Page.captureSnapshot
    raw.html         the main document's body as served (after HTTP content decoding)
    rendered.html    the DOM after rendering (UTF-8)
    headers.json     request and response headers of the main document, server address, TLS details
    redirects.json   the redirect chain, first request to final response
    text.txt         title and main text extracted from the rendered DOM (pipelines.extract)
    capture.warc.gz  WARC 1.1 (warcio): request/response records of the document and every subresource captured,
                     the screenshot and text as resource records, the capture record as metadata
    capture.json     what was captured, when (UTC, with the clock source), how (tool, browser, user agent, steps)
                     and by whom (operator, case)
    capture.wacz     the WARC packaged as WACZ (py-wacz), for ReplayWeb.page — when the wacz package is installed

Every request, redirect and subresource is checked against the address policy (cases.safety) before it is sent,
and the address each response actually came from is checked again afterwards. A capture that fails or exceeds
its time or size cap raises :class:`CaptureError`; the caller discards the directory.
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import io
import json
import platform
import queue
import shutil
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from cases.safety import TargetRefused, check_target, is_internal, resolve
from cases.sealing import sha256_bytes
from config import CHROMIUM_ARGS, CHROMIUM_EXECUTABLE

CHROMIUM = CHROMIUM_EXECUTABLE
VIEWPORT = {"width": 1280, "height": 900}
MAX_SCREENSHOT_HEIGHT = 16_000  # px: longer pages are cut (recorded in the steps)
NETWORK_IDLE_WAIT_S = 10.0
# Hop-by-hop and content-coding headers do not describe the decoded body the browser hands us.
_WACZ_LOCK = threading.Lock()  # py-wacz prints to stdout, which is redirected around it
_DROP_HEADERS = frozenset({"content-encoding", "transfer-encoding", "content-length"})


class CaptureError(RuntimeError):
    """The page could not be captured (unreachable, an HTTP error, over the time or size cap, a browser fault)."""


@dataclass(slots=True)
class CaptureLimits:
    timeout_s: float = 60.0
    max_bytes: int = 50 * 1024 * 1024
    allow_private: bool = False


@dataclass(slots=True)
class _Exchange:
    url: str
    method: str
    request_headers: list[tuple[str, str]]
    post_data: bytes
    status: int
    status_text: str
    headers: list[tuple[str, str]]
    resource_type: str
    server_ip: str
    body: bytes = b""
    at: str = ""


@dataclass(slots=True)
class _Recorder:
    limits: CaptureLimits
    exchanges: list[Any] = field(default_factory=list)  # playwright Response objects, in arrival order
    refused: list[str] = field(default_factory=list)
    seen_bytes: int = 0
    over_cap: bool = False
    _resolved: dict[str, bool] = field(default_factory=dict)

    def allowed_host(self, url: str) -> bool:
        parts = urlsplit(url)
        if parts.scheme in ("data", "blob", "about"):
            return True
        if parts.scheme not in ("http", "https") or not parts.hostname:
            return False
        if self.limits.allow_private:
            return True
        host = parts.hostname
        if host not in self._resolved:
            try:
                self._resolved[host] = not any(is_internal(a) for a in resolve(host, parts.port))
            except (TargetRefused, ValueError):
                self._resolved[host] = False
        return self._resolved[host]


def utc_now() -> datetime:
    return datetime.now(UTC)


def _iso(dt: datetime) -> str:
    return dt.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def clock_source() -> dict[str, Any]:
    """Where the capture time comes from: the host's system clock, and whether it reports NTP synchronisation."""
    info: dict[str, Any] = {"source": "system clock (CLOCK_REALTIME), UTC", "ntp_synchronized": None}
    try:
        out = subprocess.run(
            ["timedatectl", "show", "-p", "NTPSynchronized", "--value"],
            capture_output=True,
            text=True,
            timeout=3,
            check=False,
        )
        if out.returncode == 0 and out.stdout.strip() in ("yes", "no"):
            info["ntp_synchronized"] = out.stdout.strip() == "yes"
    except (OSError, subprocess.SubprocessError):
        pass
    if info["ntp_synchronized"] is None:
        info["note"] = "无法确认系统时钟是否已与 NTP 同步；以服务器 Date 响应头作旁证"
    return info


def _version(dist: str) -> str:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def tool_versions() -> dict[str, str]:
    return {
        "yijian": _version("yijian"),
        "playwright": _version("playwright"),
        "warcio": _version("warcio"),
        "wacz": _version("wacz"),
        "python": platform.python_version(),
        "os": platform.platform(),
    }


def wacz_available() -> bool:
    try:
        importlib.metadata.version("wacz")
    except importlib.metadata.PackageNotFoundError:
        return False
    return True


# ------------------------------------------------------------------------------------------------ capture
class BrowserSession:
    """One headless Chromium, owned by a worker thread, that runs capture jobs one at a time. Each capture gets a
    fresh browser context (no profile, no cookies, no cache shared with the previous one); keeping the browser
    process saves its launch (2–3 s) across a batch such as the automatic captures of a crawl run. Playwright's
    sync API is bound to the thread that started it, and refuses to run inside an asyncio loop: the worker thread
    serves callers from any thread, the web console's included. Use as a context manager."""

    def __init__(self) -> None:
        self._jobs: queue.Queue[Any] = queue.Queue()
        self._thread: threading.Thread | None = None
        self._broken: str | None = None
        self.launches = 0

    def __enter__(self) -> BrowserSession:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _serve(self) -> None:
        from playwright.sync_api import sync_playwright

        try:
            with sync_playwright() as pw:
                browser = None
                while (job := self._jobs.get()) is not None:
                    fn, box, done = job
                    try:
                        if browser is None or not browser.is_connected():
                            try:
                                browser = pw.chromium.launch(
                                    executable_path=CHROMIUM, args=list(CHROMIUM_ARGS), headless=True
                                )
                            except Exception as exc:
                                raise CaptureError(f"无法启动浏览器 {CHROMIUM}：{exc}") from exc
                            self.launches += 1
                        box.append(("ok", fn(browser)))
                    except BaseException as exc:  # handed to the caller's thread
                        box.append(("error", exc))
                    done.set()
                if browser is not None:
                    browser.close()
        except BaseException as exc:  # the driver itself failed: fail every waiting and later job
            self._broken = f"浏览器驱动异常：{exc}"
            while True:
                try:
                    job = self._jobs.get_nowait()
                except queue.Empty:
                    break
                if job is not None:
                    job[1].append(("error", CaptureError(self._broken)))
                    job[2].set()

    def run(self, fn: Any, timeout_s: float) -> Any:
        """Run ``fn(browser)`` on the worker thread; its result, or its exception re-raised here."""
        if self._broken:
            raise CaptureError(self._broken)
        if self._thread is None:
            self._thread = threading.Thread(target=self._serve, name="yijian-browser", daemon=True)
            self._thread.start()
        box: list[tuple[str, Any]] = []
        done = threading.Event()
        self._jobs.put((fn, box, done))
        # Every browser call inside has its own timeout; this only guards against a hung browser.
        if not done.wait(timeout_s):
            self._broken = f"取证超时（超过 {timeout_s:.0f} 秒浏览器仍未结束）"
            raise CaptureError(self._broken)
        kind, value = box[0]
        if kind == "error":
            raise value
        return value

    def close(self) -> None:
        if self._thread is not None and self._thread.is_alive():
            self._jobs.put(None)
            if not self._broken:
                self._thread.join(30)
        self._thread = None


def capture_page(
    url: str,
    out_dir: Path,
    *,
    limits: CaptureLimits,
    operator: str,
    case_id: int,
    capture_id: str,
    extra: dict[str, Any] | None = None,
    session: BrowserSession | None = None,
) -> dict[str, Any]:
    """Capture ``url`` into the (empty, existing) directory ``out_dir``; returns the capture record, also written
    as ``capture.json``. ``session``: a browser kept open for several captures (one is started and closed for this
    capture otherwise). Raises :class:`TargetRefused` or :class:`CaptureError`."""
    addresses = check_target(url, allow_private=limits.allow_private)

    def job(browser: Any) -> dict[str, Any]:
        return _capture(
            browser, url, out_dir, limits=limits, operator=operator, case_id=case_id, capture_id=capture_id,
            addresses=addresses, extra=extra or {},
        )  # fmt: skip

    if session is not None:
        return session.run(job, limits.timeout_s * 3 + 60)
    with BrowserSession() as own:
        return own.run(job, limits.timeout_s * 3 + 60)


def _capture(
    browser: Any,
    url: str,
    out_dir: Path,
    *,
    limits: CaptureLimits,
    operator: str,
    case_id: int,
    capture_id: str,
    addresses: list[str],
    extra: dict[str, Any],
) -> dict[str, Any]:
    from playwright.sync_api import Error as PlaywrightError
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    from pipelines.extract import extract_html

    steps: list[dict[str, str]] = []

    def step(text: str) -> None:
        steps.append({"at": _iso(utc_now()), "step": text})

    deadline = time.monotonic() + limits.timeout_s

    def remaining_ms(floor: float = 1.0) -> float:
        return max(floor, deadline - time.monotonic()) * 1000

    started = utc_now()
    t0 = time.perf_counter()
    rec = _Recorder(limits)
    step(f"检查目标地址：{urlsplit(url).hostname} 解析为 {', '.join(addresses)}")
    browser_version = browser.version
    try:
        # The browser is the session's; this capture owns only its context.
        context = browser.new_context(
            accept_downloads=False,
            service_workers="block",
            viewport=VIEWPORT,
            locale="zh-CN",
            timezone_id="Asia/Shanghai",
        )
        try:
            step(
                f"使用 Chromium {browser_version}（无头模式），新建无痕浏览上下文（不保留任何登录状态与缓存，"
                "禁止下载，禁用 Service Worker）"
            )
            page = context.new_page()

            def guard(route: Any) -> None:
                req_url = route.request.url
                if rec.over_cap:
                    rec.refused.append(f"{req_url}（超过大小上限）")
                    route.abort("blockedbyclient")
                elif not rec.allowed_host(req_url):
                    rec.refused.append(f"{req_url}（内网或不允许的地址）")
                    route.abort("blockedbyclient")
                else:
                    route.continue_()

            def on_response(response: Any) -> None:
                rec.exchanges.append((response, _iso(utc_now())))
                with contextlib.suppress(ValueError):
                    rec.seen_bytes += int(response.headers.get("content-length") or 0)
                if rec.seen_bytes > limits.max_bytes:
                    rec.over_cap = True

            page.route("**/*", guard)
            page.on("response", on_response)
            user_agent = page.evaluate("navigator.userAgent")
            step(f"访问 {url}")
            try:
                main = page.goto(url, wait_until="load", timeout=remaining_ms())
            except PlaywrightTimeout as exc:
                raise CaptureError(f"页面在 {limits.timeout_s:.0f} 秒内没有加载完成：{url}") from exc
            except PlaywrightError as exc:
                raise CaptureError(f"无法打开 {url}：{exc.message.splitlines()[0]}") from exc
            if main is None:
                raise CaptureError(f"没有得到 {url} 的响应")
            step(f"收到响应 HTTP {main.status}，最终地址 {page.url}")
            try:
                page.wait_for_load_state(
                    "networkidle", timeout=min(remaining_ms(), NETWORK_IDLE_WAIT_S * 1000)
                )
                step("等待网络空闲（JavaScript 渲染完成）")
            except PlaywrightTimeout:
                step(f"网络在 {NETWORK_IDLE_WAIT_S:.0f} 秒内未空闲，按当前渲染结果取证")
            if main.status >= 400:
                step(f"注意：服务器返回错误状态 HTTP {main.status}，仍按原样取证")

            raw = main.body()
            if len(raw) > limits.max_bytes:
                raise CaptureError(f"页面正文 {len(raw)} 字节，超过大小上限 {limits.max_bytes} 字节")
            final_url = page.url
            title = page.title()
            rendered = page.content()

            height = int(page.evaluate("document.documentElement.scrollHeight") or 0)
            if height > MAX_SCREENSHOT_HEIGHT:
                png = page.screenshot(
                    clip={"x": 0, "y": 0, "width": VIEWPORT["width"], "height": MAX_SCREENSHOT_HEIGHT},
                    full_page=True,
                    timeout=remaining_ms(15),
                )
                step(f"截取整页截图（页面高 {height} 像素，截取前 {MAX_SCREENSHOT_HEIGHT} 像素）")
            else:
                png = page.screenshot(full_page=True, timeout=remaining_ms(15))
                step(f"截取整页截图（{VIEWPORT['width']}×{max(height, VIEWPORT['height'])} 像素）")
            cdp = context.new_cdp_session(page)
            mhtml = cdp.send("Page.captureSnapshot", {"format": "mhtml"})["data"]
            step("保存 MHTML 网页快照（CDP Page.captureSnapshot）")
            pdf = page.pdf(print_background=True, format="A4")
            step("打印为 PDF")

            exchanges = _collect(rec, limits)
            if rec.over_cap:
                step(f"资源总量超过大小上限 {limits.max_bytes} 字节，其后的请求被拦截")
            if rec.refused:
                step(f"拦截了 {len(rec.refused)} 个请求：{'; '.join(rec.refused[:5])}")
            if not limits.allow_private:
                internal = sorted(
                    {x.server_ip for x in exchanges if x.server_ip and is_internal(x.server_ip)}
                )
                if internal:
                    raise CaptureError(f"拒绝取证：页面实际连接了内网地址 {', '.join(internal)}")
            redirects = _redirect_chain(main)
            headers = {
                "request": {"method": main.request.method, "headers": main.request.headers_array()},
                "response": {
                    "status": main.status,
                    "status_text": main.status_text,
                    "headers": main.headers_array(),
                    "server_addr": main.server_addr(),
                    "security_details": main.security_details(),
                },
            }
            server_date = main.headers.get("date")
        finally:
            context.close()
    except PlaywrightError as exc:
        raise CaptureError(f"浏览器出错：{exc.message.splitlines()[0] if exc.message else exc}") from exc

    finished = utc_now()
    extracted = extract_html(rendered, final_url)
    text = f"{extracted.title or title}\n\n{extracted.text}\n"
    step(f"提取正文 {len(extracted.text)} 字（pipelines.extract，基于渲染后的 DOM）")

    files: dict[str, bytes] = {
        "screenshot.png": png,
        "page.pdf": pdf,
        "page.mhtml": mhtml.encode("utf-8"),
        "raw.html": raw,
        "rendered.html": rendered.encode("utf-8"),
        "headers.json": _json(headers),
        "redirects.json": _json(redirects),
        "text.txt": text.encode("utf-8"),
    }
    for name, data in files.items():
        (out_dir / name).write_bytes(data)

    record: dict[str, Any] = {
        "capture_id": capture_id,
        "case_id": case_id,
        "operator": operator,
        "url": url,
        "final_url": final_url,
        "title": extracted.title or title,
        "http_status": headers["response"]["status"],
        "server_address": headers["response"]["server_addr"],
        "resolved_addresses": addresses,
        "host": f"{platform.node()}（取证主机名）",
        "capture_started_utc": _iso(started),
        "capture_finished_utc": _iso(finished),
        "duration_s": round(time.perf_counter() - t0, 3),
        "clock": {**clock_source(), "server_date_header": server_date},
        "tools": {**tool_versions(), "browser": f"Chromium {browser_version}", "browser_path": CHROMIUM},
        "browser_args": list(CHROMIUM_ARGS),
        "user_agent": user_agent,
        "viewport": VIEWPORT,
        "limits": {"timeout_s": limits.timeout_s, "max_bytes": limits.max_bytes},
        "method": "网络在线提取：无头浏览器访问网页，截图、打印、保存网页快照与网络交互记录（WARC）",
        "raw_html_sha256": sha256_bytes(raw),
        "subresources": len(exchanges),
        "blocked_requests": rec.refused,
        "steps": steps,
        **extra,
    }
    warc = _write_warc(out_dir / "capture.warc.gz", exchanges, record, png, text)
    step(f"写入 WARC（{len(exchanges)} 个请求/响应对，{warc} 字节）")
    if wacz_available():
        main_at = next(
            (x.at for x in reversed(exchanges) if x.url == final_url and x.resource_type == "document"),
            record["capture_started_utc"],
        )
        _write_wacz(out_dir, record, main_at)
        step("打包为 WACZ（py-wacz）")
    record["steps"] = steps
    (out_dir / "capture.json").write_bytes(_json(record))
    return record


def _collect(rec: _Recorder, limits: CaptureLimits) -> list[_Exchange]:
    exchanges: list[_Exchange] = []
    total = 0
    for response, at in rec.exchanges:
        req = response.request
        body = b""
        if not (300 <= response.status < 400):
            try:
                body = response.body()
            except Exception:  # evicted from the browser's cache, or a failed request: keep the headers
                body = b""
        if total + len(body) > limits.max_bytes:
            rec.over_cap = True
            body = b""
        total += len(body)
        try:
            addr = response.server_addr() or {}
        except Exception:
            addr = {}
        exchanges.append(
            _Exchange(
                url=response.url,
                method=req.method,
                request_headers=[(h["name"], h["value"]) for h in req.headers_array()],
                post_data=req.post_data_buffer or b"",
                status=response.status,
                status_text=response.status_text or "",
                headers=[(h["name"], h["value"]) for h in response.headers_array()],
                resource_type=req.resource_type,
                server_ip=str(addr.get("ipAddress", "")),
                body=body,
                at=at,
            )
        )
    return exchanges


def _redirect_chain(main: Any) -> list[dict[str, Any]]:
    chain: list[Any] = []
    req = main.request
    while req is not None:
        chain.append(req)
        req = req.redirected_from
    out = []
    for r in reversed(chain):
        resp = r.response()
        out.append(
            {
                "url": r.url,
                "status": resp.status if resp else None,
                "location": (resp.headers.get("location") if resp else None),
            }
        )
    return out


def _json(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False, indent=2).encode("utf-8") + b"\n"


def _write_warc(path: Path, exchanges: list[_Exchange], record: dict[str, Any], png: bytes, text: str) -> int:
    from warcio.statusandheaders import StatusAndHeaders
    from warcio.warcwriter import WARCWriter

    with open(path, "wb") as fh:
        writer = WARCWriter(fh, gzip=True, warc_version="1.1")
        writer.write_record(
            writer.create_warcinfo_record(
                path.name,
                {
                    "software": f"Yijian {record['tools']['yijian']} (warcio {record['tools']['warcio']})",
                    "format": "WARC File Format 1.1",
                    "browser": record["tools"]["browser"],
                    "operator": record["operator"],
                    "isPartOf": f"case-{record['case_id']}",
                    "description": f"evidence capture {record['capture_id']}",
                },
            )
        )
        for x in exchanges:
            parts = urlsplit(x.url)
            target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
            req_headers = StatusAndHeaders(
                f"{x.method} {target} HTTP/1.1", x.request_headers, protocol="HTTP/1.1", is_http_request=True
            )
            headers = [(k, v) for k, v in x.headers if k.lower() not in _DROP_HEADERS]
            headers += [(f"X-Archive-Orig-{k}", v) for k, v in x.headers if k.lower() in _DROP_HEADERS]
            headers.append(("Content-Length", str(len(x.body))))
            resp_headers = StatusAndHeaders(
                f"{x.status} {x.status_text}".strip(), headers, protocol="HTTP/1.1"
            )
            warc_headers = {"WARC-Date": x.at}
            if x.server_ip:
                warc_headers["WARC-IP-Address"] = x.server_ip
            response = writer.create_warc_record(
                x.url, "response", payload=io.BytesIO(x.body), http_headers=resp_headers,
                warc_headers_dict=warc_headers,
            )  # fmt: skip
            request = writer.create_warc_record(
                x.url, "request", payload=io.BytesIO(x.post_data), http_headers=req_headers,
                warc_headers_dict={"WARC-Date": x.at},
            )  # fmt: skip
            writer.write_request_response_pair(request, response)
        final = record["final_url"]
        for uri, ctype, data in (
            (f"urn:screenshot:{final}", "image/png", png),
            (f"urn:text:{final}", "text/plain; charset=utf-8", text.encode("utf-8")),
        ):
            writer.write_record(
                writer.create_warc_record(uri, "resource", payload=io.BytesIO(data), warc_content_type=ctype)
            )
        writer.write_record(
            writer.create_warc_record(
                final, "metadata", payload=io.BytesIO(_json(record)), warc_content_type="application/json"
            )
        )
    return path.stat().st_size


def _write_wacz(out_dir: Path, record: dict[str, Any], main_at: str) -> None:
    """Package the WARC as WACZ with py-wacz's own `wacz create`, in process (its chatter is captured)."""
    from wacz.main import main as wacz_main
    from warcio.timeutils import iso_date_to_timestamp

    pages = out_dir / "pages.jsonl"
    pages.write_text(
        json.dumps({"format": "json-pages-1.0", "id": "pages", "title": "All Pages"}) + "\n"
        + json.dumps({"id": record["capture_id"], "url": record["final_url"], "ts": main_at,
                      "title": record.get("title") or record["final_url"]}, ensure_ascii=False) + "\n",
        encoding="utf-8",
    )  # fmt: skip
    args = [
        "create", "-o", str(out_dir / "capture.wacz"), "-p", str(pages), "--title", f"取证 {record['capture_id']}",
        "--url", record["final_url"], "--ts", iso_date_to_timestamp(main_at), str(out_dir / "capture.warc.gz"),
    ]  # fmt: skip
    chatter = io.StringIO()
    try:
        with _WACZ_LOCK, contextlib.redirect_stdout(chatter):
            code = wacz_main(args)
    except Exception as exc:  # the tool raises ValueError & co. for what it cannot package
        (out_dir / "capture.wacz").unlink(missing_ok=True)
        raise CaptureError(f"WACZ 打包失败：{exc}；{chatter.getvalue()[-300:]}") from exc
    finally:
        pages.unlink(missing_ok=True)
    if code not in (0, None) or not (out_dir / "capture.wacz").is_file():
        raise CaptureError(f"WACZ 打包失败：{chatter.getvalue().strip()[-500:]}")


def html_to_pdf(html: str, *, timeout_s: float = 60.0, session: BrowserSession | None = None) -> bytes:
    """Print a local HTML document (the extraction record) to PDF with the same Chromium; JavaScript off and every
    request aborted, so the document reaches nothing."""

    def job(browser: Any) -> bytes:
        context = browser.new_context(accept_downloads=False, java_script_enabled=False)
        try:
            page = context.new_page()
            page.route("**/*", lambda route: route.abort())
            page.set_content(html, wait_until="load", timeout=timeout_s * 1000)
            margin = {"top": "15mm", "bottom": "15mm", "left": "12mm", "right": "12mm"}
            return page.pdf(format="A4", print_background=True, margin=margin)
        finally:
            context.close()

    try:
        if session is not None:
            return session.run(job, timeout_s * 2 + 30)
        with BrowserSession() as own:
            return own.run(job, timeout_s * 2 + 30)
    except CaptureError:
        raise
    except Exception as exc:
        raise CaptureError(f"笔录 PDF 生成失败：{exc}") from exc


def validate_wacz(path: Path) -> tuple[bool, str]:
    """Run ``wacz validate`` on a file; (valid, the tool's output)."""
    done = subprocess.run(
        [sys.executable, "-m", "wacz", "validate", "-f", str(path)],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    return done.returncode == 0, (done.stdout + done.stderr).strip()


def discard(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)
