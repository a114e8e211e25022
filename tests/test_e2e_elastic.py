"""End to end on the Elasticsearch backend: the real `yijian` CLI crawls the demo web with YIJIAN_SEARCH=elasticsearch
against osmem-server (through the test-only CompatProxy), the cluster goes away mid-crawl and comes back, and every
document ends up indexed exactly once; searches answer like the embedded backend on the same data."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

import pytest

from config import get_settings
from demo.server import DemoWeb
from store.db import Store
from tests.demo_env import YIJIAN, demo_env
from tests.osmem import CompatProxy, OsmemProcess

pytestmark = pytest.mark.e2e

PREFIX = "e2e"


def test_crawl_survives_a_search_outage_and_matches_embedded(tmp_path: Path) -> None:
    data = tmp_path / "data"
    with DemoWeb() as web, OsmemProcess() as osmem:
        proxy = CompatProxy(osmem.url)
        proxy.start()
        env = demo_env(
            data,
            web.port,
            YIJIAN_SEARCH="elasticsearch",
            YIJIAN_ES_URL=proxy.url,
            YIJIAN_ES_INDEX_PREFIX=PREFIX,
        )

        def cli(*args: str, **extra: str) -> dict:
            proc = subprocess.run(
                [*YIJIAN, *args], env={**env, **extra}, capture_output=True, text=True, timeout=300
            )
            assert proc.returncode == 0, proc.stderr[-3000:]
            return json.loads(proc.stdout) if "--json" in args else {}

        subprocess.run([*YIJIAN, "index", "install"], env=env, check=True, capture_output=True, timeout=120)
        crawl = subprocess.Popen(
            [*YIJIAN, "crawl", "--all", "--json"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        store = Store.from_settings(get_settings(data_dir=data))
        try:
            # Wait until the crawl has indexed a few documents, then take the cluster away.
            deadline = time.monotonic() + 240
            while osmem_count(osmem) < 5:
                assert crawl.poll() is None, "crawl ended before the outage could start"
                assert time.monotonic() < deadline
                time.sleep(0.2)
            proxy.stop()
            queued = 0
            outage_end = time.monotonic() + 4
            while time.monotonic() < outage_end or (queued == 0 and crawl.poll() is None):
                queued = max(queued, store.outbox_size())
                time.sleep(0.2)
            assert queued > 0, "nothing was queued while the cluster was down"
            assert crawl.poll() is None, "the outage did not happen mid-crawl"
            proxy = CompatProxy(osmem.url, port=proxy.port)  # the cluster is back, same address
            proxy.start()
            out, err = crawl.communicate(timeout=400)
            assert crawl.returncode == 0, err[-3000:]
            summary = json.loads(out)
            assert summary["new"] >= 45

            status = cli("index", "status", "--json")
            assert status["backlog"] == 0, status
            ids = [h["_id"] for h in osmem.dump(f"{PREFIX}-docs*")]
            assert len(ids) == len(set(ids)), "a document was indexed twice"
            assert set(ids) == set(store.all_doc_ids())

            # Same data in the embedded backend: same hits for the same searches.
            cli("index", "rebuild", "--json", YIJIAN_SEARCH="embedded")
            for args in (
                ["根治"],
                ["根治", "--label", "exaggerated_efficacy"],
                ["--category", "svc_non_medical_beauty"],
            ):
                es = cli("search", *args, "--size", "50", "--json")
                emb = cli("search", *args, "--size", "50", "--json", YIJIAN_SEARCH="embedded")
                assert es["total"] == emb["total"] > 0, args
                assert {h["doc_id"] for h in es["hits"]} == {h["doc_id"] for h in emb["hits"]}, args
        finally:
            if crawl.poll() is None:
                crawl.kill()
                crawl.communicate()
            store.close()
            proxy.stop()


def osmem_count(osmem: OsmemProcess) -> int:
    try:
        return len(osmem.dump(f"{PREFIX}-docs*"))
    except OSError:
        return 0
