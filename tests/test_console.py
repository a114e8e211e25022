"""The web console through HTTP (FastAPI's TestClient over the real app, store and search index of a crawled demo
web): default deny, roles, CSRF, login lock-out, hostile crawled markup rendered inert, triage feeding the
training feedback, exports, version diffs, the risk ranking, the JSON API under schemathesis, the user CLI and
the terminal's highlights."""

from __future__ import annotations

import csv
import hashlib
import io
import re
import subprocess
import tempfile
from pathlib import Path

import lxml.html
import pytest
from fastapi import Depends, FastAPI
from fastapi.testclient import TestClient
from openpyxl import load_workbook

from app.context import AppContext
from app.documents import diff
from app.explore import _cell
from classifiers.feedback import training_examples
from console.highlight import plain_highlight, safe_highlight
from console.web import create_app
from console.web.security import PUBLIC_PATHS, LoginThrottle, check_routes, iter_routes, require, safe_url
from store.db import Store
from tests.console_env import ConsoleData
from tests.demo_env import YIJIAN, demo_env

pytestmark = pytest.mark.e2e

HTML = {"accept": "text/html"}


@pytest.fixture(scope="module")
def app(console_data: ConsoleData) -> FastAPI:
    return create_app(console_data.settings)


def csrf_of(client: TestClient) -> str:
    r = client.get("/login", headers=HTML)
    m = re.search(r'name="csrf_token" value="([^"]+)"', r.text)
    assert m, r.text[:500]
    return m.group(1)


def login(app: FastAPI, name: str, password: str) -> TestClient:
    c = TestClient(app)
    r = c.post("/login", data={"name": name, "password": password, "csrf_token": csrf_of(c)},
               follow_redirects=False)  # fmt: skip
    assert r.status_code == 303, r.text[:300]
    return c


@pytest.fixture(scope="module")
def clients(app: FastAPI, console_data: ConsoleData) -> dict[str, TestClient]:
    return {role: login(app, console_data.user(role), console_data.password) for role in
            ("staff", "analyst", "investigator", "admin")}  # fmt: skip


def token(client: TestClient) -> str:
    return client.get("/api/me").json()["csrf_token"]


# --------------------------------------------------------------------------------------- default deny
def _fill(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "1", path)


def test_every_route_declares_a_role_and_unsafe_ones_check_csrf(app: FastAPI) -> None:
    check_routes(app.routes)  # what create_app enforces
    routes = [r for r in iter_routes(app.routes) if hasattr(r, "dependant")]
    assert len(routes) > 25
    bad = FastAPI()

    @bad.get("/leak")
    def leak() -> dict:
        return {}

    with pytest.raises(RuntimeError, match="/leak: no role dependency"):
        check_routes(bad.routes)
    unsafe = FastAPI()

    @unsafe.post("/change")
    def change(user: dict = Depends(require("staff"))) -> dict:
        return {}

    with pytest.raises(RuntimeError, match="without CSRF"):
        check_routes(unsafe.routes)


def test_every_route_refuses_a_request_without_session(app: FastAPI) -> None:
    c = TestClient(app)
    checked = 0
    for r in iter_routes(app.routes):
        methods = getattr(r, "methods", None)
        if not methods or r.path in PUBLIC_PATHS:
            continue
        for m in methods - {"HEAD"}:
            resp = c.request(m, _fill(r.path), follow_redirects=False, headers=HTML)
            assert resp.status_code in (303, 401, 403), (m, r.path, resp.status_code)
            if resp.status_code == 303:
                assert resp.headers["location"] == "/login"
            checked += 1
    spec = c.get("/openapi.json").json()  # public: it holds no data
    for path, ops in spec["paths"].items():
        for m in ops:
            resp = c.request(m.upper(), _fill(path), json={}, follow_redirects=False)
            assert resp.status_code in (401, 403), (m, path, resp.status_code)
            checked += 1
    assert checked > 35
    assert "/api/search" in spec["paths"] and not any(p.startswith("/admin") for p in spec["paths"])
    assert c.get("/static/console.css").status_code == 200


ROLE_RULES = [
    # path, lowest role allowed
    ("/search", "staff"), ("/queue", "staff"), ("/api/search?q=根治", "staff"), ("/trends", "analyst"),
    ("/api/trends", "analyst"), ("/risk", "analyst"), ("/api/risk", "analyst"),
    ("/institutions/private-hospital", "analyst"), ("/audit", "admin"), ("/api/audit", "admin"),
    ("/admin/users", "admin"), ("/admin/sources", "admin"), ("/admin/institutions", "admin"), ("/api/users", "admin"),
    ("/cases", "investigator"),
]  # fmt: skip
ORDER = ("staff", "analyst", "investigator", "admin")


@pytest.mark.parametrize(("path", "minimum"), ROLE_RULES)
def test_each_role_is_refused_what_it_may_not_do(
    clients: dict[str, TestClient], path: str, minimum: str
) -> None:
    for role, c in clients.items():
        allowed = ORDER.index(role) >= ORDER.index(minimum)
        status = c.get(path, headers=HTML).status_code
        assert status == (200 if allowed else 403), (role, path, status)


def test_role_checks_on_state_changing_routes(clients: dict[str, TestClient]) -> None:
    staff = clients["staff"]
    r = staff.post("/admin/users", data={"csrf_token": token(staff), "action": "add", "name": "mallory",
                                          "role": "admin", "password": "x" * 12}, follow_redirects=False)  # fmt: skip
    assert r.status_code == 403
    analyst = clients["analyst"]
    assert analyst.post("/admin/users", data={"csrf_token": token(analyst), "action": "disable", "name": "t-admin"},
                        follow_redirects=False).status_code == 403  # fmt: skip
    assert staff.post("/risk/export", data={"csrf_token": token(staff), "format": "csv"}).status_code == 403


