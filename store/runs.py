"""Crawl runs and the pages a run could not fetch, decode or parse (fetch errors) in the store."""

from __future__ import annotations

import os
import socket
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from store.engine import Database
from store.models import CrawlRun, FetchError, utcnow
from store.rows import iso, jsonable, row_fields


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, another user's
        return True
    return True


class Runs(Database):
    def start_run(self, source_ids: list[str]) -> int:
        """A new run in state ``running``, owned by this process (host and pid kept in its stats). Runs of this
        host whose process is gone (killed: SIGKILL, OOM, power loss) are closed as ``interrupted`` first."""
        self.close_interrupted_runs()
        with self._write() as s:
            owner = {"owner": {"host": socket.gethostname(), "pid": os.getpid()}}
            run = CrawlRun(source_ids=list(source_ids), status="running", started_at=utcnow(), stats=owner)
            s.add(run)
            s.flush()
            return run.id

    def close_interrupted_runs(self) -> list[int]:
        """Close as ``interrupted`` every ``running`` run started on this host by a process that no longer
        exists. Runs of other hosts (distributed workers) are left alone: their liveness is not visible here."""
        host = socket.gethostname()
        closed: list[int] = []
        with self._write() as s:
            for run in s.scalars(select(CrawlRun).where(CrawlRun.status == "running")):
                owner = (run.stats or {}).get("owner") or {}
                pid = owner.get("pid")
                if owner.get("host") != host or not isinstance(pid, int) or _alive(pid):
                    continue
                run.status = "interrupted"
                run.finished_at = utcnow()
                run.stats = {**(run.stats or {}), "interrupted": "进程已终止（被杀死或崩溃），运行未正常结束"}
                closed.append(run.id)
        return closed

    def finish_run(self, run_id: int, stats: dict, status: str = "finished") -> None:
        with self._write() as s:
            run = s.get(CrawlRun, run_id)
            if run is None:
                raise KeyError(f"no crawl run {run_id}")
            run.finished_at = utcnow()
            run.status = status
            run.stats = jsonable(stats)

    def record_error(self, run_id: int | None, source_id: str, url: str, kind: str, detail: str = "") -> None:
        """Record a page that could not be fetched/decoded/parsed. Within one run, the same URL and kind is
        recorded once (retries and re-deliveries are not double counted)."""
        kind = (kind or "unknown").strip() or "unknown"
        self._retrying(lambda s: self._record_error_tx(s, run_id, source_id, url, kind, detail))

    def _record_error_tx(
        self, s: Session, run_id: int | None, source_id: str, url: str, kind: str, detail: str
    ) -> None:
        if run_id is not None:
            dup = s.scalar(
                select(FetchError.id).where(
                    FetchError.run_id == run_id, FetchError.url == url, FetchError.kind == kind
                )
            )
            if dup is not None:
                s.execute(update(FetchError).where(FetchError.id == dup).values(detail=detail, at=utcnow()))
                return
        s.add(FetchError(run_id=run_id, source_id=source_id, url=url, kind=kind, detail=detail or ""))

    def list_errors(
        self, run_id: int | None = None, kind: str | None = None, limit: int = 1000
    ) -> list[dict]:
        """Recorded failures, newest first (optionally of one run and/or one kind)."""
        with self._read() as s:
            q = select(FetchError).order_by(FetchError.id.desc()).limit(limit)
            if run_id is not None:
                q = q.where(FetchError.run_id == run_id)
            if kind is not None:
                q = q.where(FetchError.kind == kind)
            return [
                {"run_id": e.run_id, "source_id": e.source_id, "url": e.url, "kind": e.kind, "detail": e.detail,
                 "at": iso(e.at)}
                for e in s.scalars(q).all()
            ]  # fmt: skip

    def list_runs(self, limit: int = 20) -> list[dict]:
        with self._read() as s:
            runs = s.scalars(select(CrawlRun).order_by(CrawlRun.id.desc()).limit(limit)).all()
            return [run_json(r) for r in runs]


def run_json(r: CrawlRun) -> dict[str, Any]:
    return row_fields(r, "id started_at finished_at source_ids status stats")
