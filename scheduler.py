"""APScheduler wiring: one cron job per group of sources that share a schedule, persisted in the database.

``yijian schedule`` runs it in the foreground. Jobs are (re)registered from the source registry at start,
with ``replace_existing`` so a changed ``sources.yaml`` takes effect on restart; missed runs are coalesced into one.
"""

from __future__ import annotations

import contextlib
import logging
from collections import defaultdict
from pathlib import Path

from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.base import BaseScheduler
from apscheduler.schedulers.blocking import BlockingScheduler
from apscheduler.triggers.cron import CronTrigger

from app.crawl import crawl_sources
from app.registries import load_source_registry
from config import Settings, get_settings

log = logging.getLogger(__name__)
TIMEZONE = "Asia/Shanghai"


def crawl_job(data_dir: str, source_ids: list[str], sources_file: str | None = None) -> None:
    """A scheduled crawl run (module-level so the persistent job store can reference it)."""
    settings = get_settings(data_dir=Path(data_dir))
    sources = [
        s
        for s in load_source_registry(settings, Path(sources_file) if sources_file else None)
        if s.id in source_ids
    ]
    if not sources:
        log.warning("scheduled crawl: none of %s is in the registry any more", source_ids)
        return
    summary = crawl_sources(settings, sources)
    log.info("scheduled crawl of %s: %s pages, %s errors", source_ids, summary["pages"], summary["errors"])


def configure(scheduler: BaseScheduler, settings: Settings, sources_file: Path | None = None) -> list[str]:
    """Register one job per distinct cron schedule. Returns the job ids."""
    groups: dict[str, list[str]] = defaultdict(list)
    for source in load_source_registry(settings, sources_file):
        if source.schedule:
            groups[source.schedule].append(source.id)
    job_ids = []
    for cron, ids in sorted(groups.items()):
        job_id = "crawl:" + cron.replace(" ", "_")
        scheduler.add_job(
            crawl_job,
            CronTrigger.from_crontab(cron, timezone=TIMEZONE),
            args=[str(settings.data_dir.resolve()), sorted(ids), str(sources_file) if sources_file else None],
            id=job_id,
            name=f"抓取 {', '.join(sorted(ids))}",
            replace_existing=True,
            coalesce=True,
            max_instances=1,
            misfire_grace_time=3600,
        )
        job_ids.append(job_id)
    return job_ids


def build_scheduler(settings: Settings, *, blocking: bool = True) -> BaseScheduler:
    from apscheduler.schedulers.background import BackgroundScheduler

    cls = BlockingScheduler if blocking else BackgroundScheduler
    return cls(jobstores={"default": SQLAlchemyJobStore(url=settings.db_url)}, timezone=TIMEZONE)


def run_forever(settings: Settings, sources_file: Path | None = None) -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    scheduler = build_scheduler(settings)
    jobs = configure(scheduler, settings, sources_file)
    log.info("scheduler started with %d job(s): %s", len(jobs), ", ".join(jobs))
    with contextlib.suppress(KeyboardInterrupt, SystemExit):
        scheduler.start()
