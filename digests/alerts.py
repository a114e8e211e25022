"""Threshold alerts right after a crawl: an S1 (or otherwise configured) finding, or a negative-sentiment spike of a
watched institution. Items are queued per channel under a unique key — the same item never alerts twice — and a
channel gets at most one alert message per ``min_interval``: items that arrive sooner wait, pending, for the next
flush (the next crawl, or the scheduler's delivery job), so rate-limiting never drops an alert."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from digests.build import beijing_today, document_link, load_days, spikes_for
from digests.channels import Channel, deliver
from digests.render import Message
from digests.stats import SpikeTest
from store.db import Store
from store.digests import Alerts, FlagRows

MAX_LISTED = 10


def alert_candidates(
    store: Store,
    *,
    run_id: int | None,
    severities: set[str],
    watched: set[str] | None,
    spike_test: SpikeTest,
    console_url: str,
    category_names: dict[str, str],
    now: datetime | None = None,
) -> list[tuple[str, str, dict[str, Any]]]:
    """(key, kind, payload) of every alertable item: findings of ``severities`` in versions of ``run_id`` (all of
    today's if None), and today's spikes of ``watched`` institutions (None = every institution)."""
    day = beijing_today(now)
    counts, days = load_days(store, day)
    names = {k: v["name"] or k for k, v in FlagRows(store).institutions().items()}
    out: list[tuple[str, str, dict[str, Any]]] = []
    today = counts[day]
    for (doc, category, _), f in sorted(today.findings.items()):
        row = today.flagged_docs[doc]
        if f["severity"] not in severities or (run_id is not None and row["run_id"] != run_id):
            continue
        out.append(
            (
                f"finding:{doc}:{category}",
                "finding",
                {
                    "severity": f["severity"],
                    "category": category_names.get(category, category),
                    "title": row["title"] or row["url"],
                    "institution": names.get(row["institution_id"] or "", row["institution_id"] or ""),
                    "excerpt": (f["text"] or "")[:60],
                    "link": document_link(console_url, doc),
                },
            )
        )
    for spike in spikes_for(counts, days, spike_test, watched):
        inst = spike["institution_id"]
        out.append(
            (
                f"spike:{inst}:{day.isoformat()}",
                "spike",
                {
                    **spike,
                    "institution": names.get(inst, inst),
                    "day": day.isoformat(),
                    "p_value": spike["p_value"],
                },
            )
        )
    return out


def alert_message(items: list[dict[str, Any]]) -> Message:
    findings = [i["payload"] for i in items if i["kind"] == "finding"]
    spikes = [i["payload"] for i in items if i["kind"] == "spike"]
    parts = []
    if findings:
        parts.append(f"{len(findings)} 条严重线索")
    if spikes:
        parts.append(f"{len(spikes)} 家机构负面舆情突增")
    subject = "【医鉴告警】" + "，".join(parts)
    md = [f"### {subject}"]
    txt = [subject, ""]
    for p in findings[:MAX_LISTED]:
        md.append(
            f"- **{p['severity']}** [{p['title']}]({p['link']})（{p['institution'] or '未关联机构'}；{p['category']}）"
        )
        txt.append(
            f"- {p['severity']} {p['title']}（{p['institution'] or '未关联机构'}；{p['category']}）{p['link']}"
        )
    for p in spikes[:MAX_LISTED]:
        line = f"{p['institution']} {p['day']} 负面舆情 {p['today']} 条（前 7 天共 {p['previous_7_days']} 条，P={p['p_value']:.2g}）"
        md.append(f"- **舆情突增** {line}")
        txt.append(f"- 舆情突增 {line}")
    more = max(0, len(findings) - MAX_LISTED) + max(0, len(spikes) - MAX_LISTED)
    if more:
        md.append(f"- 另有 {more} 项，详见控制台")
        txt.append(f"- 另有 {more} 项，详见控制台")
    return Message(subject=subject, text="\n".join(txt) + "\n", markdown="\n".join(md))


def queue_and_flush(
    store: Store,
    candidates: list[tuple[str, str, dict[str, Any]]],
    channels: list[Channel],
    *,
    min_interval_s: float,
    attempts: int = 3,
    backoff_s: float = 2.0,
    now: datetime | None = None,
) -> dict[str, dict[str, Any]]:
    """Queue new items on every channel (duplicates ignored) and send each channel's pending items as one message,
    unless that channel alerted less than ``min_interval_s`` ago. Returns per channel: queued, sent, status."""
    alerts = Alerts(store)
    now = now or datetime.now(UTC)
    report: dict[str, dict[str, Any]] = {}
    for channel in channels:
        queued = sum(alerts.add(key, channel.name, kind, payload) for key, kind, payload in candidates)
        pending = alerts.pending(channel.name)
        info: dict[str, Any] = {"queued": queued, "pending": len(pending), "sent": 0, "status": "idle"}
        report[channel.name] = info
        if not pending:
            continue
        last = alerts.last_sent_at(channel.name)
        if last is not None and now - last < timedelta(seconds=min_interval_s):
            info["status"] = "rate_limited"
            continue
        ref = f"{channel.name}:{pending[0]['id']}-{pending[-1]['id']}"
        result = deliver(
            store,
            kind="alert",
            ref=ref,
            message=alert_message(pending),
            channels=[channel],
            attempts=attempts,
            backoff_s=backoff_s,
        )
        info["status"] = result[channel.name]
        if result[channel.name] == "sent":
            alerts.mark_sent([p["id"] for p in pending])
            info["sent"] = len(pending)
    return report
