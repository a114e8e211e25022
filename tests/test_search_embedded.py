"""Embedded backend specifics (persistence, WAL, threads) and the shared analysis helpers both backends use."""

from __future__ import annotations

import sqlite3
import threading
from datetime import UTC, datetime

import pytest

from config import Settings
from store.search import analysis
from store.search.base import IndexDoc, SearchQuery
from store.search.embedded import EmbeddedSearch
from store.search.factory import get_search


def doc(i: int, text: str = "本院可根治糖尿病", **kw) -> IndexDoc:
    return IndexDoc(
        doc_id=f"d{i:03d}", url=f"https://x.example/{i}", title=f"标题{i}", text=text, source_id="s", **kw
    )


def test_persists_in_its_own_wal_file(tmp_path):
    path = tmp_path / "search.sqlite"
    b = EmbeddedSearch(path)
    b.index([doc(1), doc(2)])
    b.close()
    assert path.is_file()
    mode = sqlite3.connect(path).execute("PRAGMA journal_mode").fetchone()[0]
    assert mode == "wal"
    again = EmbeddedSearch(path)
    assert again.count() == 2
    assert [h.doc_id for h in again.search(SearchQuery(text="糖尿病")).hits] == ["d001", "d002"]
    again.close()


def test_concurrent_writers_and_readers(tmp_path):
    b = EmbeddedSearch(tmp_path / "search.sqlite")
    errors: list[BaseException] = []

    def write(start: int) -> None:
        try:
            for i in range(start, start + 20):
                b.index([doc(i)])
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    def read() -> None:
        try:
            for _ in range(20):
                b.search(SearchQuery(text="根治"))
        except BaseException as exc:  # pragma: no cover
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(k * 20,)) for k in range(4)]
    threads += [threading.Thread(target=read) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert b.count() == 80
    assert b.search(SearchQuery(text="根治", size=0)).total == 80
    b.close()


def test_same_doc_twice_in_one_batch_keeps_the_last(tmp_path):
    b = EmbeddedSearch(tmp_path / "s.sqlite")
    b.index([doc(1, text="旧内容 青霉素"), doc(1, text="新内容 阿莫西林")])
    assert b.count() == 1
    assert b.search(SearchQuery(text="青霉素")).total == 0
    assert b.search(SearchQuery(text="阿莫西林")).total == 1
    b.close()


def test_query_syntax_characters_are_plain_text(tmp_path):
    b = EmbeddedSearch(tmp_path / "s.sqlite")
    b.index([doc(1, text="AND OR NOT NEAR 根治")])
    for hostile in ['"', "根治 AND", "NEAR(根治", "*", "根治)", "- ^ :", "title:根治"]:
        b.search(SearchQuery(text=hostile))  # never an FTS5 syntax error
    assert b.search(SearchQuery(text="NOT")).total == 1
    assert b.search(SearchQuery(text="。，！")).total == 1  # punctuation only = match all
    b.close()


def test_factory_picks_the_backend(tmp_path):
    embedded = get_search(Settings(data_dir=tmp_path, search="embedded"))
    assert embedded.name == "embedded" and (tmp_path / "search.sqlite").is_file()
    es = get_search(
        Settings(data_dir=tmp_path, search="elasticsearch", es_url="http://a:9200, http://b:9200")
    )
    assert es.name == "elasticsearch"
    hosts = [n.host for n in es.client.transport.node_pool.all()]  # type: ignore[attr-defined]
    assert sorted(hosts) == ["a", "b"]


def test_index_text_and_query_terms_agree():
    assert analysis.index_text("") == ""
    tokens = analysis.index_text("本院采用干细胞治疗，可根治糖尿病！CAR-T").split()
    assert "干细胞" in tokens and "根治" in tokens and "糖尿病" in tokens
    assert "car" in tokens and "t" in tokens and "，" not in tokens and "-" not in tokens
    assert analysis.query_terms("根治 糖尿病 根治") == ["根治", "糖尿病"]
    assert analysis.query_terms("  ") == []
    assert set(analysis.query_terms("根治糖尿病")) <= set(analysis.index_text("可根治糖尿病").split())


def test_highlight_escapes_and_marks():
    frags = analysis.highlight('<b onclick="x()">专治 根治糖尿病', ["根治"])
    assert frags == ["&lt;b onclick=&quot;x()&quot;&gt;专治 <em>根治</em>糖尿病"]
    assert analysis.highlight("正文无关", ["根治"], title="根治<b>") == ["<em>根治</em>&lt;b&gt;"]
    assert analysis.highlight("a<b", []) == ["a&lt;b"]
    long = "前文" * 200 + "根治" + "后文" * 200 + "根治" + "尾" * 300
    parts = analysis.highlight(long, ["根治"])
    assert len(parts) == 2 and all("<em>根治</em>" in p and len(p) < 200 for p in parts)


def test_dates_and_buckets():
    naive = datetime(2024, 3, 1, 12, 0)
    assert analysis.as_utc(naive) == datetime(2024, 3, 1, 12, 0, tzinfo=UTC)
    d = doc(1, published_at=None, fetched_at=naive)
    assert analysis.doc_date(d) == datetime(2024, 3, 1, 12, 0, tzinfo=UTC)
    ms = analysis.to_ms(datetime(2024, 2, 29, 20, 0, tzinfo=UTC))  # 04:00 on 1 March in Beijing
    assert analysis.bucket_start(ms, "day") == "2024-03-01"
    assert analysis.bucket_start(ms, "week") == "2024-02-26"
    assert analysis.bucket_start(ms, "month") == "2024-03-01"
    assert analysis.fill_histogram({"2024-01-01": 2, "2024-03-01": 1}, "month") == [
        ("2024-01-01", 2),
        ("2024-02-01", 0),
        ("2024-03-01", 1),
    ]
    with pytest.raises(ValueError):
        analysis.validate_query("year", "relevance")


def test_a_searcher_sees_what_another_instance_indexed_changed_and_deleted(tmp_path):
    """The columns and cached word sets of one process follow the writes of another (the ``changes`` log)."""
    writer, reader = EmbeddedSearch(tmp_path / "s.sqlite"), EmbeddedSearch(tmp_path / "s.sqlite")
    writer.index([doc(i, region="北京") for i in range(5)])
    assert reader.search(SearchQuery(text="糖尿病")).total == 5  # columns loaded, word set cached
    writer.index([doc(2, text="本院专治高血压", region="上海"), doc(7, text="糖尿病门诊", region="上海")])
    res = reader.search(SearchQuery(text="糖尿病"))
    assert res.total == 5 and res.facets["region"] == {"北京": 4, "上海": 1}
    assert {h.doc_id for h in reader.search(SearchQuery(text="高血压")).hits} == {"d002"}
    assert reader.search(SearchQuery(text="糖尿病", regions=["上海"])).total == 1
    writer.delete(["d007", "d000"])
    res = reader.search(SearchQuery(text="糖尿病"))
    assert res.total == 3 and res.facets["region"] == {"北京": 3}
    assert {h.doc_id for h in reader.search(SearchQuery(size=10)).hits} == {"d001", "d002", "d003", "d004"}
    writer.clear()
    assert reader.search(SearchQuery(text="糖尿病")).total == 0
    writer.index([doc(9)])
    assert [h.doc_id for h in reader.search(SearchQuery(text="糖尿病")).hits] == ["d009"]
    writer.close()
    reader.close()


def test_relevance_beyond_one_scoring_window_is_ranked_window_by_window(tmp_path, monkeypatch):
    from store.search import columns

    monkeypatch.setattr(columns, "SCORE_WINDOW", 4)
    b = EmbeddedSearch(tmp_path / "s.sqlite")
    b.index([doc(i, text="糖尿病" + "。说明" * (i % 3)) for i in range(10)])
    res = b.search(SearchQuery(text="糖尿病", size=10))
    assert res.total == 10 and len({h.doc_id for h in res.hits}) == 10  # every match, once
    paged = [
        h.doc_id for p in range(5) for h in b.search(SearchQuery(text="糖尿病", size=2, offset=2 * p)).hits
    ]
    assert paged == [h.doc_id for h in res.hits]  # offset paging walks the same order
    b.close()


def test_column_snapshot_speeds_a_new_process_and_never_serves_another_index(tmp_path):
    a = EmbeddedSearch(tmp_path / "a" / "s.sqlite")
    a.index([doc(i, region="北京") for i in range(4)])
    assert a.search(SearchQuery(text="糖尿病")).total == 4
    snapshot = tmp_path / "a" / "s.sqlite.columns.npz"
    assert snapshot.exists()
    a.index([doc(9, region="上海")])  # after the snapshot: applied from the changes log on restore
    fresh = EmbeddedSearch(tmp_path / "a" / "s.sqlite")
    res = fresh.search(SearchQuery(text="糖尿病"))
    assert res.total == 5 and res.facets["region"] == {"北京": 4, "上海": 1}
    # A snapshot copied next to a different index file is not used for it.
    other = EmbeddedSearch(tmp_path / "b" / "s.sqlite")
    other.index([doc(1, region="广州")])
    (tmp_path / "b" / "s.sqlite.columns.npz").write_bytes(snapshot.read_bytes())
    reopened = EmbeddedSearch(tmp_path / "b" / "s.sqlite")
    assert reopened.search(SearchQuery()).facets["region"] == {"广州": 1}
    for b in (a, fresh, other, reopened):
        b.close()


def test_step_one_segments_for_the_index_and_a_mismatched_text_is_segmented_again(tmp_path):
    """The prepare step (its own process in a crawl) computes the index's segmented text and the SimHash; the
    indexer uses a segmented form only for the very text it was computed from."""
    from domain import PageItem
    from domain.fingerprint import simhash
    from pipelines.process import Prepared, Processor
    from store.db import Store
    from store.indexer import Indexer

    settings = Settings(data_dir=tmp_path, ocr_enabled=False)
    body = (
        "<html><head><title>皮肤科 根治 痤疮</title></head><body><article><p>"
        + "本院皮肤科采用光动力疗法治疗痤疮。" * 12
    )
    page = PageItem(
        url="http://a.cn/1.html", final_url="http://a.cn/1.html", status=200, body=(body + "</p></article></body></html>").encode(),
        headers={"Content-Type": "text/html; charset=utf-8"}, source_id="s", fetched_at=datetime(2026, 3, 1, tzinfo=UTC),
    )  # fmt: skip
    prep = Processor.for_prepare(settings).prepare(page, None)
    assert isinstance(prep, Prepared)
    ex = prep.extracted
    assert prep.segmented == {ex.title: analysis.index_text(ex.title), ex.text: analysis.index_text(ex.text)}
    assert prep.simhash == simhash(ex.text)

    search = EmbeddedSearch(tmp_path / "idx.sqlite")
    store = Store.from_settings(settings)
    item = {
        "run_id": None, "source_id": "s", "url": page.url, "final_url": page.url, "extracted": ex,
        "content_hash": prep.content_hash, "raw": page.body, "headers": {}, "fetched_at": page.fetched_at,
        "rendered": False, "institution_id": None, "region": None, "index": True,
    }  # fmt: skip
    (saved,) = store.save_many([item])
    indexer = Indexer(store, search)

    # a segmented form computed for another text (a stale one) is not used for this document …
    store.outbox_add([saved.doc_id])
    indexer.index([saved.doc_id], queued=True, segmented={"别的标题": "标记", "别的正文": "标记"})
    assert [h.doc_id for h in search.search(SearchQuery(text="痤疮")).hits] == [saved.doc_id]
    assert search.search(SearchQuery(text="标记")).hits == []
    # … one computed for this very text is (the marker shows which form the index holds)
    store.outbox_add([saved.doc_id])
    indexer.index([saved.doc_id], queued=True, segmented={ex.title: "标记"})
    assert [h.doc_id for h in search.search(SearchQuery(text="标记")).hits] == [saved.doc_id]
    store.outbox_add([saved.doc_id])
    indexer.index([saved.doc_id], queued=True, segmented=prep.segmented)
    assert [h.doc_id for h in search.search(SearchQuery(text="光动力")).hits] == [saved.doc_id]
    assert search.search(SearchQuery(text="标记")).hits == []
    store.close()
