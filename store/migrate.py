"""Schema versions of the system of record: Alembic migrations (store/migrations) applied on open and by
`yijian db upgrade`.

- A new database is upgraded to the head revision (no bare ``create_all``).
- A database at an older revision is upgraded to head.
- A database made before migrations existed (``create_all``, no ``alembic_version`` table) is stamped at the newest
  revision whose tables and columns it has exactly, then upgraded; one that matches no revision is refused with
  :class:`SchemaMismatch` and left untouched.

The upgrade runs in one write transaction: on SQLite under BEGIN IMMEDIATE with foreign keys off for its length
(batch migrations copy tables, and dropping a parent table would otherwise cascade), on PostgreSQL under a
transaction-level advisory lock, so that workers opening the same database at once upgrade it once.
Tables the store does not own (APScheduler's ``apscheduler_jobs``) are neither compared nor touched.
"""

from __future__ import annotations

import re
from contextlib import nullcontext
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, inspect, text
from sqlalchemy.pool import StaticPool

from store.models import Base, UTCDateTime

if TYPE_CHECKING:
    import threading

    from sqlalchemy.engine import Connection, Engine

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
PG_LOCK_KEY = 0x594A_4442  # "YJDB": the advisory lock schema upgrades take on PostgreSQL
VERSION_TABLE = "alembic_version"


class SchemaMismatch(RuntimeError):
    """The database has tables of ours but matches no revision: it is left as it is."""


def alembic_config(connection: Connection | None = None) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("file_template", "%%(rev)s")  # the id already carries the slug
    cfg.attributes["connection"] = connection
    return cfg


def script_directory() -> ScriptDirectory:
    return ScriptDirectory.from_config(alembic_config())


def head_revision() -> str:
    head = script_directory().get_current_head()
    if head is None:
        raise RuntimeError("no migration revisions in store/migrations/versions")
    return head


def include_object(obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any) -> bool:
    """Compare and migrate only what store.models declares: a table found in the database but not in the models
    (``apscheduler_jobs``, ``alembic_version``) is somebody else's."""
    return not (type_ == "table" and reflected and compare_to is None)


def render_item(type_: str, obj: Any, autogen_context: Any) -> str | Literal[False]:
    """Revisions spell our UTC type as its portable base type, so that they never import store.models."""
    if type_ == "type" and isinstance(obj, UTCDateTime):
        return "sa.DateTime(timezone=True)"
    return False


def _raw_execute(conn: Connection, sql: str) -> None:
    """On the DBAPI connection itself: outside any transaction SQLAlchemy would begin."""
    dbapi = conn.connection.dbapi_connection
    assert dbapi is not None
    dbapi.execute(sql)  # type: ignore[attr-defined]


def current_revision(conn: Connection) -> str | None:
    heads = MigrationContext.configure(conn).get_current_heads()
    return heads[0] if heads else None


def schema_diff(conn: Connection) -> list[Any]:
    """What differs between store.models and the database (alembic autogenerate's comparison); [] = in step."""
    ctx = MigrationContext.configure(
        conn, opts={"compare_type": True, "include_object": include_object, "render_item": render_item}
    )
    return compare_metadata(ctx, Base.metadata)


def _columns(conn: Connection, tables: set[str]) -> dict[str, frozenset[str]]:
    insp = inspect(conn)
    return {t: frozenset(c["name"] for c in insp.get_columns(t)) for t in tables}


def _revision_schemas() -> list[tuple[str, dict[str, frozenset[str]]]]:
    """Tables and column names after each revision, oldest first (upgrading a scratch in-memory SQLite)."""
    revisions = [r.revision for r in reversed(list(script_directory().walk_revisions()))]
    engine = create_engine("sqlite://", poolclass=StaticPool)
    out = []
    try:
        with engine.begin() as conn:
            cfg = alembic_config(conn)
            for rev in revisions:
                command.upgrade(cfg, rev)
                names = set(inspect(conn).get_table_names()) - {VERSION_TABLE}
                out.append((rev, _columns(conn, names)))
    finally:
        engine.dispose()
    return out


