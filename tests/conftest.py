from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import pytest  # noqa: E402

from tests.console_env import console_data, evidence_settings  # noqa: E402,F401  (session fixtures of the console tests)


@pytest.fixture(scope="session")
def pg_url() -> str:
    """A scratch PostgreSQL: YIJIAN_TEST_PG_URL if set (its tables are dropped), else a throwaway local server
    (one per test session, shared by every module that asks for it)."""
    if url := os.environ.get("YIJIAN_TEST_PG_URL"):
        yield url
        return
    from tests.pgserver import PostgresServer

    server = PostgresServer()
    try:
        yield server.start()
    finally:
        server.stop()
