"""The scheduler service (APScheduler 3.11): which jobs exist, when they fire, and a clean stop. Every job body is
an app/ use-case (app/schedule.py), recorded in the job history.

Jobs, persisted in the system-of-record database (SQLAlchemyJobStore, table ``apscheduler_jobs``):

* ``crawl:<cron>`` — one per group of sources sharing a cron schedule in sources.yaml (Asia/Shanghai); each run
  crawls in its own ``yijian crawl`` child process, since a Scrapy/Twisted reactor cannot restart in-process;
* ``digest:daily`` — yesterday's digest, sent (``digest_cron``);
* ``deliveries:retry`` — re-sends what a channel refused, flushes rate-limited alerts (every 15 minutes);
* ``cleanup:daily`` — retention of job history, delivery attempts and digest archives (``cleanup_cron``).

Sources paused in the console get no job. The jobs are synchronised with sources.yaml (and the console's edits
of it, app/registries.py) at start and whenever either changes while the service runs: jobs of
groups that disappeared are removed, new ones added, changed ones replaced — the job history is a table of its own,
keyed by job id, so it survives all of that.
"""

from __future__ import annotations

import contextlib
import logging
import signal
import threading
from collections import defaultdict
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.schedulers.base import BaseScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from app import schedule as jobs
from app.registries import load_source_registry, registry_fingerprint
from config import Settings, get_settings

log = logging.getLogger(__name__)
TIMEZONE = "Asia/Shanghai"
JOB_TABLE = "apscheduler_jobs"
RELOAD_CHECK_S = 30.0

# Set by SIGTERM/SIGINT: running jobs see it (a crawl gets schedule_stop_grace_s to finish, then is interrupted
# and recorded as such), and the service stops taking new runs.
STOP = threading.Event()

# Why these job defaults:
# * coalesce=True — after downtime, the runs missed meanwhile collapse into ONE run: crawling the same sources five
#   times in a row to "catch up" would fetch the same pages five times.
# * max_instances=1 — a crawl still running when its next time comes is not started twice: two crawls of the same
#   sources would fetch the same pages and contend for the same rows.
# * misfire_grace_time — how late a run may still start (the service was down or busy at the time). A crawl an hour
#   late is still worth doing; later than that the next regular run comes soon enough. A digest is still useful
#   12 hours late (it is about yesterday); the clean-up can run any time of the day.
CRAWL_MISFIRE_S = 3600
DIGEST_MISFIRE_S = 12 * 3600
CLEANUP_MISFIRE_S = 24 * 3600
JOB_DEFAULTS = {"coalesce": True, "max_instances": 1, "misfire_grace_time": CRAWL_MISFIRE_S}


# -- job bodies: module-level, so the persistent job store can reference them by name ----------------------------
def crawl_job(
    data_dir: str,
    source_ids: list[str],
    sources_file: str | None = None,
    job_id: str = "",
    trigger: str = "schedule",
) -> dict[str, Any]:
    """A scheduled crawl of one group of sources, in a child process."""
    settings = get_settings(data_dir=Path(data_dir))
    return jobs.run_crawl_job(
        settings,
        job_id or "crawl:" + ",".join(source_ids),
        source_ids,
        sources_file=Path(sources_file) if sources_file else None,
        trigger=trigger,
        stop=STOP,
    )


def digest_job(data_dir: str, job_id: str = "digest:daily", trigger: str = "schedule") -> dict[str, Any]:
    return jobs.run_digest_job(get_settings(data_dir=Path(data_dir)), job_id, trigger)


def retry_job(data_dir: str, job_id: str = "deliveries:retry", trigger: str = "schedule") -> dict[str, Any]:
    return jobs.run_retry_job(get_settings(data_dir=Path(data_dir)), job_id, trigger)


def cleanup_job(data_dir: str, job_id: str = "cleanup:daily", trigger: str = "schedule") -> dict[str, Any]:
    return jobs.run_cleanup_job(get_settings(data_dir=Path(data_dir)), job_id, trigger)