def _stamp_unversioned(conn: Connection, cfg: Config) -> None:
    if not set(inspect(conn).get_table_names()) - {VERSION_TABLE}:
        return  # an empty database (every new one): nothing to recognise, upgrade from nothing
    schemas = _revision_schemas()
    known = set().union(*(s.keys() for _, s in schemas), Base.metadata.tables)
    present = set(inspect(conn).get_table_names()) & known
    if not present:
        return  # a new (or foreign-only) database: upgrade from nothing
    have = _columns(conn, present)
    for rev, schema in reversed(schemas):
        if schema == have:
            command.stamp(cfg, rev)
            return
    baseline = schemas[0][1]
    missing = sorted(set(baseline) - set(have))
    differ = sorted(t for t in set(baseline) & set(have) if baseline[t] != have[t])
    raise SchemaMismatch(
        "数据库里已有表，但与任何迁移版本都不一致，未做改动（缺少表："
        f"{', '.join(missing) or '无'}；列不同的表：{', '.join(differ) or '无'}）。"
        "请先备份，再手工迁移或换一个新数据库。"
    )


def ensure_schema(writer: Engine, lock: threading.Lock | None = None) -> tuple[str | None, str]:
    """Bring the database to the head revision (see the module docstring). Returns (revision before, after)."""
    head = head_revision()
    with lock or nullcontext(), writer.connect() as conn:
        sqlite = conn.dialect.name == "sqlite"
        if sqlite:
            # Outside any transaction, or SQLite ignores it; the connection's own listener turned it on.
            _raw_execute(conn, "PRAGMA foreign_keys = OFF")
        try:
            with conn.begin():
                if conn.dialect.name == "postgresql":
                    conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": PG_LOCK_KEY})
                before = current_revision(conn)
                if before == head:
                    return before, head
                cfg = alembic_config(conn)
                if before is None:
                    _stamp_unversioned(conn, cfg)
                command.upgrade(cfg, "head")
                if sqlite:
                    broken = conn.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
                    if broken:
                        raise RuntimeError(f"migration left rows that break foreign keys: {broken[:5]}")
                after = current_revision(conn)
        finally:
            if sqlite:
                _raw_execute(conn, "PRAGMA foreign_keys = ON")
    return before, after or head


def database_revision(engine: Engine) -> dict[str, Any]:
    """The database's revision, the code's head, and whether the schema matches store.models."""
    with engine.connect() as conn:
        rev = current_revision(conn)
        diff = schema_diff(conn) if rev is not None else []
    return {"current": rev, "head": head_revision(), "up_to_date": rev == head_revision(), "diff": diff}


def new_revision(message: str) -> str:
    """Write a revision for what store.models has and the migrations lack (autogenerated against a scratch SQLite
    upgraded to head; read it through before committing). Returns its path."""
    engine = create_engine("sqlite://", poolclass=StaticPool)
    try:
        with engine.begin() as conn:
            cfg = alembic_config(conn)
            command.upgrade(cfg, "head")
            number = len(list(script_directory().walk_revisions())) + 1
            # alembic_version.version_num is VARCHAR(32): keep the id short and to [a-z0-9_]
            slug = re.sub(r"[^a-z0-9_]", "", "_".join(message.lower().split()))[:26].strip("_") or "change"
            script = command.revision(cfg, message=message, autogenerate=True, rev_id=f"{number:04d}_{slug}")
    finally:
        engine.dispose()
    return str(getattr(script, "path", script))


if __name__ == "__main__":  # python -m store.migrate "add cases table"
    import sys

    if len(sys.argv) != 2:
        raise SystemExit('usage: python -m store.migrate "what the revision adds"')
    print(new_revision(sys.argv[1]))
