"""Elasticsearch integration against an osmem-server process: template installation, the outbox across an outage,
rebuild, status, and the index CLI."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner

import index_config
from console.cmd_index import index as index_cli
from domain import Extracted
from store.db import Store
from store.indexer import Indexer
from store.search.base import SearchQuery, SearchUnavailable
from store.search.embedded import EmbeddedSearch
from tests.osmem import OsmemProcess, es_backend, free_port

T0 = datetime(2024, 5, 1, 8, 0, tzinfo=UTC)


@pytest.fixture
def osmem():
    server = OsmemProcess()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def store(tmp_path: Path):
    s = Store(f"sqlite:///{tmp_path / 'y.db'}", tmp_path / "blobs")
    yield s
    s.close()


def save(store: Store, n: int, text: str = "本院专治糖尿病，一次根治。", title: str | None = None) -> str:
    url = f"http://hospital.example/page/{n}"
    out = store.save_version(
        run_id=None,
        source_id="src",
        url=url,
        final_url=url,
        extracted=Extracted(url=url, title=title or f"第{n}篇", text=text, encoding="utf-8"),
        content_hash=f"h:{n}:{text}",
        raw=None,
        headers={},
        fetched_at=T0,
        rendered=False,
        institution_id=None,
        region=None,
    )
    return out.doc_id


def test_install_templates_aliases_and_ilm_detection(osmem, tmp_path):
    backend = es_backend(osmem.url, "inst", tmp_path)
    caps = backend.capabilities()
    assert caps["ilm"] is False  # osmem is OpenSearch-compatible: no ILM, detected rather than crashing
    messages = backend.install()
    assert any("ILM" in m and "跳过" in m for m in messages)
    es = backend.client
    mapping = es.indices.get_mapping(index="inst-docs-000001").body["inst-docs-000001"]["mappings"][
        "properties"
    ]
    assert mapping["title_seg"]["analyzer"] == "yijian_seg"
    assert mapping["findings"]["type"] == "nested"
    assert mapping["labels"]["type"] == "keyword" and mapping["date"]["type"] == "date"
    aliases = es.indices.get_alias(index="inst-docs-000001").body["inst-docs-000001"]["aliases"]
    assert aliases["inst-docs-write"]["is_write_index"] is True and "inst-docs" in aliases
    assert es.indices.exists_alias(name="inst-findings-write")
    settings = es.indices.get_settings(index="inst-docs-000001").body["inst-docs-000001"]["settings"]["index"]
    assert settings["analysis"]["analyzer"]["yijian_seg"]["tokenizer"] == "whitespace"
    # idempotent: a second install keeps the existing indices
    again = backend.install()
    assert any("已存在" in m for m in again)
    assert es.indices.get_alias(name="inst-docs-write").body.keys() == {"inst-docs-000001"}


def test_install_plan_for_real_elasticsearch_has_ilm_and_profiles():
    plan = index_config.install_plan("yj", ilm=True, analyzer_profile="ik", shards=3, replicas=2)
    assert set(plan.ilm_policies) == {"yj-docs", "yj-findings"}
    rollover = plan.ilm_policies["yj-docs"]["phases"]["hot"]["actions"]["rollover"]
    assert rollover["max_age"] and rollover["max_primary_shard_size"]
    docs = plan.index_templates["yj-docs"]
    assert docs["index_patterns"] == ["yj-docs-*"]
    assert docs["template"]["settings"]["index"]["lifecycle"] == {
        "name": "yj-docs",
        "rollover_alias": "yj-docs-write",
    }
    assert "yj-analyzer-profile" in docs["composed_of"]
    index_settings = plan.component_templates["yj-settings"]["template"]["settings"]["index"]
    assert index_settings["number_of_shards"] == 3 and index_settings["number_of_replicas"] == 2
    plain = index_config.install_plan("yj", ilm=False)
    assert plain.ilm_policies == {} and "settings" not in plain.index_templates["yj-docs"]["template"]
    assert set(index_config.analyzer_profiles()) >= {"ik", "smartcn"}
    with pytest.raises(ValueError):
        index_config.install_plan("yj", ilm=False, analyzer_profile="nope")


def test_writing_without_install_bootstraps_first(osmem, tmp_path, store):
    backend = es_backend(osmem.url, "auto", tmp_path)
    doc_id = save(store, 1)
    backend.index(store.index_docs([doc_id]))
    assert backend.client.indices.exists_alias(name="auto-docs-write")
    assert backend.doc_ids() == [doc_id]


def test_unreachable_cluster_raises_search_unavailable(tmp_path, store):
    backend = es_backend(f"http://127.0.0.1:{free_port()}", "down", tmp_path)
    with pytest.raises(SearchUnavailable):
        backend.count()
    with pytest.raises(SearchUnavailable):
        backend.index(store.index_docs([save(store, 1)]))
    with pytest.raises(SearchUnavailable):
        backend.search(SearchQuery(text="根治"))


def test_outage_mid_crawl_every_document_indexed_exactly_once(tmp_path, store):
    server = OsmemProcess()
    server.start()
    try:
        backend = es_backend(server.url, "out", tmp_path)
        backend.install()
        indexer = Indexer(store, backend, cooldown_s=0)
        first = [save(store, n) for n in range(10)]
        for doc_id in first:  # the pipeline indexes page by page
            assert indexer.index([doc_id]) is True
        assert backend.count() == 10 and store.outbox_size() == 0

        kept = server.dump("out-*")  # what a real cluster keeps on disk across a restart
        server.stop()  # the search server goes away mid-crawl
        second = [save(store, n) for n in range(10, 25)]
        for doc_id in second:
            assert indexer.index([doc_id]) is False  # queued, nothing raised
        changed = save(store, 0, text="本院专治糖尿病，一次根治。新版本")  # a changed page while down
        assert changed == first[0]
        indexer.index([changed])
        assert store.outbox_size() == 16  # queued once each
        status = indexer.status()
        assert status["reachable"] is False and status["backlog"] == 16 and "不可达" in status["error"]
        with pytest.raises(SearchUnavailable):
            indexer.replay()

        server.start()  # back on the same port, with its data
        backend.install()
        server.load(kept)
        assert backend.count() == 10
        assert indexer.replay() == 16
        assert store.outbox_size() == 0
        ids = backend.doc_ids()
        assert sorted(ids) == sorted(first + second) and len(ids) == len(set(ids)) == 25
        assert backend.count() == 25
        assert backend.search(SearchQuery(text="新版本")).total == 1
        assert backend.search(SearchQuery(text="根治", size=100)).total == 25
    finally:
        server.stop()


def test_rebuild_restores_a_wiped_cluster(tmp_path, store, osmem):
    backend = es_backend(osmem.url, "reb", tmp_path)
    indexer = Indexer(store, backend)
    ids = [save(store, n) for n in range(12)]
    indexer.index(ids[:5])
    backend.clear()  # as after losing the cluster's data
    assert backend.count() == 0
    rebuilt = indexer.rebuild(batch=5)
    assert rebuilt["documents"] == 12 and rebuilt["indexed"] == 12 and rebuilt["backlog"] == 0
    found = backend.doc_ids()
    assert sorted(found) == sorted(ids) and len(found) == 12 and backend.count() == 12
    assert indexer.status() | {"error": ""} == {
        "backend": "elasticsearch",
        "reachable": True,
        "indexed": 12,
        "documents": 12,
        "backlog": 0,
        "failed": 0,
        "error": "",
    }


def test_outage_keeps_state_when_server_survives(tmp_path, store, osmem):
    """A cluster that was only unreachable (not wiped): replay alone brings the index back in step."""
    backend = es_backend(osmem.url, "blip", tmp_path)
    backend.install()
    indexer = Indexer(store, backend, cooldown_s=0)
    a = [save(store, n) for n in range(5)]
    indexer.index(a)
    good_client = backend.client
    backend.client = es_backend(
        f"http://127.0.0.1:{free_port()}", "blip", tmp_path
    ).client  # the network drops
    b = [save(store, n) for n in range(5, 9)]
    assert indexer.index(b) is False
    backend.client = good_client  # and comes back
    assert indexer.index([save(store, 9)]) is True  # replays the backlog first
    ids = backend.doc_ids()
    assert len(ids) == len(set(ids)) == 10 and store.outbox_size() == 0


def test_cooldown_queues_without_touching_the_network(tmp_path, store):
    backend = es_backend(f"http://127.0.0.1:{free_port()}", "cool", tmp_path)
    indexer = Indexer(store, backend, cooldown_s=60)
    assert indexer.index([save(store, 1)]) is False
    assert "不可达" in indexer.last_error
    backend.client = None  # any network attempt during the cooldown would now fail loudly
    assert indexer.index([save(store, 2)]) is False
    assert store.outbox_size() == 2


def test_deleted_document_is_removed_from_the_index(tmp_path, store):
    backend = EmbeddedSearch(tmp_path / "search.sqlite")
    indexer = Indexer(store, backend)
    ids = [save(store, n) for n in range(3)]
    indexer.index(ids)
    assert backend.count() == 3
    store.delete_document(ids[1])  # queues the id in the outbox
    indexer.index([ids[0]])
    assert backend.doc_ids() == sorted([ids[0], ids[2]]) and store.outbox_size() == 0


def test_rejected_document_stays_queued_with_reason(osmem, tmp_path, store):
    backend = es_backend(osmem.url, "rej", tmp_path)
    # An index whose mapping refuses some documents (as after a bad manual template change): title is an integer.
    backend.client.indices.create(
        index="rej-docs-000001",
        mappings={"properties": {"title": {"type": "integer"}, "doc_id": {"type": "keyword"}}},
        aliases={"rej-docs": {}, "rej-docs-write": {"is_write_index": True}},
    )
    backend.install()
    indexer = Indexer(store, backend)
    good, bad = save(store, 1, title="12"), save(store, 2, title="第2篇")
    assert indexer.index([good, bad]) is True
    assert backend.doc_ids() == [good]
    assert store.outbox_pending() == [bad]  # kept, with the reason, never dropped
    for _ in range(3):
        indexer.replay()
    status = indexer.status()
    assert status["backlog"] == 1 and status["failed"] == 1
    assert indexer.replay() == 0  # given up automatically after MAX_ATTEMPTS ...
    assert store.outbox_pending() == [bad]  # ... but still queued for rebuild / replay(include_failed=True)


def test_cli_status_install_rebuild(tmp_path, monkeypatch):
    data = tmp_path / "data"
    data.mkdir()
    with Store(f"sqlite:///{data / 'yijian.db'}", data / "blobs") as s:
        ids = [save(s, n) for n in range(4)]
        s.outbox_add(ids[:2])
    monkeypatch.setenv("YIJIAN_SEARCH", "embedded")
    runner = CliRunner()
    res = runner.invoke(index_cli, ["status", "--json", "--data-dir", str(data)])
    assert res.exit_code == 0, res.output
    status = json.loads(res.output)
    assert status["backend"] == "embedded" and status["backlog"] == 2 and status["documents"] == 4
    assert status["indexed"] == 0 and status["reachable"] is True
    res = runner.invoke(index_cli, ["rebuild", "--json", "--data-dir", str(data)])
    assert res.exit_code == 0, res.output
    out = json.loads(res.output)
    assert out["indexed"] == 4 and out["backlog"] == 0
    res = runner.invoke(index_cli, ["status", "--data-dir", str(data)])
    assert res.exit_code == 0 and "4" in res.output
    res = runner.invoke(index_cli, ["install", "--data-dir", str(data)])
    assert res.exit_code == 0 and "内置" in res.output


def test_cli_reports_unreachable_cluster(tmp_path, monkeypatch):
    monkeypatch.setenv("YIJIAN_SEARCH", "elasticsearch")
    monkeypatch.setenv("YIJIAN_ES_URL", f"http://127.0.0.1:{free_port()}")
    runner = CliRunner()
    res = runner.invoke(index_cli, ["install", "--data-dir", str(tmp_path / "d")])
    assert res.exit_code == 1 and "不可达" in res.output
    res = runner.invoke(index_cli, ["status", "--json", "--data-dir", str(tmp_path / "d")])
    assert res.exit_code == 0
    assert json.loads(res.output)["reachable"] is False