def test_security_headers_and_strict_csp(clients: dict[str, TestClient]) -> None:
    r = clients["staff"].get("/search", headers=HTML)
    csp = r.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "style-src 'self'" in csp
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp and "*" not in csp
    assert r.headers["x-frame-options"] == "DENY" and r.headers["x-content-type-options"] == "nosniff"
    cookie = TestClient(clients["staff"].app).get("/login").headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=lax" in cookie
    # every asset is local: no http(s) URL in a src/href of our own pages apart from crawled links
    assert not re.search(r'(src|href)="(https?:)?//', r.text)


def test_session_cookie_is_secure_over_tls(console_data: ConsoleData) -> None:
    c = TestClient(create_app(console_data.settings, https=True), base_url="https://testserver")
    assert "secure" in c.get("/login").headers["set-cookie"].lower()


# ------------------------------------------------------------------------------------------------ CSRF
def test_state_changing_request_without_valid_csrf_is_refused(
    clients: dict[str, TestClient], console_data: ConsoleData
) -> None:
    c = clients["staff"]
    path = f"/documents/{console_data.revised_id}/findings/1/triage"
    for data in (
        {"decision": "confirm", "reason": "x"},
        {"decision": "confirm", "reason": "x", "csrf_token": "forged"},
    ):
        assert c.post(path, data=data, follow_redirects=False).status_code == 403
    r = c.post(f"/api{path}", json={"decision": "confirm", "reason": "x"})
    assert r.status_code == 403
    r = c.post(f"/api{path}", json={"decision": "confirm", "reason": "x"}, headers={"x-csrf-token": "forged"})
    assert r.status_code == 403
    fresh = TestClient(c.app)
    r = fresh.post("/login", data={"name": console_data.user("staff"), "password": console_data.password})
    assert r.status_code == 403  # login form too


# ---------------------------------------------------------------------------------------- login lock-out
def test_sixth_wrong_password_in_a_minute_is_refused(console_data: ConsoleData) -> None:
    app = create_app(console_data.settings, throttle=LoginThrottle())
    c = TestClient(app)
    name = console_data.user("investigator")
    for _ in range(5):
        r = c.post("/login", data={"name": name, "password": "wrong-password", "csrf_token": csrf_of(c)})
        assert r.status_code == 401
        assert "用户名或密码错误" in r.text
    r = c.post("/login", data={"name": name, "password": "wrong-password", "csrf_token": csrf_of(c)})
    assert r.status_code == 429 and "锁定" in r.text
    # locked: even the right password is refused now
    r = c.post("/login", data={"name": name, "password": console_data.password, "csrf_token": csrf_of(c)},
               follow_redirects=False)  # fmt: skip
    assert r.status_code == 429
    with AppContext(console_data.settings) as ctx:
        from app.audit import entries

        _, rows = entries(ctx, limit=20)
    assert [r["action"] for r in rows if r["target"] == name][:2] == ["login_locked", "login_locked"]


def test_throttle_forgets_failures_after_the_window() -> None:
    t = LoginThrottle(limit=5, window=60, lockout=300)
    for i in range(4):
        assert not t.failed("a", "ip", now=float(i))
    assert not t.locked("a", "ip", now=10)
    assert not t.failed("a", "ip", now=100.0)  # the first four are outside the minute now
    for i in range(4):
        t.failed("a", "ip", now=101.0 + i)
    assert t.locked("a", "ip", now=106) and not t.locked("a", "ip", now=500)


