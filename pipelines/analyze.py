"""The analysis stage: classifier (rules / model / both) over title + body, the OCR text of images, their alt
text and the meta description (fields ``image_alt:<src>`` and ``meta_description``), review-certificate checks,
institution linking and the licence-scope check.

Every finding carries its reason: rule hits with span, category, legal basis and severity; model labels with
score and model version.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import date
from typing import TYPE_CHECKING

from classifiers.base import Classifier
from classifiers.certs import find_review_certs, missing_cert_finding
from classifiers.hybrid import Assessment
from classifiers.institutions import Institution, InstitutionRegistry, scope_findings
from domain import LABELS, ClassifyResult, Extracted, Finding
from domain.normalize import normalize

if TYPE_CHECKING:
    from classifiers.rules import RuleClassifier

TITLE_SEP = "\n\n"
HUB_LINK_DENSITY = 0.8


@dataclass(slots=True)
class Analysis:
    labels: list[str]
    scores: dict[str, float]
    findings: list[Finding]
    institution: Institution | None = None
    valid_certs: list[str] = field(default_factory=list)

    @property
    def institution_id(self) -> str | None:
        return self.institution.id if self.institution else None


def _split_field(f: Finding, title_len: int) -> Finding:
    """Findings come with offsets into ``title + TITLE_SEP + text``; point them at the field they are in."""
    if f.field != "text" or title_len == 0:
        return f
    if f.end <= title_len:
        return replace(f, field="title")
    offset = title_len + len(TITLE_SEP)
    if f.start >= offset:
        return replace(f, start=f.start - offset, end=f.end - offset)
    return f  # straddles the boundary: keep offsets into the combined text (never happens with rule spans)


SERVICE_LABEL = "unapproved_service"


def _model_only(findings: Sequence[Finding], label: str) -> bool:
    """The label rests on the model alone: no rule, scope or certificate finding supports it."""
    backing = [f for f in findings if f.label == label]
    return bool(backing) and all(f.source.startswith("model:") for f in backing)


def _is_ad_like(findings: Sequence[Finding]) -> bool:
    """A page judged to be an ad: it carries an exaggerated-efficacy rule hit (not only compliance findings)."""
    return any(f.label == "exaggerated_efficacy" and not f.source.startswith("model:") for f in findings)


MIN_HIDDEN_CHARS = 4


def _hidden_text(doc: Extracted, page_text: str) -> list[tuple[str, str]]:
    """Page text a reader may not see in the body: the meta description and the alt text of images, each with
    the field its findings point at (``meta_description``, ``image_alt:<src>``). Texts the body already holds
    (after normalisation) are skipped, so a claim is not reported twice."""
    out: list[tuple[str, str]] = []
    seen: set[str] = set()
    page = normalize(page_text)
    candidates = [("meta_description", doc.description)]
    candidates += [(f"image_alt:{img.src}", img.alt) for img in doc.images]
    for fld, raw in candidates:
        text = (raw or "").strip()
        key = normalize(text)
        if len(key) < MIN_HIDDEN_CHARS or key in seen or key in page:
            continue
        seen.add(key)
        out.append((fld, text))
    return out


# (key of the text it was made of, the rule engine's assessment of it): see assess_whole_text
KeyedAssessment = tuple[str, Assessment]


def page_text(doc: Extracted) -> str:
    """The text the classifier reads for a page: title and body."""
    return f"{doc.title}{TITLE_SEP}{doc.text}" if doc.title else doc.text


def _text_key(text: str) -> str:
    return hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=16).hexdigest()


def _matching(keyed: KeyedAssessment | None, text: str) -> Assessment | None:
    return keyed[1] if keyed is not None and keyed[0] == _text_key(text) else None


def assess_whole_text(rules: RuleClassifier, doc: Extracted) -> KeyedAssessment | None:
    """The rule engine's assessment of what :meth:`Analyzer.analyze` gives the full classifier for ``doc`` (None
    for a hub page, which only the rules read as a fragment), keyed by that text: the crawl's step 1 makes it on
    its own core, and the analysis uses it only while the text is the same."""
    if doc.link_density >= HUB_LINK_DENSITY:
        return None
    text = page_text(doc)
    return _text_key(text), rules.assess([text])[0]


class Analyzer:
    """``classifier`` reads title + body; ``fragment_classifier`` (default: the same) reads fragments: the OCR text
    of images, and the text of hub pages (mostly link text: menus and headlines, ``HUB_LINK_DENSITY``). The product
    passes the rule engine there: on fragments the model (trained on whole texts) is unreliable — it read a health
    section's list of headlines as an efficacy ad (0.80) — while a rule hit is precise and cites its span."""

    def __init__(
        self,
        classifier: Classifier,
        registry: InstitutionRegistry | None = None,
        fragment_classifier: Classifier | None = None,
    ) -> None:
        self.classifier = classifier
        self.registry = registry
        self.fragment_classifier = fragment_classifier or classifier

    def analyze(
        self,
        docs: Sequence[Extracted],
        *,
        today: date | None = None,
        assessed: Sequence[KeyedAssessment | None] | None = None,
    ) -> list[Analysis]:
        """Analyse a batch of extracted documents (one classifier call for all texts in the batch).
        ``assessed``: per doc, the rule engine's assessment of its whole text made earlier (``assess_whole_text``),
        used where its key still matches the text and the classifier takes one (model + rules)."""
        texts: list[str] = []
        whole: list[int] = []  # docs whose text the full classifier reads
        fragments: list[str] = []
        owners: list[tuple[int, str]] = []  # (doc index, field) of each fragment
        for i, doc in enumerate(docs):
            text = page_text(doc)
            if doc.link_density >= HUB_LINK_DENSITY:
                fragments.append(text)
                owners.append((i, "text"))
            else:
                texts.append(text)
                whole.append(i)
            for img in doc.images:
                if img.ocr_text.strip():
                    fragments.append(img.ocr_text)
                    owners.append((i, f"image:{img.src}"))
            for fld, extra in _hidden_text(doc, text):
                fragments.append(extra)
                owners.append((i, fld))
        per_doc: list[list[tuple[str, ClassifyResult]]] = [[] for _ in docs]
        if texts:
            if assessed is not None and getattr(self.classifier, "takes_rule_assessments", False):
                given = [_matching(assessed[i], t) for i, t in zip(whole, texts, strict=True)]
                results = self.classifier.classify(texts, assessed=given)  # type: ignore[call-arg]
            else:
                results = self.classifier.classify(texts)
            for i, res in zip(whole, results, strict=True):
                per_doc[i].append(("text", res))
        if fragments:
            for (i, fld), res in zip(owners, self.fragment_classifier.classify(fragments), strict=True):
                per_doc[i].append((fld, res))
        return [self._one(doc, parts, today) for doc, parts in zip(docs, per_doc, strict=True)]

    def _one(self, doc: Extracted, parts: list[tuple[str, ClassifyResult]], today: date | None) -> Analysis:
        findings: list[Finding] = []
        labels: set[str] = set()
        scores = dict.fromkeys(LABELS, 0.0)
        title_len = len(doc.title)
        for fld, res in parts:
            labels.update(res.labels)
            for label, score in res.scores.items():
                scores[label] = max(scores.get(label, 0.0), score)
            for f in res.findings:
                if fld == "text":
                    findings.append(_split_field(f, title_len))
                else:
                    findings.append(replace(f, field=fld))

        full_text = "\n".join([doc.title, doc.text, *(i.ocr_text for i in doc.images if i.ocr_text)])
        institution = None
        if self.registry is not None:
            # The licence-scope check applies to what an institution publishes itself (its domain or WeChat
            # account), not to third-party news that merely names it.
            publisher = self.registry.link(doc.url, "", doc.account)
            institution = publisher or self.registry.link(doc.url, full_text, doc.account)
            if publisher is not None:
                for f in scope_findings(publisher, doc.text):
                    findings.append(f)
                    if f.label:
                        labels.add(f.label)
                        scores[f.label] = max(scores.get(f.label, 0.0), 1.0)
                if _model_only(findings, SERVICE_LABEL):
                    # The registry knows what this publisher may offer and every service the page names is
                    # within its licence (or it names none); no service rule fired either. A model-only
                    # "unapproved service" contradicts that evidence (e.g. a salon's lawful SPA price list).
                    labels.discard(SERVICE_LABEL)
                    findings = [f for f in findings if f.label != SERVICE_LABEL]

        valid_certs: list[str] = []
        for check in find_review_certs(full_text, today=today):
            if check.valid:
                valid_certs.append(check.number)
            elif check.finding is not None:
                findings.append(check.finding)
        if (
            _is_ad_like(findings)
            and not valid_certs
            and not any(f.category == "ad_missing_invalid_review_cert" for f in findings)
        ):
            missing = missing_cert_finding(doc.text)
            if missing is not None:
                findings.append(missing)

        findings.sort(key=lambda f: (f.field != "title", f.field, f.start, f.category))
        return Analysis(
            labels=[label for label in LABELS if label in labels],
            scores=scores,
            findings=findings,
            institution=institution,
            valid_certs=valid_certs,
        )
