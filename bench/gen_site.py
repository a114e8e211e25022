"""A generated site for crawl benchmarks, served locally by a small threaded HTTP server.

``/`` links to ``lists`` list pages; each list page links to ``per_list`` articles (``/a/<n>.html``, ~1.5 KB of
Chinese text each, deterministic); articles link back home. ``lists * per_list`` articles (default 200 × 100 =
20,000) plus the list pages and the home page, all at depth ≤ 2; robots.txt allows everything.

    .venv/bin/python bench/gen_site.py --port 8799          # serve it until Ctrl-C
"""

from __future__ import annotations

import argparse
import random
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

WORDS = [
    "医院", "门诊", "专家", "患者", "治疗", "糖尿病", "高血压", "体检", "预约", "挂号", "科室", "护理", "健康",
    "讲座", "医保", "药品", "手术", "康复", "随访", "咨询", "疫苗", "儿科", "妇产科", "内分泌", "心内科",
]  # fmt: skip


def article(n: int) -> str:
    rng = random.Random(n)
    paras = "".join(
        "<p>" + "，".join("".join(rng.choice(WORDS) for _ in range(4)) for _ in range(8)) + "。</p>"
        for _ in range(6)
    )
    return (
        f"<html><head><meta charset='utf-8'><title>第{n}号健康资讯</title></head><body>"
        f"<h1>第{n}号健康资讯</h1><p class='date'>2026-03-{1 + n % 28:02d}</p>{paras}"
        "<a href='/'>首页</a></body></html>"
    )


class GeneratedSite:
    def __init__(
        self, host: str = "127.0.0.71", port: int = 0, lists: int = 200, per_list: int = 100
    ) -> None:
        self.lists, self.per_list = lists, per_list
        self.served = 0
        self.last_served = 0.0  # time.monotonic() of the last page served
        self._count_lock = threading.Lock()
        site = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                body = site.page(self.path)
                if body is None:
                    self.send_response(404)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                data = body.encode()
                self.send_response(200)
                ctype = "text/plain" if self.path == "/robots.txt" else "text/html; charset=utf-8"
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
                with site._count_lock:
                    site.served += 1
                    site.last_served = time.monotonic()

        self.server = ThreadingHTTPServer((host, port), Handler)
        self.server.daemon_threads = True
        self.url = f"http://{host}:{self.server.server_address[1]}/"

    @property
    def pages(self) -> int:
        return 1 + self.lists + self.lists * self.per_list

    def page(self, path: str) -> str | None:
        if path == "/robots.txt":
            return "User-agent: *\nAllow: /\n"
        if path == "/":
            links = "".join(f"<a href='/list/{k}.html'>列表{k}</a> " for k in range(self.lists))
            return f"<html><head><title>生成站点</title></head><body>{links}</body></html>"
        if path.startswith("/list/") and path.endswith(".html"):
            k = int(path[6:-5]) if path[6:-5].isdigit() else -1
            if not 0 <= k < self.lists:
                return None
            first = k * self.per_list
            links = "".join(
                f"<a href='/a/{n}.html'>资讯{n}</a> " for n in range(first, first + self.per_list)
            )
            return f"<html><head><title>列表{k}</title></head><body>{links}</body></html>"
        if path.startswith("/a/") and path.endswith(".html") and path[3:-5].isdigit():
            n = int(path[3:-5])
            return article(n) if n < self.lists * self.per_list else None
        return None

    def start(self) -> GeneratedSite:
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--host", default="127.0.0.71")
    ap.add_argument("--port", type=int, default=8799)
    ap.add_argument("--lists", type=int, default=200)
    ap.add_argument("--per-list", type=int, default=100)
    args = ap.parse_args()
    site = GeneratedSite(args.host, args.port, args.lists, args.per_list)
    print(f"serving {site.pages} pages at {site.url}")
    site.server.serve_forever()


if __name__ == "__main__":
    main()