def test_disabled_user_loses_access_at_once(app: FastAPI, console_data: ConsoleData) -> None:
    with AppContext(console_data.settings) as ctx:
        from app.users import add_user

        add_user(ctx, "t-temp", "staff", console_data.password)
    c = login(app, "t-temp", console_data.password)
    assert c.get("/search", headers=HTML).status_code == 200
    env = demo_env(console_data.data, 1)
    proc = subprocess.run([*YIJIAN, "user", "disable", "t-temp"], env=env, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    r = c.get("/search", headers=HTML, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/login"
    listed = subprocess.run([*YIJIAN, "user", "list", "--json"], env=env, capture_output=True, text=True)
    users = {u["name"]: u for u in __import__("json").loads(listed.stdout)}
    assert users["t-temp"]["active"] is False and users["t-admin"]["role"] == "admin"
    bad = subprocess.run([*YIJIAN, "user", "add", "x1", "--role", "staff", "--password-stdin"], env=env,
                         input="short\n", capture_output=True, text=True)  # fmt: skip
    assert bad.returncode != 0 and "密码至少" in bad.stderr


# ---------------------------------------------------------------------------------------- hostile markup
def _assert_inert(html: str) -> None:
    """Parsed as a browser would: no element or attribute the payload tried to smuggle in, only our own static
    scripts, and the payload shown as text."""
    tree = lxml.html.fromstring(html)
    scripts = [el.get("src") for el in tree.iter("script")]
    assert scripts and all(src and src.startswith("/static/") for src in scripts), scripts
    assert not list(tree.iter("svg", "iframe", "object", "embed", "style", "img"))
    for el in tree.iter():
        if not isinstance(el.tag, str):
            continue
        for name, value in el.attrib.items():
            assert not name.lower().startswith("on"), (el.tag, name)
            assert name.lower() not in ("style", "srcdoc"), (el.tag, name)
            assert not value.strip().lower().startswith(("javascript:", "data:text")), (el.tag, name, value)
    text = tree.text_content()
    assert "<script>alert('xss')" in text and "expression(alert(1))" in text


def test_hostile_crawled_markup_is_rendered_as_inert_text(
    clients: dict[str, TestClient], console_data: ConsoleData
) -> None:
    c = clients["staff"]
    r = c.get("/search", params={"q": "根治", "institution": "private-hospital"}, headers=HTML)
    assert console_data.hostile_id in r.text
    _assert_inert(r.text)
    doc = c.get(f"/documents/{console_data.hostile_id}", headers=HTML)
    assert doc.status_code == 200
    _assert_inert(doc.text)
    assert not re.search(r'(src|href|action)="[^"]*xss-beacon', doc.text)
    q = c.get("/queue", headers=HTML)
    _assert_inert(q.text)


def test_highlight_sanitiser() -> None:
    frag = "正文 &lt;b&gt; <em>根治</em> <script>alert(1)</script> <em onclick=x>y</em> </em><em>z"
    out = str(safe_highlight(frag))
    assert "<em>根治</em>" in out and "<script>" not in out and "<em onclick" not in out
    assert "&lt;script&gt;" in out and "&lt;b&gt;" in out and out.count("<em>") == out.count("</em>")
    assert plain_highlight("a <em>根治</em> &lt;b&gt;") == [("a ", False), ("根治", True), (" <b>", False)]
    assert safe_url("javascript:alert(1)") is None and safe_url("data:text/html,x") is None
    assert (
        safe_url(' http://x/"onmouseover=1') is None
        and safe_url("https://a.cn/p?q=1") == "https://a.cn/p?q=1"
    )
    assert _cell('=HYPERLINK("http://x")') == '\'=HYPERLINK("http://x")' and _cell("-1+1") == "'-1+1"


# -------------------------------------------------------------------------------------- search & export
def test_search_page_filters_facets_sort_and_pagination(clients: dict[str, TestClient]) -> None:
    c = clients["staff"]
    r = c.get("/search", params={"q": "根治"}, headers=HTML)
    assert r.status_code == 200 and "<em>根治</em>" in r.text
    assert 'name="institution" value="private-hospital"' in r.text and 'class="count"' in r.text
    api = c.get("/api/search", params={"q": "根治"}).json()
    assert api["total"] >= 2 and api["facets"]["institution_id"]
    only = c.get("/api/search", params={"q": "根治", "institution": "private-hospital"}).json()
    assert only["total"] >= 1 and all(h["institution_id"] == "private-hospital" for h in only["hits"])
    sev = c.get("/api/search", params={"sort": "severity", "size": 50}).json()
    ranks = [min((["S1", "P1", "S2", "P2", "S3", "P3", "S4"].index(s) for s in h["severities"]), default=99)
             for h in sev["hits"]]  # fmt: skip
    assert ranks == sorted(ranks) and sev["facets"]["triage"]
    page2 = c.get("/api/search", params={"size": 5, "page": 2}).json()
    page1 = c.get("/api/search", params={"size": 5, "page": 1}).json()
    assert page2["hits"] and {h["doc_id"] for h in page1["hits"]}.isdisjoint(
        h["doc_id"] for h in page2["hits"]
    )
    bad = c.get("/search", params={"from": "2026-13-01"}, headers=HTML)
    assert bad.status_code == 400 and "日期格式" in bad.text


def test_export_csv_and_excel_are_audited(clients: dict[str, TestClient]) -> None:
    c = clients["staff"]
    data = {"csrf_token": token(c), "q": "根治", "format": "csv"}
    r = c.post("/search/export", data=data)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(r.content.decode("utf-8-sig"))))
    assert rows[0][:3] == ["文档ID", "标题", "网址"] and len(rows) >= 3
    assert all(not cell.startswith(("=", "+", "@")) for row in rows[1:] for cell in row)
    r = c.post("/search/export", data={**data, "format": "xlsx"})
    ws = load_workbook(io.BytesIO(r.content)).active
    assert ws.cell(1, 1).value == "文档ID" and ws.max_row == len(rows)
    audit = clients["admin"].get("/api/audit", params={"action": "export"}).json()["entries"]
    assert {e["detail"]["format"] for e in audit if e["actor"] == "t-staff"} >= {"csv", "xlsx"}


# ------------------------------------------------------------------------------------- document page
def test_document_page_shows_spans_basis_scope_and_model(clients: dict[str, TestClient]) -> None:
    c = clients["staff"]
    hits = c.get(
        "/api/search", params={"q": "根治", "institution": "private-hospital", "sort": "severity"}
    ).json()
    doc_id = next(
        h["doc_id"] for h in hits["hits"] if "hostile" not in h["url"] and "revised" not in h["url"]
    )
    r = c.get(f"/documents/{doc_id}", headers=HTML)
    assert r.status_code == 200
    assert re.search(r'<mark class="span sev-S\d" data-findings="\d+', r.text)
    assert "法律依据" in r.text and "《广告法》" in r.text and "执业许可证号" in r.text
    assert "PDY20381X44010312A1002" in r.text and "核准诊疗科目" in r.text and "执业范围核验" in r.text
    assert 'rel="noopener noreferrer"' in r.text
    view = c.get(f"/api/documents/{doc_id}").json()
    assert view["findings"] and all("legal_basis" in f and "severity" in f for f in view["findings"])
    segs = view["text_segments"]
    marked = sum(len(sg["text"]) for sg in segs if sg["findings"])
    # rule spans are highlighted, not the whole text (the model's document-level labels are no span)
    assert 0 < marked < 0.6 * sum(len(sg["text"]) for sg in segs)
    assert any(f["source"].startswith("model:") for f in view["findings"]) and view["model_versions"]


