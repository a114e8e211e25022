"""System of record (store.db and the parts it combines) and blob store (store.blobs)."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import threading
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from classifiers.feedback import training_examples
from domain import Extracted, Finding, ImageRef
from domain.urls import canonical_url, doc_id_for
from store.blobs import BlobNotFound, BlobStore
from store.db import DECISIONS, SaveOutcome, Store
from tests.pgserver import drop_everything

T0 = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Store:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'y.db'}"
    else:
        url = request.getfixturevalue("pg_url")
        drop_everything(url)
    s = Store(url, tmp_path / "blobs")
    yield s
    s.close()


def save(
    store: Store,
    url: str,
    text: str,
    *,
    run_id: int | None = None,
    final_url: str | None = None,
    headers: dict[str, str] | None = None,
    fetched_at: datetime = T0,
    source_id: str = "src",
    raw: bytes | None = None,
) -> SaveOutcome:
    ex = Extracted(url=final_url or url, title="标题", text=text, encoding="utf-8")
    return store.save_version(
        run_id=run_id,
        source_id=source_id,
        url=url,
        final_url=final_url or url,
        extracted=ex,
        content_hash=f"h:{text}",
        raw=raw,
        headers=headers or {},
        fetched_at=fetched_at,
        rendered=False,
        institution_id=None,
        region=None,
    )


def feedback_examples(store: Store) -> list[dict]:
    """What `yijian train --include-feedback` trains on."""
    return training_examples(store.feedback_records())


def rule_hit(
    start: int, end: int, category: str = "ad_efficacy_guarantee", text: str = "一次治愈"
) -> Finding:
    return Finding(
        category=category,
        label="exaggerated_efficacy",
        start=start,
        end=end,
        text=text,
        legal_basis="《广告法》第16条第1款第1项",
        severity="S2",
        source="rule:efficacy",
        reason="保证治愈",
    )


# -- canonical URLs -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("HTTP://Example.COM:80/a?b=2&a=1#top", "http://example.com/a?a=1&b=2"),
        ("https://example.com:443", "https://example.com/"),
        ("http://127.0.0.11:8765/news/1.html", "http://127.0.0.11:8765/news/1.html"),
        ("http://a.cn/p?id=3&utm_source=wx&utm_medium=x&spm=1.2&from=timeline", "http://a.cn/p?id=3"),
        ("http://a.cn/p?q=%e5%8c%bb", "http://a.cn/p?q=%E5%8C%BB"),
        ("http://a.cn/p?q=医", "http://a.cn/p?q=%E5%8C%BB"),
        ("http://a.cn/科室/", "http://a.cn/%E7%A7%91%E5%AE%A4/"),
        ("http://a.cn/Path/CASE?x=", "http://a.cn/Path/CASE?x="),
        (
            "https://mp.weixin.qq.com/s?__biz=MzA1&mid=22&idx=1&sn=ab&chksm=ff&scene=21#wechat_redirect",
            "https://mp.weixin.qq.com/s?__biz=MzA1&idx=1&mid=22&sn=ab",
        ),
        ("  http://a.cn/x  ", "http://a.cn/x"),
        ("mailto:someone@a.cn", "mailto:someone@a.cn"),
        ("not a url", "not a url"),
        ("http://a.cn:99999/", "http://a.cn:99999/"),  # invalid port: returned unchanged, no crash
    ],
)
def test_canonical_url(url: str, expected: str) -> None:
    assert canonical_url(url) == expected


def test_doc_id_is_stable_across_url_spellings() -> None:
    assert doc_id_for("HTTP://A.cn/x?b=1&a=2#f") == doc_id_for("http://a.cn/x?a=2&b=1&utm_campaign=z")
    assert doc_id_for("http://a.cn/x") != doc_id_for("http://a.cn/y")


# -- documents and versions -----------------------------------------------------------------------------


def test_version_created_on_change_not_on_same_hash(store: Store) -> None:
    run1 = store.start_run(["src"])
    first = save(store, "http://a.cn/1", "本院一次治愈", run_id=run1)
    assert first.created and first.changed and first.version == 1

    run2 = store.start_run(["src"])
    later = T0 + timedelta(days=1)
    again = save(store, "http://a.cn/1#x", "本院一次治愈", run_id=run2, fetched_at=later)
    assert (again.doc_id, again.version_id, again.version) == (first.doc_id, first.version_id, 1)
    assert not again.changed and not again.created

    doc = store.get_document(first.doc_id)
    assert doc["last_seen"] == later.isoformat() and doc["first_seen"] == T0.isoformat()
    assert doc["last_run_id"] == run2
    assert store.stats()["versions"] == 1

    changed = save(store, "http://a.cn/1", "本院已整改", run_id=run2, fetched_at=later)
    assert changed.changed and not changed.created and changed.version == 2
    assert changed.version_id != first.version_id
    doc = store.get_document(first.doc_id)
    assert doc["version"]["text"] == "本院已整改"
    assert [v["version"] for v in doc["versions"]] == [1, 2]
    assert store.content_hash_of("http://a.cn/1") == "h:本院已整改"
    assert store.stats()["documents"] == 1 and store.stats()["versions"] == 2
    assert store.run_stats(run2)["versions_created"] == 1
    assert store.run_stats(run1)["documents_created"] == 1


def test_unchanged_page_does_not_store_raw_again(store: Store) -> None:
    first = save(store, "http://a.cn/r", "正文", raw=b"<html>t=1</html>")
    again = save(store, "http://a.cn/r", "正文", raw=b"<html>t=2</html>")  # same text, new ad-hoc markup
    assert not again.changed
    blobs = [p for p in store.blobs.root.rglob("*") if p.is_file()]
    assert len(blobs) == 1
    assert store.get_document(first.doc_id)["version"]["raw_blob"] == blobs[0].name


def test_version_fields_raw_blob_and_utc_times(store: Store) -> None:
    shanghai = timezone(timedelta(hours=8))
    ex = Extracted(
        url="http://a.cn/2",
        title="干细胞回输",
        text="正文",
        published_at=datetime(2026, 2, 1, 9, 30, tzinfo=shanghai),
        author="张医生",
        account="某某健康",
        images=[ImageRef(src="http://a.cn/i.png", alt="广告", ocr_text="包治百病")],
        encoding="gb18030",
    )
    out = store.save_version(
        run_id=None,
        source_id="src",
        url="http://a.cn/2",
        final_url="http://a.cn/2",
        extracted=ex,
        content_hash="abc",
        raw="<html>正文</html>".encode("gb18030"),
        headers={"Content-Type": "text/html"},
        fetched_at=datetime(2026, 2, 1, 10, 0, tzinfo=shanghai),
        rendered=True,
        institution_id="inst-1",
        region="310000",
    )
    doc = store.get_document(out.doc_id)
    json.dumps(doc)  # JSON-ready
    v = doc["version"]
    assert v["published_at"] == "2026-02-01T01:30:00+00:00"
    assert v["fetched_at"] == "2026-02-01T02:00:00+00:00"
    assert v["images"] == [{"src": "http://a.cn/i.png", "alt": "广告", "ocr_text": "包治百病"}]
    assert v["rendered"] is True and v["encoding"] == "gb18030" and v["account"] == "某某健康"
    assert store.blobs.get(v["raw_blob"]).decode("gb18030") == "<html>正文</html>"
    assert doc["institution_id"] == "inst-1" and doc["region"] == "310000"
    (idx,) = store.index_docs([out.doc_id])
    assert idx.published_at == datetime(2026, 2, 1, 1, 30, tzinfo=UTC)
    assert idx.published_at.tzinfo is not None
    assert store.stats()["flagged_documents_by_institution"] == {}
    store.save_analysis(out.version_id, ["unapproved_service"], {"unapproved_service": 0.9}, [])
    assert store.stats()["flagged_documents_by_institution"] == {"inst-1": 1}


def test_findings_replaced_idempotently(store: Store) -> None:
    out = save(store, "http://a.cn/3", "本院一次治愈，治愈率99%")
    hits = [rule_hit(2, 6), rule_hit(7, 13, "ad_cure_rate_stats", "治愈率99%")]
    store.save_analysis(out.version_id, ["exaggerated_efficacy"], {"exaggerated_efficacy": 0.97}, hits)
    ids_first = [f["id"] for f in store.get_document(out.doc_id)["findings"]]
    store.save_analysis(out.version_id, ["exaggerated_efficacy"], {"exaggerated_efficacy": 0.97}, hits)
    doc = store.get_document(out.doc_id)
    assert [f["id"] for f in doc["findings"]] == ids_first  # same rows, no duplicates
    assert store.stats()["findings"] == 2

    store.save_analysis(out.version_id, ["exaggerated_efficacy"], {"exaggerated_efficacy": 0.8}, hits[1:])
    doc = store.get_document(out.doc_id)
    assert [f["category"] for f in doc["findings"]] == ["ad_cure_rate_stats"]
    assert doc["findings"][0]["id"] == ids_first[1]
    assert doc["version"]["scores"] == {"exaggerated_efficacy": 0.8}
    stats = store.stats()
    assert stats["findings"] == 1 and stats["findings_by_category"] == {"ad_cure_rate_stats": 1}
    assert stats["findings_by_severity"] == {"S2": 1} and stats["documents_by_label"] == {
        "exaggerated_efficacy": 1
    }

    store.save_analysis(out.version_id, [], {}, [])
    assert store.get_document(out.doc_id)["findings"] == []
    assert store.stats()["flagged_documents"] == 0
    with pytest.raises(KeyError):
        store.save_analysis(999_999, [], {}, [])


def test_findings_of_old_versions_not_counted(store: Store) -> None:
    v1 = save(store, "http://a.cn/4", "一次治愈")
    store.save_analysis(v1.version_id, ["exaggerated_efficacy"], {}, [rule_hit(0, 4)])
    v2 = save(store, "http://a.cn/4", "已删除违规内容")
    store.save_analysis(v2.version_id, [], {}, [])
    stats = store.stats()
    assert stats["findings"] == 0 and stats["findings_by_category"] == {}
    (idx,) = store.index_docs([v1.doc_id])
    assert idx.version == 2 and idx.labels == [] and idx.findings == []


def test_save_many_batches_versions_and_analysis(store: Store) -> None:
    old = save(store, "http://a.cn/b0", "旧内容")
    store.save_analysis(old.version_id, [], {}, [])  # analysed: the same content again is unchanged

    def item(url: str, text: str, hits: list[Finding]) -> dict:
        return {
            "run_id": None,
            "source_id": "src",
            "url": url,
            "final_url": url,
            "extracted": Extracted(url=url, title="批量", text=text),
            "content_hash": f"h:{text}",
            "raw": text.encode(),
            "headers": {"ETag": '"b"'},
            "fetched_at": T0,
            "rendered": False,
            "institution_id": None,
            "region": None,
            "analysis": (["exaggerated_efficacy"] if hits else [], {}, hits),
        }

    outs = store.save_many(
        [
            item("http://a.cn/b1", "一次治愈", [rule_hit(0, 4)]),
            item("http://a.cn/b0", "旧内容", [rule_hit(0, 1)]),  # unchanged: analysis not applied
            item("http://a.cn/b1#again", "一次治愈", [rule_hit(0, 4)]),  # same page twice in one batch
            item("http://a.cn/b2", "正常科普", []),
        ]
    )
    assert [(o.created, o.changed, o.version) for o in outs] == [
        (True, True, 1),
        (False, False, 1),
        (False, False, 1),
        (True, True, 1),
    ]
    assert outs[1].doc_id == old.doc_id and outs[0].doc_id == outs[2].doc_id
    stats = store.stats()
    assert stats["documents"] == 3 and stats["versions"] == 3 and stats["findings"] == 1
    assert store.validators("http://a.cn/b2") == ('"b"', None)
    assert store.save_many([]) == []


def test_save_many_reads_the_batch_documents_once_and_keeps_versions_apart(store: Store) -> None:
    """The batch's documents are read in one statement: a known document that changed gets version 2 with its
    own findings (the old version keeps its own), and a new page seen twice with different content in one batch
    becomes one document with two versions, the findings on the second only."""
    old = save(store, "http://a.cn/c0", "旧的一次治愈")
    store.save_analysis(old.version_id, ["exaggerated_efficacy"], {}, [rule_hit(2, 6)])

    def item(url: str, text: str, hits: list[Finding]) -> dict:
        return {
            "run_id": None, "source_id": "src", "url": url, "final_url": url,
            "extracted": Extracted(url=url, title="批量", text=text), "content_hash": f"h:{text}",
            "raw": text.encode(), "headers": {}, "fetched_at": T0, "rendered": False, "institution_id": None,
            "region": None, "analysis": (["exaggerated_efficacy"] if hits else [], {}, hits), "index": True,
        }  # fmt: skip

    outs = store.save_many(
        [
            item("http://a.cn/c0", "新的正常内容", []),
            item("http://a.cn/c1", "一次治愈", [rule_hit(0, 4)]),
            item("http://a.cn/c1", "保证一次治愈", [rule_hit(2, 6), rule_hit(0, 2)]),
        ]
    )
    assert [(o.created, o.changed, o.version) for o in outs] == [
        (False, True, 2),
        (True, True, 1),
        (False, True, 2),
    ]
    changed = store.get_document(old.doc_id)
    assert (
        changed["version"]["version"] == 2
        and changed["findings"] == []
        and changed["version"]["labels"] == []
    )
    twice = store.get_document(outs[1].doc_id)
    assert len(twice["versions"]) == 2 and twice["version"]["version"] == 2
    assert sorted((f["start"], f["end"]) for f in twice["findings"]) == [(0, 2), (2, 6)]
    assert store.stats()["findings"] == 2  # current versions only
    assert sorted(store.outbox_pending()) == sorted({old.doc_id, outs[1].doc_id})


def test_validators_round_trip_and_mark_unchanged(store: Store) -> None:
    assert store.validators("http://a.cn/5") == (None, None)
    assert store.mark_unchanged("http://a.cn/5", None) is None
    headers = {"ETag": '"v1"', "Last-Modified": "Sun, 01 Mar 2026 08:00:00 GMT"}
    # Requested URL redirects to a final URL: both find the document.
    out = save(store, "http://a.cn/5", "内容", final_url="http://a.cn/5/index.html", headers=headers)
    assert store.validators("http://a.cn/5") == ('"v1"', "Sun, 01 Mar 2026 08:00:00 GMT")
    assert store.validators("HTTP://A.CN/5/index.html#x") == ('"v1"', "Sun, 01 Mar 2026 08:00:00 GMT")

    run = store.start_run(["src"])
    before = store.get_document(out.doc_id)["last_seen"]
    assert store.mark_unchanged("http://a.cn/5", run) == out.doc_id
    doc = store.get_document(out.doc_id)
    assert doc["last_run_id"] == run and doc["last_seen"] > before and doc["current_version"] == 1

    save(store, "http://a.cn/5", "内容", final_url="http://a.cn/5/index.html", headers={"etag": '"v2"'})
    assert store.validators("http://a.cn/5") == ('"v2"', None)


def test_errors_counted_by_kind_all_runs_and_last_run(store: Store) -> None:
    r1 = store.start_run(["messy"])
    store.record_error(r1, "messy", "http://m/404", "http_404", "Not Found")
    store.record_error(r1, "messy", "http://m/404", "http_404", "Not Found (retry)")  # counted once
    store.record_error(r1, "messy", "http://m/500", "http_500")
    store.record_error(r1, "messy", "http://m/loop", "redirect_loop")
    store.finish_run(r1, {"pages": 4})
    r2 = store.start_run(["messy"])
    store.record_error(r2, "messy", "http://m/404", "http_404")
    store.record_error(None, "cli", "file.html", "decode_error", "bad bytes")

    stats = store.stats()
    assert stats["errors_by_kind"] == {"http_404": 2, "http_500": 1, "redirect_loop": 1, "decode_error": 1}
    assert stats["errors"] == 5 and stats["runs"] == 2
    assert stats["last_run"]["id"] == r2 and stats["last_run"]["status"] == "running"
    assert stats["last_run"]["errors_by_kind"] == {"http_404": 1}
    rs = store.run_stats(r1)
    assert rs["errors_by_kind"] == {"http_404": 1, "http_500": 1, "redirect_loop": 1}
    assert rs["status"] == "finished" and rs["stats"] == {"pages": 4} and rs["finished_at"]
    with pytest.raises(KeyError):
        store.run_stats(12345)


def test_outbox_add_pending_remove_idempotent(store: Store) -> None:
    store.outbox_add(["a", "b", "a"])
    store.outbox_add(["b", "c"])
    assert store.outbox_pending() == ["a", "b", "c"]
    assert store.outbox_size() == 3
    store.outbox_add(["b"], error="ConnectionError: es down")
    store.outbox_add(["b"], error="ConnectionError: es down")
    assert store.outbox_pending(max_attempts=2) == ["a", "c"]
    assert store.outbox_pending(limit=1) == ["a"]
    store.outbox_remove(["a", "zzz"])
    store.outbox_remove(["a"])
    assert store.outbox_pending() == ["b", "c"] and store.outbox_size() == 2
    store.outbox_remove([])
    store.outbox_add([])
    assert store.stats()["outbox"] == 2


def test_registries_upsert_and_index_doc_source_type(store: Store) -> None:
    store.upsert_institutions(
        [
            {
                "id": "h1",
                "name": "某某医院",
                "aliases": ["某院"],
                "licence_no": "PDY123",
                "licensed_subjects": ["内科"],
                "domains": ["a.cn"],
                "beds": 300,
            }
        ]
    )
    src = {
        "id": "wx1",
        "name": "公众号",
        "type": "wechat",
        "institution": "h1",
        "region": "310000",
        "seeds": ["u"],
    }
    store.upsert_sources([src])
    store.upsert_sources([{**src, "name": "公众号（改名）"}])  # update in place
    assert [s["name"] for s in store.get_sources()] == ["公众号（改名）"]
    assert store.get_sources()[0]["institution_id"] == "h1"
    assert store.get_sources()[0]["config"]["seeds"] == ["u"]
    (inst,) = store.get_institutions()
    assert inst["licensed_subjects"] == ["内科"] and inst["beds"] == 300
    with pytest.raises(ValueError):
        store.upsert_sources([{"name": "no id"}])

    out = save(store, "http://a.cn/wx", "文章", source_id="wx1")
    (idx,) = store.index_docs([out.doc_id, "missing"])
    assert idx.source_type == "wechat" and idx.doc_id == out.doc_id
    assert store.all_doc_ids() == [out.doc_id]


def test_feedback_records_become_examples_and_survive_reanalysis(store: Store) -> None:
    out = save(store, "http://a.cn/fb", "本院一次治愈")
    store.save_analysis(out.version_id, ["exaggerated_efficacy", "negative_sentiment"], {}, [rule_hit(2, 6)])
    (finding,) = store.get_document(out.doc_id)["findings"]
    store.add_feedback(
        document_id=out.doc_id, finding_id=finding["id"], label=None, decision="confirm", reviewer="li"
    )
    store.add_feedback(
        document_id=out.doc_id,
        finding_id=None,
        label="negative_sentiment",
        decision="dismiss",
        reviewer="wang",
    )
    store.add_feedback(
        document_id=out.doc_id,
        finding_id=None,
        label="unapproved_service",
        decision="confirm",
        reviewer="wang",
    )
    # Re-analysis with the same hit keeps the finding row (and the feedback link).
    store.save_analysis(out.version_id, ["exaggerated_efficacy"], {}, [rule_hit(2, 6)])
    assert store.get_document(out.doc_id)["findings"][0]["id"] == finding["id"]

    (rec,) = store.feedback_records()
    assert rec["doc_id"] == out.doc_id and rec["version"] == 1 and rec["title"] == "标题"
    assert rec["labels"] == ["exaggerated_efficacy"] and rec["findings"] == [
        {"id": finding["id"], "label": "exaggerated_efficacy"}
    ]
    assert [
        (d["finding_id"], d["category"], d["label"], d["decision"], d["reviewer"]) for d in rec["decisions"]
    ] == [
        (finding["id"], "ad_efficacy_guarantee", "exaggerated_efficacy", "confirm", "li"),
        (None, None, "negative_sentiment", "dismiss", "wang"),
        (None, None, "unapproved_service", "confirm", "wang"),
    ]
    assert rec["decisions"][0]["finding_text"] == "一次治愈" and rec["decisions"][0]["at"]
    (ex,) = feedback_examples(store)
    assert ex["text"] == "标题\n本院一次治愈"
    assert ex["labels"] == ["exaggerated_efficacy", "unapproved_service"]
    assert ex["dismissed"] == ["negative_sentiment"] and ex["reviewers"] == ["li", "wang"]

    with pytest.raises(ValueError):
        store.add_feedback(
            document_id=out.doc_id, finding_id=None, label=None, decision="confirm", reviewer="x"
        )
    with pytest.raises(ValueError):
        store.add_feedback(
            document_id=out.doc_id, finding_id=None, label="spam", decision="confirm", reviewer="x"
        )
    with pytest.raises(ValueError):
        store.add_feedback(
            document_id=out.doc_id,
            finding_id=None,
            label="negative_sentiment",
            decision="maybe",
            reviewer="x",
        )
    with pytest.raises(KeyError):
        store.add_feedback(document_id="nope", finding_id=None, label=None, decision="dismiss", reviewer="x")


def test_dismissing_every_finding_removes_label(store: Store) -> None:
    out = save(store, "http://a.cn/fb2", "某医院治疗效果好")
    store.save_analysis(out.version_id, ["exaggerated_efficacy"], {}, [rule_hit(0, 2), rule_hit(3, 5)])
    ids = [f["id"] for f in store.get_document(out.doc_id)["findings"]]
    store.add_feedback(
        document_id=out.doc_id, finding_id=ids[0], label=None, decision="dismiss", reviewer="a"
    )
    assert feedback_examples(store)[0]["labels"] == ["exaggerated_efficacy"]  # one hit still stands
    store.add_feedback(
        document_id=out.doc_id, finding_id=ids[1], label=None, decision="dismiss", reviewer="a"
    )
    assert feedback_examples(store)[0]["labels"] == []


def test_data_survives_reopen(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'y.db'}"
    with Store(url, tmp_path / "blobs") as s:
        out = save(s, "http://a.cn/p", "文本")
        s.outbox_add([out.doc_id])
    with Store(url, tmp_path / "blobs") as s:
        assert s.outbox_pending() == [out.doc_id]
        assert s.get_document(out.doc_id)["version"]["text"] == "文本"
        mode = s.engine.connect().exec_driver_sql("PRAGMA journal_mode").scalar()
        assert mode == "wal"


def test_from_settings_uses_data_dir(tmp_path: Path) -> None:
    import config

    settings = config.Settings(data_dir=tmp_path / "d")
    with Store.from_settings(settings) as s:
        save(s, "http://a.cn/x", "t")
    assert (tmp_path / "d" / "yijian.db").is_file()


# -- concurrency --------------------------------------------------------------------------------------


def test_concurrent_writers_lose_nothing(store: Store) -> None:
    run = store.start_run(["src"])
    n_threads, per_thread = 6, 15
    failures: list[BaseException] = []

    def worker(t: int) -> None:
        try:
            for i in range(per_thread):
                out = save(store, f"http://a.cn/t{t}/{i}", f"文本{t}-{i}", run_id=run)
                store.save_analysis(out.version_id, ["exaggerated_efficacy"], {}, [rule_hit(0, 2)])
                # Every thread also writes the same shared pages: one document each, never duplicated.
                shared = save(store, f"http://a.cn/shared/{i}", f"共享{i}", run_id=run)
                store.outbox_add([out.doc_id, shared.doc_id])
                store.record_error(run, "src", f"http://a.cn/bad/{t}/{i}", "timeout")
        except BaseException as exc:  # pragma: no cover - reported below
            failures.append(exc)

    threads = [threading.Thread(target=worker, args=(t,)) for t in range(n_threads)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert not failures, failures
    stats = store.stats()
    assert stats["documents"] == n_threads * per_thread + per_thread
    assert stats["versions"] == n_threads * per_thread + per_thread
    assert stats["findings"] == n_threads * per_thread
    assert stats["errors_by_kind"] == {"timeout": n_threads * per_thread}
    assert store.outbox_size() == n_threads * per_thread + per_thread


# -- blobs ----------------------------------------------------------------------------------------------------


def test_blobs_put_get_dedup_layout(tmp_path: Path) -> None:
    blobs = BlobStore(tmp_path / "b")
    sha = blobs.put(b"<html>hello</html>")
    assert sha == hashlib.sha256(b"<html>hello</html>").hexdigest()
    assert blobs.path(sha) == tmp_path / "b" / sha[:2] / sha[2:4] / sha
    assert blobs.exists(sha) and blobs.get(sha) == b"<html>hello</html>"
    mtime = blobs.path(sha).stat().st_mtime_ns
    assert blobs.put(b"<html>hello</html>") == sha
    assert blobs.path(sha).stat().st_mtime_ns == mtime  # not rewritten
    files = [p for p in (tmp_path / "b").rglob("*") if p.is_file()]
    assert files == [blobs.path(sha)]  # one file, no temp leftovers
    with pytest.raises(BlobNotFound):
        blobs.get("0" * 64)
    with pytest.raises(ValueError):
        blobs.get("../../etc/passwd")


def test_blobs_gzip_large_text_transparently(tmp_path: Path) -> None:
    blobs = BlobStore(tmp_path / "b")
    big = ("<p>本院专治各种疑难杂症</p>" * 5000).encode("utf-8")
    sha = blobs.put(big)
    gz = blobs.path(sha).with_name(sha + ".gz")
    assert gz.is_file() and not blobs.path(sha).exists()
    assert gz.stat().st_size < len(big) / 5
    assert blobs.get(sha) == big and blobs.verify(sha)
    gz.write_bytes(b"tampered")
    assert not blobs.verify(sha)


def test_blobs_atomic_under_concurrent_puts(tmp_path: Path) -> None:
    blobs = BlobStore(tmp_path / "b")
    payloads = [bytes([i]) * 4096 for i in range(8)]
    results: list[str] = []
    lock = threading.Lock()

    def worker() -> None:
        for p in payloads:
            sha = blobs.put(p)
            assert blobs.get(sha) == p  # never a partial file
            with lock:
                results.append(sha)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert len(results) == 32 and len(set(results)) == 8
    files = [p for p in (tmp_path / "b").rglob("*") if p.is_file()]
    assert len(files) == 8 and not any(p.name.startswith(".tmp-") for p in files)


def test_blobs_put_file_and_verify(tmp_path: Path) -> None:
    blobs = BlobStore(tmp_path / "b")
    src = tmp_path / "shot.png"
    src.write_bytes(b"\x89PNG" + b"\x00" * 1000)
    sha = blobs.put_file(src)
    assert sha == blobs.put(src.read_bytes()) and blobs.verify(sha)
    blobs.path(sha).write_bytes(b"changed")
    assert not blobs.verify(sha)


def test_in_memory_store_is_usable_from_threads(tmp_path: Path) -> None:
    with Store("sqlite://", tmp_path / "blobs") as mem:

        def worker(t: int) -> None:
            for i in range(10):
                save(mem, f"http://m.cn/{t}/{i}", f"{t}-{i}")
                mem.stats()

        threads = [threading.Thread(target=worker, args=(t,)) for t in range(3)]
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        assert mem.stats()["documents"] == 30


# -- the facade and its parts -------------------------------------------------------------------------------


def test_store_parts_do_not_shadow_each_other() -> None:
    """Store combines its parts as mixins: a name defined in two of them would silently hide one."""
    seen: dict[str, str] = {}
    for part in Store.__mro__[:-1]:  # Store, its parts, store.engine.Database (not object)
        for name in vars(part):
            if name.startswith("__"):
                continue
            assert name not in seen, f"{name} is defined in both {seen[name]} and {part.__name__}"
            seen[name] = part.__name__
    public = {n for n in seen if not n.startswith("_")}
    assert {"upsert_sources", "start_run", "save_version", "outbox_add", "stats", "add_feedback"} <= public
    assert seen["delete_document"] == "Store" and seen["_write"] == "Database"
    assert DECISIONS == ("confirm", "dismiss", "escalate")


def test_store_imports_no_pipelines_classifiers_or_crawlers() -> None:
    code = (
        "import sys, store.db, store.indexer, store.search.factory\n"
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'pipelines', 'classifiers', 'crawlers', 'console'}))"
    )
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    assert out.stdout.strip() == "[]"


def test_finding_json_is_every_field_as_is() -> None:
    """Finding.to_json (what findings are stored and indexed as) holds every field, in declaration order."""
    import dataclasses

    from domain import Finding

    for score in (None, 0.42):
        f = Finding(
            "ad_x",
            None,
            3,
            9,
            "一次根治",
            "《广告法》第十六条",
            "S2",
            "rule:x",
            "image:http://a/1.png",
            score,
            "原因",
        )
        assert f.to_json() == dataclasses.asdict(f)
        assert list(f.to_json()) == [x.name for x in dataclasses.fields(Finding)]
