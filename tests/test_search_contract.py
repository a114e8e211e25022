"""One contract, two backends: the same assertions on the embedded (SQLite FTS5) and the Elasticsearch backend
(the latter against an osmem-server process started by the tests)."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from store.search.base import FACET_FIELDS, IndexDoc, SearchQuery
from store.search.embedded import EmbeddedSearch
from tests.osmem import OsmemProcess, es_backend

_prefixes = itertools.count()


@pytest.fixture(scope="module")
def osmem():
    with OsmemProcess() as server:
        yield server


@pytest.fixture(params=["embedded", "elasticsearch"])
def backend(request, tmp_path: Path):
    if request.param == "embedded":
        b = EmbeddedSearch(tmp_path / "search.sqlite")
        yield b
        b.close()
    else:
        server = request.getfixturevalue("osmem")
        b = es_backend(server.url, f"ct{next(_prefixes)}", tmp_path)
        b.install()
        yield b
        b.client.close()


def dt(day: int, hour: int = 4) -> datetime:
    return datetime(2024, 3, day, hour, 0, tzinfo=UTC)


def corpus() -> list[IndexDoc]:
    return [
        IndexDoc(
            doc_id="d1",
            url="https://a.example/1",
            title="根治糖尿病的秘方",
            text="本院专家独家秘方，三个月根治糖尿病，无效退款。",
            source_id="hospital_a",
            source_type="site",
            institution_id="inst_a",
            region="北京",
            published_at=dt(1),
            labels=["exaggerated_efficacy"],
            categories=["ad_efficacy_guarantee", "ad_tcm_secret_remedy_claim"],
            severities=["S2"],
            findings=[
                {
                    "category": "ad_efficacy_guarantee",
                    "label": "exaggerated_efficacy",
                    "start": 10,
                    "end": 12,
                    "text": "根治",
                    "legal_basis": "广告法第16条第1款第2项",
                    "severity": "S2",
                    "source": "rule:cure",
                    "field": "text",
                    "score": None,
                    "reason": "承诺治愈",
                }
            ],
        ),
        IndexDoc(
            doc_id="d2",
            url="https://a.example/2",
            title="医院简介",
            text="我院内分泌科诊治糖尿病，提倡科学控糖，糖尿病目前还不能根治。",
            source_id="hospital_a",
            source_type="site",
            institution_id="inst_a",
            region="北京",
            published_at=dt(2),
        ),
        IndexDoc(
            doc_id="d3",
            url="https://b.example/3",
            title="干细胞治疗帕金森",
            text="<script>alert('x')</script> 干细胞回输，根治帕金森 & 老年痴呆！",
            source_id="wechat_b",
            source_type="wechat",
            institution_id="inst_b",
            region="上海",
            published_at=dt(9),
            labels=["exaggerated_efficacy", "unapproved_service"],
            categories=["svc_unapproved_cell_gene_therapy", "ad_efficacy_guarantee"],
            severities=["S1", "S2"],
        ),
        IndexDoc(
            doc_id="d4",
            url="https://news.example/4",
            title="某医院过度医疗被投诉",
            text="患者投诉某医院乱收费、过度医疗，院方回应称将调查。",
            source_id="news_c",
            source_type="news",
            institution_id="inst_b",
            region="上海",
            published_at=None,
            fetched_at=dt(20),  # no publish time: falls back to fetched_at
            labels=["negative_sentiment"],
            categories=["sent_overcharging"],
            severities=["P3"],
        ),
        IndexDoc(
            doc_id="d5",
            url="https://news.example/5",
            title="卫健委通报",
            text="市卫健委提醒：凡宣称“根治”的医疗广告均属违法。",
            source_id="news_c",
            source_type="news",
            region="广州",
            published_at=None,
            fetched_at=None,  # no date at all
        ),
    ]


def ids(result) -> list[str]:
    return [h.doc_id for h in result.hits]


def test_keyword_search_chinese(backend):
    backend.index(corpus())
    assert sorted(ids(backend.search(SearchQuery(text="根治")))) == ["d1", "d2", "d3", "d5"]
    assert ids(backend.search(SearchQuery(text="帕金森"))) == ["d3"]
    assert backend.search(SearchQuery(text="不存在的词语组合青霉素")).total == 0


def test_multi_word_query_requires_every_word(backend):
    backend.index(corpus())
    spaced = backend.search(SearchQuery(text="根治 糖尿病"))
    joined = backend.search(SearchQuery(text="根治糖尿病"))
    assert sorted(ids(spaced)) == ["d1", "d2"]
    assert sorted(ids(joined)) == ["d1", "d2"]
    assert ids(backend.search(SearchQuery(text="过度医疗 投诉"))) == ["d4"]


def test_title_match_ranks_above_body_match(backend):
    backend.index(corpus())
    result = backend.search(SearchQuery(text="糖尿病"))
    assert ids(result)[0] == "d1"  # in the title (and body) beats body only
    assert result.hits[0].score > result.hits[1].score > 0


def test_filters(backend):
    backend.index(corpus())
    assert sorted(ids(backend.search(SearchQuery(labels=["exaggerated_efficacy"])))) == ["d1", "d3"]
    assert ids(backend.search(SearchQuery(categories=["sent_overcharging"]))) == ["d4"]
    assert ids(backend.search(SearchQuery(severities=["S1"]))) == ["d3"]
    assert sorted(ids(backend.search(SearchQuery(source_ids=["news_c"])))) == ["d4", "d5"]
    assert sorted(ids(backend.search(SearchQuery(institution_ids=["inst_b"])))) == ["d3", "d4"]
    assert sorted(ids(backend.search(SearchQuery(regions=["北京", "广州"])))) == ["d1", "d2", "d5"]
    assert sorted(ids(backend.search(SearchQuery(flagged_only=True)))) == ["d1", "d3", "d4"]
    # several filters combine with AND, values of one filter with OR
    q = SearchQuery(text="根治", labels=["exaggerated_efficacy", "negative_sentiment"], regions=["上海"])
    assert ids(backend.search(q)) == ["d3"]


def test_date_range_uses_published_then_fetched(backend):
    backend.index(corpus())
    q = SearchQuery(date_from=dt(2, 0), date_to=dt(31))
    assert ids(backend.search(q)) == ["d4", "d3", "d2"]  # d4 by fetched_at; d5 (no date) never in a range
    assert ids(backend.search(SearchQuery(date_to=dt(1, 23)))) == ["d1"]
    # naive datetimes are UTC
    assert ids(backend.search(SearchQuery(date_from=datetime(2024, 3, 15)))) == ["d4"]


def test_empty_query_matches_all_newest_first(backend):
    backend.index(corpus())
    result = backend.search(SearchQuery())
    assert result.total == 5
    assert ids(result) == ["d4", "d3", "d2", "d1", "d5"]  # undated last
    assert result.facets["region"] == {"上海": 2, "北京": 2, "广州": 1}
    assert result.facets["labels"] == {
        "exaggerated_efficacy": 2,
        "negative_sentiment": 1,
        "unapproved_service": 1,
    }
    dated = backend.search(SearchQuery(text="根治", sort="date"))
    assert ids(dated) == ["d3", "d2", "d1", "d5"]


def test_facets_count_the_whole_match_set(backend):
    backend.index(corpus())
    result = backend.search(SearchQuery(text="根治", size=1))
    assert len(result.hits) == 1 and result.total == 4
    assert set(result.facets) == set(FACET_FIELDS)
    assert result.facets["labels"] == {"exaggerated_efficacy": 2, "unapproved_service": 1}
    assert result.facets["source_id"] == {"hospital_a": 2, "news_c": 1, "wechat_b": 1}
    assert result.facets["region"] == {"北京": 2, "上海": 1, "广州": 1}
    assert result.facets["institution_id"] == {"inst_a": 2, "inst_b": 1}
    assert result.facets["categories"] == {
        "ad_efficacy_guarantee": 2,
        "ad_tcm_secret_remedy_claim": 1,
        "svc_unapproved_cell_gene_therapy": 1,
    }
    assert result.facets["severities"] == {"S2": 2, "S1": 1}
    assert list(result.facets["source_id"]) == ["hospital_a", "news_c", "wechat_b"]  # count desc, then key
    assert backend.search(SearchQuery(text="根治", facets=False)).facets == {}


def test_highlights_escape_hostile_text(backend):
    backend.index(corpus())
    hit = backend.search(SearchQuery(text="根治 帕金森")).hits[0]
    assert hit.doc_id == "d3"
    joined = " ".join(hit.highlights)
    assert "<em>根治</em>" in joined and "<em>帕金森</em>" in joined
    assert "<script" not in joined
    assert "&lt;/script&gt;" in joined and "&amp;" in joined
    without_em = joined.replace("<em>", "").replace("</em>", "")
    assert "<" not in without_em and ">" not in without_em
    # hits carry the document's metadata
    assert hit.url == "https://b.example/3" and hit.region == "上海" and hit.institution_id == "inst_b"
    assert hit.published_at == dt(9) and "unapproved_service" in hit.labels


def test_highlight_of_english_is_case_insensitive(backend):
    doc = IndexDoc(doc_id="e1", url="u", title="CAR-T 疗法", text="提供 CAR-T 细胞治疗", source_id="s")
    backend.index([doc])
    hit = backend.search(SearchQuery(text="car-t")).hits[0]
    assert "<em>CAR</em>-<em>T</em>" in hit.highlights[0]


def _many() -> list[IndexDoc]:
    return [
        IndexDoc(
            doc_id=f"p{i:02d}",
            url=f"https://p.example/{i}",
            title=f"第{i}篇 无痛人流" if i % 3 == 0 else f"第{i}篇 门诊公告",
            text="无痛人流，安全无副作用。" * (1 + i % 4),
            source_id="src",
            published_at=dt(1 + i % 28, i % 24),
        )
        for i in range(23)
    ]


@pytest.mark.parametrize("sort", ["relevance", "date"])
def test_pagination_offset_and_cursor_agree(backend, sort):
    backend.index(_many())
    full = backend.search(SearchQuery(text="无痛人流", size=100, sort=sort))
    assert full.total == 23
    order = ids(full)
    assert len(set(order)) == 23

    by_offset: list[str] = []
    for offset in range(0, 30, 5):
        page = backend.search(SearchQuery(text="无痛人流", size=5, offset=offset, sort=sort, facets=False))
        assert page.total == 23
        by_offset += ids(page)
    assert by_offset == order

    if sort == "relevance" and backend.name == "elasticsearch":
        # osmem gap: it sorts on float64 scores but returns them rounded to float32 in the hit's sort values, so a
        # search_after on _score cannot land exactly (real Elasticsearch uses float32 scores on both sides).
        pytest.xfail("osmem: search_after on _score is inexact")
    by_cursor: list[str] = []
    cursor = None
    for _ in range(10):
        page = backend.search(
            SearchQuery(text="无痛人流", size=5, search_after=cursor, sort=sort, facets=False)
        )
        by_cursor += ids(page)
        cursor = page.next_cursor
        if cursor is None:
            break
    assert by_cursor == order  # no gaps, no duplicates


def test_date_histogram(backend):
    backend.index(corpus())
    day = backend.search(SearchQuery(histogram_interval="day"))
    assert day.histogram[0] == ("2024-03-01", 1)
    assert day.histogram[-1] == ("2024-03-20", 1)
    assert (
        len(day.histogram) == 20 and sum(n for _, n in day.histogram) == 4
    )  # gaps filled with 0, undated out
    assert ("2024-03-05", 0) in day.histogram
    week = backend.search(SearchQuery(histogram_interval="week"))
    assert week.histogram == [("2024-02-26", 2), ("2024-03-04", 1), ("2024-03-11", 0), ("2024-03-18", 1)]
    month = backend.search(SearchQuery(text="根治", histogram_interval="month"))
    assert month.histogram == [("2024-03-01", 3)]


def test_histogram_days_are_china_standard_time(backend):
    late = IndexDoc(doc_id="t1", url="u", title="t", text="x", source_id="s", published_at=dt(1, 17))
    backend.index([late])  # 17:00 UTC = 01:00 next day in Beijing
    assert backend.search(SearchQuery(histogram_interval="day")).histogram == [("2024-03-02", 1)]


def test_reindex_is_idempotent_and_replaces(backend):
    docs = corpus()
    backend.index(docs)
    backend.index(docs)
    assert backend.count() == 5
    changed = docs[1]
    changed.title = "医院简介（更新）青霉素"
    changed.labels = ["negative_sentiment"]
    changed.version = 2
    backend.index([changed])
    assert backend.count() == 5
    assert ids(backend.search(SearchQuery(text="青霉素"))) == ["d2"]
    assert sorted(ids(backend.search(SearchQuery(labels=["negative_sentiment"])))) == ["d2", "d4"]
    assert backend.doc_ids() == ["d1", "d2", "d3", "d4", "d5"]


def test_delete_and_clear(backend):
    backend.index(corpus())
    backend.delete(["d1", "d3", "missing"])
    assert backend.count() == 3
    assert sorted(ids(backend.search(SearchQuery(text="根治")))) == ["d2", "d5"]
    assert backend.search(SearchQuery(text="根治")).facets["labels"] == {}
    backend.clear()
    assert backend.count() == 0
    assert backend.search(SearchQuery()).total == 0


def test_bad_query_options_are_rejected(backend):
    with pytest.raises(ValueError):
        backend.search(SearchQuery(histogram_interval="hour"))
    with pytest.raises(ValueError):
        backend.search(SearchQuery(sort="random"))
    with pytest.raises(ValueError, match="search_after"):
        backend.search(SearchQuery(offset=9_990, size=20))


def test_search_on_empty_index(backend):
    result = backend.search(SearchQuery(text="根治", histogram_interval="day"))
    assert result.total == 0 and result.hits == [] and result.histogram == [] and result.next_cursor is None


def test_date_window_is_relative_safe(backend):
    now = datetime.now(UTC)
    recent = IndexDoc(doc_id="r1", url="u", title="t", text="x", source_id="s", fetched_at=now)
    old = IndexDoc(
        doc_id="r2", url="u", title="t", text="x", source_id="s", fetched_at=now - timedelta(days=40)
    )
    backend.index([recent, old])
    assert ids(backend.search(SearchQuery(date_from=now - timedelta(days=7)))) == ["r1"]


def test_evasive_spellings_are_found_by_both_backends(backend):
    """Index and query are normalised the same way (store.search.analysis): hidden characters, spaced-out
    characters, traditional characters and pinyin do not hide a claim from search."""
    claims = {
        "zw": "一次根\u200b治，无\u200d效退款",
        "spaced": "一 次 根 治 ， 无 效 退 款",
        "trad": "一次根治，無效退款",
        "pinyin": "一次gen治，无效tui款",
    }
    backend.index(
        [
            IndexDoc(
                doc_id=k,
                url=f"https://ev.example/{k}",
                title="门诊",
                text=v,
                source_id="s",
                source_type="site",
            )
            for k, v in claims.items()
        ]
    )
    assert sorted(ids(backend.search(SearchQuery(text="根治")))) == sorted(claims)
    assert sorted(ids(backend.search(SearchQuery(text="無效退款")))) == sorted(claims)
