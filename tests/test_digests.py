"""Daily digest counting, the spike test, channels (real SMTP server and HTTP receiver on localhost), retries,
threshold alerts (de-duplication, rate limit) and campaign statistics, on pages written through the real store."""

from __future__ import annotations

import base64
import datetime as dt
import email
import hashlib
import hmac
import math
from email import policy
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from app.digest import alert_after_run, campaign_report, list_digests, make_digest, retry_unsent
from config import get_settings
from demo.server import find_free_port
from digests.build import build_digest
from digests.channels import DingTalkChannel, SmtpChannel, WeComChannel, deliver, dingtalk_sign
from digests.charts import digest_charts
from digests.render import Message, digest_message
from digests.stats import SpikeTest, poisson_upper_tail
from store.db import Store
from store.digests import Alerts, Deliveries
from tests.digest_support import Receiver, at, finding, save_page, self_signed_cert, smtp_server

DAY = dt.date(2026, 11, 30)


@pytest.fixture
def settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    for var in ("YIJIAN_SMTP_HOST", "YIJIAN_WECOM_WEBHOOK", "YIJIAN_DINGTALK_WEBHOOK", "YIJIAN_DIGEST_TO"):
        monkeypatch.delenv(var, raising=False)
    return get_settings(data_dir=tmp_path / "data", console_url="https://console.example.gov.cn/")


@pytest.fixture
def store(settings):
    s = Store.from_settings(settings)
    s.upsert_institutions(
        [
            {"id": "h1", "name": "江州华康医院", "type": "private_hospital", "region": "广东省江州市"},
            {"id": "h2", "name": "江州市第一人民医院", "type": "public_hospital", "region": "广东省江州市"},
            {"id": "s1", "name": "美蒂养生会所", "type": "beauty_salon", "region": "广西壮族自治区南宁市"},
        ]
    )
    yield s
    s.close()


def _negative(store: Store, n: int, day: dt.date, inst: str, prefix: str) -> None:
    for i in range(n):
        save_page(
            store,
            f"http://news.test/{prefix}-{day}-{i}",
            at(day, 9 + i % 10),
            institution=inst,
            region="广西壮族自治区南宁市" if inst == "s1" else "广东省江州市",
            labels=["negative_sentiment"],
            findings=[finding("sent_medical_dispute", "negative_sentiment", "P3", f"投诉{prefix}{i}")],
        )


def _populate(store: Store) -> dict[str, str]:
    docs = {}
    # An ad page whose previous version (day before) already had one claim: only the new claim is new today.
    save_page(
        store,
        "http://h1.test/ad",
        at(DAY - dt.timedelta(days=1)),
        institution="h1",
        labels=["exaggerated_efficacy"],
        findings=[finding("ad_efficacy_guarantee", "exaggerated_efficacy", "S2", "一次治愈")],
    )
    docs["ad"], _ = save_page(
        store,
        "http://h1.test/ad",
        at(DAY),
        institution="h1",
        labels=["exaggerated_efficacy"],
        findings=[
            finding("ad_efficacy_guarantee", "exaggerated_efficacy", "S2", "一次治愈"),
            finding("ad_cure_rate_stats", "exaggerated_efficacy", "S2", "治愈率99%"),
        ],
    )
    docs["cell"], _ = save_page(
        store,
        "http://h1.test/cell",
        at(DAY, 15),
        institution="h1",
        labels=["unapproved_service"],
        findings=[finding("svc_unapproved_cell_gene_therapy", "unapproved_service", "S1", "干细胞回输")],
    )
    save_page(store, "http://h2.test/clean", at(DAY), institution="h2")
    # h2: 5 negative items today, none in the 7 days before → a spike; s1: 1 a day for a week and 2 today → none.
    _negative(store, 5, DAY, "h2", "h2")
    for back in range(1, 8):
        _negative(store, 1, DAY - dt.timedelta(days=back), "s1", "s1")
    _negative(store, 2, DAY, "s1", "s1")
    # The next day does not count for DAY.
    _negative(store, 3, DAY + dt.timedelta(days=1), "h1", "later")
    return docs


def test_poisson_tail_and_the_stated_test() -> None:
    # P(X >= 3 | λ = 1/7) = 1 − e^−λ (1 + λ + λ²/2)
    lam = 1 / 7
    expected = 1 - math.exp(-lam) * (1 + lam + lam**2 / 2)
    assert poisson_upper_tail(3, lam) == pytest.approx(expected, rel=1e-9)
    assert poisson_upper_tail(0, 5.0) == 1.0
    test = SpikeTest(min_count=3, p_value=0.01)
    assert test.check(5, 0)[0] is True  # 5 against a quiet week
    assert test.check(2, 0)[0] is False  # below the minimum count
    assert test.check(3, 21)[0] is False  # 3 a day is the usual
    assert "泊松" in test.sentence() and "0.01" in test.sentence()