def test_document_page_shows_ocr_text_with_its_spans(clients: dict[str, TestClient]) -> None:
    c = clients["staff"]
    hits = c.get("/api/search", params={"size": 100}).json()["hits"]
    with_ocr = []
    for h in hits:
        view = c.get(f"/api/documents/{h['doc_id']}").json()
        if any("三天根治" in (i.get("ocr_text") or "") for i in view["images"]):
            with_ocr.append(h["doc_id"])
    assert with_ocr
    page = c.get(f"/documents/{with_ocr[0]}", headers=HTML).text
    ocr = page.split("图片文字识别（OCR）", 1)[1]
    assert re.search(r"<mark class=\"span[^>]*>[^<]*根治", ocr)


def test_version_diff_shows_the_dropped_claim(
    clients: dict[str, TestClient], console_data: ConsoleData
) -> None:
    r = clients["staff"].get(f"/documents/{console_data.revised_id}", headers=HTML)
    assert "版本历史（2）" in r.text
    dels = re.findall(r"<del>(.*?)</del>", r.text)
    assert any("根治" in d for d in dels), dels
    assert "本版不再含：夸大疗效" in r.text
    assert diff("一次根治，无效退款", "规范诊疗")[0]["op"] in ("delete", "insert")


# ---------------------------------------------------------------------------------------------- triage
def test_triage_is_audited_feeds_training_feedback_and_leaves_the_queue(
    clients: dict[str, TestClient], console_data: ConsoleData
) -> None:
    c = clients["staff"]
    queue = c.get("/api/queue").json()
    item = next(f for f in queue if f["document_id"] == console_data.hostile_id)
    assert item["severity"] == "S1" and queue[0]["severity"] == "S1"
    path = f"/documents/{item['document_id']}/findings/{item['id']}/triage"
    r = c.post(
        path, data={"csrf_token": token(c), "decision": "confirm", "reason": ""}, follow_redirects=False
    )
    assert r.status_code == 400  # a reason is required
    r = c.post(path, data={"csrf_token": token(c), "decision": "confirm", "reason": "保证治愈，违反广告法"},
               follow_redirects=False)  # fmt: skip
    assert r.status_code == 303
    page = c.get(f"/documents/{item['document_id']}", headers=HTML).text
    assert "确认违规" in page and "t-staff" in page and "保证治愈，违反广告法" in page
    assert all(f["id"] != item["id"] for f in c.get("/api/queue").json())
    api = c.post(
        f"/api{path}", json={"decision": "escalate", "reason": "再次上报"}, headers={"x-csrf-token": token(c)}
    )
    assert api.status_code == 200 and api.json()["reviewer"] == "t-staff"
    audit = clients["admin"].get("/api/audit", params={"action": "triage"}).json()["entries"]
    assert [e["detail"]["decision"] for e in audit if e["target"] == f"{item['document_id']}#{item['id']}"][:2] == [
        "escalate", "confirm"]  # fmt: skip
    store = Store.from_settings(console_data.settings)
    try:
        examples = {e["doc_id"]: e for e in training_examples(store.feedback_records())}
    finally:
        store.close()
    assert "exaggerated_efficacy" in examples[item["document_id"]]["confirmed"]
    assert "t-staff" in examples[item["document_id"]]["reviewers"]


# ---------------------------------------------------------------------------------------- trends & risk
def test_trends_and_watchlist(clients: dict[str, TestClient]) -> None:
    c = clients["analyst"]
    t = c.get("/api/trends", params={"dimension": "category"}).json()
    assert (
        t["days"] and t["flags"] and all(len(s["data"]) == len(t["days"]) for s in t["flags"] + t["negative"])
    )
    assert sum(sum(s["data"]) for s in t["negative"]) > 0
    assert c.get("/api/trends", params={"dimension": "nope"}).status_code == 422
    r = c.post("/watchlist", data={"csrf_token": token(c), "institution": "beauty-clinic", "action": "add"},
               follow_redirects=False)  # fmt: skip
    assert r.status_code == 303
    assert "江州丽颜医疗美容诊所" in c.get("/trends", headers=HTML).text.split('id="watchlist"')[1]
    only = c.get("/api/trends", params={"watched": "true"}).json()
    assert {s["name"] for s in only["flags"] + only["negative"]} <= {"江州丽颜医疗美容诊所"} and only["flags"]
    for target in ("//evil.example/x", "/\\evil.example", "https://evil.example/"):
        r = c.post("/watchlist", data={"csrf_token": token(c), "institution": "beauty-clinic", "action": "add",
                                       "next": target}, follow_redirects=False)  # fmt: skip
        assert r.headers["location"] == "/trends"


