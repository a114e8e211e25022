"""Alembic environment of the store: target metadata is store.models.Base.metadata; SQLite gets batch mode.

Run through store.migrate (the store on open, `yijian db upgrade`, `yijian db revision`), which passes the database
connection in ``config.attributes["connection"]``; without one (the plain ``alembic`` CLI) it connects to
``sqlalchemy.url`` of the config, else to ``YIJIAN_DATABASE_URL``.
"""

from __future__ import annotations

import os
from typing import Any

from alembic import context
from sqlalchemy import create_engine

from store.migrate import include_object, render_item
from store.models import Base

config = context.config
target_metadata = Base.metadata


def _configure(connection: Any) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",  # SQLite cannot ALTER most things in place
        compare_type=True,
        include_object=include_object,
        render_item=render_item,
        transaction_per_migration=False,
    )


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _configure(connection)
        with context.begin_transaction():
            context.run_migrations()
        return
    url = config.get_main_option("sqlalchemy.url") or os.environ.get("YIJIAN_DATABASE_URL")
    if not url:
        raise RuntimeError("no database: set sqlalchemy.url or YIJIAN_DATABASE_URL")
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            _configure(conn)
            with context.begin_transaction():
                context.run_migrations()
    finally:
        engine.dispose()


if context.is_offline_mode():
    raise RuntimeError("offline (--sql) migrations are not supported; run them against the database")
run_migrations_online()
