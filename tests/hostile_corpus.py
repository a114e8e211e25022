"""A generated corpus of hostile web pages and a local server that serves them the hostile way.

``generate(seed, count)`` builds the pages at test time (nothing is committed): malformed and mis-encoded HTML,
enormous and deeply nested pages, binary bodies, adversarial pages (repeated claims, obfuscated claims, 100k-link
pages, session-id traps, entity and comment bombs, conflicting charsets), and server behaviours — gzip, gzip bombs,
drip-fed and stalled responses, truncated bodies. The same seed gives the same corpus. ``HostileServer`` serves
page ``i`` at ``/p/<i>``.
"""

from __future__ import annotations

import contextlib
import gzip
import random
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

CLAIMS = ["根治", "一次治愈", "无效退款", "包治百病", "安全无副作用", "治愈率100%", "祖传秘方", "永不复发"]
WORDS = [
    "医院",
    "专家",
    "患者",
    "治疗",
    "门诊",
    "预约",
    "电话",
    "科室",
    "疗效",
    "投诉",
    "服务",
    "价格",
    "手术",
]
TAGS = [
    "div",
    "p",
    "span",
    "table",
    "tr",
    "td",
    "ul",
    "li",
    "b",
    "i",
    "a",
    "section",
    "article",
    "font",
    "h1",
]
ATTRS = ["class", "id", "x", "on", "href", "style"]
VALUES = ["a", '"b', "c'", "", "javascript:", "<", '"' * 3]
CHARSETS = [
    "utf-8",
    "gbk",
    "gb2312",
    "gb18030",
    "big5",
    "shift_jis",
    "euc-kr",
    "iso-8859-1",
    "utf-16",
    "koi8-r",
]
BOGUS_CHARSETS = ["utf-9", "x-unknown", "", "gbk;utf-8", "'", "unicode", "ucs-2", "utf-7", "cp1006"]
# server behaviours
NORMAL, GZIP, BOMB, DRIP, STALL, SHORT = "normal", "gzip", "gzip_bomb", "drip", "stall", "short_body"


@dataclass(slots=True)
class HostilePage:
    kind: str
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)
    behaviour: str = NORMAL


def _zh(rnd: random.Random, n: int) -> str:
    return "".join(rnd.choice(WORDS + CLAIMS[:2] + ["，", "。"]) for _ in range(n))


def _html(title: str, body: str, charset: str | None = "utf-8") -> str:
    meta = f'<meta charset="{charset}">' if charset is not None else ""
    return f"<!DOCTYPE html><html><head>{meta}<title>{title}</title></head><body>{body}</body></html>"


def _ctype(charset: str | None) -> dict[str, str]:
    return {"Content-Type": "text/html" + (f"; charset={charset}" if charset is not None else "")}


# -- generators: each returns one page --------------------------------------------------------------------------


def tag_soup(rnd: random.Random) -> HostilePage:
    parts = []
    for _ in range(rnd.randrange(20, 400)):
        r = rnd.random()
        tag = rnd.choice(TAGS)
        if r < 0.3:
            parts.append(f"<{tag} {rnd.choice(ATTRS)}={rnd.choice(VALUES)}>")
        elif r < 0.5:
            parts.append(f"</{tag}>")
        elif r < 0.6:
            parts.append(
                rnd.choice(["<", ">", "&", "&#", "&#x;", "<!", "<?", "]]>", "<![CDATA[", "-->", "<!--"])
            )
        else:
            parts.append(_zh(rnd, rnd.randrange(1, 30)))
    body = "".join(parts)
    if rnd.random() < 0.3:
        return HostilePage("malformed", body.encode("utf-8"), _ctype("utf-8"))
    return HostilePage(
        "malformed", _html(_zh(rnd, 5), body).encode("utf-8"), _ctype(rnd.choice(["utf-8", None]))
    )


def mis_encoded(rnd: random.Random) -> HostilePage:
    text = _zh(rnd, rnd.randrange(50, 3000))
    actual = rnd.choice(["gb18030", "big5", "utf-8", "utf-16-le", "utf-16-be", "shift_jis"])
    declared_header = rnd.choice(CHARSETS + BOGUS_CHARSETS + [None])
    declared_meta = rnd.choice(CHARSETS + BOGUS_CHARSETS + [None])
    html = _html(_zh(rnd, 6), f"<p>{text}</p>", declared_meta)
    body = html.encode(actual, errors="replace")
    if rnd.random() < 0.3:  # stray bytes in the middle
        b = bytearray(body)
        for _ in range(rnd.randrange(1, 300)):
            b.insert(rnd.randrange(len(b) + 1), rnd.randrange(0x80, 0x100))
        body = bytes(b)
    return HostilePage("mis_encoded", body, _ctype(declared_header))


