"""A throwaway PostgreSQL server for the store tests: Debian's postgresql binaries, a fresh cluster in a temporary
directory, a Unix socket only (no TCP), stopped at the end of the session. As root it runs as the `postgres` user
(PostgreSQL refuses to run as root)."""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
from pathlib import Path


def _bin(name: str) -> str:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    if not found:
        raise RuntimeError(
            "PostgreSQL is not installed: `make setup` installs Debian's postgresql (or: apt-get install postgresql)"
        )
    return found[-1]


class PostgresServer:
    def __init__(self, port: int = 55432) -> None:
        self.port = port
        self.dir = Path(tempfile.mkdtemp(prefix="yijian-pg-"))
        self.data = self.dir / "data"
        self.sock = self.dir / "sock"
        self._as_postgres = os.geteuid() == 0

    def _run(self, *cmd: str) -> None:
        if self._as_postgres:
            cmd = ("runuser", "-u", "postgres", "--", *cmd)
        subprocess.run(cmd, check=True, capture_output=True, timeout=120)

    def start(self) -> str:
        self.sock.mkdir()
        if self._as_postgres:
            shutil.chown(self.dir, "postgres")
            shutil.chown(self.sock, "postgres")
        self._run(
            _bin("initdb"), "-D", str(self.data), "-A", "trust", "-U", "yijian", "-E", "UTF8", "--no-sync"
        )
        self._start()
        return f"postgresql+psycopg://yijian@/postgres?host={self.sock}&port={self.port}"

    def _start(self) -> None:
        # fsync=off: no flush to disk, which only an OS crash would need. synchronous_commit stays on: with it off,
        # a commit is acknowledged before its WAL record is written, and `restart` (an immediate stop) then loses
        # the last ~200 ms of acknowledged commits: a fault test once saw a page the crawl had stored vanish.
        opts = f"-p {self.port} -k {self.sock} -c listen_addresses='' -c fsync=off"
        self._run(
            _bin("pg_ctl"), "-D", str(self.data), "-o", opts, "-w", "-l", str(self.dir / "log"), "start"
        )

    def restart(self, down_s: float = 0.0) -> None:
        """Stop the server the hard way (every connection dropped, like a crash or a failover) and start it
        again after ``down_s`` seconds."""
        import time

        self._run(_bin("pg_ctl"), "-D", str(self.data), "-m", "immediate", "-w", "stop")
        time.sleep(down_s)
        self._start()

    def stop(self) -> None:
        try:
            self._run(_bin("pg_ctl"), "-D", str(self.data), "-m", "immediate", "-w", "stop")
        finally:
            shutil.rmtree(self.dir, ignore_errors=True)


def drop_everything(url: str) -> None:
    """Empty a scratch database: the store's tables and Alembic's version table (else the next open finds a
    version and no tables)."""
    from sqlalchemy import create_engine

    from store.models import Base

    engine = create_engine(url)
    Base.metadata.drop_all(engine)
    with engine.begin() as conn:
        conn.exec_driver_sql("DROP TABLE IF EXISTS alembic_version")
        conn.exec_driver_sql("DROP TABLE IF EXISTS apscheduler_jobs")
    engine.dispose()
