"""Distributed mode: two workers share one scrapy-redis frontier and fetch every page exactly once."""

from __future__ import annotations

import shutil
import socket
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from config import Settings
from crawlers.runner import run_crawl
from domain.sources import SourceConfig

REDIS = shutil.which("redis-server") or "/usr/bin/redis-server"
HOST = "127.0.0.61"
PAGES = [f"/page-{chr(97 + i // 26)}{chr(97 + i % 26)}" for i in range(30)]


def free_port(host: str) -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


@pytest.fixture
def redis_url(tmp_path: Path) -> Iterator[str]:
    import redis

    port = free_port("127.0.0.1")
    proc = subprocess.Popen(
        [
            REDIS,
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(tmp_path),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        client = redis.Redis(port=port)
        for _ in range(100):
            try:
                client.ping()
                break
            except redis.ConnectionError:
                time.sleep(0.05)
        else:
            pytest.fail("redis-server did not start")
        client.close()
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        proc.terminate()
        proc.wait(10)


@pytest.fixture
def site() -> Iterator[tuple[str, list[str]]]:
    log: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: Any) -> None:
            pass

        def do_GET(self) -> None:
            log.append(self.path)
            if self.path == "/":
                body = "".join(f'<a href="{p}">{p}</a>' for p in PAGES)
            elif self.path in PAGES:
                time.sleep(0.25)  # slow enough that both workers get a share of the frontier
                body = "<p>page</p><a href='/'>home</a>"
            elif self.path == "/robots.txt":
                body = "User-agent: *\nAllow: /\n"
            else:
                self.send_response(404)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            data = f"<html><body>{body}</body></html>".encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    server = ThreadingHTTPServer((HOST, 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://{HOST}:{server.server_address[1]}/", log
    finally:
        server.shutdown()
        server.server_close()


def test_two_workers_fetch_every_page_exactly_once(
    redis_url: str, site: tuple[str, list[str]], tmp_path: Path
) -> None:
    start_url, log = site
    source = SourceConfig(id="shared", type="site", start_urls=[start_url], depth=2, concurrency=2)
    results: dict[int, Any] = {}

    def worker(n: int) -> None:
        try:
            results[n] = run_crawl(
                Settings(data_dir=tmp_path / f"w{n}", redis_url=redis_url),
                [source],
                item_pipelines={"crawlers.export.JsonLinesPipeline": 100},
                overrides={
                    "YIJIAN_JSONL_PATH": str(tmp_path / f"w{n}.jsonl"),
                    "YIJIAN_FRONTIER": "test-frontier",
                    "YIJIAN_CONDITIONAL_GET": False,
                },
                timeout=120,
            )
        except Exception as exc:  # surfaced by the assertion below
            results[n] = exc

    threads = [threading.Thread(target=worker, args=(n,)) for n in (1, 2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(150)
    assert all(isinstance(results.get(n), dict) for n in (1, 2)), results

    fetched = Counter(p for p in log if p != "/robots.txt")
    assert fetched == Counter({p: 1 for p in ["/", *PAGES]})  # every page exactly once across both workers
    per_worker = [results[n]["per_source"]["shared"].get("item_scraped_count", 0) for n in (1, 2)]
    assert sum(per_worker) == len(PAGES) + 1
    assert min(per_worker) > 0, per_worker  # both workers took part

    import redis

    client = redis.Redis.from_url(redis_url)
    keys = {k.decode() for k in client.keys("yijian:test-frontier:*")}
    assert keys and all(client.ttl(k) > 0 for k in keys)  # shared frontier, expiring after the run
    client.close()