def test_private_hospital_ranks_above_the_public_one(clients: dict[str, TestClient]) -> None:
    c = clients["analyst"]
    ranked = [r["id"] for r in c.get("/api/risk").json()]
    assert ranked.index("private-hospital") < ranked.index("public-hospital")
    top = c.get("/api/risk").json()[0]
    assert top["score"] == sum(t["points"] for t in top["terms"]) and top["terms"]
    only = c.get("/api/risk", params={"type": "public_hospital"}).json()
    assert [r["id"] for r in only] == ["public-hospital"]
    r = c.post("/risk/export", data={"csrf_token": token(c), "format": "csv"})
    rows = list(csv.reader(io.StringIO(r.content.decode("utf-8-sig"))))
    assert rows[0][0] == "排名" and [row[1] for row in rows[1:]].index("private-hospital") < [
        row[1] for row in rows[1:]].index("public-hospital")  # fmt: skip
    prof = c.get("/institutions/private-hospital", headers=HTML)
    assert prof.status_code == 200 and "风险分" in prof.text


# ------------------------------------------------------------------------------------------- API fuzzing
def test_api_fuzzing_finds_no_server_errors(app: FastAPI, console_data: ConsoleData) -> None:
    import schemathesis
    from hypothesis import HealthCheck, given, settings

    c = login(app, console_data.user("admin"), console_data.password)
    cookie = "; ".join(f"{k}={v}" for k, v in c.cookies.items())
    headers = {"cookie": cookie, "x-csrf-token": token(c)}
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    ops = list(schema.get_all_operations())
    assert len(ops) >= 9
    for result in ops:
        op = result.ok()

        @given(case=op.as_strategy())
        @settings(max_examples=8, deadline=None, suppress_health_check=list(HealthCheck), database=None)
        def check(case: object) -> None:
            resp = case.call(headers=headers)  # type: ignore[attr-defined]
            assert resp.status_code < 500, (case, resp.status_code, resp.text[:300])

        check()


# ----------------------------------------------------------------------------------------------- terminal
def test_terminal_search_renders_highlights_as_emphasis(console_data: ConsoleData) -> None:
    proc = subprocess.run([*YIJIAN, "search", "根治"], env=demo_env(console_data.data, 1), capture_output=True,
                          text=True, timeout=120)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "根治" in proc.stdout and "<em>" not in proc.stdout and "&lt;" not in proc.stdout


# ------------------------------------------------------------------------------------------------- cases
CASE_PAGES = ["/cases", "/cases/1", "/capture-jobs/x", "/captures/x/files/screenshot.png"]


def test_case_pages_are_for_investigators_only(
    clients: dict[str, TestClient], console_data: ConsoleData
) -> None:
    for role in ("staff", "analyst"):
        c = clients[role]
        for path in CASE_PAGES:
            assert c.get(path, headers=HTML).status_code == 403, (role, path)
        for path, data in (("/cases", {"title": "越权"}), ("/cases/1/status", {"status": "closed"}),
                           ("/cases/1/notes", {"text": "x"}), ("/cases/1/export", {}),
                           (f"/documents/{console_data.revised_id}/attach", {"case_id": "1"}),
                           (f"/documents/{console_data.revised_id}/capture", {"case_id": "new"})):  # fmt: skip
            assert c.post(path, data={**data, "csrf_token": token(c)}).status_code == 403, (role, path)
        doc = c.get(f"/documents/{console_data.revised_id}", headers=HTML).text
        assert 'id="capture-form"' not in doc and 'href="/cases"' not in doc
    inv = clients["investigator"]
    assert inv.get("/cases", headers=HTML).status_code == 200
    assert inv.post("/cases", data={"title": "无令牌"}).status_code == 403  # CSRF on the case forms too
    assert inv.post("/cases", data={"title": "伪造", "csrf_token": "forged"}).status_code == 403
    doc = inv.get(f"/documents/{console_data.revised_id}", headers=HTML).text
    assert 'id="capture-form"' in doc and 'href="/cases"' in doc


def _case_from_form(c: TestClient, **fields: object) -> int:
    r = c.post("/cases", data={"csrf_token": token(c), **fields}, follow_redirects=False)
    assert r.status_code == 303, r.text[:500]
    return int(r.headers["location"].rsplit("/", 1)[1])


def _flagged_demo_document(c: TestClient, port: int) -> str:
    hits = c.get(
        "/api/search", params={"q": "根治", "institution": "private-hospital", "sort": "severity"}
    ).json()
    return next(h["doc_id"] for h in hits["hits"] if f":{port}/" in h["url"] and h["severities"])


def test_case_create_validates_and_offers_only_valid_status_changes(
    clients: dict[str, TestClient], console_data: ConsoleData
) -> None:
    c = clients["investigator"]
    bad = c.post("/cases", data={"csrf_token": token(c), "title": " ", "institution": "private-hospital"})
    assert bad.status_code == 400 and "请填写案件名称" in bad.text
    bad = c.post("/cases", data={"csrf_token": token(c), "title": "甲", "institution": "nowhere"})
    assert bad.status_code == 400 and "未知机构" in bad.text
    bad = c.post("/cases", data={"csrf_token": token(c), "title": "甲", "assignee": "t-staff"})
    assert bad.status_code == 400 and "承办人" in bad.text
    case_id = _case_from_form(c, title="华康医院虚假疗效广告", institution="private-hospital",
                              categories=["ad_efficacy_guarantee"], assignee="t-investigator")  # fmt: skip
    page = c.get(f"/cases/{case_id}", headers=HTML).text
    tree = lxml.html.fromstring(page)
    assert [o.get("value") for o in tree.cssselect("#status-form option")] == ["investigating", "closed"]
    assert "t-investigator" in page and "江州华康医院" in page
    r = c.post(f"/cases/{case_id}/status", data={"csrf_token": token(c), "status": "referred"})
    assert r.status_code == 400 and "不能从 open 改为 referred" in r.text
    for status in ("investigating", "referred"):
        r = c.post(f"/cases/{case_id}/status", data={"csrf_token": token(c), "status": status},
                   follow_redirects=False)  # fmt: skip
        assert r.status_code == 303
    tree = lxml.html.fromstring(c.get(f"/cases/{case_id}", headers=HTML).text)
    assert [o.get("value") for o in tree.cssselect("#status-form option")] == ["closed"]
    listed = c.get("/cases", params={"status": "referred"}, headers=HTML).text
    assert f'data-case="{case_id}"' in listed
    other = c.get("/cases", params={"institution": "public-hospital"}, headers=HTML).text
    assert f'data-case="{case_id}"' not in other
    audit = clients["admin"].get("/api/audit", params={"action": "case_status"}).json()["entries"]
    assert [(e["detail"]["from"], e["detail"]["to"]) for e in audit if e["target"] == f"case:{case_id}"] == [
        ("investigating", "referred"), ("open", "investigating")]  # fmt: skip
    assert c.get("/cases/999999", headers=HTML).status_code == 404


