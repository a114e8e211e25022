"""The scheduler: one persistent job per cron schedule plus the digest, retry and clean-up jobs; a changed
sources.yaml is picked up without losing job history; a job that really fires crawls the demo web in a child
process; jobs and history survive a restart; SIGTERM during a crawl leaves no half-written run."""

from __future__ import annotations

import datetime as dt
import os
import signal
import sqlite3
import subprocess
import time
from pathlib import Path

import pytest
import yaml
from apscheduler.triggers.interval import IntervalTrigger

from app.schedule import job_history
from config import get_settings
from demo.server import DemoWeb
from scheduler import build_scheduler, configure, crawl_job, list_jobs, paused
from store.db import Store
from store.digests import JobHistory
from tests.demo_env import DEMO_DIR, YIJIAN, demo_env

FIXED = ["digest:daily", "deliveries:retry", "cleanup:daily"]


def _sources(tmp_path: Path, crons: list[str], name: str = "sources.yaml") -> Path:
    path = tmp_path / name
    entries = [
        {"id": f"s{i}", "type": "site", "start_urls": [f"http://127.0.0.1:9/{i}"], "schedule": cron}
        for i, cron in enumerate(crons)
    ]
    path.write_text(yaml.safe_dump({"sources": entries}, allow_unicode=True), encoding="utf-8")
    return path


def test_one_persistent_job_per_schedule(tmp_path: Path) -> None:
    settings = get_settings(data_dir=tmp_path / "data")
    sources = _sources(tmp_path, ["0 */6 * * *", "0 */6 * * *", "30 2 * * *"])
    sched = build_scheduler(settings)
    sched.start(paused=True)
    try:
        ids = configure(sched, settings, sources)
        assert ids == ["crawl:0_*/6_*_*_*", "crawl:30_2_*_*_*", *FIXED]
        job = sched.get_job("crawl:0_*/6_*_*_*")
        assert job.func is crawl_job
        assert job.args[1] == ["s0", "s1"]
        # Set on purpose (see scheduler.py): catch-up runs collapse into one, never two at once, bounded lateness.
        assert job.coalesce is True and job.max_instances == 1 and job.misfire_grace_time == 3600
        # Registering again (a restart) replaces, never duplicates.
        configure(sched, settings, sources)
        assert len(sched.get_jobs()) == 5
    finally:
        sched.shutdown(wait=False)

    # The job store is the database: a new scheduler process sees the jobs and their next run times.
    again = build_scheduler(settings)
    again.start(paused=True)
    try:
        jobs = {j.id: j for j in again.get_jobs()}
        assert set(jobs) == {"crawl:0_*/6_*_*_*", "crawl:30_2_*_*_*", *FIXED}
        nxt = jobs["crawl:30_2_*_*_*"].next_run_time
        assert (nxt.hour, nxt.minute) == (2, 30) and str(nxt.tzinfo) == "Asia/Shanghai"
        digest_next = jobs["digest:daily"].next_run_time
        assert (digest_next.hour, digest_next.minute) == (8, 0)
    finally:
        again.shutdown(wait=False)


def test_source_without_schedule_gets_no_job(tmp_path: Path) -> None:
    settings = get_settings(data_dir=tmp_path / "data")
    path = tmp_path / "sources.yaml"
    path.write_text(
        yaml.safe_dump(
            {"sources": [{"id": "manual", "start_urls": ["http://127.0.0.1:9/"], "schedule": None}]}
        ),
        encoding="utf-8",
    )
    with paused(settings) as sched:
        assert configure(sched, settings, path) == FIXED


def test_changed_sources_yaml_keeps_job_history(tmp_path: Path) -> None:
    settings = get_settings(data_dir=tmp_path / "data")
    path = _sources(tmp_path, ["0 3 * * *", "0 4 * * *"])
    with paused(settings) as sched:
        configure(sched, settings, path)
    store = Store.from_settings(settings)
    history = JobHistory(store)
    for job_id in ("crawl:0_3_*_*_*", "crawl:0_4_*_*_*"):
        history.finish(history.start(job_id), "ok", {"pages": 7})
    store.close()

    # s1 moves from 04:00 to 05:00, a new source joins 03:00.
    path.write_text(
        yaml.safe_dump(
            {
                "sources": [
                    {"id": "s0", "start_urls": ["http://127.0.0.1:9/0"], "schedule": "0 3 * * *"},
                    {"id": "s1", "start_urls": ["http://127.0.0.1:9/1"], "schedule": "0 5 * * *"},
                    {"id": "s2", "start_urls": ["http://127.0.0.1:9/2"], "schedule": "0 3 * * *"},
                ]
            }
        ),
        encoding="utf-8",
    )
    rows = {r["id"]: r for r in list_jobs(settings, path)}
    assert set(rows) == {"crawl:0_3_*_*_*", "crawl:0_5_*_*_*", *FIXED}
    assert rows["crawl:0_3_*_*_*"]["name"] == "抓取 s0, s2"
    assert rows["crawl:0_3_*_*_*"]["last_run"]["status"] == "ok"  # history kept across the change
    assert rows["crawl:0_5_*_*_*"]["last_run"] is None
    assert rows["crawl:0_3_*_*_*"]["trigger"] == "0 3 * * *"
    # The removed job's history stays in the table.
    assert [r["status"] for r in job_history(settings, "crawl:0_4_*_*_*")] == ["ok"]


