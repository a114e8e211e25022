"""Console use-cases on a small store of their own (no crawl): the risk score's terms (a repeat violation after a
confirmed flag, dismissed flags left out), triage validation, text segments over overlapping spans, and users."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from app import risk, triage, users
from app.context import AppContext
from app.documents import segments
from config import get_settings
from domain import Extracted, Finding


def _page(ctx: AppContext, n: int, severity: str = "S2", now: datetime | None = None) -> tuple[str, int]:
    url = f"http://127.0.0.12:1/p{n}.html"
    text = f"第{n}页：本院一次根治，无效退款。"
    now = now or datetime(2026, 3, 1, tzinfo=UTC)
    saved = ctx.store.save_version(
        run_id=None, source_id="private-hospital", url=url, final_url=url,
        extracted=Extracted(url=url, title=f"广告{n}", text=text, published_at=now), content_hash=f"{n:064d}",
        raw=None, headers={}, fetched_at=now, rendered=False, institution_id="private-hospital", region="江州",
    )  # fmt: skip
    s = text.index("一次根治")
    ctx.store.save_analysis(saved.version_id, ["exaggerated_efficacy"], {"exaggerated_efficacy": 0.9}, [
        Finding(category="ad_efficacy_guarantee", label="exaggerated_efficacy", start=s, end=s + 4, text="一次根治",
                legal_basis="《广告法》第十六条", severity=severity, source="rules", field="text", score=1.0),
        Finding(category="ad_efficacy_guarantee", label="exaggerated_efficacy", start=s + 5, end=s + 9,
                text="无效退款", legal_basis="《广告法》第十六条", severity=severity, source="rules", field="text"),
    ])  # fmt: skip
    doc = ctx.store.get_document(saved.doc_id)
    assert doc is not None
    return saved.doc_id, doc["findings"][0]["id"]


@pytest.fixture
def ctx(tmp_path: Path) -> AppContext:
    c = AppContext(get_settings(data_dir=tmp_path))
    c.store.upsert_institutions([{"id": "private-hospital", "name": "华康", "type": "private_hospital",
                                  "region": "江州", "licensed_subjects": ["内科"]}])  # fmt: skip
    yield c
    c.close()


def test_risk_terms_confirmed_repeat_and_dismissed(ctx: AppContext) -> None:
    doc1, f1 = _page(ctx, 1)
    doc2, f2 = _page(ctx, 2)
    (row,) = risk.ranked(ctx)
    # two pages, one (document, category) flag each, though each page has two findings
    assert {t["term"]: t["count"] for t in row["terms"]} == {"S2": 2} and row["score"] == 10
    triage.triage(ctx, document_id=doc1, finding_id=f1, decision="confirm", reason="违规", reviewer="r")
    triage.triage(ctx, document_id=doc2, finding_id=f2, decision="dismiss", reason="误报", reviewer="r")
    _page(ctx, 3, "S1", datetime.now(UTC))  # first seen after the confirmation: a repeat violation
    (row,) = risk.ranked(ctx)
    terms = {t["term"]: t["count"] for t in row["terms"]}
    # doc2: only one of its two findings was dismissed, so the flag still counts
    assert terms == {"S2": 2, "S1": 1, "confirmed": 1, "repeat": 1}
    assert row["score"] == 2 * 5 + 10 + 5 + 8 and row["level"] == "中"
    prof = risk.profile(ctx, "private-hospital")
    assert prof is not None and prof["triage"] == {"confirm": 1, "dismiss": 1}


def test_triage_needs_a_reason_a_valid_decision_and_a_real_finding(ctx: AppContext) -> None:
    doc, fid = _page(ctx, 1)
    with pytest.raises(triage.TriageError, match="理由"):
        triage.triage(ctx, document_id=doc, finding_id=fid, decision="confirm", reason=" ", reviewer="r")
    with pytest.raises(triage.TriageError, match="无效"):
        triage.triage(ctx, document_id=doc, finding_id=fid, decision="approve", reason="x", reviewer="r")
    with pytest.raises(triage.TriageError, match="没有命中"):
        triage.triage(
            ctx, document_id=doc, finding_id=fid + 999, decision="confirm", reason="x", reviewer="r"
        )
    assert [f["id"] for f in triage.queue(ctx)] == [fid, fid + 1]
    triage.triage(ctx, document_id=doc, finding_id=fid, decision="escalate", reason="上报", reviewer="r")
    assert [f["id"] for f in triage.queue(ctx)] == [fid + 1]
    assert triage.document_status(ctx) == {doc: "escalate"}


def test_segments_cover_overlapping_spans() -> None:
    text = "一次根治无效退款"
    segs = segments(text, [{"id": 1, "start": 0, "end": 4, "severity": "S3"},
                           {"id": 2, "start": 2, "end": 8, "severity": "S1"},
                           {"id": 3, "start": 50, "end": 60, "severity": "S1"}])  # fmt: skip
    assert "".join(s.text for s in segs) == text
    assert [(s.text, s.findings, s.severity) for s in segs] == [
        ("一次", [1], "S3"), ("根治", [1, 2], "S1"), ("无效退款", [2], "S1")]  # fmt: skip


def test_users_roles_and_passwords(ctx: AppContext) -> None:
    users.add_user(ctx, "张三", "analyst", "long-enough-1")
    with pytest.raises(users.UserError, match="已存在"):
        users.add_user(ctx, "张三", "staff", "long-enough-1")
    with pytest.raises(users.UserError, match="未知角色"):
        users.add_user(ctx, "李四", "root", "long-enough-1")
    assert users.authenticate(ctx, "张三", "long-enough-1")["role"] == "analyst"
    assert users.authenticate(ctx, "张三", "wrong") is None and users.authenticate(ctx, "nobody", "x") is None
    stored = ctx.store  # the hash is argon2id, never the password
    from store.console import UserRepo

    h = UserRepo(stored).get("张三")["password_hash"]
    assert h.startswith("$argon2id$") and "long-enough-1" not in h
    users.set_active(ctx, "张三", False)
    assert users.authenticate(ctx, "张三", "long-enough-1") is None
    assert users.role_at_least("admin", "analyst") and not users.role_at_least("staff", "analyst")