def test_hostile_document_in_a_case_is_inert(
    clients: dict[str, TestClient], console_data: ConsoleData
) -> None:
    c = clients["investigator"]
    case_id = _case_from_form(c, title="<script>alert(1)</script>案件")
    r = c.post(f"/documents/{console_data.hostile_id}/attach", data={"csrf_token": token(c), "case_id": case_id},
               follow_redirects=False)  # fmt: skip
    assert r.status_code == 303 and r.headers["location"] == f"/cases/{case_id}#documents"
    page = c.get(f"/cases/{case_id}", headers=HTML).text
    _assert_inert(page)
    assert "&lt;script&gt;alert(1)&lt;/script&gt;案件" in page
    listed = c.get("/cases", headers=HTML).text
    assert "<script>alert(1)" not in listed


def test_investigator_captures_exports_and_the_bundle_verifies(
    console_data: ConsoleData, evidence_settings: object
) -> None:
    import time
    import zipfile

    from app import cases as cases_uc

    app = create_app(evidence_settings)  # type: ignore[arg-type]
    c = login(app, console_data.user("investigator"), console_data.password)
    case_id = _case_from_form(c, title="取证测试", institution="private-hospital")
    doc_id = _flagged_demo_document(c, console_data.demo_port)
    r = c.post(f"/documents/{doc_id}/attach", data={"csrf_token": token(c), "case_id": case_id},
               follow_redirects=False)  # fmt: skip
    assert r.status_code == 303
    started = time.monotonic()
    r = c.post(f"/documents/{doc_id}/capture", data={"csrf_token": token(c), "case_id": case_id},
               follow_redirects=False)  # fmt: skip
    assert r.status_code == 303 and r.headers["location"].startswith("/capture-jobs/")
    assert time.monotonic() - started < 2.0  # the browser runs in a worker thread, not in the request
    job = r.headers["location"]
    running = c.get(job, headers=HTML, follow_redirects=False)
    if running.status_code == 200:
        assert '<meta http-equiv="refresh" content="2">' in running.text and "正在用浏览器" in running.text
    deadline = time.monotonic() + 120
    while (r := c.get(job, headers=HTML, follow_redirects=False)).status_code == 200:
        assert "取证失败" not in r.text, r.text[-1500:]
        assert time.monotonic() < deadline
        time.sleep(0.5)
    assert r.status_code == 303 and r.headers["location"].startswith(f"/cases/{case_id}#capture-")
    capture_id = r.headers["location"].split("#capture-", 1)[1]
    page = c.get(f"/cases/{case_id}", headers=HTML).text
    tree = lxml.html.fromstring(page)
    cap = tree.get_element_by_id(f"capture-{capture_id}")
    assert "已封存" in cap.text_content() and "全部文件与签名清单一致" in cap.text_content()
    files = {row.cssselect("td")[0].text_content(): row.cssselect("td")[2].text_content()
             for row in cap.cssselect("table.files tbody tr")}  # fmt: skip
    assert {"screenshot.png", "raw.html", "capture.warc.gz", "page.pdf"} <= set(files)
    assert all(re.fullmatch(r"[0-9a-f]{64}", h) for h in files.values())
    shot = c.get(f"/captures/{capture_id}/files/screenshot.png")
    assert shot.status_code == 200 and shot.headers["content-type"] == "image/png"
    assert hashlib.sha256(shot.content).hexdigest() == files["screenshot.png"]
    raw = c.get(f"/captures/{capture_id}/files/raw.html")  # crawled HTML never renders in our origin
    assert raw.headers["content-type"] == "application/octet-stream"
    assert raw.headers["content-disposition"].startswith("attachment")
    assert c.get(f"/captures/{capture_id}/files/../../yijian.db").status_code == 404
    actions = [row.get("data-action") for row in tree.cssselect("#custody-log tbody tr")]
    assert actions[:3] == ["created", "attached", "captured"] and actions[-1] == "viewed"
    assert "哈希链完整" in tree.get_element_by_id("chain").text_content()
    shown = cases_uc.show_case(evidence_settings, case_id)  # type: ignore[arg-type]
    assert {e["actor"] for e in shown["custody"]} == {"t-investigator"}
    # export: the download is the bundle, it verifies, its custody log ends with this user's export
    r = c.post(f"/cases/{case_id}/export", data={"csrf_token": token(c)})
    assert r.status_code == 200 and r.headers["content-type"] == "application/zip", r.text[:500]
    assert r.headers["x-yijian-verified"].startswith("ok")
    bundle = Path(tempfile.mkdtemp()) / "bundle.zip"
    bundle.write_bytes(r.content)
    report = cases_uc.verify(bundle)
    assert report.ok, report.problems()
    with zipfile.ZipFile(bundle) as zf:
        names = zf.namelist()
    assert any(n.endswith("screenshot.png") for n in names)
    last = cases_uc.show_case(evidence_settings, case_id)["custody"][-1]  # type: ignore[arg-type]
    assert (last["action"], last["actor"]) == ("exported", "t-investigator")
    # the bundle uploaded back verifies; with a flipped byte it does not, and the page names the file
    ok = c.post("/cases/verify", data={"csrf_token": token(c)}, files={"bundle": ("b.zip", r.content)})
    assert ok.status_code == 200 and 'data-ok="1"' in ok.text and "校验通过" in ok.text
    tampered = _flip_a_byte(bundle, "screenshot.png")
    bad = c.post("/cases/verify", data={"csrf_token": token(c)}, files={"bundle": ("t.zip", tampered)})
    assert 'data-ok="0"' in bad.text and "screenshot.png" in bad.text
    junk = c.post("/cases/verify", data={"csrf_token": token(c)}, files={"bundle": ("x.zip", b"not a zip")})
    assert junk.status_code == 200 and 'data-ok="0"' in junk.text
    audit = {e["action"] for e in clients_audit(app, console_data) if e["target"] == f"case:{case_id}"}
    assert {"case_create", "case_attach", "case_capture", "case_export"} <= audit


