"""The real-web corpus (classifiers/training_data/real): schema, labels, the by-site split and no leakage.

Every item is a passage quoted from a public web page with its address and a one-line reason for its
labels (labels.md). The split must keep each site in one split, reproduce from ``all.jsonl`` with
``split.py``, hold no duplicate text, and share no 12-character run with the team's pinned test and
challenge splits (so the real split measures text nobody here wrote or trained on).
"""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import tldextract

from classifiers.train import load_split
from classifiers.training_data.real import split as real_split
from domain import LABELS

DATA = Path(__file__).resolve().parents[1] / "classifiers" / "training_data"
REAL = DATA / "real"
SPLITS = ("train", "dev", "test")
FIELDS = {"id", "text", "labels", "kind", "site", "url", "reason", "batch"}
KINDS = {
    "ad",
    "advertorial",
    "agency",
    "news",
    "case_report",
    "education",
    "department",
    "gratitude",
    "forum",
    "other",
}
NGRAM = 12
# Titles in book-title marks (《医疗机构执业许可证》, 《人类辅助生殖技术管理办法》) are names of laws, licences
# and newspapers: shared vocabulary, not shared text. They are blanked before the n-gram comparison.
TITLE = re.compile(r"《[^》]{1,40}》")
_extract = tldextract.TLDExtract(suffix_list_urls=(), cache_dir=None)  # bundled suffix list, no download


