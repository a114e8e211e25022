"""The demo web server: one stdlib ``ThreadingHTTPServer`` per demo site, all on the same port.

Each site of :data:`demo.SITES` is bound to its own loopback address (``127.0.0.12:P`` …), so the crawler sees
separate hosts with their own robots.txt and politeness slots. Static content lives under
``demo/sites/<site_key>/``; a few hostile or dynamic routes (calendar trap, redirect loop, huge page, slow page,
binary body, the revision switch) are generated in code.

Static pages support conditional GET (``ETag`` = hash of the body, ``Last-Modified``) and answer 304 to a
matching ``If-None-Match`` / ``If-Modified-Since``. Nothing is logged per request.

Templating in text files: ``{{port}}`` → the port, ``{{site:KEY}}`` → ``http://<address of KEY>:<port>``;
``<!--demo:revision-->`` is replaced by ``_revisions/<name>.r<N>.html`` content on the page that changes with
:meth:`DemoWeb.set_revision` (see ``demo/expected.yaml``: ``changed_url``).
"""

from __future__ import annotations

import hashlib
import json
import random
import re
import socket
import socketserver
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from email.utils import formatdate, parsedate_to_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from urllib.parse import parse_qs, unquote, urlsplit

from demo import DEFAULT_PORT, SITES

SITES_DIR = Path(__file__).resolve().parent / "sites"

# Every static page claims this modification time (stable across checkouts, unlike file mtimes).
STATIC_LAST_MODIFIED = 1772690400  # 2026-03-05 06:00:00 UTC
# The page that changes with the revision: (site, path of the file under sites/<site>/).
REVISION_SITE = "news"
REVISION_FILE = "article/2026/0306-overtreatment.html"
REVISION_MARKER = "<!--demo:revision-->"
# Last-Modified of the revision page from revision 2 on (2026-03-07 02:00:00 UTC), one step per revision.
REVISION_LAST_MODIFIED = 1772848800

BIG_PAGE_BYTES = 12 * 1024 * 1024
SLOW_PAGE_SECONDS = 3.0

_CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".htm": "text/html; charset=utf-8",
    ".xml": "application/xml; charset=utf-8",
    ".rss": "application/rss+xml; charset=utf-8",
    ".txt": "text/plain; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".js": "application/javascript; charset=utf-8",
    ".json": "application/json; charset=utf-8",
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".gif": "image/gif",
    ".ico": "image/x-icon",
}
_TEXT_SUFFIXES = {".html", ".htm", ".xml", ".rss", ".txt", ".css", ".js", ".json"}

# Legacy GBK site: files are UTF-8 in the repository and served in these encodings with these headers.
# (served codec, Content-Type header)
_GBK_SITE_PAGES: dict[str, tuple[str, str]] = {
    "index.html": ("gbk", "text/html; charset=gbk"),  # header and <meta charset=gbk> agree
    "nocharset.html": ("gbk", "text/html"),  # no charset in header nor in the page
    "lying.html": ("gbk", "text/html; charset=utf-8"),  # header lies: bytes are GBK
    "gb2312.html": ("gbk", "text/html"),  # meta says gb2312, text has characters outside GB2312
    "ad-image.html": ("gbk", "text/html; charset=gbk"),
    "hidden-notice.html": ("gbk", "text/html"),  # meta gbk
    "private/notes.html": ("gbk", "text/html"),  # meta gbk
}

_TEMPLATE_RE = re.compile(r"\{\{(port|site:([a-z_]+))\}\}")


@dataclass(slots=True)
class Response:
    status: int
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes | Iterable[bytes] = b""


def _http_date(ts: float) -> str:
    return formatdate(ts, usegmt=True)


def _html_page(title: str, body: str) -> bytes:
    return (
        '<!DOCTYPE html>\n<html lang="zh-CN"><head><meta charset="utf-8">'
        f"<title>{title}</title></head><body>{body}</body></html>\n"
    ).encode()


def _not_found() -> Response:
    body = _html_page("404 页面不存在", "<h1>404</h1><p>您访问的页面不存在或已被删除。</p>")
    return Response(404, {"Content-Type": "text/html; charset=utf-8"}, body)