def clients_audit(app: FastAPI, console_data: ConsoleData) -> list[dict]:
    admin = login(app, console_data.user("admin"), console_data.password)
    return admin.get("/api/audit", params={"limit": 500}).json()["entries"]


def _flip_a_byte(bundle: Path, suffix: str) -> bytes:
    import zipfile

    out = io.BytesIO()
    with zipfile.ZipFile(bundle) as src, zipfile.ZipFile(out, "w") as dst:
        for info in src.infolist():
            data = src.read(info)
            if info.filename.endswith(suffix):
                data = data[:100] + bytes([data[100] ^ 1]) + data[101:]
            dst.writestr(info, data)
    return out.getvalue()


def test_capture_failures_are_shown_not_raised(console_data: ConsoleData, evidence_settings: object) -> None:
    """A page the capture refuses (the fixture's pages sit on an unbound 127.0.0.12 port): the job page names the
    failure, the case keeps no half-written capture, and nothing is captured into a closed case."""
    import time

    app = create_app(console_data.settings)  # private addresses not allowed here
    c = login(app, console_data.user("investigator"), console_data.password)
    case_id = _case_from_form(c, title="拒绝取证")
    r = c.post(f"/documents/{console_data.revised_id}/capture", data={"csrf_token": token(c), "case_id": case_id},
               follow_redirects=False)  # fmt: skip
    job = r.headers["location"]
    deadline = time.monotonic() + 60
    while 'data-status="running"' in (page := c.get(job, headers=HTML).text):
        assert time.monotonic() < deadline
        time.sleep(0.3)
    assert 'data-status="failed"' in page and "不允许取证" in page
    case_page = c.get(f"/cases/{case_id}", headers=HTML).text
    assert "尚无取证" in case_page and "取证失败" in case_page
    c.post(f"/cases/{case_id}/status", data={"csrf_token": token(c), "status": "closed"})
    r = c.post(
        f"/documents/{console_data.revised_id}/capture", data={"csrf_token": token(c), "case_id": case_id}
    )
    assert r.status_code == 400 and "已结案" in r.text
    r = c.post(
        f"/documents/{console_data.revised_id}/attach", data={"csrf_token": token(c), "case_id": case_id}
    )
    assert r.status_code == 400
    admin = login(app, console_data.user("admin"), console_data.password)
    assert admin.get(job, headers=HTML).status_code == 200  # an admin may follow anyone's job
    assert c.get("/capture-jobs/nosuchjob", headers=HTML).status_code == 404


# -------------------------------------------------------------------------------------- admin: registries
def _admin_post(c: TestClient, path: str, **data: str) -> object:
    return c.post(path, data={"csrf_token": token(c), **data}, headers=HTML, follow_redirects=False)