# -- wiring ----------------------------------------------------------------------------------------------------
def crawl_job_id(cron: str) -> str:
    return "crawl:" + cron.replace(" ", "_")


def configure(scheduler: BaseScheduler, settings: Settings, sources_file: Path | None = None) -> list[str]:
    """Synchronise the persistent jobs with sources.yaml and the settings: one crawl job per distinct cron
    schedule, the digest, retry and clean-up jobs. Crawl jobs of schedules no longer in the registry are removed.
    Returns the job ids."""
    data_dir = str(settings.data_dir.resolve())
    groups: dict[str, list[str]] = defaultdict(list)
    for source in load_source_registry(settings, sources_file):
        if source.schedule and source.enabled:  # a source paused in the console gets no scheduled crawl
            groups[source.schedule].append(source.id)
    job_ids = []
    for cron, ids in sorted(groups.items()):
        job_id = crawl_job_id(cron)
        scheduler.add_job(
            crawl_job,
            CronTrigger.from_crontab(cron, timezone=TIMEZONE),
            args=[data_dir, sorted(ids), str(sources_file) if sources_file else None],
            kwargs={"job_id": job_id},
            id=job_id,
            name=f"抓取 {', '.join(sorted(ids))}",
            replace_existing=True,
            misfire_grace_time=CRAWL_MISFIRE_S,
        )
        job_ids.append(job_id)
    for job in scheduler.get_jobs(jobstore="default"):
        if job.id.startswith("crawl:") and job.id not in job_ids:
            log.info("sources.yaml no longer schedules %s: job removed (its history is kept)", job.id)
            job.remove()
    fixed = (
        (
            "digest:daily",
            digest_job,
            CronTrigger.from_crontab(settings.digest_cron, timezone=TIMEZONE),
            "每日日报",
            DIGEST_MISFIRE_S,
        ),
        (
            "deliveries:retry",
            retry_job,
            IntervalTrigger(minutes=15, timezone=TIMEZONE),
            "重发失败的日报、发送积压告警",
            600,
        ),
        (
            "cleanup:daily",
            cleanup_job,
            CronTrigger.from_crontab(settings.cleanup_cron, timezone=TIMEZONE),
            "清理过期记录",
            CLEANUP_MISFIRE_S,
        ),
    )
    for job_id, func, trigger, name, misfire in fixed:
        scheduler.add_job(
            func,
            trigger,
            args=[data_dir],
            kwargs={"job_id": job_id},
            id=job_id,
            name=name,
            replace_existing=True,
            misfire_grace_time=misfire,
        )
        job_ids.append(job_id)
    return job_ids


def build_scheduler(settings: Settings) -> BaseScheduler:
    """A scheduler whose jobs live in the system-of-record database. A background scheduler: the service's main
    thread waits for a stop signal and watches sources.yaml."""
    return BackgroundScheduler(
        jobstores={"default": SQLAlchemyJobStore(url=settings.db_url, tablename=JOB_TABLE)},
        # Each crawl is a child process; a few threads let crawl groups and the digest run side by side.
        executors={"default": ThreadPoolExecutor(max_workers=3)},
        job_defaults=JOB_DEFAULTS,
        timezone=TIMEZONE,
    )


@contextlib.contextmanager
def paused(settings: Settings) -> Iterator[BaseScheduler]:
    """A scheduler over the job store that runs nothing (to read or register jobs)."""
    scheduler = build_scheduler(settings)
    scheduler.start(paused=True)
    try:
        yield scheduler
    finally:
        scheduler.shutdown(wait=False)


def _fingerprint(settings: Settings, sources_file: Path | None) -> str:
    """Changes with sources.yaml and with the console's edits of sources (pause, schedule, added sources)."""
    return registry_fingerprint(settings, sources_file)


