"""A claim only in ``<img alt>`` or the meta description is analysed as page text and its finding points at that
element; a stray NUL byte does not cost a whole page (issue 15)."""

from __future__ import annotations

from classifiers.rules import RuleClassifier
from pipelines.analyze import Analyzer
from pipelines.extract import extract_bytes, extract_html

BODY = "".join(
    f"<p>{p}</p>"
    for p in [
        "仁和医院皮肤科成立于1998年，现有医师12名，开设湿疹、银屑病、白癜风等专病门诊。",
        "门诊时间为周一至周日上午八点至下午五点，节假日照常接诊，预约电话0571-88886666。",
        "科室配备窄谱中波紫外线治疗仪、皮肤镜等设备，欢迎广大患者前来就诊咨询。",
    ]
)


def page(meta: str = "", alt: str = "", body: str = BODY) -> str:
    head = f'<meta name="description" content="{meta}">' if meta else ""
    img = f'<img src="/img/banner.jpg" alt="{alt}" width="600">' if alt else ""
    return (
        f"<html><head><meta charset='utf-8'><title>仁和医院皮肤科</title>{head}</head>"
        f"<body><div class='content'><h1>仁和医院皮肤科</h1>{img}{body}</div></body></html>"
    )


def analyse(html: str):
    ex = extract_html(html, "https://renhe.example.cn/pf/index.html")
    assert ex.status == "ok", ex.error_detail
    rules = RuleClassifier()
    return ex, Analyzer(rules, fragment_classifier=rules).analyze([ex])[0]


def test_a_clean_page_has_no_efficacy_finding():
    _, a = analyse(page())
    assert "exaggerated_efficacy" not in a.labels


def test_claim_in_meta_description_is_found_and_points_at_it():
    ex, a = analyse(page(meta="白癜风一次根治，无效退款！仁和医院皮肤科专家坐诊"))
    assert ex.description.startswith("白癜风一次根治")
    hits = [f for f in a.findings if f.field == "meta_description"]
    assert {f.text for f in hits} >= {"一次根治", "无效退款"}
    assert all(ex.description[f.start : f.end] == f.text for f in hits)
    assert "exaggerated_efficacy" in a.labels


def test_claim_in_image_alt_is_found_and_points_at_the_image():
    ex, a = analyse(page(alt="银屑病治愈率98%，药到病除"))
    hits = [f for f in a.findings if f.field.startswith("image_alt:")]
    assert hits and all(f.field == "image_alt:https://renhe.example.cn/img/banner.jpg" for f in hits)
    alt = ex.images[0].alt
    assert {alt[f.start : f.end] for f in hits} == {f.text for f in hits}
    assert {f.category for f in hits} == {"ad_cure_rate_stats", "ad_efficacy_guarantee"}


def test_alt_text_hidden_with_zero_width_characters_is_found():
    _, a = analyse(page(alt="\u200b".join("一次根治不复发")))
    assert any(f.field.startswith("image_alt:") and f.category == "ad_efficacy_guarantee" for f in a.findings)


def test_alt_text_repeating_the_body_is_not_reported_twice():
    body = BODY + "<p>本院承诺一次根治，无效退款。</p>"
    _, a = analyse(page(alt="本院承诺一次根治，无效退款。", body=body))
    assert not [f for f in a.findings if f.field.startswith("image_alt:")]
    assert [f for f in a.findings if f.field == "text" and f.text == "一次根治"]


def test_a_page_with_one_nul_byte_is_still_extracted_and_analysed():
    raw = page().replace("门诊时间", "门诊\x00时间").encode("utf-8")
    assert raw.index(b"\x00") < 8192
    ex = extract_bytes(raw, {"Content-Type": "text/html; charset=utf-8"}, "https://renhe.example.cn/x")
    assert ex.status == "ok" and "门诊时间" in ex.text
