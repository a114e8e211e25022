"""The processing worker processes (pipelines/workers.py): a worker dies with the crawl process, a worker that dies
is replaced and its call run again (once), a call over its time budget is killed while time spent queued does not
count, the calls are stateless (a Prepared page travels back and forth); and a crawl stores the same documents
with its processing in a worker process as in the crawl process itself."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from config import Settings
from pipelines.workers import WorkerDied, WorkerPool

ROOT = Path(__file__).resolve().parents[1]


def die_once(flag: str) -> int:
    """Runs in a worker: the first call kills its process (as the OOM killer would), the next one answers."""
    if not os.path.exists(flag):
        Path(flag).write_text("died")
        os._exit(1)
    return os.getpid()


def gone(pids: list[int], within: float = 10.0) -> bool:
    deadline = time.monotonic() + within
    while any(alive(p) for p in pids) and time.monotonic() < deadline:
        time.sleep(0.1)
    return not any(alive(p) for p in pids)


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie is dead too
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except OSError:
        return False


@pytest.fixture
def pool(tmp_path: Path) -> Any:
    p = WorkerPool(Settings(data_dir=tmp_path / "data"), 1, build_processor=False)
    p.start()
    yield p
    p.close()


def test_a_worker_that_dies_is_replaced_and_the_call_run_again(pool: WorkerPool, tmp_path: Path) -> None:
    first = pool.pids()
    flag = str(tmp_path / "flag")
    pid = asyncio.run(pool.call(die_once, flag))
    assert Path(flag).exists() and pool.restarts == 1
    assert pid not in first and gone(first)
    assert asyncio.run(pool.call(os.getpid)) == pid  # the new pool goes on serving


def test_close_records_the_workers_peak_memory_summed(tmp_path: Path) -> None:
    from pipelines.workers import _fork_server_hwm_mb, _vm_hwm_mb

    pool = WorkerPool(Settings(data_dir=tmp_path / "data"), 2, build_processor=False)
    pool.start()

    async def both_busy() -> None:  # two overlapping calls: each worker has started and run one
        await asyncio.gather(pool.call(time.sleep, 1.0), pool.call(time.sleep, 1.0))

    asyncio.run(both_busy())
    pids = pool.pids()
    each = [_vm_hwm_mb(p) or 0.0 for p in pids]
    pool.close()
    assert len(pids) == 2 and gone(pids)
    assert min(each) > 5 and pool.peak_rss_mb >= sum(each) - 0.2 > max(each)
    # the processes' fork server (Linux) holds the code they share: counted too
    server = _fork_server_hwm_mb()
    assert server > 5 and pool.peak_rss_mb >= sum(each) + server - 0.2


def test_a_call_that_kills_its_worker_twice_is_an_error(pool: WorkerPool) -> None:
    with pytest.raises(WorkerDied):
        asyncio.run(pool.call(os._exit, 3))
    assert pool.restarts == 2
    assert asyncio.run(pool.call(os.getpid)) in pool.pids()


def test_over_budget_call_is_killed_but_queued_time_does_not_count(pool: WorkerPool) -> None:
    async def scenario() -> tuple[Any, Any, float]:
        # one worker: the second call waits ~2 s behind the first, longer than its own 1.5 s budget
        slow = asyncio.ensure_future(pool.call(time.sleep, 2.0))
        await asyncio.sleep(0.2)
        queued = asyncio.ensure_future(pool.call(os.getpid, timeout=1.5))
        results = await asyncio.gather(slow, queued, return_exceptions=True)
        t0 = time.monotonic()
        try:
            await pool.call(time.sleep, 60, timeout=1.0)
        except TimeoutError:
            return results[0], results[1], time.monotonic() - t0
        return results[0], results[1], -1.0

    before = pool.pids()
    slow, queued, took = asyncio.run(scenario())
    assert slow is None and isinstance(queued, int), (slow, queued)
    assert 0.9 < took < 10, took  # killed at its budget, not after the 60 s sleep
    assert pool.restarts == 1 and gone(before)
    assert asyncio.run(pool.call(os.getpid)) in pool.pids()


def test_prepare_pool_is_separate_lower_priority_and_restarts_alone(tmp_path: Path) -> None:
    """Step 1 has its own processes: a parse killed at its budget restarts them, not the model's worker; they
    run below the crawl process's priority; close counts their memory and stops them too."""
    from pipelines.workers import PREPARE_NICE

    pool = WorkerPool(Settings(data_dir=tmp_path / "data"), 1, build_processor=False, prepare_workers=1)
    pool.start()
    try:
        assert pool.prepare_pool is not None
        main, prep = pool.pids(), pool.prepare_pool.pids()
        assert len(main) == 1 and len(prep) == 1 and set(main).isdisjoint(prep)
        base = os.getpriority(os.PRIO_PROCESS, 0)
        assert asyncio.run(pool.prepare_pool.call(os.getpriority, os.PRIO_PROCESS, 0)) == base + PREPARE_NICE
        assert asyncio.run(pool.call(os.getpriority, os.PRIO_PROCESS, 0)) == base

        with pytest.raises(TimeoutError):
            asyncio.run(pool.prepare_pool.call(time.sleep, 60, timeout=1.0))
        assert pool.prepare_pool.restarts == 1 and pool.restarts == 0 and pool.total_restarts == 1
        assert gone(prep) and pool.pids() == main  # the model's worker (and its start-up) untouched
        new_prep = asyncio.run(pool.prepare_pool.call(os.getpid))
        assert new_prep not in prep
    finally:
        pool.close()
    assert gone(main + [new_prep]) and pool.peak_rss_mb > 10


