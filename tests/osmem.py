"""Test helper: an ``osmem-server`` process (in-memory ES/OpenSearch-compatible server, PyPI ``osmem-server``)
and an Elasticsearch client transport that speaks plain ``application/json`` to it.

The official client sends ``application/vnd.elasticsearch+json; compatible-with=8``, which osmem answers with
406; ``PlainJSONNode`` rewrites it here, in the tests only. Production code talks to real Elasticsearch 8.
"""

from __future__ import annotations

import json
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from elastic_transport import Urllib3HttpNode


def osmem_binary() -> Path:
    """The ``osmem-server`` binary bundled in the ``osmem_server`` wheel."""
    from osmem_server import resolve_binary

    return Path(resolve_binary())


class PlainJSONNode(Urllib3HttpNode):
    """Urllib3 node that turns the client's compatibility media types back into plain JSON / NDJSON."""

    def perform_request(
        self, method: str, target: str, body: bytes | None = None, headers: Any = None, **kw: Any
    ):
        if headers is not None:
            headers = headers.copy()
            for name in ("accept", "content-type"):
                value = headers.get(name)
                if value and "vnd.elasticsearch+" in value:
                    headers[name] = value.replace("vnd.elasticsearch+", "").split(";")[0].strip()
        return super().perform_request(method, target, body=body, headers=headers, **kw)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class OsmemProcess:
    """One osmem-server process on a fixed port (so a test can stop it and start it again on the same URL)."""

    def __init__(self, port: int | None = None) -> None:
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen[str] | None = None

    def start(self, timeout: float = 20.0) -> str:
        args = [str(osmem_binary()), "--addr", f"127.0.0.1:{self.port}", "--no-ja", "--no-stdin-watch"]
        self.proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, text=True)
        ready: list[dict[str, Any]] = []

        def read() -> None:
            assert self.proc is not None and self.proc.stdout is not None
            for line in self.proc.stdout:
                try:
                    ready.append(json.loads(line))
                    return
                except ValueError:
                    continue

        reader = threading.Thread(target=read, daemon=True)
        reader.start()
        reader.join(timeout)
        if not ready:
            self.stop()
            raise RuntimeError(f"osmem-server did not start on port {self.port} within {timeout} s")
        # The announce line comes once the listener is up; confirm with a request.
        deadline = time.monotonic() + timeout
        while True:
            try:
                with urllib.request.urlopen(self.url, timeout=2) as resp:
                    if resp.status == 200:
                        return self.url
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    def stop(self) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(timeout=10)
        if self.proc.stdout:
            self.proc.stdout.close()
        self.proc = None

    def dump(self, pattern: str) -> list[dict[str, Any]]:
        """Every document of the indices matching ``pattern`` (``_index``, ``_id``, ``_source``): with ``load`` it
        lets a test restart this in-memory server the way a real cluster restarts, data kept."""
        body = {"query": {"match_all": {}}, "size": 10000}
        res = _http("POST", f"{self.url}/{pattern}/_search", body)
        return [
            {"_index": h["_index"], "_id": h["_id"], "_source": h["_source"]} for h in res["hits"]["hits"]
        ]

    def load(self, docs: list[dict[str, Any]]) -> None:
        """Bulk-load documents from ``dump`` back into their indices (which must exist), refreshed."""
        if not docs:
            return
        lines = []
        for d in docs:
            lines.append(json.dumps({"index": {"_index": d["_index"], "_id": d["_id"]}}))
            lines.append(json.dumps(d["_source"], ensure_ascii=False))
        res = _http("POST", f"{self.url}/_bulk?refresh=true", "\n".join(lines) + "\n", ndjson=True)
        if res.get("errors"):
            raise RuntimeError(f"osmem load failed: {res}")

    def __enter__(self) -> OsmemProcess:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _http(method: str, url: str, body: Any, ndjson: bool = False) -> dict[str, Any]:
    data = (body if isinstance(body, str) else json.dumps(body, ensure_ascii=False)).encode()
    kind = "application/x-ndjson" if ndjson else "application/json"
    req = urllib.request.Request(url, data=data, method=method, headers={"Content-Type": kind})
    with urllib.request.urlopen(req, timeout=30) as resp:
        return json.loads(resp.read().decode())


def es_settings(url: str, prefix: str, data_dir: Path):
    """Settings for an ElasticSearch backend on ``url`` with index prefix ``prefix``."""
    from config import Settings

    return Settings(data_dir=data_dir, search="elasticsearch", es_url=url, es_index_prefix=prefix)


def es_backend(url: str, prefix: str, data_dir: Path, **kw: Any):
    """An ElasticSearch backend for osmem: plain-JSON transport, immediate refresh, few retries (fast outages)."""
    from store.search.elastic import ElasticSearch

    options: dict[str, Any] = {"node_class": PlainJSONNode, "max_retries": 1, "request_timeout": 5}
    options.update(kw)
    return ElasticSearch(es_settings(url, prefix, data_dir), refresh=True, **options)


class CompatProxy:
    """Test-only HTTP proxy in front of osmem that does what ``PlainJSONNode`` does, for processes the test does not
    construct (the ``yijian`` CLI and its crawl child use the production client unchanged). Stopping the proxy is
    also how a test takes "the cluster" away mid-crawl while osmem keeps its data, like a real cluster restart."""

    _HOP = {"connection", "keep-alive", "transfer-encoding", "content-length", "host"}

    def __init__(self, upstream: str, port: int | None = None) -> None:
        self.upstream = upstream.rstrip("/")
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._server: Any = None

    def start(self) -> str:
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        upstream = self.upstream
        hop = self._HOP

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def _forward(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
                headers = {}
                for name, value in self.headers.items():
                    if name.lower() in hop:
                        continue
                    if name.lower() in ("accept", "content-type") and "vnd.elasticsearch+" in value:
                        value = value.replace("vnd.elasticsearch+", "").split(";")[0].strip()
                    headers[name] = value
                req = urllib.request.Request(
                    upstream + self.path, data=body, method=self.command, headers=headers
                )
                try:
                    with urllib.request.urlopen(req, timeout=60) as resp:
                        status, rheaders, data = resp.status, resp.headers.items(), resp.read()
                except urllib.error.HTTPError as err:
                    status, rheaders, data = err.code, err.headers.items(), err.read()
                self.send_response(status)
                for name, value in rheaders:
                    if name.lower() not in hop:
                        self.send_header(name, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(data)

            do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = _forward

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self.url

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
