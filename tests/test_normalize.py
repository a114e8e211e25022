"""The text normaliser (domain/normalize.py): what it undoes, what it leaves alone, and that its offset map
points every normalised span back at the original characters."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from domain.normalize import SUBSTITUTIONS, normalize, normalize_text, strip_invisible

CLAIM = "一次根治，治愈率99%，无效退款，药到病除"


def test_plain_text_is_untouched_and_maps_to_itself():
    nz = normalize_text(CLAIM)
    assert nz.text == CLAIM and not nz.changed
    assert nz.span(2, 4) == (2, 4)


def test_invisible_characters_are_removed():
    for ch in (
        "\u200b",
        "\u200c",
        "\u200d",
        "\u2060",
        "\ufeff",
        "\u00ad",
        "\u200e",
        "\u2066",
        "\ufe0f",
        "\x00",
    ):
        assert normalize(ch.join(CLAIM)) == CLAIM, repr(ch)


def test_rtl_override_is_put_in_reading_order():
    stored = "本院\u202e" + CLAIM[::-1] + "\u202c欢迎来电"
    nz = normalize_text(stored)
    assert nz.text == "本院" + CLAIM + "欢迎来电"
    i = nz.text.index("无效退款")
    a, b = nz.span(i, i + 4)
    assert stored[a:b] == "款退效无"  # the same characters, as stored


def test_nfkc_folds_compatibility_forms_but_keeps_chinese_punctuation():
    assert normalize("⼀次根治") == "一次根治"  # Kangxi radical ⼀ (U+2F00)
    assert normalize("治愈率９９％") == "治愈率99％"  # digits fold; full-width punctuation stays
    assert normalize("ＧＥＮ治") == "根治"  # full-width pinyin, then the table
    assert normalize("你好，世界！（一）") == "你好，世界！（一）"
    assert normalize("①根治…") == "①根治…"


def test_spaces_between_cjk_and_spaced_out_runs_are_removed():
    assert normalize(" ".join(CLAIM)) == CLAIM
    assert normalize("\u3000".join(CLAIM)) == CLAIM
    assert normalize("\u00a0".join("根治")) == "根治"
    # spaces between words are kept
    assert normalize("使用 CT 检查") == "使用 CT 检查"
    assert normalize("Plan A or B is fine") == "Plan A or B is fine"
    assert normalize("2023 年") == "2023 年"
    assert normalize("第一行\n第二行") == "第一行\n第二行"


def test_a_claim_split_across_blocks_is_joined_where_it_reads_as_one_sentence():
    # a short fragment cut off by a line break, Han on both sides, no punctuation at the break: joined
    assert normalize("我院鼻炎一次\n根治，治愈率\n99%") == "我院鼻炎一次根治，治愈率99%"
    assert normalize("一\n次\n根\n治") == "一次根治"
    nz = normalize_text("预约：一次\n根治。")
    at = nz.text.index("一次根治")
    assert nz.original_text(at, at + 4) == "一次\n根治"  # offsets map back over the removed break
    # a break after punctuation, between two long lines, between numbers, or a paragraph break: kept
    assert normalize("术后会肿。\n通常两周消退") == "术后会肿。\n通常两周消退"
    assert (
        normalize("二、临床研究结果\n权威临床研究正在给出信号")
        == "二、临床研究结果\n权威临床研究正在给出信号"
    )
    assert normalize("2024\n12") == "2024\n12"
    assert normalize("一次\n\n根治") == "一次\n\n根治"


def test_traditional_to_simplified():
    assert normalize("一次根治，治癒率99%，無效退款，藥到病除") == CLAIM
    assert normalize("香港驗血查性別，幹細胞回輸") == "香港验血查性别，干细胞回输"
    assert normalize("衞生署") == "卫生署"  # Hong Kong variant


def test_homophone_and_pinyin_table():
    assert normalize("一次gen治，治愈律99%，无效tui款，药到病徐") == CLAIM
    assert normalize("一次根制") == "一次根治"
    assert normalize("GEN ZHI") == "根治"
    assert normalize("dai孕妈妈") == "代孕妈妈"
    # a Latin spelling inside a longer word is not rewritten; ordinary words around the table are untouched
    assert normalize("agent治理") == "agent治理"
    assert normalize("跟治疗方案有关") == "跟治疗方案有关"
    for pattern, out in SUBSTITUTIONS:
        assert normalize(out) == out, (pattern, out)  # the canonical forms are fixed points


def test_offsets_map_substitutions_to_the_whole_original_spelling():
    text = "本院一次gen治哦"
    nz = normalize_text(text)
    i = nz.text.index("根治")
    assert nz.original_text(i, i + 2) == "gen治"
    assert nz.original_text(0, len(nz.text)) == text


def test_strip_invisible():
    assert strip_invisible("根\u200b治\u202e") == "根治"


INVISIBLES = st.sampled_from(
    ["\u200b", "\u200d", "\u2060", "\ufeff", "\u00ad", "\u202d", "\u2066", "\ufe0f", "\x00"]
)
FILLER = st.text(alphabet=st.sampled_from(list("本院位于市中心交通便利。，欢迎来电abc123 ")), max_size=20)


@settings(max_examples=200, deadline=None)
@given(
    before=FILLER,
    after=FILLER,
    inserts=st.lists(st.tuples(st.integers(min_value=0, max_value=len(CLAIM)), INVISIBLES), max_size=12),
)
def test_property_a_claim_with_inserted_invisibles_maps_back(before, after, inserts):
    """For random insertions of invisible characters into the claim, the claim is found in the
    normalised text, and its mapped span covers exactly the original claim with its insertions."""
    chars = list(CLAIM)
    for pos, ch in sorted(inserts, reverse=True):
        if 0 < pos < len(chars):
            chars.insert(pos, ch)
    spoiled = "".join(chars)
    text = before + "。" + spoiled + "。" + after
    nz = normalize_text(text)
    i = nz.text.find(CLAIM)
    assert i >= 0, (text, nz.text)
    a, b = nz.span(i, i + len(CLAIM))
    assert text[a:b] == spoiled
    # and every single character maps onto the same character of the original
    for k in range(i, i + len(CLAIM)):
        ka, kb = nz.span(k, k + 1)
        assert text[ka:kb] == nz.text[k]


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=60))
def test_property_any_text_maps_consistently(text):
    """On arbitrary input the normaliser never raises and its map is monotone where no RTL override is
    involved and always inside the original."""
    nz = normalize_text(text)
    n = len(nz.text)
    for k in range(n):
        a, b = nz.span(k, k + 1)
        assert 0 <= a < b <= len(text)
    a, b = nz.span(0, n)
    assert 0 <= a <= b <= len(text)
    assert normalize(nz.text) == normalize(normalize(nz.text))  # idempotent on its own output
