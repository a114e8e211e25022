"""Model + rules: the product's decision.

The model reads context (a penalty report quoting an ad is not an ad) and generalises to paraphrases; the
rules give citable reasons (span, category, article, severity). The decision per label:

* a rule fires for the label and the model's score reaches the much lower *rule-assist* threshold (the
  lexicon has concrete, citable evidence; the model only vetoes texts it clearly reads as not-that-label,
  such as a notice quoting forbidden words) — except that a surviving ``unapproved_service`` hit stands on its
  own (``RuleEngine.standalone_labels``): the ``reported`` and ``no_purpose`` guards already remove news,
  court and police reports, warnings, explainers and research text that name a service, and on real agency and
  booking pages, which read like guides, the model's veto was no better than chance, or
* no rule fires and the model's score reaches its dev-tuned threshold — unless, for the two ad/service
  labels, the rule engine's context guards argue against it: the label's trigger words were all explained
  away ("糖尿病目前还不能根治" is patient education, a notice quotes the wording), or the text names a lawful
  service with a similar name (造血干细胞移植); or, for negative sentiment, the text is a thank-you or achievement
  story (锦旗, 感谢信, 成功实施首例) with no marketing, dispute or complaint word. The guards encode legal knowledge the
  model lacks; on the team's pages and on real web text the model alone flagged exactly such texts.

Both thresholds are chosen on the dev split (``classifiers.train.retune``). A rule hit that does not set the
label still comes back as a finding so a reviewer sees it. Scores are the model's; findings are the rule hits
plus one model finding per decided label.
"""

from __future__ import annotations

from collections.abc import Sequence

from classifiers.base import Classifier
from domain import LABELS, ClassifyResult

DEFAULT_ASSIST_FACTOR = 0.5

# What the rule engine's ``assess`` gives per text (classifiers.rules.RuleClassifier.assess): its result, the labels
# its context guards argue against, and the labels with standalone rule evidence.
Assessment = tuple[ClassifyResult, set[str], set[str]]

# Labels whose model-only decision a context guard can veto. For negative_sentiment only the gratitude guard
# vetoes (a thank-you or achievement story, see RuleEngine.guarded_labels): the other sentiment guards are about
# wording, not about what the text is.
GUARD_VETO_LABELS = frozenset({"exaggerated_efficacy", "unapproved_service", "negative_sentiment"})


def guarded_labels(rules: Classifier, text: str) -> set[str]:
    """Labels a context guard of the rule engine argues against in ``text`` (see RuleEngine.guarded_labels)."""
    guarded = getattr(rules, "guarded_labels", None)
    return set(guarded(text)) if guarded is not None else set()


def standalone_labels(rules: Classifier, text: str) -> set[str]:
    """Labels whose rule evidence stands without the model's assent (see RuleEngine.standalone_labels)."""
    standalone = getattr(rules, "standalone_labels", None)
    return set(standalone(text)) if standalone is not None else set()


def decide(
    label: str,
    score: float,
    model_says: bool,
    assist: float,
    fired: bool,
    guarded: bool,
    standalone: bool = False,
) -> bool:
    """The hybrid decision for one label (see the module docstring); ``model_says``: score ≥ its threshold;
    ``standalone``: the label's rule evidence stands without the model's assent."""
    if fired:
        return standalone or score >= assist
    return model_says and not (guarded and label in GUARD_VETO_LABELS)


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
        meta_assist: dict[str, float] = getattr(model, "assist_thresholds", {}) or {}
        # labels whose standalone rule evidence the model may not veto; None: as the rule engine says
        self.standalone_ok: frozenset[str] | None = getattr(model, "rule_standalone", None)
        explicit = assist_thresholds or {}
        self.assist = {
            lab: float(
                explicit[lab]
                if lab in explicit
                else meta_assist.get(lab, thresholds.get(lab, 0.5) * DEFAULT_ASSIST_FACTOR)
            )
            for lab in LABELS
        }

    def combine(
        self,
        model_res: ClassifyResult,
        rule_res: ClassifyResult,
        guarded: set[str] | frozenset[str] = frozenset(),
        standalone: set[str] | frozenset[str] = frozenset(),
    ) -> ClassifyResult:
        rule_labels = set(rule_res.labels) | {f.label for f in rule_res.findings if f.label}
        labels = []
        for lab in LABELS:
            score = model_res.scores.get(lab, 0.0)
            fired = lab in rule_labels
            if decide(
                lab,
                score,
                lab in model_res.labels,
                self.assist[lab],
                fired,
                lab in guarded,
                fired and lab in standalone and (self.standalone_ok is None or lab in self.standalone_ok),
            ):
                labels.append(lab)
        findings = list(rule_res.findings)
        for f in model_res.findings:
            if f.label in labels:
                findings.append(f)
        return ClassifyResult(labels=labels, scores=dict(model_res.scores), findings=findings)

    takes_rule_assessments = True  # classify(texts, assessed=...): see pipelines.analyze.Analyzer.analyze

    def classify(
        self, texts: Sequence[str], assessed: Sequence[Assessment | None] | None = None
    ) -> list[ClassifyResult]:
        """``assessed``: the rule engine's ``assess`` of each text where it was already made (the crawl's step 1
        makes it on its own core); the texts without one are assessed here."""
        m = self.model.classify(texts)
        assess = getattr(self.rules, "assess", None)
        if assess is not None:  # the rule engine: one scan per text
            given = list(assessed) if assessed is not None else [None] * len(texts)
            todo = [i for i, a in enumerate(given) if a is None]
            for i, a in zip(todo, assess([texts[i] for i in todo]) if todo else [], strict=True):
                given[i] = a
            return [self.combine(a, *b) for a, b in zip(m, given, strict=True)]  # type: ignore[misc]
        r = self.rules.classify(texts)
        return [
            self.combine(a, b, guarded_labels(self.rules, t), standalone_labels(self.rules, t))
            for a, b, t in zip(m, r, texts, strict=True)
        ]