def test_digest_counts_new_flags_of_the_beijing_day(store: Store) -> None:
    docs = _populate(store)
    d = build_digest(
        store,
        DAY,
        console_url="https://console.example.gov.cn/",
        category_names={"ad_cure_rate_stats": "治愈率/有效率等统计"},
    )
    labels = {r["id"]: r["count"] for r in d["by_label"]}
    # The ad's label was already on its previous version: not new. 7 negative docs (5 h2 + 2 s1), 1 cell page.
    assert labels == {"unapproved_service": 1, "negative_sentiment": 7}
    categories = {r["id"]: r["count"] for r in d["by_category"]}
    assert categories["ad_cure_rate_stats"] == 1 and "ad_efficacy_guarantee" not in categories
    assert {r["id"]: r["count"] for r in d["by_severity"]} == {"S1": 1, "S2": 1, "P3": 7}
    assert d["by_category"][0]["name"]  # names applied
    top = {r["id"]: r["count"] for r in d["top_institutions"]}
    assert top == {"h2": 5, "h1": 2, "s1": 2}
    # The spike: h2 only, with its statistics and the sentence that explains the test.
    assert [s["institution_id"] for s in d["spikes"]] == ["h2"]
    assert d["spikes"][0]["today"] == 5 and d["spikes"][0]["previous_7_days"] == 0
    assert d["spikes"][0]["p_value"] < 0.01 and d["spike_test"].startswith("负面舆情突增的判定")
    # Increases against the 7-day mean: h2 (+5) first.
    assert d["increases"]["institutions"][0]["id"] == "h2"
    # S1/S2 items link into the console; S1 first.
    severe = d["severe_items"]
    assert [i["document_id"] for i in severe] == [docs["cell"], docs["ad"]]
    assert severe[0]["link"] == f"https://console.example.gov.cn/documents/{docs['cell']}"
    assert severe[1]["categories"] == ["治愈率/有效率等统计"]
    assert d["trend"]["days"][-1] == DAY.isoformat() and d["trend"]["by_label"]["negative_sentiment"][-1] == 7
    # A region scope keeps only that region's documents.
    gx = build_digest(store, DAY, console_url="x", region="广西")
    assert {r["id"]: r["count"] for r in gx["by_label"]} == {"negative_sentiment": 2}


def _message(store: Store) -> Message:
    d = build_digest(store, DAY, console_url="https://console.example.gov.cn")
    return digest_message(d, digest_charts(d))


@pytest.mark.parametrize("tls", ["none", "starttls", "implicit"])
def test_smtp_delivers_multipart_digest_with_inline_charts(store: Store, tmp_path: Path, tls: str) -> None:
    _populate(store)
    message = _message(store)
    cert = self_signed_cert(tmp_path) if tls != "none" else None
    with smtp_server(tls=tls, cert=cert) as (port, box):
        channel = SmtpChannel(
            host="127.0.0.1" if tls == "none" else "localhost",
            port=port,
            sender="yijian@jiangzhou.gov.cn",
            recipients=["analyst@jiangzhou.gov.cn", "chief@jiangzhou.gov.cn"],
            user="robot",
            password="口令-secret",
            starttls=tls == "starttls",
            implicit_tls=tls == "implicit",
            ca_file=cert[0] if cert else None,
            timeout=10,
        )
        result = deliver(
            store, kind="digest", ref=f"t-{tls}", message=message, channels=[channel], backoff_s=0
        )
    assert result == {"email": "sent"}
    (got,) = box.messages
    assert got["authenticated"] and got["tls"] == (tls != "none")
    assert got["to"] == ["analyst@jiangzhou.gov.cn", "chief@jiangzhou.gov.cn"]
    raw = got["data"]
    # The Chinese subject travels RFC 2047-encoded and decodes back.
    subject_line = next(line for line in raw.split(b"\r\n") if line.startswith(b"Subject:"))
    assert b"=?utf-8?" in subject_line.lower()
    msg = email.message_from_bytes(raw, policy=policy.default)
    assert msg["Subject"] == f"医鉴监测日报 {DAY.isoformat()}"
    assert msg.get_content_type() == "multipart/alternative"
    plain, related = msg.get_payload()
    assert plain.get_content_type() == "text/plain" and "新增 S1/S2 线索" in plain.get_content()
    assert related.get_content_type() == "multipart/related"
    html_part, *images = related.get_payload()
    html = html_part.get_content()
    assert html_part.get_content_type() == "text/html" and "负面舆情突增" in html
    assert len(images) == 2
    for img in images:
        assert img.get_content_type() == "image/png"
        assert img.get_content().startswith(b"\x89PNG")
        cid = str(img["Content-ID"]).strip().strip("<>")
        assert "\n" not in img.as_string().split("Content-ID:", 1)[1].split(">", 1)[0]  # not folded
        assert f'src="cid:{cid}"' in html
        assert img.get_content_disposition() == "inline"


