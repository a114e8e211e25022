"""Use-cases of the digests package: build (and archive, and send) the daily digest, alert right after a crawl,
retry what did not get through, export the campaign statistics, and clean up old history."""

from __future__ import annotations

import logging
import shutil
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from classifiers.rules import LEXICON_DIR
from config import Settings
from digests import alerts as alerting
from digests.archive import read_archive, write_archive
from digests.build import LABEL_NAMES, beijing_today, build_digest
from digests.channels import channels_from_settings, deliver, recipient_regions, split_list
from digests.charts import digest_charts
from digests.render import digest_message
from digests.report import campaign_statistics, to_markdown, write_xlsx
from digests.stats import SpikeTest
from store.db import Store
from store.digests import Deliveries as DeliveryRepo
from store.digests import DigestArchiveRepo, JobHistory

log = logging.getLogger(__name__)


@lru_cache(maxsize=1)
def category_names() -> dict[str, str]:
    """Fine category id → Chinese name, from the rule lexicon."""
    doc = yaml.safe_load((LEXICON_DIR / "categories.yaml").read_text(encoding="utf-8")) or {}
    names = {cid: str(c.get("name") or cid) for cid, c in (doc.get("categories") or {}).items()}
    # A model-only finding carries the document label as its category.
    return {**{label: f"{name}（模型判定）" for label, name in LABEL_NAMES.items()}, **names}


def spike_test(settings: Settings) -> SpikeTest:
    return SpikeTest(min_count=settings.spike_min_count, p_value=settings.spike_p_value)


def make_digest(
    settings: Settings,
    day: date | None = None,
    *,
    region: str | None = None,
    out_dir: Path | None = None,
    send: bool = False,
) -> dict[str, Any]:
    """Build the digest of ``day`` (default: yesterday, Beijing), archive it, copy it to ``out_dir`` if given,
    and send it on the configured channels if ``send``. Returns what was done."""
    day = day or beijing_today() - timedelta(days=1)
    store = Store.from_settings(settings)
    try:
        digest = build_digest(
            store,
            day,
            console_url=settings.console_url,
            category_names=category_names(),
            region=region,
            spike_test=spike_test(settings),
        )
        charts = digest_charts(digest)
        archive_id, folder = write_archive(store, settings.data_dir, digest, charts)
        result: dict[str, Any] = {
            "day": digest["day"],
            "scope": digest["scope"],
            "archive_id": archive_id,
            "archive": str(folder),
            "totals": digest["totals"],
            "deliveries": {},
        }
        if out_dir is not None:
            out_dir.mkdir(parents=True, exist_ok=True)
            shutil.copytree(folder, out_dir, dirs_exist_ok=True)
            result["out"] = str(out_dir)
        if send:
            result["deliveries"] = _send_archived(store, settings, archive_id, digest, charts)
        return result
    finally:
        store.close()


def _send_archived(
    store: Store,
    settings: Settings,
    archive_id: int,
    digest: dict[str, Any],
    charts: dict[str, bytes],
    only: str | None = None,
) -> dict[str, str]:
    channels = channels_from_settings(settings, region=digest["scope"] or None)
    if only:
        channels = [c for c in channels if c.name == only]
    if not channels:
        log.warning(
            "digest %s: no channel configured (SMTP host and recipients, or a webhook)", digest["day"]
        )
        return {}
    return deliver(
        store,
        kind="digest",
        ref=str(archive_id),
        message=digest_message(digest, charts),
        channels=channels,
        attempts=settings.delivery_attempts,
        backoff_s=settings.delivery_backoff_s,
    )


def daily_digests(settings: Settings, day: date | None = None, *, send: bool = True) -> list[dict[str, Any]]:
    """The scheduled digest: the all-regions one, and one per region that has recipients of its own."""
    results = [make_digest(settings, day, send=send)]
    for region in recipient_regions(settings):
        results.append(make_digest(settings, day, region=region, send=send))
    return results


