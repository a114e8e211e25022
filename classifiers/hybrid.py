"""Model + rules: the product's decision.

The model reads context (a penalty report quoting an ad is not an ad) and generalises to paraphrases; the
rules give citable reasons (span, category, article, severity). The decision per label:

* the model's score reaches its dev-tuned threshold, or
* a rule fires for the label and the model's score reaches the lower *rule-assist* threshold (the model
  is unsure, the lexicon has concrete evidence).

A rule hit the model scores below the assist threshold (typically a notice or a news report quoting
forbidden words) does not set the label; its finding is still returned so a reviewer sees it. Scores are
the model's; findings are the rule hits plus one model finding per decided label.
"""

from __future__ import annotations

from collections.abc import Sequence

from classifiers.base import Classifier
from pipelines.types import LABELS, ClassifyResult

DEFAULT_ASSIST_FACTOR = 0.5


class HybridClassifier:
    name = "hybrid"

    def __init__(
        self,
        model: Classifier,
        rules: Classifier,
        assist_thresholds: dict[str, float] | None = None,
    ) -> None:
        self.model = model
        self.rules = rules
        self.version = f"{model.version}+rules:{getattr(rules, 'version', '?')}"
        thresholds: dict[str, float] = getattr(model, "thresholds", {}) or {}
        meta_assist = {}
        meta = getattr(model, "meta", None)
        if meta is not None:
            meta_assist = meta.extra.get("rule_assist_thresholds", {}) or {}
        self.assist = {
            lab: float(
                (assist_thresholds or {}).get(
                    lab, meta_assist.get(lab, thresholds.get(lab, 0.5) * DEFAULT_ASSIST_FACTOR)
                )
            )
            for lab in LABELS
        }

    def combine(self, model_res: ClassifyResult, rule_res: ClassifyResult) -> ClassifyResult:
        rule_labels = set(rule_res.labels) | {f.label for f in rule_res.findings if f.label}
        labels = []
        for lab in LABELS:
            score = model_res.scores.get(lab, 0.0)
            if lab in model_res.labels or (lab in rule_labels and score >= self.assist[lab]):
                labels.append(lab)
        findings = list(rule_res.findings)
        for f in model_res.findings:
            if f.label in labels:
                findings.append(f)
        return ClassifyResult(labels=labels, scores=dict(model_res.scores), findings=findings)

    def classify(self, texts: Sequence[str]) -> list[ClassifyResult]:
        m = self.model.classify(texts)
        r = self.rules.classify(texts)
        return [self.combine(a, b) for a, b in zip(m, r, strict=True)]
