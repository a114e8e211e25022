from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import pytest  # noqa: E402

from tests.console_env import console_data, evidence_settings  # noqa: E402,F401  (session fixtures of the console tests)

# `make test` runs the suite on two pytest-xdist workers (`--dist loadgroup`). Each test module is one group, so
# its module-scoped fixtures (a demo crawl, a search server) are built once; modules that share a session fixture
# (the console's crawled data, the scratch PostgreSQL) form one group so it is built once, not once per worker.
SHARED_GROUPS = {
    "test_console.py": "console_data",
    "test_console_browser.py": "console_data",
    "test_migrations.py": "pg_url",
    "test_store.py": "pg_url",
}


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if item.get_closest_marker("xdist_group") is None:
            item.add_marker(pytest.mark.xdist_group(SHARED_GROUPS.get(item.path.name, item.path.name)))


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
