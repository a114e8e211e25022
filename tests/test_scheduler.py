from __future__ import annotations

from pathlib import Path

import yaml

from config import get_settings
from scheduler import build_scheduler, configure, crawl_job


def _sources(tmp_path: Path, crons: list[str]) -> Path:
    path = tmp_path / "sources.yaml"
    entries = [
        {"id": f"s{i}", "type": "site", "start_urls": [f"http://127.0.0.1:9/{i}"], "schedule": cron}
        for i, cron in enumerate(crons)
    ]
    path.write_text(yaml.safe_dump({"sources": entries}, allow_unicode=True), encoding="utf-8")
    return path


def test_one_persistent_job_per_schedule(tmp_path: Path) -> None:
    settings = get_settings(data_dir=tmp_path / "data")
    sources = _sources(tmp_path, ["0 */6 * * *", "0 */6 * * *", "30 2 * * *"])
    sched = build_scheduler(settings, blocking=False)
    sched.start(paused=True)
    try:
        ids = configure(sched, settings, sources)
        assert ids == ["crawl:0_*/6_*_*_*", "crawl:30_2_*_*_*"]
        job = sched.get_job("crawl:0_*/6_*_*_*")
        assert job.func is crawl_job
        assert job.args[1] == ["s0", "s1"]
        # Registering again (a restart) replaces, never duplicates.
        configure(sched, settings, sources)
        assert len(sched.get_jobs()) == 2
    finally:
        sched.shutdown(wait=False)

    # The job store is the database: a new scheduler process sees the jobs and their next run times.
    again = build_scheduler(settings, blocking=False)
    again.start(paused=True)
    try:
        jobs = {j.id: j for j in again.get_jobs()}
        assert set(jobs) == {"crawl:0_*/6_*_*_*", "crawl:30_2_*_*_*"}
        nxt = jobs["crawl:30_2_*_*_*"].next_run_time
        assert (nxt.hour, nxt.minute) == (2, 30) and str(nxt.tzinfo) == "Asia/Shanghai"
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
    sched = build_scheduler(settings, blocking=False)
    sched.start(paused=True)
    try:
        assert configure(sched, settings, path) == []
    finally:
        sched.shutdown(wait=False)