@contextlib.contextmanager
def stop_on_signals() -> Iterator[threading.Event]:
    """SIGTERM and SIGINT set :data:`STOP` instead of killing the process."""
    STOP.clear()
    previous = {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGINT)}

    def handler(signum: int, _frame: Any) -> None:
        log.info("received %s: finishing what is running, then stopping", signal.Signals(signum).name)
        STOP.set()

    for sig in previous:
        signal.signal(sig, handler)
    try:
        yield STOP
    finally:
        for sig, h in previous.items():
            signal.signal(sig, h)


def run_service(
    settings: Settings, sources_file: Path | None = None, *, reload_check_s: float = RELOAD_CHECK_S
) -> None:
    """``yijian schedule run``: the foreground service, until SIGTERM/SIGINT. On stop, no new run starts; a crawl
    in flight gets ``schedule_stop_grace_s`` to finish, else it is interrupted and recorded as such."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    with stop_on_signals() as stop:
        orphans = jobs.close_orphan_job_runs(settings)
        if orphans:
            log.info("%d job run(s) of a previous scheduler recorded as interrupted", orphans)
        scheduler = build_scheduler(settings)
        scheduler.start(paused=True)
        ids = configure(scheduler, settings, sources_file)
        fingerprint = _fingerprint(settings, sources_file)
        scheduler.resume()
        log.info("scheduler started with %d job(s): %s", len(ids), ", ".join(ids))
        try:
            while not stop.wait(reload_check_s):
                current = _fingerprint(settings, sources_file)
                if current != fingerprint:
                    fingerprint = current
                    try:
                        ids = configure(scheduler, settings, sources_file)
                        log.info("sources.yaml changed: jobs now %s", ", ".join(ids))
                    except Exception:  # a broken edit must not stop the service; the old jobs stay
                        log.exception(
                            "sources.yaml changed but could not be loaded; keeping the current jobs"
                        )
        finally:
            scheduler.pause()
            scheduler.shutdown(wait=True)  # waits for running jobs, which honour STOP
        log.info("scheduler stopped")


# Kept for callers of the earlier API.
run_forever = run_service


def list_jobs(settings: Settings, sources_file: Path | None = None) -> list[dict[str, Any]]:
    """Every persistent job with its next run time and its latest recorded run."""
    with paused(settings) as scheduler:
        configure(scheduler, settings, sources_file)
        scheduled = scheduler.get_jobs(jobstore="default")
        rows = [
            {
                "id": j.id,
                "name": j.name,
                "trigger": describe_trigger(j.trigger),
                "next_run_time": _iso(j.next_run_time),
            }
            for j in scheduled
        ]
    last = jobs.last_job_runs(settings)
    for row in rows:
        row["last_run"] = last.get(row["id"])
    return sorted(rows, key=lambda r: r["id"])


def run_now(settings: Settings, job_id: str, sources_file: Path | None = None) -> dict[str, Any]:
    """Run one job now, in the foreground, recorded as ``run-now`` (SIGTERM handled as in the service)."""
    aliases = {"digest": "digest:daily", "cleanup": "cleanup:daily", "retry": "deliveries:retry"}
    job_id = aliases.get(job_id, job_id)
    with paused(settings) as scheduler:
        configure(scheduler, settings, sources_file)
        job = scheduler.get_job(job_id)
        if job is None:
            known = ", ".join(sorted(j.id for j in scheduler.get_jobs(jobstore="default")))
            raise KeyError(f"没有作业 {job_id}（现有：{known}）")
        func, args, kwargs = job.func, list(job.args), dict(job.kwargs)
    with stop_on_signals():
        return func(*args, **{**kwargs, "trigger": "run-now"})


def describe_trigger(trigger: Any) -> str:
    """A crontab line for a cron trigger, "每 N 分钟" for an interval."""
    if isinstance(trigger, CronTrigger):
        f = {field.name: str(field) for field in trigger.fields}
        return " ".join(f[n] for n in ("minute", "hour", "day", "month", "day_of_week"))
    if isinstance(trigger, IntervalTrigger):
        return f"每 {int(trigger.interval.total_seconds() // 60)} 分钟"
    return str(trigger)


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None