def _read(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


@pytest.fixture(scope="module")
def corpus() -> list[dict]:
    return _read(REAL / "all.jsonl")


@pytest.fixture(scope="module")
def splits() -> dict[str, list[dict]]:
    return {s: _read(REAL / f"{s}.jsonl") for s in SPLITS}


def _site_of(url: str) -> str:
    host = urlsplit(url).hostname or ""
    if re.fullmatch(r"[\d.]+", host):
        return host
    parts = _extract(url)
    return f"{parts.domain}.{parts.suffix}"


def test_every_item_has_the_schema(corpus: list[dict]) -> None:
    assert len(corpus) >= 250
    ids = Counter(r["id"] for r in corpus)
    assert not [i for i, n in ids.items() if n > 1], "duplicate ids"
    for r in corpus:
        assert set(r) == FIELDS, r.get("id")
        assert re.fullmatch(r"real-\d{4}", r["id"]), r["id"]
        assert isinstance(r["text"], str) and 50 <= len(r["text"]) <= 600, (r["id"], len(r["text"]))
        assert r["text"] == r["text"].strip() and "\ufffd" not in r["text"], r["id"]
        assert r["kind"] in KINDS, (r["id"], r["kind"])
        assert urlsplit(r["url"]).scheme in ("http", "https") and urlsplit(r["url"]).hostname, r["id"]
        assert r["site"] == _site_of(r["url"]), (r["id"], r["site"], r["url"])
        assert isinstance(r["reason"], str) and len(r["reason"].strip()) >= 15, r["id"]
        assert r["batch"] in (1, 2, 3), (r["id"], r["batch"])
    # batches are appended: ids grow with the batch
    assert [r["batch"] for r in sorted(corpus, key=lambda r: r["id"])] == sorted(r["batch"] for r in corpus)


def test_labels_are_the_three_document_labels(corpus: list[dict]) -> None:
    for r in corpus:
        assert isinstance(r["labels"], list), r["id"]
        assert set(r["labels"]) <= set(LABELS), (r["id"], r["labels"])
        assert len(set(r["labels"])) == len(r["labels"]), r["id"]
    counts = Counter(lab for r in corpus for lab in r["labels"])
    neutral = sum(1 for r in corpus if not r["labels"])
    assert all(counts[lab] >= 30 for lab in LABELS), counts
    assert neutral >= len(corpus) / 3, (neutral, len(corpus))


def test_no_duplicate_texts(corpus: list[dict]) -> None:
    norm = Counter(re.sub(r"\s+", "", r["text"]) for r in corpus)
    assert not [t[:30] for t, n in norm.items() if n > 1]


def test_split_is_by_site_and_reproducible(corpus: list[dict], splits: dict[str, list[dict]]) -> None:
    sites = {s: {r["site"] for r in rows} for s, rows in splits.items()}
    for a in SPLITS:
        for b in SPLITS:
            if a < b:
                assert not sites[a] & sites[b], (a, b, sorted(sites[a] & sites[b]))
    # the three files partition all.jsonl, item for item
    assert sorted(r["id"] for rows in splits.values() for r in rows) == sorted(r["id"] for r in corpus)
    by_id = {r["id"]: r for r in corpus}
    for rows in splits.values():
        for r in rows:
            assert r == by_id[r["id"]]
    # and are exactly what split.py makes from all.jsonl
    regenerated = real_split.assign(corpus)
    for s in SPLITS:
        assert (REAL / f"{s}.jsonl").read_text(encoding="utf-8") == real_split.render(regenerated[s]), s
    sizes = {s: len(rows) / len(corpus) for s, rows in splits.items()}
    assert 0.5 <= sizes["train"] <= 0.7 and 0.1 <= sizes["dev"] <= 0.2 and 0.2 <= sizes["test"] <= 0.3, sizes
    assert all(any(lab in r["labels"] for r in splits["test"]) for lab in LABELS)


def test_split_assignment_does_not_depend_on_input_order(corpus: list[dict]) -> None:
    a = real_split.assign(corpus)
    b = real_split.assign(list(reversed(corpus)))
    assert {s: [r["id"] for r in a[s]] for s in SPLITS} == {s: [r["id"] for r in b[s]] for s in SPLITS}


def test_a_later_batch_does_not_move_earlier_items(corpus: list[dict]) -> None:
    """Adding a batch leaves every item of the earlier batches in the split it had when those batches were the
    whole corpus (the pinned test split only grows), and a later item of an earlier site follows that site."""
    together = real_split.assign(corpus)
    for last in range(1, max(r["batch"] for r in corpus)):
        earlier = [r for r in corpus if r["batch"] <= last]
        alone = real_split.assign(earlier)
        for s in SPLITS:
            assert [r["id"] for r in together[s] if r["batch"] <= last] == [r["id"] for r in alone[s]], (
                last,
                s,
            )
    first = [r for r in corpus if r["batch"] == 1]
    alone = real_split.assign(first)
    site = first[0]["site"]
    split_of_site = next(s for s in SPLITS if any(r["site"] == site for r in alone[s]))
    extra = {**first[0], "id": "real-9999", "text": first[0]["text"] + "（续）", "batch": 2}
    moved = real_split.assign([*corpus, extra])
    assert any(r["id"] == "real-9999" for r in moved[split_of_site])
    for s in SPLITS:
        assert [r["id"] for r in moved[s] if r["batch"] == 1] == [r["id"] for r in alone[s]], s


def _grams(text: str) -> set[str]:
    text = TITLE.sub("《》", text)
    return {text[i : i + NGRAM] for i in range(len(text) - NGRAM + 1)}


@pytest.mark.parametrize("other", ["test", "challenge"])
def test_no_text_shared_with_the_pinned_splits(corpus: list[dict], other: str) -> None:
    theirs: set[str] = set()
    for row in _read(DATA / f"{other}.jsonl"):
        theirs |= _grams(row["text"])
    shared = {(r["id"], g) for r in corpus for g in _grams(r["text"]) if g in theirs}
    assert not shared, sorted(shared)[:10]


def test_the_real_split_loads_for_evaluation(splits: dict[str, list[dict]]) -> None:
    """``yijian evaluate --split real`` reads the real corpus's test split through the common loader."""
    rows = load_split("real")
    assert [r["id"] for r in rows] == [r["id"] for r in splits["test"]]


def test_split_check_mode_reports_a_stale_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``split.py --check`` fails when a split file no longer matches all.jsonl, and passes when it does."""
    for name in ("all", *SPLITS):
        (tmp_path / f"{name}.jsonl").write_bytes((REAL / f"{name}.jsonl").read_bytes())
    monkeypatch.setattr(real_split, "HERE", tmp_path)
    monkeypatch.setattr(real_split, "ALL", tmp_path / "all.jsonl")
    assert real_split.main(["--check"]) == 0
    rows = _read(tmp_path / "test.jsonl")
    (tmp_path / "test.jsonl").write_text(real_split.render(rows[1:]), encoding="utf-8")
    assert real_split.main(["--check"]) == 1
    assert real_split.main([]) == 0 and real_split.main(["--check"]) == 0


def test_report_counts_neutral_texts_flagged_and_real_hard_negatives() -> None:
    """The evaluation report says how many texts without a gold label got one; real-corpus news, case
    reports, education, department and gratitude rows without the ad label are hard negatives."""
    from classifiers.evaluate import is_hard_negative, score_system

    rows = [
        {"text": "a", "labels": [], "kind": "news"},
        {"text": "b", "labels": [], "kind": "education"},
        {"text": "c", "labels": ["negative_sentiment"], "kind": "case_report"},
        {"text": "d", "labels": ["exaggerated_efficacy"], "kind": "advertorial"},
    ]
    pred = [{"exaggerated_efficacy"}, set(), {"negative_sentiment"}, {"exaggerated_efficacy"}]
    s = score_system(rows, pred)
    assert (s["neutral"], s["neutral_flagged"], s["neutral_flag_rate"]) == (2, 1, 0.5)
    assert [is_hard_negative(r) for r in rows] == [True, True, True, False]
    assert (s["hard_negatives"], s["hard_negative_ad_flagged"]) == (3, 1)


def test_cli_offers_the_real_split() -> None:
    from console.cmd_model import evaluate

    split = next(p for p in evaluate.params if p.name == "split")
    assert "real" in split.type.choices
