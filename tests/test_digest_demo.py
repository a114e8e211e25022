"""The digest and the campaign statistics of the demo data, through the real CLI: the demo web crawled once, then
`yijian digest --send` (into a real SMTP server and a local robot receiver), the archived HTML rendered to PNG in
headless Chromium (kept under tests/artifacts/, git-ignored, to look at), and `yijian report` opened back with
openpyxl and checked against the store."""

from __future__ import annotations

import datetime as dt
import email
import json
import sqlite3
import subprocess
from email import policy
from pathlib import Path
from typing import Any

import pytest
from openpyxl import load_workbook

from crawlers.settings import PLAYWRIGHT_LAUNCH_OPTIONS
from demo.server import DemoWeb
from tests.demo_env import YIJIAN, demo_env
from tests.digest_support import Receiver, smtp_server

pytestmark = pytest.mark.e2e
ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
TODAY = dt.datetime.now(dt.UTC).astimezone(dt.timezone(dt.timedelta(hours=8))).date().isoformat()


def _cli(env: dict[str, str], *args: str) -> Any:
    proc = subprocess.run([*YIJIAN, *args], env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout) if "--json" in args else proc.stdout


@pytest.fixture(scope="module")
def crawled(tmp_path_factory: pytest.TempPathFactory):
    web = DemoWeb()
    web.start()
    assert web.port is not None
    data = tmp_path_factory.mktemp("digest-demo") / "data"
    env = demo_env(data, web.port)
    try:
        # The crawl alerts right after it is stored (app/crawl.py → app/digest.py), on a robot receiver.
        with Receiver() as rx:
            alert_env = {
                **env,
                "YIJIAN_WECOM_WEBHOOK": rx.url("/alerts?key=a1"),
                "YIJIAN_CONSOLE_URL": "http://c.jz",
            }
            summary = _cli(alert_env, "crawl", "--all", "--json")
        assert summary["pages"] > 0
        yield data, env, summary, rx.requests
    finally:
        web.stop()


def test_the_crawl_sent_one_threshold_alert(crawled) -> None:
    data, _, summary, requests = crawled
    assert summary["alerts"]["wecom"]["status"] == "sent"
    (alert,) = requests  # every S1 item of the run in one message
    content = alert.body["markdown"]["content"]
    with sqlite3.connect(data / "yijian.db") as db:
        s1_items = db.execute(
            "select count(distinct document_id || category) from findings where severity='S1'"
        ).fetchone()[0]
        keys = [k for (k,) in db.execute("select key from alerts where channel='wecom' and status='sent'")]
    assert (
        content.startswith(f"### 【医鉴告警】{s1_items} 条严重线索") and "http://c.jz/documents/" in content
    )
    findings = [k for k in keys if k.startswith("finding:")]
    assert len(findings) == s1_items > 0 and summary["alerts"]["wecom"]["sent"] == len(keys)