def test_smtp_wrong_password_is_a_recorded_failure(store: Store) -> None:
    with smtp_server() as (port, box):
        channel = SmtpChannel(
            host="127.0.0.1",
            port=port,
            sender="a@b.cn",
            recipients=["c@d.cn"],
            user="robot",
            password="wrong",
            starttls=False,
        )
        result = deliver(
            store,
            kind="digest",
            ref="pw",
            message=Message("主题", "正文", "正文"),
            channels=[channel],
            attempts=2,
            backoff_s=0,
        )
    assert result == {"email": "failed"} and box.messages == []
    (row,) = Deliveries(store).find(ref="pw")
    attempts = Deliveries(store).attempts(row["id"])
    assert [a["ok"] for a in attempts] == [False, False] and "Authentication" in attempts[0]["error"]


def test_robot_payloads_and_dingtalk_signature(store: Store) -> None:
    _populate(store)
    message = _message(store)
    secret = "SEC0123456789abcdef"
    with Receiver() as rx:
        wecom = WeComChannel(rx.url("/cgi-bin/webhook/send?key=abc-123"))
        ding = DingTalkChannel(
            rx.url("/robot/send?access_token=tok"), secret=secret, clock=lambda: 1_765_000_000.123
        )
        result = deliver(
            store, kind="digest", ref="robots", message=message, channels=[wecom, ding], backoff_s=0
        )
    assert result == {"wecom": "sent", "dingtalk": "sent"}
    (w,) = rx.at("/cgi-bin/webhook/send")
    assert w.query == {"key": ["abc-123"]} and w.content_type.startswith("application/json")
    assert w.body["msgtype"] == "markdown" and set(w.body) == {"msgtype", "markdown"}
    assert w.body["markdown"]["content"].startswith(f"### 医鉴监测日报 {DAY.isoformat()}")
    assert "https://console.example.gov.cn/documents/" in w.body["markdown"]["content"]
    assert len(w.body["markdown"]["content"].encode()) <= 4096
    (d,) = rx.at("/robot/send")
    assert (
        d.body["msgtype"] == "markdown" and d.body["markdown"]["title"] == f"医鉴监测日报 {DAY.isoformat()}"
    )
    assert "负面舆情突增" in d.body["markdown"]["text"]
    # The URL as configured (access_token kept), plus timestamp and sign = base64(HMAC-SHA256("ts\nsecret")).
    assert d.query["access_token"] == ["tok"] and d.query["timestamp"] == ["1765000000123"]
    expected = base64.b64encode(
        hmac.new(secret.encode(), f"1765000000123\n{secret}".encode(), hashlib.sha256).digest()
    ).decode()
    assert d.query["sign"] == [expected] == [dingtalk_sign(secret, 1765000000123)]