def retry_unsent(settings: Settings) -> dict[str, Any]:
    """Re-send digests whose delivery failed on some channel (from the archive), and flush pending alerts."""
    store = Store.from_settings(settings)
    out: dict[str, Any] = {"digests": [], "alerts": {}}
    try:
        repo = DigestArchiveRepo(store)
        for d in DeliveryRepo(store).unsent("digest"):
            archive = repo.get(int(d["ref"]))
            if archive is None or not Path(archive["path"]).is_dir():
                continue
            digest, charts = read_archive(Path(archive["path"]))
            status = _send_archived(store, settings, archive["id"], digest, charts, only=d["channel"])
            out["digests"].append({"archive_id": archive["id"], "channel": d["channel"], "status": status})
        channels = channels_from_settings(settings, alerts=True)
        if channels:
            out["alerts"] = alerting.queue_and_flush(
                store,
                [],
                channels,
                min_interval_s=settings.alert_min_interval_s,
                attempts=settings.delivery_attempts,
                backoff_s=settings.delivery_backoff_s,
            )
        return out
    finally:
        store.close()


def alert_after_run(
    settings: Settings, run_id: int | None = None, *, store: Store | None = None
) -> dict[str, Any]:
    """Queue and send the threshold alerts for a finished crawl run (de-duplicated, rate-limited per channel)."""
    if not settings.alerts_enabled:
        return {}
    channels = channels_from_settings(settings, alerts=True)
    if not channels:
        return {}
    own = store is None
    store = store or Store.from_settings(settings)
    try:
        watched = split_list(settings.alert_watch_institutions)
        candidates = alerting.alert_candidates(
            store,
            run_id=run_id,
            severities=set(split_list(settings.alert_severities)),
            watched=set(watched) if watched else None,
            spike_test=spike_test(settings),
            console_url=settings.console_url,
            category_names=category_names(),
        )
        return alerting.queue_and_flush(
            store,
            candidates,
            channels,
            min_interval_s=settings.alert_min_interval_s,
            attempts=settings.delivery_attempts,
            backoff_s=settings.delivery_backoff_s,
        )
    finally:
        if own:
            store.close()


def campaign_report(
    settings: Settings, start: date, end: date, *, region: str | None = None, out: Path | None = None
) -> dict[str, Any]:
    """The campaign statistics of ``[start, end]``; written to ``out`` (``.xlsx`` → Excel, else Markdown)."""
    store = Store.from_settings(settings)
    try:
        stats = campaign_statistics(store, start, end, region=region, category_names=category_names())
    finally:
        store.close()
    if out is not None:
        if out.suffix.lower() == ".xlsx":
            write_xlsx(stats, out)
        else:
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_text(to_markdown(stats), encoding="utf-8")
    return stats


def list_digests(settings: Settings, limit: int = 100) -> list[dict[str, Any]]:
    """Archived digests, newest first (day, scope, subject, folder, totals) — for the console."""
    store = Store.from_settings(settings)
    try:
        return DigestArchiveRepo(store).recent(limit)
    finally:
        store.close()


def report_markdown(stats: dict[str, Any]) -> str:
    return to_markdown(stats)


def cleanup(settings: Settings, now: datetime | None = None) -> dict[str, int]:
    """Drop job history, delivery attempts and archived digests older than ``retention_days``. Crawled pages and
    findings are the system of record and are never removed here."""
    now = now or datetime.now(UTC)
    before = now - timedelta(days=settings.retention_days)
    store = Store.from_settings(settings)
    try:
        jobs = JobHistory(store).prune(before)
        attempts = DeliveryRepo(store).prune(before)
        folders = DigestArchiveRepo(store).delete_before(before.date().isoformat())
    finally:
        store.close()
    for folder in folders:
        shutil.rmtree(folder, ignore_errors=True)
    return {"job_runs": jobs, "delivery_attempts": attempts, "digests": len(folders)}