@pytest.mark.browser
def test_demo_digest_sent_archived_and_rendered(crawled, tmp_path: Path) -> None:
    data, env, _, _ = crawled
    with smtp_server() as (port, box), Receiver() as rx:
        send_env = {
            **env,
            "YIJIAN_SMTP_HOST": "127.0.0.1",
            "YIJIAN_SMTP_PORT": str(port),
            "YIJIAN_SMTP_STARTTLS": "false",
            "YIJIAN_SMTP_USER": "robot",
            "YIJIAN_SMTP_PASSWORD": "口令-secret",
            "YIJIAN_DIGEST_FROM": "yijian@jiangzhou.gov.cn",
            "YIJIAN_DIGEST_TO": "analyst@jiangzhou.gov.cn",
            "YIJIAN_WECOM_WEBHOOK": rx.url("/cgi-bin/webhook/send?key=k1"),
            "YIJIAN_DINGTALK_WEBHOOK": rx.url("/robot/send?access_token=t1"),
            "YIJIAN_DINGTALK_SECRET": "SECdemo",
            "YIJIAN_CONSOLE_URL": "http://console.jz.gov.cn:8000",
        }
        out = tmp_path / "digest"
        result = _cli(send_env, "digest", "--date", TODAY, "--out", str(out), "--send", "--json")
    assert result["deliveries"] == {"email": "sent", "wecom": "sent", "dingtalk": "sent"}
    totals = result["totals"]
    assert totals["flagged_documents"] > 0 and totals["severe_documents"] > 0
    # The archive: files on disk and a row the console can list.
    archive = Path(result["archive"])
    assert archive == data / "digests" / TODAY / "all"
    for name in ("digest.html", "digest.md", "digest.json", "charts/categories.png", "charts/trend.png"):
        assert (archive / name).is_file() and (out / name).is_file()
    with sqlite3.connect(data / "yijian.db") as db:
        assert db.execute("select day, scope, path from digests").fetchall() == [(TODAY, "", str(archive))]
    digest = json.loads((archive / "digest.json").read_text(encoding="utf-8"))
    assert all(
        i["link"].startswith("http://console.jz.gov.cn:8000/documents/") for i in digest["severe_items"]
    )
    # What the mail server got.
    (mail,) = box.messages
    msg = email.message_from_bytes(mail["data"], policy=policy.default)
    assert msg["Subject"] == f"医鉴监测日报 {TODAY}"
    assert [p.get_content_type() for p in msg.walk()] == [
        "multipart/alternative",
        "text/plain",
        "multipart/related",
        "text/html",
        "image/png",
        "image/png",
    ]
    assert len(rx.requests) == 2 and "sign" in rx.at("/robot/send")[0].query

    # The archived HTML in headless Chromium: Chinese text, both charts loaded; the PNG is kept as an artefact.
    from playwright import sync_api

    ARTIFACTS.mkdir(exist_ok=True)
    shot = ARTIFACTS / "digest-demo.png"
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=PLAYWRIGHT_LAUNCH_OPTIONS["executable_path"],
            args=PLAYWRIGHT_LAUNCH_OPTIONS["args"],
        )
        try:
            page = browser.new_page(viewport={"width": 800, "height": 1000})
            page.goto((archive / "digest.html").as_uri())
            page.wait_for_load_state("load")
            text = page.inner_text("body")
            widths = page.eval_on_selector_all("img", "imgs => imgs.map(i => i.naturalWidth)")
            page.screenshot(path=str(shot), full_page=True)
        finally:
            browser.close()
    assert f"医鉴监测日报 {TODAY}" in text and "负面舆情突增的判定" in text and "新增 S1/S2 线索" in text
    assert len(widths) == 2 and all(w > 300 for w in widths)
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 50_000


def test_campaign_report_excel_totals_match_the_store(crawled, tmp_path: Path) -> None:
    data, env, _, _ = crawled
    db = sqlite3.connect(data / "yijian.db")
    try:
        # One reviewer confirmation on a finding, through the CLI.
        doc_id, finding_id = db.execute(
            "select document_id, id from findings where severity = 'S1' order by id limit 1"
        ).fetchone()
        _cli(
            env,
            "feedback",
            doc_id,
            "--finding",
            str(finding_id),
            "--decision",
            "confirm",
            "--reviewer",
            "王五",
        )
        flags = db.execute(
            "select count(*) from (select distinct document_id, category from findings)"
        ).fetchone()[0]
        documents = db.execute("select count(distinct document_id) from findings").fetchone()[0]
        institutions = db.execute(
            "select count(distinct d.institution_id) from findings f join documents d on d.id = f.document_id"
            " where d.institution_id is not null"
        ).fetchone()[0]
        by_category = dict(
            db.execute(
                "select category, count(distinct document_id) from findings group by category"
            ).fetchall()
        )
    finally:
        db.close()
    xlsx = tmp_path / "专项整治统计.xlsx"
    _cli(env, "report", "--from", TODAY, "--to", TODAY, "--out", str(xlsx))
    wb = load_workbook(xlsx)
    assert wb.sheetnames == ["汇总", "按违法类别", "按地区", "按机构类型", "按机构"]
    summary = {
        row[0]: row[1] for row in wb["汇总"].iter_rows(min_row=6, max_col=2, values_only=True) if row[0]
    }
    assert summary["发现问题数（条）"] == flags
    assert summary["确认违法数（条）"] == 1
    assert summary["涉及网页数（篇）"] == documents
    assert summary["涉及机构数（家）"] == institutions
    assert summary["立案数（件）"] == 0  # the demo opens no case
    for sheet in ("按违法类别", "按地区", "按机构类型", "按机构"):
        rows = list(wb[sheet].iter_rows(values_only=True))
        assert rows[0][:3] == (rows[0][0], "发现问题数（条）", "确认违法数（条）")
        body, total = rows[1:-1], rows[-1]
        assert total[0] == "合计" and total[1] == flags and total[2] == 1
        assert sum(r[1] for r in body) == flags and sum(r[2] for r in body) == 1
        assert all(r[5] == 0 and r[6] == 0 for r in rows[1:])
    # Per category, the flags are the documents with that category.
    cat_rows = list(wb["按违法类别"].iter_rows(min_row=2, values_only=True))[:-1]
    assert sorted(r[1] for r in cat_rows) == sorted(by_category.values())
    md = _cli(env, "report", "--from", TODAY, "--to", TODAY)
    assert f"| 发现问题数（条） | {flags} |" in md
