"""Distributed mode (crawlers.frontier, crawlers.downloadermiddlewares.shared_politeness, app.distributed) against a
real ``redis-server`` started on a free local port and stopped afterwards: two workers share one frontier and fetch
every page exactly once; a per-host delay holds across workers; a worker killed with SIGKILL and restarted loses
no page and duplicates none in the store; workers wait out a Redis restart and finish the crawl."""

from __future__ import annotations

import itertools
import json
import os
import shutil
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import redis

from config import Settings
from crawlers.runner import run_crawl
from domain.sources import SourceConfig

REDIS = shutil.which("redis-server") or "/usr/bin/redis-server"
ROOT = Path(__file__).resolve().parent.parent
HOST = "127.0.0.61"
PAGES = [f"/page-{chr(97 + i // 26)}{chr(97 + i % 26)}" for i in range(30)]


def free_port(host: str) -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


class RedisServer:
    """A real redis-server on a free port; ``persist`` keeps its data over a restart (AOF, fsync on every write)."""

    def __init__(self, directory: Path, *, persist: bool = False) -> None:
        self.port = free_port("127.0.0.1")
        self.dir = directory
        self.persist = persist
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        import redis

        aof = ["--appendonly", "yes", "--appendfsync", "always"] if self.persist else ["--appendonly", "no"]
        self.proc = subprocess.Popen(
            [
                REDIS,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                *aof,
                "--dir",
                str(self.dir),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        client = redis.Redis(port=self.port)
        for _ in range(200):
            try:
                client.ping()
                break
            except (redis.ConnectionError, redis.BusyLoadingError):
                time.sleep(0.05)
        else:
            pytest.fail("redis-server did not start")
        client.close()

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()  # SIGTERM: a clean shutdown (the AOF is complete)
            self.proc.wait(10)
            self.proc = None


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    (tmp_path / "redis").mkdir()
    server = RedisServer(tmp_path / "redis", persist=True)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def redis_url(redis_server: RedisServer) -> str:
    return redis_server.url


class Site:
    """A small threaded test site: ``/`` links to ``pages``; each page takes ``page_delay`` seconds; robots.txt may
    set a Crawl-delay. ``log`` has every path served; ``times`` the (monotonic) arrival of each page request."""

    def __init__(self, pages: list[str], page_delay: float, crawl_delay: float | None = None) -> None:
        self.pages = pages
        self.log: list[str] = []
        self.times: list[float] = []
        site = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                site.log.append(self.path)
                if self.path != "/robots.txt":
                    site.times.append(time.monotonic())
                if self.path == "/":
                    body = "".join(f'<a href="{p}">{p}</a>' for p in pages)
                elif self.path in pages:
                    time.sleep(page_delay)  # slow enough that every worker gets a share of the frontier
                    body = f"<h1>第{self.path}页</h1><p>医院新闻 {self.path}</p><a href='/'>home</a>"
                elif self.path == "/robots.txt":
                    body = "User-agent: *\nAllow: /\n" + (
                        f"Crawl-delay: {crawl_delay}\n" if crawl_delay else ""
                    )
                else:
                    self.send_response(404)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                data = (
                    body.encode()
                    if self.path == "/robots.txt"
                    else f"<html><body>{body}</body></html>".encode()
                )
                self.send_response(200)
                ctype = "text/plain" if self.path == "/robots.txt" else "text/html; charset=utf-8"
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.server = ThreadingHTTPServer((HOST, 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://{HOST}:{self.server.server_address[1]}/"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def fetched(self) -> Counter[str]:
        return Counter(p for p in self.log if p != "/robots.txt")


@pytest.fixture
def site() -> Iterator[tuple[str, list[str]]]:
    s = Site(PAGES, 0.5)  # ~8 s for one worker: long enough for a slow-starting second worker to join
    try:
        yield s.url, s.log
    finally:
        s.close()


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

    from app.distributed import read_ledger

    client = redis.Redis.from_url(redis_url)
    ledger = read_ledger(client, "test-frontier")
    client.close()
    assert ledger["duplicates"] == 0
    assert sum(ledger["workers"].values()) == len(PAGES) + 1 and len(ledger["workers"]) == 2


# ------------------------------------------------------------------------------------------- helpers


def crawl_threads(
    redis_url: str, source: SourceConfig, tmp_path: Path, frontier: str, n: int = 2, **extra: Any
) -> tuple[list[threading.Thread], dict[int, Any]]:
    """``n`` workers (each run_crawl's own child process) writing JSON lines, started now."""
    results: dict[int, Any] = {}

    def worker(i: int) -> None:
        try:
            results[i] = run_crawl(
                Settings(data_dir=tmp_path / f"w{i}", redis_url=redis_url),
                [source],
                item_pipelines={"crawlers.export.JsonLinesPipeline": 100},
                overrides={
                    "YIJIAN_JSONL_PATH": str(tmp_path / f"w{i}.jsonl"),
                    "YIJIAN_FRONTIER": frontier,
                    "YIJIAN_CONDITIONAL_GET": False,
                    "YIJIAN_IDLE_GRACE": 3,
                    **extra,
                },
                timeout=240,
            )
        except Exception as exc:  # surfaced by the callers' assertions
            results[i] = exc

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(1, n + 1)]
    for t in threads:
        t.start()
    return threads, results


def wait_until(condition: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.1)


# ----------------------------------------------------------------------------------------------- tests


def test_crawl_delay_holds_across_workers_not_per_worker(redis_url: str, tmp_path: Path) -> None:
    pages = [
        f"/p{i:02d}" for i in range(15)
    ]  # 15 s at 1 s apart: long enough for a slow-starting worker to join
    site = Site(pages, 0.0, crawl_delay=1)
    try:
        source = SourceConfig(id="polite", type="site", start_urls=[site.url], depth=1, concurrency=2)
        threads, results = crawl_threads(redis_url, source, tmp_path, "polite-frontier")
        for t in threads:
            t.join(200)
    finally:
        site.close()
    assert all(isinstance(results.get(i), dict) for i in (1, 2)), results
    assert site.fetched() == Counter({p: 1 for p in ["/", *pages]})
    per_worker = [results[i]["per_source"]["polite"].get("item_scraped_count", 0) for i in (1, 2)]
    assert min(per_worker) > 0, per_worker  # both workers fetched from the host ...
    gaps = [b - a for a, b in itertools.pairwise(sorted(site.times))]
    # ... yet, all workers together, no faster than its Crawl-delay of 1 s (a delay per worker would let two
    # requests arrive at once). Bookings are exactly 1 s apart; a loaded machine may start one a little late.
    assert min(gaps) >= 0.6, gaps
    assert sum(gaps) >= 0.95 * len(gaps), gaps


def worker_main(cfg: dict[str, Any]) -> None:
    """A distributed worker in this very process (no further child), so that a test can SIGKILL it: the real
    processing pipeline storing into the shared SQLite store. Prints its crawl stats as JSON on the last line."""
    from crawlers.runner import _crawl_in_child, scrapy_settings

    settings = Settings(data_dir=Path(cfg["data_dir"]), redis_url=cfg["redis_url"], ocr_enabled=False)
    source = SourceConfig(id="shared", type="site", start_urls=[cfg["start_url"]], depth=1, concurrency=2)
    payload = {
        "scrapy_settings": scrapy_settings(
            settings,
            overrides={
                "YIJIAN_RUN_ID": cfg["run_id"],
                "YIJIAN_DATA_DIR": cfg["data_dir"],
                "YIJIAN_FRONTIER": cfg["frontier"],
                "YIJIAN_WORKER_ID": cfg["worker_id"],
                "YIJIAN_IDLE_GRACE": 3,
                "LOG_LEVEL": "ERROR",
            },
        ),
        "sources": [source.model_dump(mode="json")],
    }
    result = _crawl_in_child(payload)
    print(json.dumps(result["per_source"]["shared"]))


def start_worker(cfg: dict[str, Any], log: Path) -> subprocess.Popen[str]:
    code = "import json, sys; from tests.test_distributed import worker_main; worker_main(json.loads(sys.argv[1]))"
    env = {**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1"}
    return subprocess.Popen(
        [sys.executable, "-c", code, json.dumps(cfg)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=log.open("w"),
        text=True,
    )


def stored(db: Path) -> dict[str, tuple[str, int, int]]:
    """canonical URL → (document id, current version, number of versions), read straight from the store's file."""
    with sqlite3.connect(db, timeout=30) as conn:
        rows = conn.execute(
            "SELECT d.canonical_url, d.id, d.current_version, "
            "(SELECT count(*) FROM document_versions v WHERE v.document_id = d.id) FROM documents d"
        ).fetchall()
    return {url: (doc_id, cur, n) for url, doc_id, cur, n in rows}


def test_worker_killed_mid_crawl_and_restarted_loses_and_duplicates_nothing(
    redis_url: str, tmp_path: Path
) -> None:
    from store.db import Store

    pages = [f"/news-{i:02d}" for i in range(48)]
    site = Site(pages, 0.4)
    data = tmp_path / "data"
    store = Store(f"sqlite:///{data / 'yijian.db'}", data / "blobs")
    run_id = store.start_run(["shared"])
    store.close()
    cfg = {"data_dir": str(data), "redis_url": redis_url, "start_url": site.url, "run_id": run_id,
           "frontier": "kill-frontier"}  # fmt: skip
    procs: dict[str, subprocess.Popen[str]] = {}
    try:
        for name in ("a", "b"):
            procs[name] = start_worker({**cfg, "worker_id": f"worker-{name}"}, tmp_path / f"{name}.log")
        client = redis.Redis.from_url(redis_url)

        def a_holds_requests() -> bool:  # crawlers/frontier.py: <prefix>:inflight:<worker>
            return any(client.hlen(k) for k in client.scan_iter(match="*:inflight:worker-a"))

        wait_until(
            lambda: (
                (data / "yijian.db").exists() and len(stored(data / "yijian.db")) >= 8 and a_holds_requests()
            ),
            180,
            "8 pages, and worker a holding requests",
        )
        procs["a"].kill()  # SIGKILL, mid-crawl: it holds requests it took and has not finished
        client.close()
        procs["a"].wait(10)
        acknowledged = stored(data / "yijian.db")  # committed before (or at) the kill
        assert len(acknowledged) < len(pages) + 1, "the crawl finished before the kill: make the pages slower"
        procs["a2"] = start_worker({**cfg, "worker_id": "worker-a-restarted"}, tmp_path / "a2.log")
        outputs = {}
        for name in ("b", "a2"):
            out, _ = procs[name].communicate(timeout=240)
            assert procs[name].returncode == 0, (tmp_path / f"{name}.log").read_text()[-3000:]
            outputs[name] = json.loads(out.strip().splitlines()[-1])
    finally:
        for p in procs.values():
            if p.poll() is None:
                p.kill()
        site.close()

    final = stored(data / "yijian.db")
    expected = {site.url + p.lstrip("/") for p in ["/", *pages]}
    assert set(final) == expected  # the crawl completed: every page stored, none lost with the killed worker
    assert all(
        n == 1 for _, _, n in final.values()
    )  # each stored exactly once (a redone page is "unchanged")
    for url, (doc_id, version, _) in acknowledged.items():
        assert final[url][:2] == (doc_id, version)  # what was acknowledged before the kill stays as it was
    recovered = sum(o.get("yijian/recovered_requests", 0) for o in outputs.values())
    assert recovered > 0  # the dead worker's requests went back on the frontier ...
    refetched = sum(n - 1 for n in site.fetched().values())
    assert refetched <= recovered  # ... and only those were fetched again


def test_workers_wait_out_a_redis_restart_and_finish(redis_server: RedisServer, tmp_path: Path) -> None:
    pages = [f"/r{i:02d}" for i in range(40)]
    site = Site(pages, 0.3)
    try:
        source = SourceConfig(id="restart", type="site", start_urls=[site.url], depth=1, concurrency=2)
        threads, results = crawl_threads(redis_server.url, source, tmp_path, "restart-frontier")
        wait_until(lambda: len(site.fetched()) >= 8, 180, "8 pages fetched")
        redis_server.stop()
        time.sleep(3)
        fetched_while_down = len(site.fetched())
        redis_server.start()  # same port, same data directory: the frontier is back
        for t in threads:
            t.join(240)
    finally:
        site.close()
    assert all(isinstance(results.get(i), dict) for i in (1, 2)), results
    assert site.fetched() == Counter({p: 1 for p in ["/", *pages]})  # resumed; nothing lost, nothing twice
    assert fetched_while_down < len(pages) + 1
    outages = sum(results[i]["per_source"]["restart"].get("yijian/redis_outages", 0) for i in (1, 2))
    assert outages >= 1  # the workers noticed, waited, and went on


@pytest.mark.e2e
def test_distributed_demo_stores_the_same_documents_as_single_process(redis_url: str, tmp_path: Path) -> None:
    """`yijian crawl --all` vs `yijian crawl --all --distributed --workers 2` on the same demo web."""
    from demo.server import DemoWeb
    from tests.demo_env import YIJIAN, demo_env

    web = DemoWeb()
    web.start()
    try:
        summaries = {}
        for name, extra in (
            ("single", []),
            ("distributed", ["--distributed", "--workers", "2", "--redis", redis_url]),
        ):
            env = demo_env(tmp_path / name, web.port)  # type: ignore[arg-type]
            proc = subprocess.run(
                [*YIJIAN, "crawl", "--all", "--json", *extra],
                env=env,
                capture_output=True,
                text=True,
                timeout=900,
            )
            assert proc.returncode == 0, proc.stderr[-3000:]
            summaries[name] = json.loads(proc.stdout)
    finally:
        web.stop()

    def documents(name: str) -> set[tuple[str, str, str]]:
        with sqlite3.connect(tmp_path / name / "yijian.db") as conn:
            return set(
                conn.execute("SELECT canonical_url, coalesce(content_hash, ''), status FROM documents")
            )

    single, dist = summaries["single"], summaries["distributed"]
    assert documents("distributed") == documents("single") and len(documents("single")) >= 45

    # Each worker has its own trap guard (crawlers/runner.py), and a refused pattern is recorded once per guard:
    # with two workers a trap can be recorded twice. Everything fetched is the same.
    def fetched(summary: dict) -> int:
        return summary["pages"] - summary["errors_by_kind"].get("trap", 0)

    assert (fetched(dist), dist["new"], dist["documents"]) == (
        fetched(single),
        single["new"],
        single["documents"],
    ), (
        single["errors_by_kind"],
        dist["errors_by_kind"],
    )
    assert 0 < dist["errors_by_kind"].get("trap", 0) <= 2 * single["errors_by_kind"].get("trap", 0)
    assert dist["duplicates"] == 0
    assert len(dist["workers"]) == 2 and all(n > 0 for n in dist["workers"].values())


def test_two_databases_sharing_a_redis_never_share_a_frontier(tmp_path: Path) -> None:
    from app.distributed import frontier_name
    from store.db import Store

    names = []
    for n in (1, 2):
        store = Store(f"sqlite:///{tmp_path / f'db{n}.sqlite'}", tmp_path / f"blobs{n}")
        run_id = store.start_run(["s"])
        assert run_id == 1  # the same run id in both databases ...
        names.append(frontier_name(store, run_id))
        assert frontier_name(store, run_id) == names[-1]  # ... stable for hosts that join the run ...
        with pytest.raises(ValueError, match="不存在"):
            frontier_name(store, 99)
        store.close()
    assert names[0] != names[1]  # ... yet never the same frontier
