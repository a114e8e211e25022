"""The store's connection to its database: engine creation, SQLite locking, read/write sessions.

``Database`` is the base every part of the store (store.registries, store.runs, store.documents, store.outbox,
store.stats, store.feedback) builds on; ``store.db.Store`` combines them. Every call opens its own short-lived
Session, so one instance is safe to use from several threads. On SQLite the database runs in WAL mode with
``busy_timeout`` and foreign keys on, and every write transaction starts with ``BEGIN IMMEDIATE`` so that writers
queue on the database lock instead of failing with "database is locked" when a read transaction would have to be
upgraded. On open the schema is brought to the newest Alembic revision (store.migrate: a new database is upgraded
from nothing, one made by ``create_all`` before migrations is stamped and upgraded).
Also here: the small SQL helpers the parts share (IN-clause chunking, dialect INSERT ... ON CONFLICT).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import Any, Self, TypeVar

from sqlalchemy import create_engine, event
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import StaticPool

from store.migrate import ensure_schema

T = TypeVar("T")

BUSY_TIMEOUT_MS = 30_000
# A lost connection (the database server restarted, a failover) is retried with backoff for about this long before
# the error reaches the caller (which records the page as failed); the transaction is re-run from the start.
RECONNECT_S = 20.0
CHUNK = 500  # ids per IN (...) clause

# SQLite allows one writer at a time. Threads of one process queue on a Python lock per database file
# (woken as soon as it is free) rather than on SQLite's busy handler, which polls with growing sleeps;
# other processes still wait via BEGIN IMMEDIATE + busy_timeout.
_SQLITE_WRITE_LOCKS: dict[str, threading.Lock] = {}
_LOCKS_GUARD = threading.Lock()


def _sqlite_write_lock(key: str) -> threading.Lock:
    with _LOCKS_GUARD:
        return _SQLITE_WRITE_LOCKS.setdefault(key, threading.Lock())


def make_engine(url: str) -> Engine:
    """An engine for ``url``; SQLite gets WAL, busy_timeout, foreign keys and BEGIN IMMEDIATE for writers."""
    is_sqlite = url.startswith("sqlite")
    if not is_sqlite:
        return create_engine(url, pool_pre_ping=True)
    memory = url in ("sqlite://", "sqlite:///:memory:") or "mode=memory" in url
    if memory:
        engine = create_engine(url, poolclass=StaticPool, connect_args={"check_same_thread": False})
    else:
        path = url.split("///", 1)[-1].split("?", 1)[0]
        if path:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(
            url, connect_args={"check_same_thread": False, "timeout": BUSY_TIMEOUT_MS / 1000}
        )

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # Let SQLAlchemy's "begin" event emit BEGIN itself (pysqlite's own handling is deferred-only).
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        if not memory:
            cur.execute("PRAGMA journal_mode = WAL")
            cur.execute("PRAGMA synchronous = NORMAL")
        cur.execute("PRAGMA foreign_keys = ON")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        write = conn.get_execution_options().get("yijian_write", False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")

    return engine


class Database:
    """Engine, write lock and session factories for one database URL; creates the schema on open."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = make_engine(url)
        # Same pool; connections checked out through _writer start write transactions (BEGIN IMMEDIATE).
        self._writer = self.engine.execution_options(yijian_write=True)
        self._lock: threading.Lock | None = None
        self._shared_connection = isinstance(self.engine.pool, StaticPool)
        if self.engine.dialect.name == "sqlite":
            db = self.engine.url.database or ":memory:"
            key = str(Path(db).resolve()) if db != ":memory:" else f"memory:{id(self)}"
            self._lock = _sqlite_write_lock(key)
        self._read_sessions = sessionmaker(bind=self.engine, expire_on_commit=False)
        self._write_sessions = sessionmaker(bind=self._writer, expire_on_commit=False)
        # Inside one write transaction (PostgreSQL: under an advisory lock), so processes opening a new
        # database at once do not race.
        self.schema_revision = ensure_schema(self._writer, self._lock)[1]

    def close(self) -> None:
        self.engine.dispose()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def _read(self) -> Iterator[Session]:
        if self._shared_connection:  # in-memory SQLite: one connection, so reads queue with writes
            with self._lock or nullcontext(), self._read_sessions() as session:
                yield session
            return
        with self._read_sessions() as session:
            yield session

    @contextmanager
    def _write(self) -> Iterator[Session]:
        if self._lock is None:
            with self._write_sessions() as session, session.begin():
                yield session
            return
        with self._lock, self._write_sessions() as session, session.begin():
            yield session

    def _retrying(self, tx: Callable[[Session], T]) -> T:
        """Run ``tx`` in a write transaction, again (up to 3 times in all) on an IntegrityError, and again while
        the connection to the database is lost (up to ``RECONNECT_S``); ``tx`` must be safe to re-run."""
        for attempt in range(3):
            try:
                return self._reconnecting(lambda: self._in_write(tx))
            except IntegrityError:
                # Two writers created the same document at once (possible on PostgreSQL): retry, the
                # next attempt finds the row.
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    @contextmanager
    def _read_connection(self) -> Iterator[Connection]:
        """A plain Core connection for a point read that loads no ORM object: no Session to build and close
        (about half the cost of a one-row lookup)."""
        with (
            self._lock if self._shared_connection and self._lock else nullcontext(),
            self.engine.connect() as conn,
        ):
            yield conn

    def _reading_rows(self, fn: Callable[[Connection], T]) -> T:
        """``_reading`` on a Core connection (``_read_connection``)."""

        def once() -> T:
            with self._read_connection() as conn:
                return fn(conn)

        return self._reconnecting(once)

    def _reading(self, fn: Callable[[Session], T]) -> T:
        """Run ``fn`` in a read session, again while the connection to the database is lost."""

        def once() -> T:
            with self._read() as s:
                return fn(s)

        return self._reconnecting(once)

    def _in_write(self, tx: Callable[[Session], T]) -> T:
        with self._write() as s:
            return tx(s)

    def _reconnecting(self, fn: Callable[[], T]) -> T:
        deadline = time.monotonic() + RECONNECT_S
        delay = 0.2
        while True:
            try:
                return fn()
            except (OperationalError, DBAPIError) as exc:
                # SQLite has no server to lose (its "locked" already waited busy_timeout): never retried here.
                lost = exc.connection_invalidated or isinstance(exc, OperationalError)
                if (
                    self.engine.dialect.name == "sqlite"
                    or not lost
                    or isinstance(exc, IntegrityError)
                    or time.monotonic() + delay > deadline
                ):
                    raise
                self.engine.dispose()  # drop pooled connections to the old server
                time.sleep(delay)
                delay = min(delay * 2, 2.0)


def chunks(items: Sequence[T], size: int = CHUNK) -> Iterator[Sequence[T]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


def unique(items: Iterable[str]) -> list[str]:
    """The non-empty items, first occurrence order, duplicates dropped."""
    return list(dict.fromkeys(i for i in items if i))


def dialect_insert(dialect: str) -> Any:
    """INSERT with ON CONFLICT support for the dialects that have it (SQLite, PostgreSQL), else None."""
    if dialect == "sqlite":
        return sqlite_insert
    if dialect == "postgresql":
        return pg_insert
    return None