def test_a_channel_that_is_down_is_retried_and_the_others_deliver(
    settings, store: Store, monkeypatch
) -> None:
    _populate(store)
    dead_port = find_free_port()  # nothing listens there
    with Receiver() as rx, smtp_server() as (port, box):
        rx.fail_first["/wecom"] = 2  # down for two tries, then up
        for var, value in {
            "YIJIAN_SMTP_HOST": "127.0.0.1",
            "YIJIAN_SMTP_PORT": str(dead_port),
            "YIJIAN_SMTP_STARTTLS": "false",
            "YIJIAN_SMTP_USER": "robot",
            "YIJIAN_SMTP_PASSWORD": "口令-secret",
            "YIJIAN_DIGEST_TO": "a@jz.gov.cn, b@jz.gov.cn",
            "YIJIAN_DIGEST_FROM": "yijian@jz.gov.cn",
            "YIJIAN_WECOM_WEBHOOK": rx.url("/wecom?key=k"),
            "YIJIAN_DINGTALK_WEBHOOK": rx.url("/ding?access_token=t"),
            "YIJIAN_DELIVERY_ATTEMPTS": "3",
            "YIJIAN_DELIVERY_BACKOFF_S": "0.05",
            "YIJIAN_SMTP_TIMEOUT_S": "2",
        }.items():
            monkeypatch.setenv(var, value)
        s = get_settings(data_dir=settings.data_dir)
        result = make_digest(s, DAY, send=True)
        # SMTP is down (nothing listens): 3 attempts, failed. WeCom: 500, 500, then ok. DingTalk: ok at once.
        assert result["deliveries"] == {"email": "failed", "wecom": "sent", "dingtalk": "sent"}
        assert len(rx.at("/wecom")) == 3 and len(rx.at("/ding")) == 1
        rows = {r["channel"]: r for r in Deliveries(store).find(kind="digest")}
        assert rows["email"]["status"] == "failed" and rows["email"]["attempts"] == 3
        assert [a["ok"] for a in Deliveries(store).attempts(rows["wecom"]["id"])] == [False, False, True]
        (listed,) = list_digests(s)
        assert (listed["day"], listed["scope"], listed["id"]) == (DAY.isoformat(), "", result["archive_id"])
        assert listed["totals"]["severe_documents"] == 2
        # Sending again does not repeat what was delivered.
        again = make_digest(s, DAY, send=True)
        assert again["deliveries"]["wecom"] == "sent" and len(rx.at("/wecom")) == 3
        # The mail server comes back: the retry job sends the archived digest, on that channel only.
        monkeypatch.setenv("YIJIAN_SMTP_PORT", str(port))
        retried = retry_unsent(get_settings(data_dir=settings.data_dir))
    assert [r["status"] for r in retried["digests"]] == [{"email": "sent"}]
    (mail,) = box.messages
    assert mail["to"] == ["a@jz.gov.cn", "b@jz.gov.cn"]
    assert (
        email.message_from_bytes(mail["data"], policy=policy.default)["Subject"]
        == f"医鉴监测日报 {DAY.isoformat()}"
    )
    assert Deliveries(store).unsent() == []
    assert len(rx.at("/wecom")) == 3 and len(rx.at("/ding")) == 1


def test_alerts_are_deduplicated_and_rate_limited(settings, store: Store, monkeypatch) -> None:
    today = dt.datetime.now(dt.UTC).astimezone(dt.timezone(dt.timedelta(hours=8))).date()
    run1 = store.start_run(["test"])
    cell, _ = save_page(
        store,
        "http://h1.test/cell-now",
        dt.datetime.now(dt.UTC),
        institution="h1",
        labels=["unapproved_service"],
        findings=[finding("svc_unapproved_cell_gene_therapy", "unapproved_service", "S1", "干细胞回输")],
        run_id=run1,
    )
    with Receiver() as rx:
        monkeypatch.setenv("YIJIAN_WECOM_WEBHOOK", rx.url("/wecom"))
        monkeypatch.setenv("YIJIAN_ALERT_MIN_INTERVAL_S", "3600")
        monkeypatch.setenv("YIJIAN_ALERT_WATCH_INSTITUTIONS", "h2")
        s = get_settings(data_dir=settings.data_dir, console_url="https://c.gov.cn")
        first = alert_after_run(s, run1, store=store)
        assert first["wecom"]["status"] == "sent" and first["wecom"]["sent"] == 1
        (msg,) = rx.at("/wecom")
        content = msg.body["markdown"]["content"]
        assert (
            content.startswith("### 【医鉴告警】1 条严重线索")
            and f"https://c.gov.cn/documents/{cell}" in content
        )
        # The same item never alerts twice.
        assert alert_after_run(s, run1, store=store)["wecom"] == {
            "queued": 0,
            "pending": 0,
            "sent": 0,
            "status": "idle",
        }
        # A watched institution's spike comes within the interval: queued, held back (rate limit), not lost.
        run2 = store.start_run(["test"])
        for i in range(4):
            save_page(
                store,
                f"http://news.test/h2-now-{i}",
                dt.datetime.now(dt.UTC),
                institution="h2",
                labels=["negative_sentiment"],
                findings=[finding("sent_medical_dispute", "negative_sentiment", "P3", f"投诉{i}")],
                run_id=run2,
            )
        held = alert_after_run(s, run2, store=store)["wecom"]
        assert held["status"] == "rate_limited" and held["queued"] == 1 and len(rx.requests) == 1
        # Once the interval has passed, the next flush sends it.
        monkeypatch.setenv("YIJIAN_ALERT_MIN_INTERVAL_S", "0")
        later = retry_unsent(get_settings(data_dir=settings.data_dir))["alerts"]["wecom"]
        assert later["status"] == "sent" and later["sent"] == 1
    spike_msg = rx.requests[-1].body["markdown"]["content"]
    assert "舆情突增" in spike_msg and "江州市第一人民医院" in spike_msg and today.isoformat() in spike_msg
    keys = {a["key"] for a in Alerts(store).all()}
    assert keys == {f"finding:{cell}:svc_unapproved_cell_gene_therapy", f"spike:h2:{today.isoformat()}"}


