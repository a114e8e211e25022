"""Use-cases on the database's schema version: upgrade it to the code's newest migration, and say where it stands
(`yijian db upgrade`, `yijian db current`; operators run the upgrade once before starting workers of a new
release — the store would also upgrade on open)."""

from __future__ import annotations

from typing import Any

from sqlalchemy.engine import make_url

from config import Settings
from store.engine import make_engine
from store.migrate import SchemaMismatch, database_revision, ensure_schema

__all__ = ["SchemaMismatch", "database_status", "upgrade_database"]


def _safe_url(url: str) -> str:
    return make_url(url).render_as_string(hide_password=True)


def upgrade_database(settings: Settings) -> dict[str, Any]:
    """Bring the database to the newest revision; returns the revisions before and after."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    engine = make_engine(settings.db_url)
    try:
        before, after = ensure_schema(engine.execution_options(yijian_write=True))
    finally:
        engine.dispose()
    return {
        "database": _safe_url(settings.db_url),
        "before": before,
        "after": after,
        "changed": before != after,
    }


def database_status(settings: Settings) -> dict[str, Any]:
    """The database's revision, the newest one this code has, and any difference from the code's models."""
    engine = make_engine(settings.db_url)
    try:
        info = database_revision(engine)
    finally:
        engine.dispose()
    info["diff"] = [str(d) for d in info["diff"]]
    return {"database": _safe_url(settings.db_url), **info}