def test_admin_edits_sources_over_the_yaml_registry(
    clients: dict[str, TestClient], console_data: ConsoleData
) -> None:
    from apscheduler.schedulers.background import BackgroundScheduler

    from app.registries import active_sources, load_source_registry
    from scheduler import configure

    admin, settings = clients["admin"], console_data.settings
    new = {"action": "add", "id": "t-added-site", "name": "新增<b>来源</b>", "type": "site",
           "start_urls": "http://127.0.0.77/index.html", "allowed_domains": "", "depth": "2", "max_pages": "50",
           "render": "js", "schedule": "0 2 * * *", "institution": "private-hospital", "region": "广东省江州市"}  # fmt: skip
    for role in ("staff", "analyst", "investigator"):  # refused before anything is stored
        assert _admin_post(clients[role], "/admin/sources", **new).status_code == 403
        assert (
            _admin_post(clients[role], "/admin/sources", action="pause", id="public-hospital").status_code
            == 403
        )
    assert "t-added-site" not in {s.id for s in load_source_registry(settings)}
    bad = _admin_post(admin, "/admin/sources", **{**new, "schedule": "每天两点"})
    assert bad.status_code == 400 and "抓取计划" in bad.text and "cron" in bad.text
    assert "t-added-site" not in {s.id for s in load_source_registry(settings)}
    assert _admin_post(admin, "/admin/sources", **new).status_code == 303
    assert _admin_post(admin, "/admin/sources", **new).status_code == 400  # the id exists now
    assert _admin_post(admin, "/admin/sources", action="pause", id="public-hospital").status_code == 303
    r = _admin_post(
        admin, "/admin/sources", action="update", id="news-local", schedule="61 * * * *", render="js"
    )
    assert r.status_code == 400 and "抓取计划" in r.text
    r = _admin_post(
        admin, "/admin/sources", action="update", id="news-local", schedule="0 8 * * 1", render="js"
    )
    assert r.status_code == 303
    try:
        sources = {s.id: s for s in load_source_registry(settings)}  # what the crawl and the scheduler read
        added = sources["t-added-site"]
        assert (added.render, added.schedule, added.depth, added.max_pages) == ("js", "0 2 * * *", 2, 50)
        assert added.allowed_domains == ["127.0.0.77"] and added.institution == "private-hospital"
        assert sources["public-hospital"].enabled is False and sources["private-hospital"].enabled is True
        assert (sources["news-local"].schedule, sources["news-local"].render) == ("0 8 * * 1", "js")
        assert "public-hospital" not in {s.id for s in active_sources(list(sources.values()))}
        sched = BackgroundScheduler(timezone="Asia/Shanghai")  # in memory: only what configure() adds
        sched.start(paused=True)
        try:
            configure(sched, settings)
            crawl_args = [j.args[1] for j in sched.get_jobs() if j.id.startswith("crawl:")]
            scheduled = {sid for ids in crawl_args for sid in ids}
            assert "t-added-site" in scheduled and "public-hospital" not in scheduled
            assert sched.get_job("crawl:0_8_*_*_1").args[1] == ["news-local"]
        finally:
            sched.shutdown(wait=False)
        page = admin.get("/admin/sources", headers=HTML).text
        assert "新增&lt;b&gt;来源&lt;/b&gt;" in page and "新增<b>" not in page  # user text escaped
        row = lxml.html.fromstring(page).xpath('//tr[@data-source="public-hospital"]')[0].text_content()
        assert "已暂停" in row and "恢复" in row
        entries = admin.get("/api/audit").json()
        rows = entries["entries"] if isinstance(entries, dict) else entries
        actions = {(e["action"], e["target"]) for e in rows}
        assert {("source_add", "t-added-site"), ("source_update", "public-hospital"),
                ("source_update", "news-local")} <= actions  # fmt: skip
    finally:
        assert _admin_post(admin, "/admin/sources", action="resume", id="public-hospital").status_code == 303
    assert {s.id: s for s in load_source_registry(settings)}["public-hospital"].enabled is True


def test_admin_edits_licensed_scope_and_the_scope_check_follows(
    clients: dict[str, TestClient], console_data: ConsoleData
) -> None:
    from app.registries import load_institution_registry
    from classifiers.institutions import scope_findings

    admin, settings = clients["admin"], console_data.settings
    page_text = "本诊所开展双眼皮手术、隆鼻，术后无忧。"
    new = {"action": "add", "id": "t-clinic", "name": "江州测试诊所", "type": "clinic", "region": "广东省江州市",
           "licence_no": "PDY-TEST-001", "licensed_subjects": "内科、外科", "aliases": "", "domains": "t.example"}  # fmt: skip
    assert _admin_post(clients["analyst"], "/admin/institutions", **new).status_code == 403
    assert _admin_post(clients["staff"], "/admin/institutions", action="update", id="private-hospital",
                       licensed_subjects="内科").status_code == 403  # fmt: skip
    r = _admin_post(admin, "/admin/institutions", **{**new, "licensed_subjects": "内科、火星科"})
    assert r.status_code == 400 and "未知诊疗科目" in r.text and "火星科" in r.text
    assert _admin_post(admin, "/admin/institutions", **new).status_code == 303
    inst = load_institution_registry(settings).get("t-clinic")
    assert inst is not None and inst.licensed_subjects == ("内科", "外科")
    before = [f.category for f in scope_findings(inst, page_text)]
    assert "svc_out_of_scope_practice" in before  # 美容外科 is not covered by 外科
    r = _admin_post(admin, "/admin/institutions", action="update", id="t-clinic", type="clinic",
                    region="广东省江州市", licence_no="PDY-TEST-001", licensed_subjects="内科 外科 美容外科")  # fmt: skip
    assert r.status_code == 303
    inst = load_institution_registry(settings).get("t-clinic")
    assert inst is not None and "美容外科" in inst.licensed_subjects
    assert [f.category for f in scope_findings(inst, page_text)] == []
    r = _admin_post(admin, "/admin/institutions", action="update", id="t-clinic", type="spa")
    assert r.status_code == 400 and "机构类型" in r.text
    page = admin.get("/admin/institutions", headers=HTML).text
    row = lxml.html.fromstring(page).xpath('//tr[@data-institution="t-clinic"]')[0]
    assert "美容外科" in row.xpath(".//input[@name='licensed_subjects']/@value")[0]
    entries = admin.get("/api/audit").json()
    rows = entries["entries"] if isinstance(entries, dict) else entries
    actions = [(e["action"], e["target"]) for e in rows]
    assert ("institution_add", "t-clinic") in actions and ("institution_update", "t-clinic") in actions