def test_campaign_statistics_count_flags_and_confirmed(settings, store: Store, tmp_path: Path) -> None:
    docs = _populate(store)
    store.add_feedback(
        document_id=docs["cell"],
        finding_id=None,
        label="unapproved_service",
        decision="confirm",
        reviewer="张三",
    )
    ad = store.get_document(docs["ad"])
    cure = next(f for f in ad["findings"] if f["category"] == "ad_cure_rate_stats")
    store.add_feedback(
        document_id=docs["ad"], finding_id=cure["id"], label=None, decision="escalate", reviewer="李四"
    )
    start, end = DAY - dt.timedelta(days=1), DAY
    stats = campaign_report(settings, start, end, out=tmp_path / "r.xlsx")
    # Flags: ad (2 categories over 2 versions), cell, 5 h2 + (1 + 2) s1 negatives = 11; confirmed: cell + cure rate.
    assert stats["totals"] == {
        "flags": 11,
        "confirmed": 2,
        "documents": 10,
        "institutions": 3,
        "cases_opened": 0,
        "cases_referred": 0,
    }
    by_type = {r["name"]: r for r in stats["by_institution_type"]}
    assert by_type["民营医院"]["flags"] == 3 and by_type["民营医院"]["confirmed"] == 2
    assert stats["cases"] == {"opened": 0, "referred": 0}
    gx = campaign_report(settings, start, end, region="广西")
    assert gx["totals"] == {
        "flags": 3,
        "confirmed": 0,
        "documents": 3,
        "institutions": 1,
        "cases_opened": 0,
        "cases_referred": 0,
    }
    md = tmp_path / "r.md"
    campaign_report(settings, start, end, out=md)
    assert "| 合计 | 11 | 2 | 10 | 3 | 0 | 0 |" in md.read_text(encoding="utf-8")
    with pytest.raises(ValueError):
        campaign_report(settings, end, start)


def test_campaign_statistics_count_cases_opened_and_referred(settings, store: Store) -> None:
    """立案数 = cases an investigator opened in the period (auto-capture's holding cases not counted); 移送数 =
    cases whose status became referred in the period; by category, a case counts once for each category."""
    from app.cases import create_case, set_status
    from store.models import CaseRow

    _populate(store)  # registers the institutions h1 (民营医院) and h2 (公立医院)
    referred = create_case(settings, "华康医院干细胞广告", institution_id="h1",
                           categories=["svc_unapproved_cell_gene_therapy", "ad_efficacy_guarantee"])  # fmt: skip
    set_status(settings, referred, "investigating", actor="王五")
    set_status(settings, referred, "referred", actor="王五")
    create_case(settings, "第一人民医院 待查", institution_id="h2")
    auto = create_case(settings, "自动取证存证", institution_id="h1")
    with store._write() as s:
        s.get(CaseRow, auto).origin = "auto"
    today = dt.datetime.now(ZoneInfo("Asia/Shanghai")).date()
    stats = campaign_report(settings, today, today)
    assert stats["cases"] == {"opened": 2, "referred": 1}
    by_type = {r["name"]: (r["cases_opened"], r["cases_referred"]) for r in stats["by_institution_type"]}
    assert by_type == {"民营医院": (1, 1), "公立医院": (1, 0)}
    by_cat = {r["name"]: (r["cases_opened"], r["cases_referred"]) for r in stats["by_category"]}
    assert set(by_cat.values()) == {(1, 1), (1, 0)} and len(by_cat) == 3  # two categories + 未分类
    assert stats["institutions_involved"] == ["江州华康医院", "江州市第一人民医院"]
    # a period before the cases were opened counts none of them
    assert campaign_report(settings, DAY, DAY)["cases"] == {"opened": 0, "referred": 0}
