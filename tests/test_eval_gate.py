"""Evaluation gate: the shipped model's scores on the pinned test and challenge splits must not fall below floors.

Like trafilatura's eval gate: a change to the model, the tokenizer, the inference code, the rules or the
thresholds that costs quality fails the build. Both splits' SHA-256 are pinned so they cannot be edited
silently (the test split is rebuilt by ``python -m classifiers.training_data.build``; the challenge split is
hand-written); update a digest and its floors deliberately, in one reviewed commit, with the new numbers in
docs/model_card.md.

* test split (1,070 texts): held-out phrasings of the team's text families; the issue-3 targets.
* challenge split (277 texts): natural texts written apart from all training data, never trained or tuned
  on — generalisation to text nobody trained on.
* real split (213 texts, real/test.jsonl: 78 of batch 1, 67 of batch 2, 68 of batch 3): passages of real public
  web pages, split from the rest of the real corpus by site, never trained or tuned on (classifiers/training_data/real/README.md). Its floors pin today's
  level, far below the issue-15 target (model + rules ≥ 0.85, ≤ 5 % of neutral texts flagged), so that work
  towards it cannot silently lose ground.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from classifiers.model import DEFAULT_MODEL_DIR, ModelMeta  # noqa: E402

DATA = Path(__file__).resolve().parents[1] / "classifiers" / "training_data"
PINNED = {
    "test": "ba84908025e1b299bf522578165b56a7d75a97f82dcba5ce2f72ec12a3dea88a",
    "challenge": "5c2e481f3e287eee96639642a4be395b8dd13008e9bc73b690f4657623e52db6",
    "real/test": "497ebf3124abca4ae9b2af1066b7f466499c843dfb7c82aed1be901b38e4ff1c",
}

# Floors sit a little under the measured scores of the shipped model (docs/model_card.md), so that rounding
# on another CPU does not flake while a real regression fails. Measured values are in the comments.
HARD_NEGATIVE_MAX_FP_RATE = 0.05  # issue 3: ≤ 5% of hard negatives flagged as ads
FLOORS = {
    # (split, network): (model macro-F1 floor, model + rules macro-F1 floor)
    # model e5s4l-20261123-s13-2eafbb; measured on the 2-core Xeon of 2026-11-23
    ("test", "transformer"): (0.87, 0.90),  # measured 0.890 / 0.906 (float32); 0.90 is the issue-3 target
    # student: measured 0.898 / 0.910 (torch int8); 0.897 / 0.911 with every matmul int8; 0.899 / 0.909 as the
    # ONNX graph the product runs since 2026-12-08 (classifiers/student_onnx.py)
    ("test", "student"): (0.88, 0.90),
    ("challenge", "transformer"): (0.85, 0.86),  # measured 0.879 / 0.887
    # measured 0.860 / 0.871; 0.860 / 0.878 (every matmul int8); 0.854 / 0.876 (the ONNX graph)
    ("challenge", "student"): (0.83, 0.84),
}


# (network): (model macro-F1 floor, model + rules macro-F1 floor, most neutral texts model + rules may flag)
# measured 2026-12-07 on the 213-text split (batches 1-3): student 0.486 / 0.591 / 11.8 %, transformer
# 0.348 / 0.542 / 10.1 % (hard negatives flagged: student 5/143, transformer 6/143, 0.042, under the 0.05 cap).
# On the 145 texts of batches 1 + 2 they were student 0.396 / 0.539 / 12.5 %, transformer 0.303 / 0.489 / 12.5 %.
# With the student's every matrix product int8 (it was only its convolutions) and the gift_refused guard (both
# 2026-12-07, later): student 0.500 / 0.608 / 11.8 %; the floors are left where they were (int8 kernels differ by
# CPU).
# After the evening rule pass (docs/model_card.md): student 0.499 / 0.604 / 11.8 % (hard negatives 6/143),
# transformer 0.348 / 0.541 / 10.1 % (5/143). The student as the ONNX graph (2026-12-08): 0.477 / 0.584 / 11.8 %
# (two passages at the efficacy threshold fall under it; docs/model_card.md).
REAL_FLOORS = {
    "student": (0.46, 0.56, 0.14),
    "transformer": (0.32, 0.51, 0.13),
}


@pytest.mark.parametrize("split", sorted(PINNED))
def test_split_digest_is_pinned(split: str) -> None:
    digest = hashlib.sha256((DATA / f"{split}.jsonl").read_bytes()).hexdigest()  # real/test → real/test.jsonl
    assert digest == PINNED[split], f"{split} split changed: update the pinned digest and floors deliberately"


def test_student_is_the_default_and_the_setting_selects_the_transformer() -> None:
    """The shipped default network is the student; YIJIAN_MODEL_NETWORK reaches the classifier the pipeline
    uses and picks the transformer instead."""
    from classifiers.factory import get_model
    from config import Settings

    assert ModelMeta.read(DEFAULT_MODEL_DIR).extra.get("network") == "student"
    default = get_model(Settings())
    assert default is not None and default.network == "student" and default.version.endswith("/student")
    model = get_model(Settings(model_network="transformer"))
    assert model is not None and model.network == "transformer" and not model.version.endswith("/student")


_reports: dict[tuple[str, str], dict] = {}


def _report(split: str, network: str) -> dict:
    from classifiers.evaluate import evaluate

    if (split, network) not in _reports:
        _reports[(split, network)] = evaluate(DEFAULT_MODEL_DIR, split=split, network=network)
    rep = _reports[(split, network)]
    assert not rep["unavailable"], rep["unavailable"]
    return rep


@pytest.mark.parametrize("split,network", sorted(FLOORS))
def test_scores_above_floors(split: str, network: str) -> None:
    rep = _report(split, network)
    model_floor, hybrid_floor = FLOORS[(split, network)]
    model, hybrid = rep["systems"]["model"], rep["systems"]["hybrid"]
    assert model["macro_f1"] >= model_floor, model
    assert hybrid["macro_f1"] >= hybrid_floor, hybrid
    assert hybrid["hard_negative_fp_rate"] <= HARD_NEGATIVE_MAX_FP_RATE, hybrid


@pytest.mark.parametrize("split,network", sorted(FLOORS))
def test_model_plus_rules_beats_rules_on_every_label(split: str, network: str) -> None:
    """Issue 3: model + rules better than rules only on every label (the 0.90 macro target: FLOORS)."""
    rep = _report(split, network)
    hybrid, rules = rep["systems"]["hybrid"], rep["systems"]["rules"]
    for label in hybrid["per_label"]:
        assert hybrid["per_label"][label]["f1"] > rules["per_label"][label]["f1"], label


@pytest.mark.parametrize("network", sorted(REAL_FLOORS))
def test_real_web_scores_above_floors(network: str) -> None:
    rep = _report("real", network)
    model_floor, hybrid_floor, neutral_ceiling = REAL_FLOORS[network]
    model, hybrid = rep["systems"]["model"], rep["systems"]["hybrid"]
    assert model["macro_f1"] >= model_floor, model
    assert hybrid["macro_f1"] >= hybrid_floor, hybrid
    assert hybrid["neutral_flag_rate"] <= neutral_ceiling, hybrid
    assert hybrid["hard_negative_fp_rate"] <= HARD_NEGATIVE_MAX_FP_RATE, hybrid
