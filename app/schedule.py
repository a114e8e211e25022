"""Use-cases the scheduler runs, each recorded in the job history: a crawl of a group of sources in its own
``yijian crawl`` child process (a Scrapy/Twisted reactor cannot be restarted in-process), the daily digest, the
retry of undelivered messages, and the retention clean-up; plus reading the job history."""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from config import Settings
from store.db import Store
from store.digests import JobHistory

log = logging.getLogger(__name__)
POLL_S = 0.5


def _pid_alive(pid: Any) -> bool:
    if not isinstance(pid, int) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def close_orphan_job_runs(settings: Settings) -> int:
    """Job runs left ``running`` by a process that no longer exists are recorded as interrupted."""
    store = Store.from_settings(settings)
    try:
        history = JobHistory(store)
        n = 0
        for run in history.recent(limit=1000):
            if run["status"] == "running" and not _pid_alive((run["detail"] or {}).get("pid")):
                history.finish(run["id"], "interrupted", {"reason": "进程已不存在（调度器异常退出）"})
                n += 1
        return n
    finally:
        store.close()


def recorded(
    settings: Settings,
    job_id: str,
    trigger: str,
    body: Callable[[dict[str, Any]], tuple[str, dict[str, Any]]],
) -> dict[str, Any]:
    """Run ``body`` as job ``job_id``: a history row is opened first and closed with the status and detail
    ``body`` returns (``failed`` with the error if it raises)."""
    store = Store.from_settings(settings)
    history = JobHistory(store)
    run_id = history.start(job_id, trigger, {"pid": os.getpid()})
    context: dict[str, Any] = {"started_at": datetime.now(UTC)}
    try:
        status, detail = body(context)
    except BaseException as exc:
        history.finish(run_id, "failed", {"error": f"{type(exc).__name__}: {exc}"[:2000]})
        store.close()
        raise
    history.finish(run_id, status, detail)
    store.close()
    return {"job_id": job_id, "job_run_id": run_id, "status": status, "detail": detail}


def crawl_command(settings: Settings, source_ids: list[str], sources_file: Path | None) -> list[str]:
    cmd = [
        sys.executable,
        "-m",
        "console.cli",
        "crawl",
        "--json",
        "--data-dir",
        str(settings.data_dir.resolve()),
    ]
    if sources_file:
        cmd += ["--sources-file", str(sources_file)]
    for sid in source_ids:
        cmd += ["--source", sid]
    return cmd


def run_crawl_job(
    settings: Settings,
    job_id: str,
    source_ids: list[str],
    *,
    sources_file: Path | None = None,
    trigger: str = "schedule",
    stop: threading.Event | None = None,
    grace_s: float | None = None,
) -> dict[str, Any]:
    """Crawl ``source_ids`` in a child ``yijian crawl`` process. If ``stop`` is set meanwhile (SIGTERM), the crawl
    gets ``grace_s`` seconds to finish; after that its process group is terminated and its crawl run recorded as
    ``interrupted`` — never left half-written as ``running``."""
    stop = stop or threading.Event()
    grace = settings.schedule_stop_grace_s if grace_s is None else grace_s

    def body(ctx: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        env = {**os.environ, "YIJIAN_DATA_DIR": str(settings.data_dir.resolve())}
        cmd = crawl_command(settings, source_ids, sources_file)
        t0 = time.monotonic()
        with subprocess.Popen(
            cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True
        ) as proc:
            out: list[str] = []
            err: list[str] = []
            readers = [
                threading.Thread(target=lambda: out.append(proc.stdout.read()), daemon=True),  # type: ignore[union-attr]
                threading.Thread(target=lambda: err.append(proc.stderr.read()), daemon=True),  # type: ignore[union-attr]
            ]
            for r in readers:
                r.start()
            stopped_at: float | None = None
            interrupted = False
            while proc.poll() is None:
                if stop.is_set() and stopped_at is None:
                    stopped_at = time.monotonic()
                    log.info("%s: stop requested; the crawl gets %.0f s to finish", job_id, grace)
                if stopped_at is not None and time.monotonic() - stopped_at >= grace:
                    interrupted = True
                    _terminate_group(proc)
                    break
                time.sleep(POLL_S)
            proc.wait()
            for r in readers:
                r.join(10)
        detail: dict[str, Any] = {
            "sources": source_ids,
            "exit_code": proc.returncode,
            "seconds": round(time.monotonic() - t0, 2),
        }
        if proc.returncode == 0 and not interrupted:
            try:
                summary = json.loads("".join(out))
            except ValueError:
                summary = {}
            detail.update(
                {k: summary.get(k) for k in ("run_id", "pages", "new", "changed", "errors", "alerts")}
            )
            return "ok", detail
        store = Store.from_settings(settings)
        try:
            runs = JobHistory(store).interrupt_crawl_runs(source_ids, ctx["started_at"])
        finally:
            store.close()
        detail["crawl_runs_interrupted"] = runs
        detail["stderr_tail"] = "".join(err)[-1500:]
        return ("interrupted" if interrupted or stop.is_set() else "failed"), detail

    return recorded(settings, job_id, trigger, body)


def _terminate_group(proc: subprocess.Popen[str]) -> None:
    """SIGTERM to the crawl's whole process group (the CLI and its Scrapy child), SIGKILL if it lingers."""
    for sig, wait in ((signal.SIGTERM, 15.0), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(wait)
            return
        except subprocess.TimeoutExpired:
            continue


def run_digest_job(
    settings: Settings, job_id: str = "digest:daily", trigger: str = "schedule"
) -> dict[str, Any]:
    """Yesterday's digests (all regions, and each region with its own recipients), sent; then retry leftovers."""
    from app.digest import daily_digests, retry_unsent

    def body(_: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        results = daily_digests(settings, send=True)
        retry = retry_unsent(settings)
        failed = [r for r in results for s in r["deliveries"].values() if s != "sent"]
        detail = {
            "digests": [{k: r[k] for k in ("day", "scope", "archive_id", "deliveries")} for r in results]
        }
        detail["retried"] = retry["digests"]
        return ("failed" if failed else "ok"), detail

    return recorded(settings, job_id, trigger, body)


def run_retry_job(
    settings: Settings, job_id: str = "deliveries:retry", trigger: str = "schedule"
) -> dict[str, Any]:
    from app.digest import retry_unsent

    return recorded(settings, job_id, trigger, lambda _: ("ok", retry_unsent(settings)))


def run_cleanup_job(
    settings: Settings, job_id: str = "cleanup:daily", trigger: str = "schedule"
) -> dict[str, Any]:
    from app.digest import cleanup

    return recorded(settings, job_id, trigger, lambda _: ("ok", cleanup(settings)))


def job_history(settings: Settings, job_id: str | None = None, limit: int = 50) -> list[dict[str, Any]]:
    store = Store.from_settings(settings)
    try:
        return JobHistory(store).recent(job_id, limit)
    finally:
        store.close()


def last_job_runs(settings: Settings) -> dict[str, dict[str, Any]]:
    store = Store.from_settings(settings)
    try:
        return JobHistory(store).last()
    finally:
        store.close()
