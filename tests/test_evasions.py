"""Evasions a real advertiser uses (issue 15): the claim 一次根治，治愈率99%，无效退款，药到病除 written with hidden
characters, soft hyphens, spaced-out characters, an RTL override, pinyin or homophones and traditional characters
is still flagged by the rule engine (all four claims, spans pointing at the original text) and found by search."""

from __future__ import annotations

from pathlib import Path

import pytest

from classifiers.rules import RuleClassifier
from store.search.base import IndexDoc, SearchQuery
from store.search.embedded import EmbeddedSearch

CLAIM = "一次根治，治愈率99%，无效退款，药到病除"

EVASIONS = {
    "plain": CLAIM,
    "zero_width": "\u200b".join(CLAIM),
    "word_joiner_bom": "一次根\u2060治，治\ufeff愈率99%，无\u2060效退款，药到\ufeff病除",
    "soft_hyphen": "一次根\u00ad治，治\u00ad愈率99%，无效\u00ad退款，药到\u00ad病除",
    "ascii_spaces": " ".join(CLAIM),
    "ideographic_spaces": "\u3000".join(CLAIM),
    "rtl_override": "\u202e" + CLAIM[::-1] + "\u202c",
    "pinyin": "一次gen治，治愈律99%，无效tui款，药到病徐",
    "homophone": "一次根制，治愈率99%，无效退款，药到病除",
    "traditional": "一次根治，治癒率99%，無效退款，藥到病除",
    "full_width_digits": "一次根治，治愈率９９％，无效退款，药到病除",
    "kangxi_radical": "⼀次根治，治愈率99%，无效退款，药到病除",
    # each claim cut across two blocks (extraction writes one line per block)
    "split_across_blocks": "一次\n根治，治愈率\n99%，无效\n退款，药到\n病除",
}

PAGE = "仁爱医院皮肤科专家坐诊，预约电话400-800-1234。{claim}。地址：解放路88号。"
EXPECTED = {"ad_efficacy_guarantee": 3, "ad_cure_rate_stats": 1}


@pytest.fixture(scope="module")
def rules() -> RuleClassifier:
    return RuleClassifier()


@pytest.mark.parametrize("name", sorted(EVASIONS))
def test_rules_flag_every_claim_and_point_at_the_original(rules, name):
    page = PAGE.format(claim=EVASIONS[name])
    result = rules.classify([page])[0]
    assert "exaggerated_efficacy" in result.labels
    counts: dict[str, int] = {}
    for f in result.findings:
        counts[f.category] = counts.get(f.category, 0) + 1
        assert page[f.start : f.end] == f.text  # spans index the original page
    assert {c: counts.get(c, 0) for c in EXPECTED} == EXPECTED, result.findings
    # the claim as written sits inside the union of the finding spans
    lo = min(f.start for f in result.findings if f.category in EXPECTED)
    hi = max(f.end for f in result.findings if f.category in EXPECTED)
    claim_at = page.index(EVASIONS[name])
    assert claim_at <= lo and hi <= claim_at + len(EVASIONS[name])


def test_reason_says_how_the_original_was_written(rules):
    page = PAGE.format(claim=EVASIONS["pinyin"])
    f = next(f for f in rules.classify([page])[0].findings if f.text == "一次gen治")
    assert "写作“一次gen治”" in f.reason
    page = PAGE.format(claim=EVASIONS["zero_width"])
    f = next(f for f in rules.classify([page])[0].findings if f.category == "ad_efficacy_guarantee")
    assert "不可见字符" in f.reason


def test_a_plain_neutral_page_stays_unflagged(rules):
    text = "本院位于市中心，交通便利。糖尿病目前还不能根治，需要长期规范治疗。"
    assert "exaggerated_efficacy" not in rules.classify([" ".join(text)])[0].labels


def _doc(doc_id: str, title: str, text: str) -> IndexDoc:
    return IndexDoc(
        doc_id=doc_id,
        url=f"https://ev.example/{doc_id}",
        title=title,
        text=text,
        source_id="s",
        source_type="site",
    )


@pytest.fixture()
def index(tmp_path: Path):
    search = EmbeddedSearch(tmp_path / "search.sqlite")
    search.index(
        [_doc(name, "皮肤科", PAGE.format(claim=claim)) for name, claim in EVASIONS.items()]
        + [_doc("other", "医院简介", "本院位于市中心。")]
    )
    yield search
    search.close()


@pytest.mark.parametrize("query", ["根治", "无效退款", "药到病除", "無效退款", "治癒率"])
def test_search_finds_every_evasion(index, query):
    found = {h.doc_id for h in index.search(SearchQuery(text=query, size=50)).hits}
    assert found == set(EVASIONS), sorted(set(EVASIONS) - found)


def test_highlights_mark_the_original_and_drop_hidden_characters(index):
    hits = {h.doc_id: h for h in index.search(SearchQuery(text="根治", size=50)).hits}
    zw = " ".join(hits["zero_width"].highlights)
    assert "<em>根治</em>" in zw and "\u200b" not in zw
    assert "<em>gen治</em>" in " ".join(hits["pinyin"].highlights)
    assert "\u202e" not in " ".join(hits["rtl_override"].highlights)
