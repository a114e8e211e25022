"""Evaluation gate: the shipped model's scores on the pinned test split must not fall below the floors.

Like trafilatura's eval gate: a change to the model, the tokenizer, the inference code or the thresholds that
costs quality fails the build. The test split's SHA-256 is pinned so it cannot be edited silently (rebuild it
with ``python -m classifiers.training_data.build`` and update the digest and floors deliberately, in one
reviewed commit, with the new numbers in docs/model_card.md).
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from classifiers.model import DEFAULT_MODEL_DIR, model_available  # noqa: E402

TEST_SPLIT = Path(__file__).resolve().parents[1] / "classifiers" / "training_data" / "test.jsonl"
TEST_SPLIT_SHA256 = "ba84908025e1b299bf522578165b56a7d75a97f82dcba5ce2f72ec12a3dea88a"

# Floors sit a little under the measured scores of the shipped model (docs/model_card.md), so that
# bf16 rounding on another CPU does not flake, while a real regression fails.
# Measured (model e5s4l-20261123-s13, test split): model F1 0.865 / 0.840 / 0.973, macro 0.893;
# model + rules macro 0.917 with the rules and the hybrid decision of 2026-11-23 (guard veto, dev-tuned
# rule-assist thresholds). The hybrid floor is the issue-3 target itself: a change to the rules or the decision
# that takes the product below it must fail here.
MODEL_FLOORS = {"exaggerated_efficacy": 0.84, "unapproved_service": 0.81, "negative_sentiment": 0.95}
MODEL_MACRO_FLOOR = 0.87
HYBRID_MACRO_FLOOR = 0.90  # issue 3 target; measured 0.917
HARD_NEGATIVE_MAX_FP_RATE = 0.05  # issue 3: ≤ 5% of hard negatives flagged as ads

pytestmark = pytest.mark.skipif(not model_available(DEFAULT_MODEL_DIR), reason="shipped model not present")


def test_test_split_digest_is_pinned() -> None:
    digest = hashlib.sha256(TEST_SPLIT.read_bytes()).hexdigest()
    assert digest == TEST_SPLIT_SHA256, "test split changed: update the pinned digest and floors deliberately"


@pytest.fixture(scope="module")
def report() -> dict:
    from classifiers.evaluate import evaluate

    return evaluate(DEFAULT_MODEL_DIR, split="test")


def test_model_scores_above_floors(report: dict) -> None:
    model = report["systems"]["model"]
    for label, floor in MODEL_FLOORS.items():
        assert model["per_label"][label]["f1"] >= floor, (label, model["per_label"][label])
    assert model["macro_f1"] >= MODEL_MACRO_FLOOR
    assert model["hard_negative_fp_rate"] <= HARD_NEGATIVE_MAX_FP_RATE


def test_model_plus_rules_meets_issue_targets(report: dict) -> None:
    if "hybrid" not in report["systems"]:
        pytest.skip(f"rules unavailable: {report['unavailable'].get('rules')}")
    hybrid, rules = report["systems"]["hybrid"], report["systems"]["rules"]
    assert hybrid["macro_f1"] >= HYBRID_MACRO_FLOOR
    assert hybrid["hard_negative_fp_rate"] <= HARD_NEGATIVE_MAX_FP_RATE
    for label in hybrid["per_label"]:
        assert hybrid["per_label"][label]["f1"] > rules["per_label"][label]["f1"], label