@pytest.fixture(scope="module")
def web():
    web = DemoWeb()
    web.start()
    yield web
    web.stop()


def _demo_settings(tmp_path: Path, port: int, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("YIJIAN_DEMO_PORT", str(port))
    monkeypatch.setenv("YIJIAN_SOURCES_FILE", str(DEMO_DIR / "sources.yaml"))
    monkeypatch.setenv("YIJIAN_INSTITUTIONS_FILE", str(DEMO_DIR / "institutions.yaml"))
    return get_settings(data_dir=tmp_path / "data")


def _runs(data: Path) -> list[tuple[int, str]]:
    with sqlite3.connect(data / "yijian.db") as db:
        return db.execute("select id, status from crawl_runs order by id").fetchall()


@pytest.mark.e2e
def test_a_scheduled_job_fires_and_crawls_in_a_child_process(
    tmp_path: Path, web: DemoWeb, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = _demo_settings(tmp_path, web.port, monkeypatch)
    data_dir = str(settings.data_dir.resolve())
    sched = build_scheduler(settings)
    sched.start()
    try:
        configured = configure(sched, settings)  # the demo registry's cron jobs, next to the test's job
        now = dt.datetime.now(dt.UTC)
        # A short interval that fires exactly once (the end date is before the second firing).
        sched.add_job(
            crawl_job,
            IntervalTrigger(seconds=2, start_date=now, end_date=now + dt.timedelta(seconds=3)),
            args=[data_dir, ["gbk-clinic"], None],
            kwargs={"job_id": "crawl:test"},
            id="crawl:test",
            name="抓取 gbk-clinic",
        )
        deadline = time.monotonic() + 240
        runs: list[dict] = []
        while time.monotonic() < deadline:
            runs = job_history(settings, "crawl:test")
            if runs and runs[0]["status"] != "running":
                break
            time.sleep(1)
    finally:
        sched.shutdown(wait=True)
    assert len(runs) == 1, runs
    (run,) = runs
    assert run["status"] == "ok", run
    assert run["trigger"] == "schedule" and run["detail"]["exit_code"] == 0
    assert run["detail"]["pid"] == os.getpid()  # the scheduler process recorded it …
    run_id = run["detail"]["run_id"]
    assert run["detail"]["pages"] > 0
    assert _runs(settings.data_dir) == [(run_id, "finished")]  # … the crawl itself ran in a child
    store = Store.from_settings(settings)
    try:
        assert store.stats()["documents_by_source"].get("gbk-clinic", 0) > 0
    finally:
        store.close()

    # Jobs and history survive a restart of the scheduler (the job store and the history are in the database).
    # (The one-shot test job is gone once its trigger has ended, as APScheduler does.)
    with paused(settings) as again:
        survived = {j.id: j.next_run_time for j in again.get_jobs()}
    assert set(survived) == set(configured) and all(survived.values())
    assert [r["status"] for r in job_history(settings, "crawl:test")] == ["ok"]


def _start_run_now(tmp_path: Path, port: int, grace: str) -> tuple[subprocess.Popen[str], Path]:
    data = tmp_path / "data"
    env = demo_env(data, port, YIJIAN_SCHEDULE_STOP_GRACE_S=grace)
    proc = subprocess.Popen(
        [*YIJIAN, "schedule", "run-now", "crawl:0_4_*_*_*", "--json"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if (data / "yijian.db").exists():
            try:
                if any(status == "running" for _, status in _runs(data)):
                    return proc, data
            except sqlite3.OperationalError:
                pass
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.2)
    proc.kill()
    raise AssertionError("the crawl never started")


@pytest.mark.e2e
def test_sigterm_during_a_crawl_interrupts_it_cleanly(tmp_path: Path, web: DemoWeb) -> None:
    proc, data = _start_run_now(tmp_path, web.port, grace="0")
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 1, err[-2000:]  # the job did not succeed …
    runs = _runs(data)
    assert len(runs) == 1 and runs[0][1] == "interrupted"  # … and its crawl run is closed, not left running
    with sqlite3.connect(data / "yijian.db") as db:
        (finished_at,) = db.execute("select finished_at from crawl_runs").fetchone()
        jobs = db.execute("select job_id, trigger, status, finished_at from job_runs").fetchall()
    assert finished_at is not None
    assert len(jobs) == 1 and jobs[0][:3] == ("crawl:0_4_*_*_*", "run-now", "interrupted") and jobs[0][3]
    assert '"crawl_runs_interrupted"' in out


@pytest.mark.e2e
def test_sigterm_with_grace_lets_the_crawl_finish(tmp_path: Path, web: DemoWeb) -> None:
    proc, data = _start_run_now(tmp_path, web.port, grace="300")
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err[-2000:]
    assert [status for _, status in _runs(data)] == ["finished"]
    assert '"status": "ok"' in out


def test_the_service_stops_on_sigterm_and_closes_orphaned_runs(tmp_path: Path) -> None:
    data = tmp_path / "data"
    sources = _sources(tmp_path, ["0 3 * * *"])
    settings = get_settings(data_dir=data)
    store = Store.from_settings(settings)
    history = JobHistory(store)
    orphan = history.start("crawl:0_3_*_*_*", detail={"pid": 2**22 + 12345})  # a process that is gone
    store.close()
    env = {**os.environ, "YIJIAN_DATA_DIR": str(data), "YIJIAN_SOURCES_FILE": str(sources)}
    proc = subprocess.Popen([*YIJIAN, "schedule"], env=env, stderr=subprocess.PIPE, text=True)  # bare = run
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            rows = {r["id"]: r for r in job_history(settings)}
            with sqlite3.connect(data / "yijian.db") as db:
                tables = {t for (t,) in db.execute("select name from sqlite_master where type='table'")}
                jobs = (
                    db.execute("select count(*) from apscheduler_jobs").fetchone()[0]
                    if "apscheduler_jobs" in tables
                    else 0
                )
            if rows[orphan]["status"] == "interrupted" and jobs == 4:
                break
            time.sleep(0.3)
        assert rows[orphan]["status"] == "interrupted" and jobs == 4
        t0 = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err[-2000:]
    assert time.monotonic() - t0 < 15 and "scheduler stopped" in err


def test_the_running_service_picks_up_a_changed_sources_yaml(tmp_path: Path) -> None:
    import threading

    import scheduler

    settings = get_settings(data_dir=tmp_path / "data")
    path = _sources(tmp_path, ["0 3 * * *"])

    def edit_then_stop() -> None:
        time.sleep(1.5)
        _sources(tmp_path, ["0 3 * * *", "45 23 * * *"])
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            with paused(settings) as s:
                if s.get_job("crawl:45_23_*_*_*") is not None:
                    break
            time.sleep(0.3)
        scheduler.STOP.set()

    editor = threading.Thread(target=edit_then_stop)
    editor.start()
    scheduler.run_service(settings, path, reload_check_s=0.3)  # returns once STOP is set
    editor.join()
    with paused(settings) as s:
        ids = {j.id for j in s.get_jobs()}
    assert ids == {"crawl:0_3_*_*_*", "crawl:45_23_*_*_*", *FIXED}


def test_digest_job_run_now_sends_and_is_recorded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from scheduler import run_now
    from tests.digest_support import Receiver, at, finding, save_page

    settings = get_settings(data_dir=tmp_path / "data")
    yesterday = dt.datetime.now(dt.UTC).astimezone(dt.timezone(dt.timedelta(hours=8))).date() - dt.timedelta(
        days=1
    )
    store = Store.from_settings(settings)
    save_page(
        store,
        "http://h.test/cell",
        at(yesterday),
        labels=["unapproved_service"],
        findings=[finding("svc_unapproved_cell_gene_therapy", "unapproved_service", "S1", "干细胞回输")],
    )
    store.close()
    path = _sources(tmp_path, ["0 3 * * *"])
    with Receiver() as rx:
        monkeypatch.setenv("YIJIAN_DINGTALK_WEBHOOK", rx.url("/robot/send?access_token=t"))
        result = run_now(get_settings(data_dir=settings.data_dir), "digest", path)
    assert result["status"] == "ok" and result["job_id"] == "digest:daily"
    assert result["detail"]["digests"][0]["day"] == yesterday.isoformat()
    assert result["detail"]["digests"][0]["deliveries"] == {"dingtalk": "sent"}
    (msg,) = rx.requests
    assert f"医鉴监测日报 {yesterday.isoformat()}" in msg.body["markdown"]["text"]
    (row,) = job_history(settings, "digest:daily")
    assert row["trigger"] == "run-now" and row["status"] == "ok"
    with pytest.raises(KeyError):
        run_now(settings, "crawl:nope", path)


def test_cleanup_drops_old_history_and_archives_only(tmp_path: Path) -> None:
    from app.digest import cleanup, make_digest

    settings = get_settings(data_dir=tmp_path / "data", retention_days=30)
    old_day = dt.date(2026, 1, 1)
    made = make_digest(settings, old_day)
    store = Store.from_settings(settings)
    history = JobHistory(store)
    history.finish(history.start("crawl:x"), "ok")
    store.close()
    result = cleanup(settings, now=dt.datetime(2026, 3, 1, tzinfo=dt.UTC))
    assert result == {"job_runs": 0, "delivery_attempts": 0, "digests": 1}  # the job run is recent (real now)
    assert not Path(made["archive"]).exists()
    assert [r["status"] for r in job_history(settings, "crawl:x")] == ["ok"]
    later = cleanup(settings, now=dt.datetime.now(dt.UTC) + dt.timedelta(days=31))
    assert later["job_runs"] == 1 and job_history(settings, "crawl:x") == []
