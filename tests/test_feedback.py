"""Reviewer feedback → training labels (classifiers.feedback), on plain records as the store reads them back."""

from __future__ import annotations

from typing import Any

from classifiers.feedback import training_example, training_examples


def decision(
    decision: str,
    *,
    label: str | None = None,
    finding_id: int | None = None,
    category: str | None = None,
    finding_text: str = "",
    reviewer: str = "li",
) -> dict[str, Any]:
    return {
        "finding_id": finding_id,
        "category": category,
        "finding_text": finding_text,
        "label": label,
        "decision": decision,
        "reviewer": reviewer,
        "at": "2026-03-01T08:00:00+00:00",
    }


def record(
    decisions: list[dict[str, Any]],
    *,
    labels: list[str] | None = None,
    findings: tuple[tuple[int, str | None], ...] = (),
    title: str = "标题",
    text: str = "正文",
) -> dict[str, Any]:
    return {
        "doc_id": "d1",
        "version": 2,
        "title": title,
        "text": text,
        "labels": labels or [],
        "findings": [{"id": fid, "label": lab} for fid, lab in findings],
        "decisions": decisions,
    }


def test_document_level_decisions_add_and_remove_labels() -> None:
    ex = training_example(
        record(
            [
                decision("confirm", label="unapproved_service", reviewer="wang"),
                decision("dismiss", label="negative_sentiment", reviewer="li"),
                decision("escalate", label="exaggerated_efficacy", reviewer=""),  # escalate confirms
            ],
            labels=["negative_sentiment"],
        )
    )
    # In LABELS order, not decision order.
    assert ex["labels"] == ["exaggerated_efficacy", "unapproved_service"]
    assert ex["confirmed"] == ["exaggerated_efficacy", "unapproved_service"]
    assert ex["dismissed"] == ["negative_sentiment"]
    assert ex["reviewers"] == ["li", "wang"]
    assert (ex["text"], ex["title"], ex["body"], ex["doc_id"], ex["version"]) == (
        "标题\n正文",
        "标题",
        "正文",
        "d1",
        2,
    )


def test_latest_decision_wins() -> None:
    ex = training_example(
        record(
            [
                decision("confirm", label="negative_sentiment"),
                decision("dismiss", label="negative_sentiment"),
            ],
            labels=["negative_sentiment"],
        )
    )
    assert ex["labels"] == [] and ex["dismissed"] == ["negative_sentiment"] and ex["confirmed"] == []


def test_label_goes_only_when_every_finding_of_it_is_dismissed() -> None:
    findings = ((1, "exaggerated_efficacy"), (2, "exaggerated_efficacy"), (3, None))
    one = [decision("dismiss", finding_id=1, category="c", label="exaggerated_efficacy")]
    ex = training_example(record(one, labels=["exaggerated_efficacy"], findings=findings))
    assert ex["labels"] == ["exaggerated_efficacy"] and ex["dismissed"] == []
    both = one + [decision("dismiss", finding_id=2, category="c", label="exaggerated_efficacy")]
    ex = training_example(record(both, labels=["exaggerated_efficacy"], findings=findings))
    assert ex["labels"] == [] and ex["dismissed"] == ["exaggerated_efficacy"]
    # A document-level decision on the label overrides its findings' fate.
    kept = both + [decision("confirm", label="exaggerated_efficacy")]
    ex = training_example(record(kept, labels=["exaggerated_efficacy"], findings=findings))
    assert ex["labels"] == ["exaggerated_efficacy"] and ex["confirmed"] == ["exaggerated_efficacy"]


def test_confirming_a_finding_confirms_its_label() -> None:
    ex = training_example(
        record(
            [decision("confirm", finding_id=7, category="c", label="unapproved_service")],
            findings=((7, "x"),),
        )
    )
    assert ex["labels"] == ["unapproved_service"] and ex["confirmed"] == ["unapproved_service"]


def test_decision_on_a_replaced_finding_is_keyed_by_what_was_reviewed() -> None:
    # Re-analysis replaced the finding (finding_id is now None); the snapshot (category, text) identifies it,
    # so two decisions on the same snapshot are one finding, the later one winning.
    decisions = [
        decision("confirm", category="c", finding_text="一次治愈", label="exaggerated_efficacy"),
        decision("dismiss", category="c", finding_text="一次治愈", label="exaggerated_efficacy"),
    ]
    ex = training_example(record(decisions, labels=[]))
    assert ex["labels"] == [] and ex["confirmed"] == []
    # Without a category either, a decision with a label is on the document label.
    ex = training_example(record([decision("confirm", label="negative_sentiment")], labels=[]))
    assert ex["labels"] == ["negative_sentiment"]


def test_text_without_title_and_order_of_records() -> None:
    recs = [record([], title="", text="只有正文"), {**record([], text="b"), "doc_id": "d2"}]
    out = training_examples(recs)
    assert [e["doc_id"] for e in out] == ["d1", "d2"]
    assert out[0]["text"] == "只有正文" and out[0]["title"] == ""
    assert training_examples([]) == []
