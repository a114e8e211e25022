"""Crash tests with real processes: the `yijian crawl` CLI against the bundled demo web, SIGKILLed at known moments
between store steps (the ``YIJIAN_FAULT_KILL_AT`` hook in pipelines/process.py kills the whole process group, as a
service manager or the OOM killer would), then run again: the store must end exactly as after one clean crawl —
same documents, same labels and findings, every document indexed, no duplicate, and every killed run closed as
``interrupted``. And PostgreSQL restarted (immediate stop: every connection dropped) in the middle of a crawl: the
crawl recovers, or fails the page in flight with a recorded error; the next crawl completes the store.
docs/guarantees.md states what these tests prove."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, func, select

from config import get_settings
from demo.server import DemoWeb
from store.db import Store
from store.models import Base, DocumentVersion
from store.search.factory import get_search
from tests.demo_env import YIJIAN, demo_env

pytestmark = pytest.mark.e2e

# Two static demo sources: an advertising site (exaggerated_efficacy, unapproved_service) and a news site whose
# list pages carry negative_sentiment — 17 pages, no Chromium.
SOURCES = ("beauty-salon", "news-local")
ROOT = str(Path(__file__).resolve().parents[1])


@pytest.fixture(scope="module")
def web() -> Any:
    w = DemoWeb()
    w.start()
    yield w
    w.stop()


def crawl(web: DemoWeb, data: Path, sources: tuple[str, ...] = SOURCES, **env: str) -> subprocess.Popen[str]:
    args = [a for s in sources for a in ("--source", s)]
    e = demo_env(data, web.port or 0, PYTHONPATH=ROOT, YIJIAN_OCR_ENABLED="false", **env)
    return subprocess.Popen(
        [*YIJIAN, "crawl", *args, "--json"],
        env=e,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # its own process group: the kill hook takes the CLI and its crawl child
    )


def finish(proc: subprocess.Popen[str], timeout: float = 420) -> tuple[int, str, str]:
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, err = proc.communicate()
    return proc.returncode, out, err


def snapshot(data: Path) -> dict[str, Any]:
    """What must not differ from a clean crawl: documents with content, labels and findings; versions; index."""
    settings = get_settings(data_dir=data)
    store = Store.from_settings(settings)
    try:
        docs = {}
        for doc_id in store.all_doc_ids():
            d = store.get_document(doc_id)
            assert d is not None and d["version"] is not None
            docs[d["url"]] = (
                d["content_hash"],
                sorted(d["version"]["labels"]),
                sorted((f["category"], f["field"], f["start"], f["end"], f["source"]) for f in d["findings"]),
                len(d["versions"]),
            )
        with store._read() as s:
            unanalysed = s.scalar(
                select(func.count()).select_from(DocumentVersion).where(DocumentVersion.analyzed_at.is_(None))
            )
        indexed = get_search(settings).doc_ids()
        return {
            "docs": docs,
            "doc_ids": store.all_doc_ids(),
            "indexed": indexed,
            "outbox": store.outbox_size(),
            "unanalysed": unanalysed,
            "runs": store.list_runs(limit=50),
        }
    finally:
        store.close()


@pytest.fixture(scope="module")
def clean(web: DemoWeb, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    data = tmp_path_factory.mktemp("clean")
    rc, out, err = finish(crawl(web, data))
    assert rc == 0, err[-3000:]
    snap = snapshot(data)
    assert len(snap["docs"]) >= 15
    labels = {label for _h, labels, _f, _n in snap["docs"].values() for label in labels}
    assert {"exaggerated_efficacy", "negative_sentiment"} <= labels
    return snap


def test_sigkill_between_store_steps_loses_nothing(
    web: DemoWeb, clean: dict[str, Any], tmp_path: Path
) -> None:
    data = tmp_path / "killed"
    killed: list[str] = []
    # analysed but not yet saved; saved (version + analysis + outbox in one transaction) but not yet indexed;
    # saved and indexed (the run itself never finishes)
    for point in ("before_save:1", "after_save:3", "after_index:3"):
        rc, _out, err = finish(crawl(web, data, YIJIAN_FAULT_KILL_AT=point))
        if rc == 0:  # every remaining page went by in earlier batches: nothing left to kill at this point
            continue
        assert rc == -signal.SIGKILL, (point, rc, err[-3000:])
        killed.append(point)
    assert killed[:2] == ["before_save:1", "after_save:3"], killed
    rc, out, err = finish(crawl(web, data))
    assert rc == 0, err[-3000:]
    summary = json.loads(out)

    snap = snapshot(data)
    assert snap["docs"] == clean["docs"]  # same documents, content, labels, findings, one version each
    assert len(snap["doc_ids"]) == len(set(snap["doc_ids"])) == len(clean["docs"])  # no duplicate
    assert snap["indexed"] == sorted(snap["doc_ids"]) and snap["outbox"] == 0  # every document indexed
    assert snap["unanalysed"] == 0
    runs = {r["id"]: r for r in snap["runs"]}
    assert runs[summary["run_id"]]["status"] == "finished"
    statuses = [r["status"] for rid, r in sorted(runs.items()) if rid != summary["run_id"]]
    assert statuses == ["interrupted"] * len(killed), statuses


def test_sigkill_at_a_random_moment_loses_nothing(
    web: DemoWeb, clean: dict[str, Any], tmp_path: Path
) -> None:
    data = tmp_path / "timed"
    proc = crawl(web, data)
    time.sleep(9.0)  # somewhere in the crawl (start-up, fetching or storing, depending on the machine)
    os.killpg(proc.pid, signal.SIGKILL)
    rc, _out, _err = finish(proc)
    rc, out, err = finish(crawl(web, data))
    assert rc == 0, err[-3000:]
    snap = snapshot(data)
    assert snap["docs"] == clean["docs"]
    assert snap["indexed"] == sorted(snap["doc_ids"]) and snap["outbox"] == 0 and snap["unanalysed"] == 0
    assert all(r["status"] in ("interrupted", "finished") for r in snap["runs"])


def test_postgres_restart_mid_crawl(web: DemoWeb, clean: dict[str, Any], tmp_path: Path) -> None:
    from demo.server import find_free_port
    from tests.pgserver import PostgresServer

    server = PostgresServer(port=find_free_port())
    try:
        url = server.start()
        engine = create_engine(url)
        Base.metadata.drop_all(engine)
        engine.dispose()
        data = tmp_path / "pg"
        flag = tmp_path / "paused"
        proc = crawl(web, data, YIJIAN_DATABASE_URL=url, YIJIAN_FAULT_PAUSE_AT=f"before_save:2:{flag}")
        deadline = time.monotonic() + 300
        while not flag.exists() and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.1)
        assert flag.exists(), finish(proc)[2][-3000:]
        server.restart(down_s=2.0)  # every pooled connection of the crawl is now dead
        flag.unlink()
        rc, out, err = finish(proc)
        assert rc == 0, err[-3000:]
        first = json.loads(out)
        store = Store(url, data / "blobs")
        try:
            stored = {store.get_document(d)["url"] for d in store.all_doc_ids()}  # type: ignore[index]
            failed = {e["url"] for e in store.list_errors(run_id=first["run_id"])}
        finally:
            store.close()
        assert stored | failed >= set(clean["docs"])  # every page stored or its failure recorded
        assert len(stored) >= len(clean["docs"]) - 2, (len(stored), failed)  # it recovered, not gave up
        rc, out, err = finish(crawl(web, data, YIJIAN_DATABASE_URL=url))
        assert rc == 0, err[-3000:]
        store = Store(url, data / "blobs")
        try:
            docs = {}
            for d in store.all_doc_ids():
                doc = store.get_document(d)
                assert doc is not None
                docs[doc["url"]] = sorted(doc["version"]["labels"])
        finally:
            store.close()
        assert docs == {u: labels for u, (_h, labels, _f, _n) in clean["docs"].items()}
    finally:
        server.stop()
