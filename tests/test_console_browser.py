"""The web console in real headless Chromium (Debian's /usr/bin/chromium driven by Playwright) against the console
served by uvicorn over the crawled demo data: log in, search, filter, open a document with highlighted spans,
triage a flag, see the audit entry, export; an analyst cannot reach admin pages; charts draw; a page carrying
hostile markup runs no script (no dialog, no console message, no request to the payload's URL); an investigator
opens a case, attaches a flagged page, captures it as evidence, sees the capture and the custody log and exports
a bundle that verifies, while staff and analysts are refused the case pages.

Screenshots of the main pages are written to tests/artifacts/screenshots/ (git-ignored) for a reviewer."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import uvicorn

from config import Settings
from console.web import create_app
from crawlers.settings import PLAYWRIGHT_LAUNCH_OPTIONS
from demo.server import find_free_port
from tests.console_env import ConsoleData

pytestmark = [pytest.mark.e2e, pytest.mark.browser]

SHOTS = Path(__file__).resolve().parent / "artifacts" / "screenshots"


def _serve(settings: Settings) -> Iterator[str]:
    port = find_free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(settings), host="127.0.0.1", port=port,
                                           log_level="warning"))  # fmt: skip
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    assert server.started
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)


@pytest.fixture(scope="module")
def base_url(console_data: ConsoleData) -> Iterator[str]:
    yield from _serve(console_data.settings)


@pytest.fixture(scope="module")
def evidence_url(evidence_settings: Settings) -> Iterator[str]:
    """The console over the same data, able to capture the demo web (served again, with a signing key)."""
    yield from _serve(evidence_settings)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright import sync_api

    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=PLAYWRIGHT_LAUNCH_OPTIONS["executable_path"],
                              args=PLAYWRIGHT_LAUNCH_OPTIONS["args"], headless=True)  # fmt: skip
        yield b
        b.close()


class Watched:
    """A page with everything suspicious recorded: dialogs, console messages, page errors, outside requests."""

    def __init__(self, browser: Any, base_url: str) -> None:
        self.context = browser.new_context(viewport={"width": 1360, "height": 900}, accept_downloads=True,
                                           locale="zh-CN", timezone_id="Asia/Shanghai")  # fmt: skip
        self.page = self.context.new_page()
        self.base = base_url
        self.dialogs: list[str] = []
        self.console: list[str] = []
        self.errors: list[str] = []
        self.requests: list[str] = []
        self.page.on("dialog", lambda d: (self.dialogs.append(d.message), d.dismiss()))
        self.page.on("console", lambda m: self.console.append(f"{m.type}: {m.text}"))
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.page.on("request", lambda r: self.requests.append(r.url))

    def goto(self, path: str) -> Any:
        return self.page.goto(self.base + path)

    def login(self, name: str, password: str) -> None:
        self.goto("/login")
        self.page.fill("input[name=name]", name)
        self.page.fill("input[name=password]", password)
        self.page.click("button[type=submit]")
        self.page.wait_for_url("**/search")

    def shot(self, name: str) -> None:
        SHOTS.mkdir(parents=True, exist_ok=True)
        self.page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)

    def outside_requests(self) -> list[str]:
        return [u for u in self.requests if not u.startswith(self.base) and not u.startswith("data:")]

    def close(self) -> None:
        self.context.close()


def test_staff_searches_filters_opens_triages_and_exports(
    browser: Any, base_url: str, console_data: ConsoleData
) -> None:
    w = Watched(browser, base_url)
    try:
        w.login(console_data.user("staff"), console_data.password)
        page = w.page
        page.fill("input[name=q]", "根治")
        page.click(".searchbar button[type=submit]")
        page.wait_for_selector(".hit")
        assert page.locator(".snippet em").count() > 0
        total = int(page.inner_text("#total"))
        w.shot("01-search")
        page.check("input[name=institution][value=private-hospital]")
        page.click(".facets button[type=submit]")
        page.wait_for_url("**institution=private-hospital**")
        filtered = int(page.inner_text("#total"))
        assert 0 < filtered < total
        w.shot("02-search-filtered")
        # open a crawled page of the private hospital (not one of the two pages the fixture added)
        link = page.locator(
            f".hit h2 a:not([href$='{console_data.hostile_id}']):not([href$='{console_data.revised_id}'])"
        ).first
        link.click()
        page.wait_for_selector("#doc-text")
        assert page.locator("#doc-text mark.span").count() > 0
        assert "法律依据" in page.inner_text(".findings")
        w.shot("03-document")
        # triage the first flag with a reason
        form = page.locator(".finding").first
        fid = form.get_attribute("id")
        form.locator("input[name=reason]").fill("浏览器测试：宣称保证疗效")
        form.locator("button[value=confirm]").click()
        page.wait_for_selector(f"#{fid} .triage")
        assert "确认违规" in page.inner_text(f"#{fid} .triage")
        assert "浏览器测试：宣称保证疗效" in page.inner_text("#decisions")
        w.shot("04-document-triaged")
        # export the filtered result set
        page.go_back()
        page.go_back()
        page.wait_for_selector(".export")
        with page.expect_download() as dl:
            page.click(".export button[value=csv]")
        path = dl.value.path()
        assert path and Path(path).read_bytes().decode("utf-8-sig").startswith("文档ID,标题,网址")
        w.goto("/queue")
        w.shot("05-queue")
        # htmx: triaging in the queue removes the row in place, without leaving the page
        rows = page.locator("tbody tr[id^=q-]")
        before = rows.count()
        first = rows.first
        row_id = first.get_attribute("id")
        first.locator("input[name=reason]").fill("队列中直接驳回")
        first.locator("button[value=dismiss]").click()
        page.wait_for_selector(f"#{row_id}", state="detached")
        assert rows.count() == before - 1 and page.url.endswith("/queue")
        assert not w.dialogs and not w.errors and not w.console, (w.dialogs, w.errors, w.console)
        assert not w.outside_requests(), w.outside_requests()
    finally:
        w.close()


def test_hostile_page_runs_no_script(browser: Any, base_url: str, console_data: ConsoleData) -> None:
    w = Watched(browser, base_url)
    try:
        w.login(console_data.user("staff"), console_data.password)
        w.goto(f"/documents/{console_data.hostile_id}")
        w.page.wait_for_selector("#doc-text")
        w.page.hover("#doc-text")
        for link in w.page.locator("main a").all():  # nothing clickable may run script either
            assert not (link.get_attribute("href") or "").lower().startswith("javascript:")
        w.goto("/search?q=根治")
        w.page.wait_for_selector(".hit")
        w.page.wait_for_timeout(300)
        w.shot("06-hostile-search")
        w.goto(f"/documents/{console_data.hostile_id}")
        w.page.wait_for_timeout(300)
        w.shot("07-hostile-document")
        assert "<script>alert('xss')" in w.page.inner_text("#doc-text")
        assert not w.dialogs, w.dialogs
        assert not w.console, w.console
        assert not w.errors, w.errors
        assert not [u for u in w.requests if "xss-beacon" in u or "127.0.0.99" in u]
        assert not w.outside_requests(), w.outside_requests()
    finally:
        w.close()


def test_analyst_sees_trends_and_risk_but_not_admin(
    browser: Any, base_url: str, console_data: ConsoleData
) -> None:
    w = Watched(browser, base_url)
    try:
        w.login(console_data.user("analyst"), console_data.password)
        resp = w.goto("/admin/users")
        assert resp.status == 403 and "无权访问" in w.page.inner_text("main")
        assert w.page.locator("header nav a[href='/admin/users']").count() == 0
        w.console.clear()  # the 403 itself is reported by Chromium as a failed resource
        w.goto("/trends")
        w.page.wait_for_selector("#chart-flags[data-ready='1'] canvas", timeout=15000)
        w.page.wait_for_selector("#chart-negative[data-ready='1'] canvas", timeout=15000)
        w.shot("08-trends")
        w.goto("/risk")
        ids = [r.get_attribute("data-institution") for r in w.page.locator("#risk tbody tr").all()]
        assert ids.index("private-hospital") < ids.index("public-hospital")
        w.shot("09-risk")
        w.goto("/institutions/private-hospital")
        w.shot("10-institution")
        assert not w.dialogs and not w.errors and not w.console, (w.dialogs, w.errors, w.console)
        assert not w.outside_requests(), w.outside_requests()
    finally:
        w.close()


def test_admin_sees_the_audit_entry(browser: Any, base_url: str, console_data: ConsoleData) -> None:
    w = Watched(browser, base_url)
    try:
        w.login(console_data.user("admin"), console_data.password)
        w.goto("/audit?action=triage")
        text = w.page.inner_text("#audit")
        assert "t-staff" in text and "审核" in text and "浏览器测试：宣称保证疗效" in text
        w.shot("11-audit")
        w.goto("/admin/users")
        assert "t-analyst" in w.page.inner_text("#users")
        w.shot("12-admin-users")
        assert not w.dialogs and not w.errors and not w.console, (w.dialogs, w.errors, w.console)
    finally:
        w.close()


def test_investigator_opens_a_case_captures_evidence_and_exports(
    browser: Any, evidence_url: str, console_data: ConsoleData
) -> None:
    from app.cases import verify

    w = Watched(browser, evidence_url)
    try:
        w.login(console_data.user("investigator"), console_data.password)
        page = w.page
        page.click("header nav a[href='/cases']")
        page.wait_for_selector("#new-case")
        page.fill("#new-case input[name=title]", "华康医院“一次根治”广告")
        page.select_option("#new-case select[name=institution]", "private-hospital")
        page.select_option("#new-case select[name=categories]", ["ad_efficacy_guarantee"])
        page.select_option("#new-case select[name=assignee]", console_data.user("investigator"))
        page.click("#new-case button[type=submit]")
        page.wait_for_url("**/cases/*")
        case_id = int(page.url.rsplit("/", 1)[1])
        assert "待处理" in page.inner_text("#case-status")
        # a flagged page of the demo web (not one of the fixture's pages, which no server serves)
        w.goto("/search?q=根治&institution=private-hospital&sort=severity")
        link = page.locator(
            f".hit h2 a:not([href$='{console_data.hostile_id}']):not([href$='{console_data.revised_id}'])"
        ).first
        doc_path = link.get_attribute("href")
        link.click()
        page.wait_for_selector("#case-tools")
        page.select_option("#attach-form select", str(case_id))
        page.click("#attach-form button")
        page.wait_for_url(f"**/cases/{case_id}#documents")
        assert page.locator(f"#documents a[href='{doc_path}']").count() == 1
        w.goto(str(doc_path))
        page.select_option("#capture-form select", str(case_id))
        page.click("#capture-form button")
        # the job page refreshes itself until the capture is sealed, then goes on to the case
        page.wait_for_url(lambda u: f"/cases/{case_id}#capture-" in u, timeout=120_000)
        capture = page.locator(".capture").first
        assert "已封存" in capture.inner_text() and "全部文件与签名清单一致" in capture.inner_text()
        page.wait_for_function("() => { const i = document.querySelector('.capture img.shot');"
                               " return i && i.complete && i.naturalWidth > 300; }")  # fmt: skip
        assert capture.locator("table.files td", has_text="capture.warc.gz").count() == 1
        actions = [r.get_attribute("data-action") for r in page.locator("#custody-log tbody tr").all()]
        # every opening of the case page is a "viewed" entry by this user
        assert [a for a in actions if a != "viewed"] == ["created", "attached", "captured"], actions
        assert actions[-1] == "viewed" and actions.count("viewed") >= 3, actions
        assert console_data.user("investigator") in page.inner_text("#custody-log")
        assert "哈希链完整" in page.inner_text("#chain")
        w.shot("13-case")
        with page.expect_download(timeout=120_000) as dl:
            page.click("#export-form button")
        path = dl.value.path()
        assert dl.value.suggested_filename.startswith(f"case-{case_id}-") and path
        report = verify(Path(path))
        assert report.ok, report.problems()
        w.goto(f"/cases/{case_id}")
        actions = [r.get_attribute("data-action") for r in page.locator("#custody-log tbody tr").all()]
        assert "exported" in actions
        w.goto("/cases")
        assert page.locator(f"#cases tr[data-case='{case_id}']").count() == 1
        w.shot("14-cases")
        assert not w.dialogs and not w.errors and not w.console, (w.dialogs, w.errors, w.console)
        assert not w.outside_requests(), w.outside_requests()
    finally:
        w.close()


def test_staff_and_analyst_are_refused_the_case_pages(
    browser: Any, base_url: str, console_data: ConsoleData
) -> None:
    for role in ("staff", "analyst"):
        w = Watched(browser, base_url)
        try:
            w.login(console_data.user(role), console_data.password)
            assert w.page.locator("header nav a[href='/cases']").count() == 0
            for path in ("/cases", "/cases/1"):
                resp = w.goto(path)
                assert resp.status == 403 and "无权访问" in w.page.inner_text("main"), (role, path)
            w.goto(f"/documents/{console_data.revised_id}")
            assert w.page.locator("#capture-form").count() == 0
        finally:
            w.close()