def enormous(rnd: random.Random, size: int) -> HostilePage:
    chunk = "<p>" + _zh(rnd, 400) + "</p>\n"
    reps = max(1, size // len(chunk.encode()))
    return HostilePage("enormous", _html("大页面", chunk * reps).encode("utf-8"), _ctype("utf-8"))


def deeply_nested(rnd: random.Random, depth: int | None = None) -> HostilePage:
    depth = depth or rnd.choice([100, 500, 2_000, 10_000])
    tag = rnd.choice(["div", "span", "b", "table", "ul", "blockquote"])
    closed = rnd.random() < 0.5
    body = f"<{tag}>" * depth + "深处的文字：" + CLAIMS[0] + (f"</{tag}>" * depth if closed else "")
    return HostilePage("deeply_nested", _html("嵌套", body).encode("utf-8"), _ctype("utf-8"))


MAGICS = [
    b"\x89PNG\r\n\x1a\n",
    b"\xff\xd8\xff\xe0",
    b"%PDF-1.7\n",
    b"PK\x03\x04",
    b"\x1f\x8b\x08",
    b"\x7fELF",
    b"",
]


def binary(rnd: random.Random) -> HostilePage:
    size = rnd.choice([1, 16, 1_000, 50_000, 300_000])
    body = rnd.choice(MAGICS) + rnd.randbytes(size)
    if rnd.random() < 0.3:  # looks like HTML, full of NUL and control bytes
        body = (
            b"<html><body>"
            + bytes(rnd.choice([0, 1, 2, 7, 27, 127]) for _ in range(size))
            + b"</body></html>"
        )
    return HostilePage("binary", body, _ctype(rnd.choice(["utf-8", None])))


def repeated_phrase(rnd: random.Random, chars: int | None = None) -> HostilePage:
    phrase = rnd.choice(CLAIMS)
    n = (chars or rnd.choice([1_000, 20_000, 100_000])) // len(phrase)
    sep = rnd.choice(["", "，", "。", " ", "<br>"])
    return HostilePage(
        "repeated_phrase", _html(phrase, sep.join([phrase] * n)).encode("utf-8"), _ctype("utf-8")
    )


ZW = ["\u200b", "\u200c", "\u200d", "\ufeff", "\u2060", "\u00ad", "\u202e", "\u3000", " ", "\u00a0"]


def obfuscated(rnd: random.Random) -> HostilePage:
    claim = rnd.choice(CLAIMS)
    mode = rnd.choice(["zw", "fullwidth", "entities", "spans", "rtl"])
    if mode == "zw":
        out = rnd.choice(ZW).join(claim)
    elif mode == "fullwidth":
        out = "".join(chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else c for c in claim)
    elif mode == "entities":
        out = "".join(f"&#{ord(c)};" if rnd.random() < 0.5 else f"&#x{ord(c):x};" for c in claim)
    elif mode == "spans":
        out = "".join(f"<span>{c}</span>" for c in claim)
    else:
        out = "\u202e" + claim[::-1] + "\u202c"
    body = f"<p>{_zh(rnd, 40)}{out}{_zh(rnd, 40)}</p>" * rnd.randrange(1, 20)
    return HostilePage("obfuscated", _html(_zh(rnd, 4), body).encode("utf-8"), _ctype("utf-8"))


def many_links(rnd: random.Random, n: int | None = None) -> HostilePage:
    n = n or rnd.choice([500, 2_000, 5_000])
    style = rnd.choice(["plain", "session", "calendar"])
    if style == "session":
        links = "".join(
            f'<a href="/s/a.jsp;jsessionid={rnd.getrandbits(64):016X}">文章</a>' for _ in range(n)
        )
    elif style == "calendar":
        links = "".join(f'<a href="/cal/{2000 + i // 12}/{i % 12 + 1}">{i}</a>' for i in range(n))
    else:
        links = "".join(f'<a href="/l/{i}.html">链接{i}</a>' for i in range(n))
    return HostilePage("many_links", _html("链接", links).encode("utf-8"), _ctype("utf-8"))


def odd_markup(rnd: random.Random) -> HostilePage:
    kind = rnd.choice(
        ["entity_bomb", "comment_bomb", "huge_attr", "huge_title", "scripts", "metas", "controls"]
    )
    n = rnd.choice([1_000, 10_000, 50_000])
    if kind == "entity_bomb":
        body = _html("实体", "&#x6839;&#27835;&amp;&lt;&#0;&#xD800;&#99999999;" * (n // 40))
    elif kind == "comment_bomb":
        body = "<html><body><!--" + "<p>根治</p>" * (n // 10)  # never closed
    elif kind == "huge_attr":
        body = _html("属性", f'<div title="{"根" * n}">正文：一次治愈</div>')
    elif kind == "huge_title":
        body = _html("根治" * (n // 2), "<p>正文</p>")
    elif kind == "scripts":
        body = _html("脚本", "<script>var a='根治';</script>" * (n // 30) + "<p>正文无效退款</p>")
    elif kind == "metas":
        body = "".join(f'<meta charset="{rnd.choice(CHARSETS + BOGUS_CHARSETS)}">' for _ in range(200))
        body = _html("多重声明", body + "<p>" + _zh(rnd, 200) + "</p>", None)
    else:
        body = _html(
            "控制字符",
            "".join(rnd.choice(["根治", "\x0b", "\x0c", "\r", "\x1b", "\x85"]) for _ in range(n // 4)),
        )
    return HostilePage(f"odd_markup:{kind}", body.encode("utf-8", errors="surrogatepass"), _ctype("utf-8"))


def served_badly(rnd: random.Random, behaviour: str) -> HostilePage:
    page = _html(_zh(rnd, 5), "<p>" + _zh(rnd, 500) + "</p>").encode("utf-8")
    if behaviour == BOMB:
        page = b"<html><body>" + b" " * (rnd.choice([20, 60]) * 1024 * 1024)  # 20-60 MiB inflated
    return HostilePage(behaviour, page, _ctype("utf-8"), behaviour)


def generate(seed: int, count: int = 1000, *, huge: bool = True) -> list[HostilePage]:
    """``count`` pages from ``seed``. One of each extreme comes first (gzip bombs, drip-fed, stalled, truncated,
    a 100k-link page, 100k-deep nesting, a 100k-character repeated claim; with ``huge`` a 4.9 MB page, a 6 MB page
    and a 4.8 MB repeated claim); the rest are drawn from smaller generators, so a 1,000-page run stays short."""
    rnd = random.Random(seed)
    fixed: list[HostilePage] = [
        served_badly(rnd, BOMB),
        served_badly(rnd, BOMB),
        served_badly(rnd, DRIP),
        served_badly(rnd, STALL),
        served_badly(rnd, SHORT),
        served_badly(rnd, GZIP),
        many_links(rnd, 100_000),
        deeply_nested(rnd, 100_000),
        repeated_phrase(rnd, 100_000),
    ]
    if huge:
        fixed += [
            enormous(rnd, 4_900_000),  # just under the 5 MB cap
            enormous(rnd, 6_000_000),  # over it: refused as too_large
            repeated_phrase(rnd, 1_600_000),  # 4.8 MB of one claim
        ]
    makers = [
        (tag_soup, 20),
        (mis_encoded, 25),
        (binary, 10),
        (obfuscated, 12),
        (odd_markup, 10),
        (deeply_nested, 6),
        (repeated_phrase, 6),
        (many_links, 3),
        (lambda r: enormous(r, r.choice([100_000, 300_000])), 2),
        (lambda r: served_badly(r, GZIP), 4),
        (lambda r: served_badly(r, SHORT), 2),
    ]
    funcs = [f for f, w in makers for _ in range(w)]
    pages = list(fixed)
    while len(pages) < count:
        pages.append(rnd.choice(funcs)(rnd))
    return pages


class _Handler(BaseHTTPRequestHandler):
    server: HostileServer

    def log_message(self, *_a: object) -> None: ...

    def do_GET(self) -> None:  # noqa: N802
        try:
            if self.path.startswith("/s/") and self.server.article is not None:  # session-id trap target
                page = self.server.article
            else:
                page = self.server.pages[int(self.path.rsplit("/", 1)[-1])]
        except (ValueError, IndexError):
            self.send_error(404)
            return
        with contextlib.suppress(OSError):  # the client gave up (timeouts, size caps): expected
            self._serve(page)

    def _serve(self, page: HostilePage) -> None:
        body = page.body
        self.send_response(200)
        for k, v in page.headers.items():
            self.send_header(k, v)
        if page.behaviour in (GZIP, BOMB):
            body = self.server.gzipped(page)
            self.send_header("Content-Encoding", "gzip")
        if page.behaviour == SHORT:
            self.send_header("Content-Length", str(len(body) * 2))
        elif page.behaviour != DRIP:
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if page.behaviour == STALL:
            time.sleep(self.server.stall_s)
            return
        if page.behaviour == DRIP:
            for i in range(len(body)):
                self.wfile.write(body[i : i + 1])
                self.wfile.flush()
                time.sleep(0.05)
                if self.server.closed:
                    return
            return
        self.wfile.write(body)


class HostileServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, pages: list[HostilePage], stall_s: float = 30.0) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.pages = pages
        self.stall_s = stall_s
        self.closed = False
        self.article: HostilePage | None = None  # served at every /s/... address
        self._gz: dict[int, bytes] = {}
        self._thread = threading.Thread(target=self.serve_forever, daemon=True)

    def gzipped(self, page: HostilePage) -> bytes:
        key = id(page)
        if key not in self._gz:
            self._gz[key] = gzip.compress(page.body, compresslevel=9)
        return self._gz[key]

    def url(self, i: int) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/p/{i}"

    def __enter__(self) -> HostileServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.closed = True
        self.shutdown()
        self.server_close()