def test_a_worker_dies_with_the_crawl_process(tmp_path: Path) -> None:
    code = (
        "import sys, time\n"
        "from config import Settings\n"
        "from pipelines.workers import WorkerPool\n"
        f"p = WorkerPool(Settings(data_dir={str(tmp_path / 'data')!r}), 2, build_processor=False)\n"
        "p.start()\n"
        "deadline = time.monotonic() + 60\n"
        "while len(p.pids()) < 2 and time.monotonic() < deadline:\n"
        "    time.sleep(0.1)\n"
        "print(*p.pids(), flush=True)\n"
        "time.sleep(600)\n"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    parent = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True, env=env)
    try:
        assert parent.stdout is not None
        pids = [int(x) for x in parent.stdout.readline().split()]
        assert len(pids) == 2 and all(alive(p) for p in pids)
        os.kill(parent.pid, signal.SIGKILL)  # no cleanup code runs in the parent
        parent.wait(10)
        assert gone(pids)
    finally:
        if parent.poll() is None:
            parent.kill()
            parent.wait()


@pytest.mark.e2e
def test_crawl_stores_the_same_with_worker_processes_as_in_process(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Single-process semantics: processing_workers = 0 (threads in the crawl process), = 1 with decoding and
    extraction in the analysis worker, and = 1 with them in a prepare worker of their own store the same
    documents, versions, labels, findings, raw bodies and index."""
    from app.crawl import crawl_sources
    from demo.server import DemoWeb
    from domain.sources import SourceConfig
    from store.db import Store
    from store.search.base import SearchQuery
    from store.search.factory import get_search

    web = DemoWeb()
    web.start()

    def demo_site(source_id: str, host: str, path: str, **limits: Any) -> SourceConfig:
        url = f"http://{host}:{web.port}{path}"
        return SourceConfig(id=source_id, type="site", start_urls=[url], allowed_domains=[host], **limits)

    sources = [
        demo_site("beauty-salon", "127.0.0.14", "/", depth=3, max_pages=100, institution="beauty-salon",
                  region="广东省江州市"),
        # a page whose claims exist only in an image: OCR runs in the prepare worker when there is one
        demo_site("ad-image", "127.0.0.17", "/ad-image.html", depth=0, max_pages=5),
    ]  # fmt: skip
    try:
        stores = {}
        for workers, prepare_workers in ((0, 0), (1, 0), (1, 1)):
            monkeypatch.setenv("YIJIAN_PROCESSING_WORKERS", str(workers))
            monkeypatch.setenv("YIJIAN_PREPARE_WORKERS", str(prepare_workers))
            settings = Settings(data_dir=tmp_path / f"w{workers}p{prepare_workers}")
            summary = crawl_sources(settings, sources)
            assert summary["new"] >= 5, summary
            store = Store.from_settings(settings)
            try:
                docs = {}
                for doc_id in store.all_doc_ids():
                    d = store.get_document(doc_id)
                    assert d is not None
                    docs[d["url"]] = (
                        d["content_hash"],
                        sorted(d["version"]["labels"]),
                        sorted((f["field"], f["category"], f["start"], f["end"]) for f in d["findings"]),
                        len(d["versions"]),
                        d["version"]["raw_blob"],
                    )
                    # the raw body is kept whatever process stored it (with a prepare worker, step 1 does)
                    assert store.blobs.get(d["version"]["raw_blob"]).lstrip().startswith(b"<"), d["url"]
                search = get_search(settings)
                indexed = search.doc_ids()
                # the index's segmented text comes from step 1 when it runs apart: the same words find the same pages
                found = {
                    q: sorted(h.doc_id for h in search.search(SearchQuery(text=q, size=100)).hits)
                    for q in ("水光针", "美容", "注射", "医疗美容")
                }
                stores[(workers, prepare_workers)] = (
                    docs,
                    indexed == sorted(store.all_doc_ids()),
                    store.outbox_size(),
                    found,
                )
            finally:
                store.close()
    finally:
        web.stop()
    assert stores[(0, 0)] == stores[(1, 0)] == stores[(1, 1)]
    assert stores[(1, 1)][1] and stores[(1, 1)][2] == 0
    assert any(labels for _h, labels, _f, _n, _raw in stores[(1, 1)][0].values())
    assert any(stores[(1, 1)][3].values())
    image_findings = [
        f for url, d in stores[(1, 1)][0].items() if url.endswith("/ad-image.html") for f in d[2]
    ]
    assert any(field.startswith("image:") for field, *_ in image_findings), image_findings