def _port_free(address: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((address, port))
        except OSError:
            return False
    return True


def find_free_port(tries: int = 50) -> int:
    """A port that is free on every demo address (127.0.0.1, 127.0.0.11 … 127.0.0.18)."""
    for _ in range(tries):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if all(_port_free(addr, port) for addr in SITES.values()):
            return port
    raise RuntimeError("no port is free on all demo addresses")


class _SiteServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True
    request_queue_size = 64

    def __init__(self, address: tuple[str, int], web: DemoWeb, site: str) -> None:
        self.web = web
        self.site = site
        super().__init__(address, _Handler)

    def server_bind(self) -> None:
        # HTTPServer.server_bind calls socket.getfqdn(), a reverse DNS lookup: skip it (offline, and slow).
        socketserver.TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name = str(host)
        self.server_port = int(port)

    def handle_error(self, request: object, client_address: object) -> None:
        """Quiet: clients that hang up mid-response (size caps, timeouts) are normal here."""


class _Handler(BaseHTTPRequestHandler):
    server: _SiteServer
    server_version = "DemoWeb/1.0"
    sys_version = ""
    protocol_version = "HTTP/1.0"
    timeout = 30

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - stdlib signature
        """No per-request logging."""

    def _serve(self, method: str) -> None:
        try:
            resp = self.server.web.handle(self.server.site, method, self.path, dict(self.headers.items()))
        except Exception as exc:  # a bug in a route must not kill the thread silently
            resp = Response(
                500,
                {"Content-Type": "text/plain; charset=utf-8"},
                f"demo server error: {exc!r}".encode(),
            )
        self.server.web.access_log.append(
            (time.monotonic(), self.server.site, method, self.path, resp.status)
        )
        try:
            self.send_response(resp.status)
            body = resp.body
            if isinstance(body, bytes) and "Content-Length" not in resp.headers:
                resp.headers["Content-Length"] = str(len(body))
            for name, value in resp.headers.items():
                self.send_header(name, value)
            self.end_headers()
            if method == "HEAD":
                return
            if isinstance(body, bytes):
                self.wfile.write(body)
            else:
                for chunk in body:
                    self.wfile.write(chunk)
        except (BrokenPipeError, ConnectionResetError, TimeoutError):
            pass

    def do_GET(self) -> None:
        self._serve("GET")

    def do_HEAD(self) -> None:
        self._serve("HEAD")

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        self._serve("POST")


Route = Callable[["DemoWeb", str, dict[str, list[str]]], Response]


class DemoWeb:
    """The demo web: start it, crawl it, stop it.

    >>> with DemoWeb() as web:          # picks a free port
    ...     url = web.base_url("news") + "/rss.xml"
    """

    def __init__(self, port: int | None = None) -> None:
        self.port: int | None = port
        self._servers: list[_SiteServer] = []
        self._threads: list[threading.Thread] = []
        self._revision = 1
        self._lock = threading.Lock()
        self._cache: dict[tuple[str, str, int], tuple[bytes, str, float]] = {}
        # (monotonic time, site, method, path, status) of every request: lets tests check politeness server-side
        self.access_log: list[tuple[float, str, str, str, int]] = []

    # -- lifecycle ------------------------------------------------------------------------------------------

    @property
    def running(self) -> bool:
        return bool(self._servers)

    def start(self, port: int | None = None) -> None:
        """Bind every site on ``port`` (None or 0: a free port) and serve in daemon threads."""
        if self.running:
            raise RuntimeError(f"demo web already running on port {self.port}")
        if not port:
            port = self.port or find_free_port()
        servers: list[_SiteServer] = []
        try:
            for site, addr in SITES.items():
                servers.append(_SiteServer((addr, port), self, site))
        except OSError as exc:
            for srv in servers:
                srv.server_close()
            raise OSError(exc.errno, f"cannot bind demo site on {addr}:{port}: {exc.strerror}") from exc
        self.port = port
        self._cache.clear()
        self._servers = servers
        self._threads = [
            threading.Thread(
                target=srv.serve_forever,
                kwargs={"poll_interval": 0.05},
                name=f"demo-web-{srv.site}",
                daemon=True,
            )
            for srv in servers
        ]
        for t in self._threads:
            t.start()

    def stop(self) -> None:
        """Stop serving and release the ports (idempotent; safe after a start interrupted by Ctrl-C)."""
        servers, self._servers = self._servers, []
        threads, self._threads = self._threads, []
        for srv, t in zip(servers, threads, strict=True):
            # shutdown() waits for serve_forever to finish: only ask a server whose thread was started
            if t.ident is not None:
                srv.shutdown()
        for srv in servers:
            srv.server_close()
        for t in threads:
            if t.ident is not None:
                t.join(timeout=2)

    def __enter__(self) -> DemoWeb:
        if not self.running:
            self.start(self.port)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # -- addresses ------------------------------------------------------------------------------------------

    def base_url(self, site: str) -> str:
        """``http://<address of site>:<port>`` (no trailing slash)."""
        if self.port is None:
            raise RuntimeError("demo web has no port yet: call start() first")
        return f"http://{SITES[site]}:{self.port}"

    def url(self, site: str, path: str = "/") -> str:
        return self.base_url(site) + path

    # -- revision -------------------------------------------------------------------------------------------

    @property
    def revision(self) -> int:
        return self._revision

    def set_revision(self, n: int) -> None:
        """Switch the content revision; only the page named ``changed_url`` in expected.yaml changes."""
        if not isinstance(n, int) or n < 1:
            raise ValueError(f"revision must be an integer >= 1, got {n!r}")
        with self._lock:
            self._revision = n

    # -- request handling ---------------------------------------------------------------------------------

    def handle(self, site: str, method: str, raw_path: str, headers: dict[str, str]) -> Response:
        parts = urlsplit(raw_path)
        path = unquote(parts.path) or "/"
        query = parse_qs(parts.query)
        if method == "POST":
            if site == "index" and path == "/__demo__/revision":
                return self._revision_route(query)
            return Response(405, {"Allow": "GET, HEAD", "Content-Type": "text/plain; charset=utf-8"}, b"")
        route = _ROUTES.get((site, path))
        if route is not None:
            return route(self, path, query)
        for (rsite, prefix), proute in _PREFIX_ROUTES.items():
            if rsite == site and path.startswith(prefix):
                return proute(self, path, query)
        return self._static(site, path, headers)

    def _revision_route(self, query: dict[str, list[str]]) -> Response:
        try:
            self.set_revision(int(query.get("n", [""])[0]))
        except ValueError as exc:
            body = json.dumps({"error": str(exc)}, ensure_ascii=False).encode()
            return Response(400, {"Content-Type": "application/json; charset=utf-8"}, body)
        body = json.dumps({"revision": self._revision}).encode()
        return Response(200, {"Content-Type": "application/json; charset=utf-8"}, body)

    def _resolve(self, site: str, path: str) -> Path | None:
        root = SITES_DIR / site
        rel = path.lstrip("/")
        if any(seg in ("..", "") or seg.startswith((".", "_")) for seg in rel.split("/")[:-1]):
            return None
        if rel.split("/")[-1].startswith((".", "_")):
            return None
        candidates = [rel + "index.html"] if (rel == "" or rel.endswith("/")) else [rel, rel + ".html"]
        for cand in candidates:
            p = root / cand
            if p.is_file():
                return p
        return None

    def _render(self, site: str, file: Path) -> tuple[bytes, str, float]:
        rel = file.relative_to(SITES_DIR / site).as_posix()
        revision = self._revision if (site, rel) == (REVISION_SITE, REVISION_FILE) else 1
        key = (site, rel, revision)
        cached = self._cache.get(key)
        if cached is not None:
            return cached
        suffix = file.suffix.lower()
        ctype = _CONTENT_TYPES.get(suffix, "application/octet-stream")
        last_modified: float = STATIC_LAST_MODIFIED
        if suffix not in _TEXT_SUFFIXES:
            body = file.read_bytes()
        else:
            text = self._template(file.read_text(encoding="utf-8"))
            if (site, rel) == (REVISION_SITE, REVISION_FILE):
                text, last_modified = self._apply_revision(file, text, revision)
            codec = "utf-8"
            if site == "gbk_clinic" and rel in _GBK_SITE_PAGES:
                codec, ctype = _GBK_SITE_PAGES[rel]
            body = text.encode(codec)
        result = (body, ctype, last_modified)
        self._cache[key] = result
        return result

    def _template(self, text: str) -> str:
        port = self.port

        def sub(m: re.Match[str]) -> str:
            if m.group(1) == "port":
                return str(port)
            return f"http://{SITES[m.group(2)]}:{port}"

        return _TEMPLATE_RE.sub(sub, text)

    def _apply_revision(self, file: Path, text: str, revision: int) -> tuple[str, float]:
        insert = ""
        last_modified: float = STATIC_LAST_MODIFIED
        if revision >= 2:
            rev_file = file.parent / "_revisions" / f"{file.stem}.r2.html"
            insert = self._template(rev_file.read_text(encoding="utf-8")).strip()
            last_modified = REVISION_LAST_MODIFIED + (revision - 2) * 3600
        return text.replace(REVISION_MARKER, insert), last_modified

    def _static(self, site: str, path: str, headers: dict[str, str]) -> Response:
        file = self._resolve(site, path)
        if file is None:
            return _not_found()
        body, ctype, last_modified = self._render(site, file)
        etag = '"' + hashlib.sha256(body).hexdigest()[:32] + '"'
        resp_headers = {
            "Content-Type": ctype,
            "ETag": etag,
            "Last-Modified": _http_date(last_modified),
            "Cache-Control": "no-cache",
        }
        lowered = {k.lower(): v for k, v in headers.items()}
        inm = lowered.get("if-none-match")
        ims = lowered.get("if-modified-since")
        if inm is not None:
            tags = {t.strip().removeprefix("W/") for t in inm.split(",")}
            if "*" in tags or etag in tags:
                return Response(304, resp_headers, b"")
        elif ims is not None:
            try:
                since = parsedate_to_datetime(ims).timestamp()
            except (TypeError, ValueError):
                since = None
            if since is not None and int(last_modified) <= since:
                return Response(304, resp_headers, b"")
        return Response(200, resp_headers, body)


# -- dynamic routes ---------------------------------------------------------------------------------------

_SITE_NAMES = {
    "index": "演示网络首页",
    "public_hospital": "江州市第一人民医院（公立三甲，合法内容）",
    "private_hospital": "江州华康医院（民营专科，夸大疗效广告、JS 注入广告）",
    "beauty_clinic": "江州丽颜医疗美容诊所（超范围宣传）",
    "beauty_salon": "江州美蒂养生美容会所（非医疗机构：注射、干细胞、验血查性别）",
    "wechat": "微信公众号文章（仿 mp.weixin.qq.com）",
    "news": "江州新闻网（RSS、列表页、负面新闻、监管通告）",
    "gbk_clinic": "江州济民诊所（GBK 旧网站、robots、sitemap、图片广告）",
    "messy": "杂乱站点（日历陷阱、重定向循环、404/500、超大页面、二进制、慢页面）",
}


def _index_route(web: DemoWeb, path: str, query: dict[str, list[str]]) -> Response:
    items = "".join(
        f'<li><a href="{web.base_url(site)}/">{_SITE_NAMES.get(site, site)}</a> '
        f"<code>{web.base_url(site)}/</code></li>"
        for site in SITES
        if site != "index"
    )
    body = _html_page(
        "医鉴演示网络",
        "<h1>医鉴（Yijian）演示网络</h1>"
        "<p>以下均为本项目编写的离线演示网站，内容与机构名称均为虚构，仅供演示与测试。</p>"
        f"<ul>{items}</ul>"
        f"<p>当前内容版本：{web.revision}</p>",
    )
    return Response(200, {"Content-Type": "text/html; charset=utf-8"}, body)


_CAL_RE = re.compile(r"^/calendar/(\d{4})/(\d{2})/?$")


def _calendar_route(web: DemoWeb, path: str, query: dict[str, list[str]]) -> Response:
    m = _CAL_RE.match(path)
    if not m:
        return _not_found()
    year, month = int(m.group(1)), int(m.group(2))
    if not (1 <= month <= 12 and 1000 <= year <= 9999):
        return _not_found()
    prev_y, prev_m = (year, month - 1) if month > 1 else (year - 1, 12)
    next_y, next_m = (year, month + 1) if month < 12 else (year + 1, 1)
    links = []
    if prev_y >= 1000:
        links.append(f'<a href="/calendar/{prev_y:04d}/{prev_m:02d}">上个月</a>')
    if next_y <= 9999:
        links.append(f'<a href="/calendar/{next_y:04d}/{next_m:02d}">下个月</a>')
    body = _html_page(
        f"活动日历 {year}年{month}月",
        f"<h1>{year}年{month}月 活动日历</h1><p>本月暂无安排。</p>"
        f'<p>{" | ".join(links)}</p><p><a href="/">返回首页</a></p>',
    )
    return Response(200, {"Content-Type": "text/html; charset=utf-8"}, body)


def _loop_a(web: DemoWeb, path: str, query: dict[str, list[str]]) -> Response:
    return Response(302, {"Location": "/loop/b", "Content-Type": "text/html; charset=utf-8"}, b"")


def _loop_b(web: DemoWeb, path: str, query: dict[str, list[str]]) -> Response:
    return Response(302, {"Location": "/loop/a", "Content-Type": "text/html; charset=utf-8"}, b"")


def _error_500(web: DemoWeb, path: str, query: dict[str, list[str]]) -> Response:
    body = _html_page("500 服务器内部错误", "<h1>500</h1><p>服务器内部错误，请稍后再试。</p>")
    return Response(500, {"Content-Type": "text/html; charset=utf-8"}, body)


def _big_chunks() -> Iterator[bytes]:
    head = (
        '<!DOCTYPE html>\n<html lang="zh-CN"><head><meta charset="utf-8"><title>超大页面</title></head>'
        "<body><h1>健康资讯合集（超大页面）</h1>\n"
    ).encode()
    yield head
    sent = len(head)
    n = 0
    para = "这是一个用于测试抓取大小上限的超大页面，内容为重复的健康常识：多喝水、早睡早起、适量运动。"
    while sent < BIG_PAGE_BYTES:
        chunk = "".join(f"<p>第{n + i}段：{para}</p>\n" for i in range(400)).encode()
        n += 400
        sent += len(chunk)
        yield chunk
    yield b"</body></html>\n"


def _big(web: DemoWeb, path: str, query: dict[str, list[str]]) -> Response:
    # Streamed, no Content-Length: the crawler's size cap has to stop it while reading.
    return Response(200, {"Content-Type": "text/html; charset=utf-8"}, _big_chunks())


def _binary(web: DemoWeb, path: str, query: dict[str, list[str]]) -> Response:
    rng = random.Random(20260305)
    body = b"PK\x03\x04" + rng.randbytes(64 * 1024) + b"\x00" * 1024
    return Response(200, {"Content-Type": "text/html; charset=utf-8"}, body)


def _empty(web: DemoWeb, path: str, query: dict[str, list[str]]) -> Response:
    return Response(200, {"Content-Type": "text/html; charset=utf-8"}, b"")


def _slow(web: DemoWeb, path: str, query: dict[str, list[str]]) -> Response:
    time.sleep(SLOW_PAGE_SECONDS)
    body = _html_page("慢页面", "<h1>慢页面</h1><p>这个页面在响应前等待了3秒，用于测试抓取超时。</p>")
    return Response(200, {"Content-Type": "text/html; charset=utf-8"}, body)


def _revision_get(web: DemoWeb, path: str, query: dict[str, list[str]]) -> Response:
    body = json.dumps({"revision": web.revision}).encode()
    return Response(200, {"Content-Type": "application/json; charset=utf-8"}, body)


_ROUTES: dict[tuple[str, str], Route] = {
    ("index", "/"): _index_route,
    ("index", "/index.html"): _index_route,
    ("index", "/__demo__/revision"): _revision_get,
    ("messy", "/loop/a"): _loop_a,
    ("messy", "/loop/b"): _loop_b,
    ("messy", "/error.html"): _error_500,
    ("messy", "/big.html"): _big,
    ("messy", "/binary.html"): _binary,
    ("messy", "/empty.html"): _empty,
    ("messy", "/slow.html"): _slow,
}
_PREFIX_ROUTES: dict[tuple[str, str], Route] = {
    ("messy", "/calendar/"): _calendar_route,
}


def main(port: int = DEFAULT_PORT) -> None:
    """Serve the demo web on ``port`` until Ctrl-C."""
    web = DemoWeb()
    stop = threading.Event()
    try:  # Ctrl-C may come while still starting or printing: stop cleanly from there too
        web.start(port)
        print(f"医鉴演示网络已启动：http://127.0.0.1:{port}/ （Ctrl-C 停止）")
        for site in SITES:
            print(f"  {site:<17} {web.base_url(site)}/")
        while not stop.wait(3600):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        web.stop()
        print("演示网络已停止。")


if __name__ == "__main__":
    import sys

    main(int(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT_PORT)
