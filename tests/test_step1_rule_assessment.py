"""The rules' assessment of a page's text made by the crawl's step 1 (the prepare worker), and its use by step 2
(the analysis worker): the same analysis as when step 2 assesses the text itself, used only for the very text it
was made of (issue 14: the rule scan moves off the busiest process)."""

from __future__ import annotations

import pickle
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

from config import Settings
from domain import PageItem
from pipelines.analyze import assess_whole_text
from pipelines.process import Prepared, Processor, for_analysis

AD = "本院独家引进国外先进技术，一次根治牛皮癣，治愈率高达99%，无效退款，药到病除。"
NEWS = "市卫生健康委今天发布通报，要求各医疗机构加强院感防控，做好冬季呼吸道疾病诊疗工作。"


def page(text: str, url: str = "http://a.cn/1.html") -> PageItem:
    body = f"<html><head><title>皮肤科</title></head><body><article><p>{text * 4}</p></article></body></html>"
    return PageItem(
        url=url, final_url=url, status=200, body=body.encode(), headers={"Content-Type": "text/html; charset=utf-8"},
        source_id="s", fetched_at=datetime(2026, 3, 1, tzinfo=UTC),
    )  # fmt: skip


def test_step1_assessment_gives_the_same_analysis_and_is_used_only_for_its_own_text(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, ocr_enabled=False)
    step1 = Processor.for_prepare(settings)
    ad, news = step1.prepare(page(AD), None), step1.prepare(page(NEWS, "http://a.cn/2.html"), None)
    assert isinstance(ad, Prepared) and isinstance(news, Prepared)
    assert ad.assessed is not None and news.assessed is not None  # the default analysis is model + rules
    assert pickle.loads(pickle.dumps(ad)).assessed == ad.assessed  # it travels to the analysis worker

    analyzer = Processor.from_settings(settings).analyzer
    assert analyzer is not None
    docs = [for_analysis(ad.extracted), for_analysis(news.extracted)]
    here = analyzer.analyze(docs)
    given = analyzer.analyze(docs, assessed=[ad.assessed, news.assessed])
    assert given == here and "exaggerated_efficacy" in here[0].labels
    assert any(f.text == "一次根治" for f in given[0].findings)

    # keyed to the text it was made of: the ad's assessment is not taken for the news text (scores compared apart:
    # the model's scores of a text move in the last digits with the batch it is in) …
    (alone,) = analyzer.analyze(docs[1:], assessed=[ad.assessed])
    assert (alone.labels, alone.findings) == (here[1].labels, here[1].findings) == ([], [])
    # … and is taken when its key is that text's (proof that step 2 does not scan again)
    rekeyed = (news.assessed[0], ad.assessed[1])
    (borrowed,) = analyzer.analyze(docs[1:], assessed=[rekeyed])
    assert any(f.text == "一次根治" and f.field == "text" for f in borrowed.findings)

    # a hub page (mostly links) is read by the rules as a fragment: no whole-text assessment for it
    hub = replace(ad.extracted, link_density=0.95)
    assert assess_whole_text(step1.rules, hub) is None  # type: ignore[arg-type]
