"""Legal rule engine: lexicon phrases and patterns → fine-grained findings with span, legal basis and severity.

The rules are data (``classifiers/lexicon/*.yaml``):

* ``categories.yaml`` — the fine categories of legal_taxonomy.md §2.1 (label roll-up, default legal basis, severity,
  Chinese reason template, which context guards apply);
* ``guards.yaml`` — the cue lists of the context guards (§2.2: negation, regulator context, quoted law, academic,
  drug labels, patient education, official titles, lawful services, complaints, the "广告性" pre-check …);
* every other ``*.yaml`` — ``rules:`` lists (id, category, phrases and/or regex, optional overrides).

Matching runs on the text as ``domain.normalize`` normalises it (invisible characters, compatibility forms, spaced-out
characters, traditional characters and the homophone table undone), then folded to a copy of the same length
(full-width ASCII to half-width, ASCII lower-cased). Hits are found there and mapped back through the normaliser's
offset map, so their spans and text are those of the ORIGINAL text. All literal phrases (rules and guard cues) are found in one
pass with a bigram-keyed phrase index; regexes run per rule.

A hit that a guard suppresses is not dropped: :meth:`RuleEngine.explain` returns it with the guard's name and the
cue that triggered it, so reviewers and tests can see why something was NOT flagged.
"""

from __future__ import annotations

import hashlib
import re
import threading
from bisect import bisect_left
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import yaml

from domain import LABELS, SEVERITIES, ClassifyResult, Finding
from domain.normalize import Normalized, normalize_text, strip_invisible

LEXICON_DIR = Path(__file__).resolve().parent / "lexicon"
# libyaml when PyYAML was built with it: the lexicon loads in ~0.02 s instead of ~0.2 s (pure-Python parser), at
# the start of every analysis worker; tests/test_rules.py checks that both parsers read every lexicon file alike.
YAML_LOADER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

SEVERITY_WEIGHT = {"S1": 1.0, "S2": 0.95, "S3": 0.8, "S4": 0.55, "P1": 1.0, "P2": 0.9, "P3": 0.75}

GUARD_NAMES = (  # also the order in which they are tried: document-level context first, then the span's own
    "enforcement",
    "legal_quote",
    "complaint",
    "news_report",
    "academic",
    "drug_label",
    "patient_education",
    "official_term",
    "legit_service",
    "quoted_report",
    "negation",
    "hedged",
    "reported",  # after the span's own guards, so a hit negated in its sentence keeps that explanation
    "no_purpose",
    "no_offer",
    "not_ad",
    "gratitude",
    "gift_refused",
    "sent_negation",
    "no_institution",
    "aggregate",
)

# Guards that look only at the document, not at the hit: evaluated once per text.
_DOC_GUARDS = frozenset(
    {
        "enforcement",
        "legal_quote",
        "complaint",
        "academic",
        "drug_label",
        "patient_education",
        "not_ad",
        "no_institution",
        "gratitude",
        "gift_refused",
        "no_purpose",
        "no_offer",
    }
)

# Guards whose suppression does not argue against the label in the hybrid decision: they say the rule's own
# evidence is too thin (a cell-therapy term alone is a topic, not an offer), not that the text is something else.
_THIN_EVIDENCE_GUARDS = frozenset({"no_purpose", "no_offer", "hedged"})

# Labels whose surviving rule evidence stands without the model's assent (classifiers/hybrid.py): on real web
# pages the model's veto of service hits was no better than chance (agency and booking pages read like guides,
# and it scored them 0.0-0.3), while the reported/no_purpose guards remove the reporting and warning pages.
STANDALONE_LABELS = frozenset({"unapproved_service"})

# Chinese names of the guards, for reviewers ("为什么没有标记").
GUARD_DESCRIPTIONS = {
    "negation": "否定或怀疑语境",
    "quoted_report": "引号内的被报道用语",
    "enforcement": "执法/监管通报语境",
    "legal_quote": "引用法条、指南或违禁词清单",
    "academic": "学术/临床研究语境（无营销要素）",
    "drug_label": "药品说明书（无营销要素）",
    "patient_education": "患者教育/科普（无营销要素）",
    "complaint": "患者投诉或求助（属舆情，非广告）",
    "news_report": "新闻报道的事件（服务或用语是被报道，而非被提供）",
    "official_term": "官方称号或规范诊疗术语",
    "legit_service": "合法服务的同名词",
    "not_ad": "页面无电话、预约、价格等营销要素（不具广告性）",
    "sent_negation": "否定、防范或表彰语境",
    "gift_refused": "医务人员拒收或退还红包的表彰报道（未见索要、收受、查处）",
    "no_institution": "未涉及具体医疗机构",
    "aggregate": "汇总统计或专项行动通报",
    "gratitude": "致谢或成就新闻（锦旗、感谢信、成功实施首例），无营销要素",
    "reported": "报道、警示或讲解（据…报道、记者、法院、警方、禁止、谨防、所谓），页面无预约、联系方式等提供服务的表述",
    "no_purpose": "仅提及细胞治疗技术，未见抗衰、美容、亚健康等非医疗目的，也无提供服务的表述",
    "no_offer": "仅提及代孕、器官买卖等话题，未见费用、流程、招募、联系方式等提供服务的表述",
    "hedged": "约数或可能性的科普表述（约、通常、一般），页面无营销要素",
}

# Grave diseases: efficacy claims about them are punished more heavily (2025《医疗广告监管工作指南》).
# Bounds per text (a page built to stall the engine repeats one phrase 100,000 times): at most
# MAX_HITS_PER_RULE surviving findings per rule and MAX_HITS_PER_TEXT hits looked at in all; the rest are dropped.
MAX_HITS_PER_RULE = 20
MAX_HITS_PER_TEXT = 500
_GRAVE = re.compile(r"癌|肿瘤|白血病|近视|不孕|不育|糖尿病|尿毒症|脑瘫|艾滋|肝硬化|帕金森|阿尔茨海默|渐冻")
_SENT_END = re.compile(r"[。！？!?；;\n]")
_OPEN_QUOTES = "“‘「『\"'《"
_CLOSE_QUOTES = "”’」』\"'》"


def _fold_table() -> dict[int, int]:
    table = {c: c + 32 for c in range(ord("A"), ord("Z") + 1)}
    for c in range(0xFF01, 0xFF5F):  # full-width ASCII → ASCII (then lower-case letters)
        half = c - 0xFEE0
        table[c] = half + 32 if ord("A") <= half <= ord("Z") else half
    table[0x3000] = 0x20
    return table


_FOLD = _fold_table()
_FOLD_RE = re.compile("[A-Z\uff01-\uff5e\u3000]")


def _fold_char(m: re.Match[str]) -> str:
    return chr(_FOLD[ord(m.group())])


def normalize(text: str) -> str:
    """Same-length normalisation used for matching: full-width ASCII → half-width, ASCII upper → lower."""
    return _FOLD_RE.sub(_fold_char, text)


def lexicon_form(phrase: str) -> str:
    """A lexicon phrase or cue as the matcher sees it: through the text normaliser, then folded."""
    return normalize(normalize_text(phrase).text)


# --------------------------------------------------------------------------------------------------- lexicon model


@dataclass(frozen=True, slots=True)
class Category:
    id: str
    name: str
    label: str | None
    severity: str
    legal_basis: str
    reason: str
    guards: tuple[str, ...]
    needs_ad: bool = False
    codes: tuple[str, ...] = ()

    @property
    def domain(self) -> str:
        return self.id.split("_", 1)[0]


@dataclass(frozen=True, slots=True)
class Rule:
    id: str
    category: Category
    severity: str
    legal_basis: str
    reason: str
    guards: tuple[str, ...]
    phrases: tuple[str, ...] = ()
    pattern: re.Pattern[str] | None = None


@dataclass(slots=True)
class Hit:
    """One rule match, kept whether or not a guard suppressed it."""

    rule_id: str
    category: str
    label: str | None
    start: int
    end: int
    text: str
    severity: str
    legal_basis: str
    reason: str
    suppressed_by: str | None = None  # guard name
    guard_evidence: str = ""  # the cue that triggered the guard

    @property
    def suppressed(self) -> bool:
        return self.suppressed_by is not None

    def to_json(self) -> dict[str, Any]:
        return {
            "rule_id": self.rule_id,
            "category": self.category,
            "label": self.label,
            "start": self.start,
            "end": self.end,
            "text": self.text,
            "severity": self.severity,
            "legal_basis": self.legal_basis,
            "reason": self.reason,
            "suppressed_by": self.suppressed_by,
            "guard": GUARD_DESCRIPTIONS.get(self.suppressed_by or "", ""),
            "guard_evidence": self.guard_evidence,
        }


class LexiconError(ValueError):
    """A lexicon file is malformed; the message names the file and the rule."""


# --------------------------------------------------------------------------------------------------- phrase index


class PhraseIndex:
    """All literal phrases, keyed by their first two characters; finds every (overlapping) occurrence."""

    def __init__(self) -> None:
        self._by_bigram: dict[str, list[tuple[str, int]]] = {}
        self.size = 0

    def add(self, phrase: str, payload: int) -> None:
        if len(phrase) < 2:
            raise LexiconError(f"phrase {phrase!r} is shorter than two characters")
        bucket = self._by_bigram.setdefault(phrase[:2], [])
        if (phrase, payload) not in bucket:
            bucket.append((phrase, payload))
            self.size += 1

    def find(self, text: str) -> list[tuple[int, int, int]]:
        out: list[tuple[int, int, int]] = []
        get = self._by_bigram.get
        startswith = text.startswith
        for i in range(len(text) - 1):
            bucket = get(text[i : i + 2])
            if bucket:
                for phrase, payload in bucket:
                    if startswith(phrase, i):
                        out.append((i, i + len(phrase), payload))
        return out


# --------------------------------------------------------------------------------------------------- the engine


@dataclass(slots=True)
class _Doc:
    """Per-text context: normalised text, cue spans per guard, regex-derived facts."""

    norm: str
    cues: dict[str, list[tuple[int, int]]] = field(default_factory=dict)
    marketing: bool = False
    organisation: bool = False
    institution: bool = False
    institution_spans: list[tuple[int, int]] = field(default_factory=list)
    personal: bool = False
    aggregate_spans: list[tuple[int, int]] = field(default_factory=list)
    masked: list[tuple[int, int]] = field(default_factory=list)  # neutral words
    ad_spans: list[tuple[int, int]] = field(default_factory=list)  # ad_/svc_ hit spans
    covered: bytearray = field(default_factory=bytearray)
    sentence_ends: list[int] = field(default_factory=list)  # positions of sentence terminators
    memo: dict[str, str | None] = field(default_factory=dict)  # document-level guard results
    offer: bool = False  # the page offers a service: booking, contact, first-person provider, call to action
    reporting: str | None = None  # the first reporting / warning cue (news attribution, court, police, ban)
    ad_factor: float = 1.0  # score weight of ad_* findings: 1.0 with marketing elements, less without

    def cue_text(self, span: tuple[int, int]) -> str:
        return self.norm[span[0] : span[1]]


def _overlaps(a: tuple[int, int], b: tuple[int, int]) -> bool:
    return a[0] < b[1] and b[0] < a[1]


def _inside(a: tuple[int, int], b: tuple[int, int]) -> bool:
    return b[0] <= a[0] and a[1] <= b[1]


class RuleEngine:
    """Compiled lexicon. Build with :meth:`load`; share one instance (it is immutable and thread-safe)."""

    def __init__(
        self,
        categories: dict[str, Category],
        rules: list[Rule],
        guards: dict[str, Any],
        version: str,
    ) -> None:
        self.categories = categories
        self.rules = rules
        self.guards = guards
        self.version = version
        self._index = PhraseIndex()
        # payload ids: 0..len(rules)-1 are rules; then one id per cue kind
        self._cue_kinds: list[str] = []
        for i, rule in enumerate(rules):
            for p in rule.phrases:
                self._index.add(p, i)
        cue_lists = {
            "negation": guards["negation"]["cues"],
            "enforcement_strong": guards["enforcement"]["strong"],
            "enforcement_weak": guards["enforcement"]["weak"],
            "legal_quote": guards["legal_quote"]["cues"],
            "academic": guards["academic"]["cues"],
            "academic_stat": guards["academic"].get("stat_terms", []),
            "gratitude": guards.get("gratitude", {}).get("cues", []),
            "gratitude_unless": guards.get("gratitude", {}).get("unless", []),
            "gift_unless": guards.get("gift_refused", {}).get("unless", []),
            "drug_label": guards["drug_label"]["cues"],
            "patient_education": guards["patient_education"]["cues"],
            "complaint": guards["complaint"]["cues"],
            "news_marker": guards["news_report"]["markers"],
            "news_incident": guards["news_report"]["incidents"],
            "reporting": guards["reported"]["cues"],
            "offer": guards["offer"]["cues"],
            "purpose": guards["no_purpose"]["cues"],
            "trade": guards["no_offer"]["cues"],
            "intro": guards["hospital_intro"]["cues"],
            "sent_idiom": guards["sent_negation"].get("idioms", []),
            "sent_adjacent": guards["sent_negation"].get("adjacent_cues", []),
            "marketing": guards["marketing"]["cues"],
            "organisation": guards["organisation"]["cues"],
            "official_term": guards["official_term"]["phrases"],
            "legit_service": guards["legit_service"]["phrases"],
            "sent_negation": guards["sent_negation"]["cues"],
            "institution": guards["institution"]["cues"],
            "personal": guards["personal"]["cues"],
            "neutral": guards["neutral"]["phrases"],
        }
        for kind, phrases in cue_lists.items():
            pid = len(rules) + len(self._cue_kinds)
            self._cue_kinds.append(kind)
            for p in phrases:
                self._index.add(lexicon_form(str(p)), pid)
        self._regex_rules = [(i, r.pattern) for i, r in enumerate(rules) if r.pattern is not None]
        self._marketing_re = _compile_any(guards["marketing"].get("regex", []), "guards.marketing")
        self._org_re = _compile_any(guards["organisation"].get("regex", []), "guards.organisation")
        self._inst_re = _compile_any(guards["institution"].get("regex", []), "guards.institution")
        self._reporting_re = _compile_any(guards["reported"].get("regex", []), "guards.reported")
        self._offer_re = _compile_any(guards["offer"].get("regex", []), "guards.offer")
        self._aggregate_re = _compile_any(guards["aggregate"].get("regex", []), "guards.aggregate")
        self._gift_re = _compile_any(guards.get("gift_refused", {}).get("regex", []), "guards.gift_refused")
        self._generic_inst = {lexicon_form(g) for g in guards["institution"].get("generic", [])}
        self._generic_chars = set(guards["institution"].get("generic_suffix_chars", ""))
        self._adjacent = set(guards["negation"].get("adjacent_cues", []))
        self._post_negators = {lexicon_form(str(c)) for c in guards["negation"].get("post_cues", [])}
        self._inside_negators = tuple(lexicon_form(str(c)) for c in guards["negation"].get("inside_cues", []))
        self._low_rate_cues = tuple(lexicon_form(str(c)) for c in guards["negation"].get("low_rate_cues", []))
        self._inside_doubts = tuple(
            lexicon_form(str(c)) for c in guards["negation"].get("inside_doubt_cues", [])
        )
        self._hedges = tuple(lexicon_form(str(c)) for c in guards["hedged"]["cues"])
        self._info_questions = tuple(
            lexicon_form(str(c)) for c in guards["negation"].get("info_question_cues", [])
        )

    # ------------------------------------------------------------------------------------------------ loading

    @classmethod
    def load(cls, lexicon_dir: Path | None = None) -> RuleEngine:
        directory = Path(lexicon_dir) if lexicon_dir else LEXICON_DIR
        files = sorted(directory.glob("*.yaml"))
        if not files:
            raise LexiconError(f"{directory}: no lexicon files (*.yaml)")
        digest = hashlib.sha256()
        docs: dict[str, Any] = {}
        for path in files:
            raw = path.read_bytes()
            digest.update(path.name.encode() + b"\0" + raw + b"\0")
            try:
                docs[path.name] = yaml.load(raw, Loader=YAML_LOADER) or {}
            except yaml.YAMLError as exc:
                raise LexiconError(f"{path.name}: invalid YAML: {exc}") from exc
        if "categories.yaml" not in docs or "guards.yaml" not in docs:
            raise LexiconError(f"{directory}: categories.yaml and guards.yaml are required")
        categories = _parse_categories(docs.pop("categories.yaml"))
        guards = docs.pop("guards.yaml")
        rules: list[Rule] = []
        seen: set[str] = set()
        for name, doc in docs.items():
            for entry in doc.get("rules") or []:
                rule = _parse_rule(entry, categories, name)
                if rule.id in seen:
                    raise LexiconError(f"{name}: duplicate rule id {rule.id!r}")
                seen.add(rule.id)
                rules.append(rule)
        return cls(categories, rules, guards, digest.hexdigest()[:12])

    # ------------------------------------------------------------------------------------------------ matching

    def explain(self, text: str) -> list[Hit]:
        """Every rule hit in ``text``, suppressed ones included (``suppressed_by`` names the guard)."""
        return self._explain(text)[1]

    def guarded_labels(self, text: str) -> set[str]:
        """Labels the context guards argue against in ``text``: every hit of the label was suppressed by a guard,
        or (``unapproved_service``) the text names a lawful service with a similar name (造血干细胞移植,
        器官捐献, 产前诊断 …), or (``negative_sentiment``) the text is a thank-you or achievement story (the
        ``gratitude`` guard), a red envelope refused (``gift_refused``), a law's text or aggregate statistics
        naming no particular institution, or (the two ad/service labels) the page reports, warns or explains and
        offers nothing (a ``reported`` cue, no ``offer`` cue, no marketing element), or (the two ad/service
        labels) the text is a hospital or department introduction (交通便利, 环境优美, 欢迎广大患者前来就诊) — in
        all cases only when no hit of that label survived. A sentiment hit that another guard suppressed does not
        argue against the label (those guards read wording, not the story)."""
        return self._guarded(*self._explain(text))

    def _guarded(self, doc: _Doc, hits: list[Hit]) -> set[str]:
        fired = {h.label for h in hits if h.label and not h.suppressed}
        against = {
            h.label
            for h in hits
            if h.label
            and h.suppressed
            and h.label != "negative_sentiment"
            and h.suppressed_by not in _THIN_EVIDENCE_GUARDS
        }
        if doc.cues.get("legit_service"):
            against.add("unapproved_service")
        if self._g_gratitude(None, doc) is not None or self._g_gift_refused(None, doc) is not None:
            # a thank-you or achievement story, or a red envelope refused: its rescue, complication and 红包
            # words are not negative news
            against.add("negative_sentiment")
            if not doc.offer:
                # nor, offering nothing, is its recovery an advertised cure (labels.md: exaggerated_efficacy
                # needs a text that promotes)
                against.add("exaggerated_efficacy")
        if doc.reporting and not (doc.offer or doc.marketing):
            # the page reports, warns or explains (据…报道, 法院, 警方, 谨防, 所谓的) and offers nothing
            against.update(("exaggerated_efficacy", "unapproved_service"))
        if doc.cues.get("intro"):
            # a hospital or department introduction (交通便利, 环境优美, 欢迎广大患者前来就诊) with no rule hit of
            # the ad/service labels: a plain introduction is not an illegal claim or service by itself
            against.update(("exaggerated_efficacy", "unapproved_service"))
        if (doc.cues.get("legal_quote") or doc.aggregate_spans) and not (doc.institution or doc.personal):
            # a law's text or aggregate statistics without a particular institution (labels.md: not sentiment)
            against.add("negative_sentiment")
        return against - fired

    def standalone_labels(self, text: str) -> set[str]:
        """Labels with a surviving rule hit that stands without the model's assent (``STANDALONE_LABELS``): a
        service hit survives only where the page does not read as reporting, warning or explaining (the
        ``reported`` guard) unless it offers the service, and a cell-therapy hit only with a non-medical purpose
        or an offer (``no_purpose``), so what is left names the service as something to get."""
        return self._standalone(self._explain(text)[1])

    @staticmethod
    def _standalone(hits: list[Hit]) -> set[str]:
        surviving = {h.label for h in hits if h.label and not h.suppressed}
        out = surviving & STANDALONE_LABELS
        if out:
            # an effect, accuracy or safety promise made on the page of an unapproved service stands with it
            out |= surviving & {"exaggerated_efficacy"}
        return out

    def hits(self, text: str) -> list[Hit]:
        """The hits no guard suppressed."""
        return [h for h in self.explain(text) if not h.suppressed]

    def findings(self, text: str, field: str = "text") -> list[Finding]:
        doc, hits = self._explain(text)
        return [self._finding(h, field, doc.ad_factor) for h in hits if not h.suppressed]

    def assess(self, text: str) -> tuple[ClassifyResult, set[str], set[str]]:
        """``classify_one``, ``guarded_labels`` and ``standalone_labels`` of ``text`` from one scan (what the
        hybrid classifier asks of every text)."""
        doc, hits = self._explain(text)
        return self._result(doc, hits, "text"), self._guarded(doc, hits), self._standalone(hits)

    def classify_one(self, text: str, field: str = "text") -> ClassifyResult:
        return self._result(*self._explain(text), field)

    def _result(self, doc: _Doc, hits: list[Hit], field: str) -> ClassifyResult:
        findings = [self._finding(h, field, doc.ad_factor) for h in hits if not h.suppressed]
        scores = {label: 0.0 for label in LABELS}
        for f in findings:
            if f.label and f.score is not None:
                scores[f.label] = max(scores[f.label], f.score)
        labels = [label for label in LABELS if scores[label] > 0.0]
        return ClassifyResult(labels=labels, scores=scores, findings=findings)

    # ------------------------------------------------------------------------------------------------ internals

    def _explain(self, text: str) -> tuple[_Doc, list[Hit]]:
        if not text:
            return _Doc(norm=""), []
        nz = normalize_text(text)
        doc, hits = self._scan(nz.text)
        kept: list[Hit] = []
        per_rule: dict[str, int] = {}
        for hit in hits:
            if len(kept) >= MAX_HITS_PER_TEXT:
                break
            if per_rule.get(hit.rule_id, 0) >= MAX_HITS_PER_RULE:
                continue  # a phrase repeated thousands of times is evidence enough after the first few
            self._apply_guards(hit, doc)
            kept.append(hit)
            if not hit.suppressed:
                per_rule[hit.rule_id] = per_rule.get(hit.rule_id, 0) + 1
        if nz.changed:
            for hit in kept:
                _to_original(hit, nz)
        return doc, kept

    def _finding(self, hit: Hit, field: str, ad_factor: float) -> Finding:
        score = SEVERITY_WEIGHT.get(hit.severity, 0.8)
        if hit.category.startswith("ad_"):
            score *= ad_factor
        return Finding(
            category=hit.category,
            label=hit.label,
            start=hit.start,
            end=hit.end,
            text=hit.text,
            legal_basis=hit.legal_basis,
            severity=hit.severity,
            source=f"rules:{hit.rule_id}",
            field=field,
            score=round(score, 3),
            reason=hit.reason,
        )

    def _scan(self, text: str) -> tuple[_Doc, list[Hit]]:
        norm = normalize(text)
        doc = _Doc(norm=norm)
        n_rules = len(self.rules)
        raw: list[tuple[int, int, int]] = self._index.find(norm)
        for i, pattern in self._regex_rules:
            for m in pattern.finditer(norm):
                if m.end() > m.start():
                    raw.append((m.start(), m.end(), i))
        cand: list[tuple[int, int, Rule]] = []
        for start, end, pid in raw:
            if pid < n_rules:
                cand.append((start, end, self.rules[pid]))
            else:
                doc.cues.setdefault(self._cue_kinds[pid - n_rules], []).append((start, end))
        doc.sentence_ends = [m.start() for m in _SENT_END.finditer(norm)]
        hits = self._dedupe(text, cand, doc.sentence_ends)
        doc.ad_spans = [(h.start, h.end) for h in hits if not h.category.startswith("sent_")]
        doc.masked = doc.cues.get("neutral", [])
        # drop cues that lie inside an ad/svc hit (退款 in 无效退款) or inside a neutral word (说是 in 可以说是)
        covered = bytearray(len(norm) + 1)  # 1 = inside an ad/svc hit, 2 = inside a neutral word
        for a, b in doc.ad_spans:
            covered[a:b] = b"\x01" * (b - a)
        for a, b in doc.masked:
            for i in range(a, b):
                covered[i] |= 2
        doc.covered = covered
        for kind, spans in doc.cues.items():
            if kind in (
                "official_term",
                "legit_service",
                "neutral",
                "institution",
                "personal",
                "sent_negation",
                "academic_stat",  # a statistic's own name overlaps the hit it explains (根治 in 根治率)
                "purpose",  # 亚健康 inside the hit 亚健康人群,干细胞输注 is the purpose itself
                "trade",  # 费用 inside the hit 卵源费用约2万元 is the offer itself
                "intro",
                "sent_idiom",
                "sent_adjacent",
                "offer",
                "gratitude",  # 锦旗 inside the endorsement phrase 送锦旗
                "gratitude_unless",
            ):
                continue
            doc.cues[kind] = [
                (a, b)
                for a, b in spans
                if not any(c & 1 for c in covered[a:b]) and not all(c & 2 for c in covered[a:b])
            ]
        doc.marketing = bool(doc.cues.get("marketing")) or any(r.search(norm) for r in self._marketing_re)
        doc.offer = bool(doc.cues.get("offer")) or any(r.search(norm) for r in self._offer_re)
        reporting = doc.cues.get("reporting")
        if reporting:
            doc.reporting = doc.cue_text(reporting[0])
        else:
            found = next((rm for r in self._reporting_re if (rm := r.search(norm))), None)
            doc.reporting = found.group(0) if found else None
        doc.organisation = bool(doc.cues.get("organisation")) or any(r.search(norm) for r in self._org_re)
        doc.ad_factor = 1.0 if doc.marketing else (0.85 if doc.organisation else 0.7)
        inst = list(doc.cues.get("institution", []))
        for r in self._inst_re:
            for m in r.finditer(norm):
                if self._is_particular(m.group(0)):
                    inst.append((m.start(), m.end()))
        doc.institution_spans = inst
        doc.institution = bool(inst)
        doc.personal = bool(doc.cues.get("personal"))
        doc.aggregate_spans = [(m.start(), m.end()) for r in self._aggregate_re for m in r.finditer(norm)]
        return doc, hits

    def _is_particular(self, name: str) -> bool:
        if name.startswith(("这家", "那家", "这间", "那间", "一家")):
            return (
                True  # pointed at: "这家增高治疗机构", "一家整形医院" (the guards' regex excludes 一家正规…)
            )
        for generic in self._generic_inst:
            if name.endswith(generic):
                stem = name[: -len(generic)]
                if not stem or stem[-1] in self._generic_chars or len(stem) < 2:
                    return False
        for suffix in ("医院", "诊所", "门诊部", "卫生院", "医疗美容", "医美", "整形", "保健院", "口腔"):
            if name.endswith(suffix):
                stem = name[: -len(suffix)]
                if stem and stem[-1] in self._generic_chars:
                    return False
        return not name[0].isdigit()

    def _dedupe(self, text: str, cand: list[tuple[int, int, Rule]], ends: list[int]) -> list[Hit]:
        """Per category, overlapping hits merge into one span (named after the longest, most severe rule)."""
        order = {s: i for i, s in enumerate(SEVERITIES)}
        cand.sort(key=lambda c: (c[2].category.id, c[0], -(c[1] - c[0]), order.get(c[2].severity, 9)))
        kept: list[tuple[int, int, Rule]] = []
        for start, end, rule in cand:
            if kept and kept[-1][2].category.id == rule.category.id and start < kept[-1][1]:
                k_start, k_end, k_rule = kept[-1]
                better = (end - start, -order.get(rule.severity, 9)) > (
                    k_end - k_start,
                    -order.get(k_rule.severity, 9),
                )
                kept[-1] = (k_start, max(k_end, end), rule if better else k_rule)
                continue
            kept.append((start, end, rule))
        kept.sort(key=lambda c: (c[0], c[1]))
        hits = []
        grave: dict[
            tuple[int, int], bool
        ] = {}  # per sentence: a page of one endless sentence is searched once
        built: dict[str, int] = {}
        for start, end, rule in kept:
            # guards may suppress some, so keep a margin over MAX_HITS_PER_RULE; never build 100,000 hits
            built[rule.id] = built.get(rule.id, 0) + 1
            if built[rule.id] > 5 * MAX_HITS_PER_RULE:
                continue
            matched = text[start:end]
            reason = rule.reason.replace("{match}", matched)
            if rule.category.id in ("ad_efficacy_guarantee", "ad_cure_rate_stats"):
                bounds = _sentence_bounds(text, start, end, ends)
                if bounds not in grave:
                    grave[bounds] = _GRAVE.search(text, *bounds) is not None
                if grave[bounds]:
                    reason += "；涉及重大疑难疾病，依法从重"
            hits.append(
                Hit(
                    rule_id=rule.id,
                    category=rule.category.id,
                    label=rule.category.label,
                    start=start,
                    end=end,
                    text=matched,
                    severity=rule.severity,
                    legal_basis=rule.legal_basis,
                    reason=reason,
                )
            )
        return hits

    def _apply_guards(self, hit: Hit, doc: _Doc) -> None:
        rule_guards = self._rule_guards(hit.rule_id)
        for guard in GUARD_NAMES:
            if guard not in rule_guards:
                continue
            if guard in _DOC_GUARDS:
                if guard not in doc.memo:
                    doc.memo[guard] = getattr(self, f"_g_{guard}")(hit, doc)
                evidence = doc.memo[guard]
            else:
                evidence = getattr(self, f"_g_{guard}")(hit, doc)
            if evidence is not None:
                hit.suppressed_by = guard
                hit.guard_evidence = evidence
                return

    @cached_property
    def _guards_by_rule(self) -> dict[str, tuple[str, ...]]:
        return {r.id: r.guards for r in self.rules}

    def _rule_guards(self, rule_id: str) -> tuple[str, ...]:
        return self._guards_by_rule[rule_id]

    # ---- guards: return the evidence (cue text) when the guard fires, None otherwise

    def _window_cue(self, doc: _Doc, kind: str, hit: Hit, window: int) -> str | None:
        lo, hi = _sentence_bounds(doc.norm, hit.start, hit.end, doc.sentence_ends)
        lo, hi = max(lo, hit.start - window), min(hi, hit.end + window)
        for span in doc.cues.get(kind, []):
            if lo <= span[0] and span[1] <= hi and not _overlaps(span, (hit.start, hit.end)):
                return doc.cue_text(span)
        return None

    def _g_negation(self, hit: Hit, doc: _Doc) -> str | None:
        cfg = self.guards["negation"]
        window = int(cfg.get("window", 10))
        lo, hi = _sentence_bounds(doc.norm, hit.start, hit.end, doc.sentence_ends)
        lo, hi = max(lo, hit.start - window), min(hi, hit.end + window)
        service = hit.category.startswith("svc_")
        inside = doc.norm[hit.start : hit.end]
        for cue in self._inside_negators if service else self._inside_negators + self._inside_doubts:
            if cue in inside:
                return cue
        if inside.endswith("率"):  # "治愈率只有40%": a rate said to be low
            after = doc.norm[hit.end : hit.end + 4].lstrip()
            for cue in self._low_rate_cues:
                if after.startswith(cue):
                    return cue
        for span in doc.cues.get("negation", []):
            if lo <= span[0] and span[1] <= hi and not _overlaps(span, (hit.start, hit.end)):
                cue = doc.cue_text(span)
                # a service named as the subject ("NK细胞回输并非特效药，而是…") is still what the page is about:
                # after a service hit only a verdict on it (是假的, 骗局, 违法) negates it
                if service and span[0] >= hit.end and cue not in self._post_negators:
                    continue
                return cue
        adjacent = int(cfg.get("adjacent", 1))
        for k in range(1, adjacent + 2):
            pos = hit.start - k
            if pos < 0 or _SENT_END.match(doc.norm, pos) or doc.norm[pos] in "，,、":
                break
            if doc.norm[pos] in self._adjacent and not any(
                s <= pos < e for s, e in doc.masked + doc.ad_spans
            ):
                return doc.norm[pos]
        if service:
            return (
                None  # a question doubts a claim; the service it asks about is still what the page is about
            )
        _, sent_hi = _sentence_bounds(doc.norm, hit.start, hit.end, doc.sentence_ends)
        tail = doc.norm[
            hit.end : min(len(doc.norm), sent_hi + 1, hit.end + int(cfg.get("question_window", 6)))
        ]
        for q in cfg.get("question_cues", []):
            if q in tail:
                # "费用是多少？", "哪里可以做？": a question that asks how, where or how much presupposes the
                # claim or the service (a guide's FAQ); only a yes/no question ("能根治吗？") doubts it
                sent_lo = _sentence_bounds(doc.norm, hit.start, hit.end, doc.sentence_ends)[0]
                question = doc.norm[sent_lo : hit.end + tail.index(q)]
                if any(w in question for w in self._info_questions):
                    return None
                return q
        return None

    def _g_hedged(self, hit: Hit, doc: _Doc) -> str | None:
        # "约4-8周见效", "通常在1-2周内消退": an approximate or typical course told by patient education or a
        # textbook, not a promise; never on a page with a marketing element or speaking for an institution
        if doc.marketing or doc.organisation:
            return None
        lo = _sentence_bounds(doc.norm, hit.start, hit.end, doc.sentence_ends)[0]
        before = doc.norm[max(lo, hit.start - int(self.guards["hedged"].get("window", 6))) : hit.start]
        return next((h for h in self._hedges if h in before), None)

    def _g_no_offer(self, hit: Hit, doc: _Doc) -> str | None:
        # surrogacy, gamete and organ trade named as a topic (a feature story, a trial report) is told about;
        # an agency page states fees, steps, recruitment or a contact
        if doc.offer or doc.marketing or doc.cues.get("trade"):
            return None
        return "未见费用、流程、招募或联系方式"

    def _g_quoted_report(self, hit: Hit, doc: _Doc) -> str | None:
        norm = doc.norm
        lo, hi = _sentence_bounds(norm, hit.start, hit.end, doc.sentence_ends)
        open_at = -1
        for i in range(hit.start - 1, max(lo, hit.start - 16) - 1, -1):
            if norm[i] in _CLOSE_QUOTES and norm[i] not in _OPEN_QUOTES:
                return None
            if norm[i] in _OPEN_QUOTES:
                open_at = i
                break
        if open_at < 0:
            return None
        if not any(c in _CLOSE_QUOTES for c in norm[hit.end : min(hi + 1, hit.end + 16)]):
            return None
        cfg = self.guards["quoted_report"]
        before = norm[max(0, open_at - int(cfg.get("window", 15))) : open_at]
        for cue in cfg.get("cues", []):
            if cue in before:
                return cue
        return None

    def _g_enforcement(self, hit: Hit, doc: _Doc) -> str | None:
        strong = {doc.cue_text(s) for s in doc.cues.get("enforcement_strong", [])}
        weak = {doc.cue_text(s) for s in doc.cues.get("enforcement_weak", [])}
        if 2 * len(strong) + len(weak) >= int(self.guards["enforcement"].get("threshold", 2)):
            return "、".join(sorted(strong) + sorted(weak))
        return None

    def _doc_cue(self, doc: _Doc, kind: str) -> str | None:
        spans = doc.cues.get(kind)
        return doc.cue_text(spans[0]) if spans else None

    def _g_legal_quote(self, hit: Hit, doc: _Doc) -> str | None:
        return self._doc_cue(doc, "legal_quote")

    def _g_news_report(self, hit: Hit, doc: _Doc) -> str | None:
        if doc.marketing:
            return None
        marker, incident = self._doc_cue(doc, "news_marker"), self._doc_cue(doc, "news_incident")
        return f"{marker}+{incident}" if marker and incident else None

    def _g_reported(self, hit: Hit, doc: _Doc) -> str | None:
        # news, court and police reports, regulator voice and warnings tell about a service or a claim; a page
        # that offers it (booking, contact, WeChat, 我院/本中心 speaking, a call to action) is not explained away
        if doc.offer:
            return None
        if doc.reporting:
            return doc.reporting
        # a harm told in the hit's own sentence ("在某美容会所注射玻尿酸后严重感染住院"): an incident, not an offer
        lo, hi = _sentence_bounds(doc.norm, hit.start, hit.end, doc.sentence_ends)
        for span in doc.cues.get("news_incident", []):
            if lo <= span[0] and span[1] <= hi:
                return doc.cue_text(span)
        return None

    def _g_no_purpose(self, hit: Hit, doc: _Doc) -> str | None:
        # cell and gene therapy is unlawful outside approved clinical research; naming the technique is not yet an
        # offer of it: the page must aim it at a non-medical purpose (抗衰, 美容, 亚健康, 健康人群), promise an
        # effect, or offer it
        if doc.offer or doc.cues.get("purpose"):
            return None
        return "未见非医疗目的或服务要素"

    def _g_academic(self, hit: Hit, doc: _Doc) -> str | None:
        if doc.marketing:
            return None
        found = self._doc_cue(doc, "academic")
        if found is None and not doc.cues.get("organisation"):
            # clinical and educational statistics (完全缓解率, 近期治愈率, 根治率) in a guideline or textbook
            # passage; not when the text speaks for an institution (我院, 本院)
            found = self._doc_cue(doc, "academic_stat")
        return found

    def _g_gratitude(self, hit: Hit | None, doc: _Doc) -> str | None:
        if doc.marketing or doc.cues.get("gratitude_unless") or doc.cues.get("complaint"):
            return None
        return self._doc_cue(doc, "gratitude")

    def _g_gift_refused(self, hit: Hit | None, doc: _Doc) -> str | None:
        # "医生婉拒患者红包", "将红包如数退还": integrity news; not when the text also tells of taking or punishment
        if doc.cues.get("gift_unless"):
            return None
        for pattern in self._gift_re:
            m = pattern.search(doc.norm)
            if m:
                return doc.cue_text((m.start(), m.end()))
        return None

    def _g_drug_label(self, hit: Hit, doc: _Doc) -> str | None:
        return None if doc.marketing else self._doc_cue(doc, "drug_label")

    def _g_patient_education(self, hit: Hit, doc: _Doc) -> str | None:
        return None if doc.marketing else self._doc_cue(doc, "patient_education")

    def _g_complaint(self, hit: Hit, doc: _Doc) -> str | None:
        return self._doc_cue(doc, "complaint")

    def _span_cue(self, doc: _Doc, kind: str, hit: Hit) -> str | None:
        for span in doc.cues.get(kind, []):
            if _overlaps(span, (hit.start, hit.end)):
                return doc.cue_text(span)
        return None

    def _g_official_term(self, hit: Hit, doc: _Doc) -> str | None:
        return self._span_cue(doc, "official_term", hit)

    def _g_legit_service(self, hit: Hit, doc: _Doc) -> str | None:
        return self._span_cue(doc, "legit_service", hit)

    def _g_not_ad(self, hit: Hit, doc: _Doc) -> str | None:
        return None if doc.marketing else "无营销要素"

    def _g_sent_negation(self, hit: Hit, doc: _Doc) -> str | None:
        found = self._window_cue(
            doc, "sent_negation", hit, int(self.guards["sent_negation"].get("window", 8))
        )
        if found:
            return found
        # "从死亡线上拉回来", "走出死亡的阴影": an idiom of rescue, not a death
        idiom = self._span_cue(doc, "sent_idiom", hit)
        if idiom:
            return idiom
        # "迎接我的不是冷漠": a negator right before the topic word
        for span in doc.cues.get("sent_adjacent", []):
            if span[1] <= hit.start and hit.start - span[1] <= 1:
                return doc.cue_text(span)
        return None

    def _g_no_institution(self, hit: Hit, doc: _Doc) -> str | None:
        return None if (doc.institution or doc.personal) else "未提及具体机构"

    def _g_aggregate(self, hit: Hit, doc: _Doc) -> str | None:
        if not doc.aggregate_spans:
            return None
        lo, hi = _sentence_bounds(doc.norm, hit.start, hit.end, doc.sentence_ends)
        if any(lo <= s < hi + 1 for s, _ in doc.institution_spans):
            return None
        if any(lo <= s <= hi for s, _ in doc.aggregate_spans) or not doc.institution:
            span = doc.aggregate_spans[0]
            return doc.cue_text(span)
        return None


def _to_original(hit: Hit, nz: Normalized) -> None:
    """Point a hit found in the normalised text at the original characters; say in the reason how the
    original was written when it differs (hidden characters, traditional, pinyin or homophones)."""
    start, end = nz.span(hit.start, hit.end)
    original = nz.original[start:end]
    if original != hit.text:
        visible = strip_invisible(original)
        notes = []
        if visible != original:
            notes.append("含不可见字符")
        if "".join(visible.split()) != hit.text:
            notes.append(f"写作“{' '.join(visible.split())}”")
        if notes:
            hit.reason += "；原文" + "、".join(notes) + "（经文本归一化识别）"
    hit.start, hit.end, hit.text = start, end, original


def _sentence_bounds(text: str, start: int, end: int, ends: list[int] | None = None) -> tuple[int, int]:
    """[lo, hi): lo = first char of the sentence holding [start, end); hi = index of its terminator (or len).

    ``ends``: the sorted terminator positions of ``text`` when already known."""
    if ends is None:
        ends = [m.start() for m in _SENT_END.finditer(text)]
    i = bisect_left(ends, start)  # terminators before start: ends[:i]
    lo = ends[i - 1] + 1 if i else 0
    j = bisect_left(ends, end)
    return lo, (ends[j] if j < len(ends) else len(text))


# Full-width punctuation that normalize() folds; regexes in the lexicon may use either form.
_PUNCT_FOLD = str.maketrans({"，": ",", "；": ";", "：": ":", "！": "!", "？": "?"})


def _fold_pattern(pattern: str) -> str:
    """Regexes run on normalised text: fold the full-width punctuation they mention (not brackets: syntax)."""
    return pattern.translate(_PUNCT_FOLD)


def _compile_any(patterns: Iterable[str], where: str) -> list[re.Pattern[str]]:
    out = []
    for p in patterns:
        try:
            out.append(re.compile(_fold_pattern(p)))
        except re.error as exc:
            raise LexiconError(f"{where}: bad regex {p!r}: {exc}") from exc
    return out


def _parse_categories(doc: dict[str, Any]) -> dict[str, Category]:
    out: dict[str, Category] = {}
    for cid, c in (doc.get("categories") or {}).items():
        if not isinstance(c, dict):
            raise LexiconError(f"categories.yaml: {cid}: expected a mapping")
        label = c.get("label")
        if label is not None and label not in LABELS:
            raise LexiconError(f"categories.yaml: {cid}: unknown label {label!r}")
        severity = str(c.get("severity", ""))
        if severity not in SEVERITIES:
            raise LexiconError(f"categories.yaml: {cid}: unknown severity {severity!r}")
        guards = tuple(c.get("guards") or ())
        for g in guards:
            if g not in GUARD_NAMES:
                raise LexiconError(f"categories.yaml: {cid}: unknown guard {g!r}")
        for key in ("name", "legal_basis", "reason"):
            if not c.get(key):
                raise LexiconError(f"categories.yaml: {cid}: missing {key}")
        out[cid] = Category(
            id=cid,
            name=c["name"],
            label=label,
            severity=severity,
            legal_basis=c["legal_basis"],
            reason=c["reason"],
            guards=guards,
            needs_ad=bool(c.get("needs_ad", False)),
            codes=tuple(c.get("codes") or ()),
        )
    return out


def _parse_rule(entry: dict[str, Any], categories: dict[str, Category], fname: str) -> Rule:
    rid = entry.get("id")
    if not rid:
        raise LexiconError(f"{fname}: rule without id: {entry!r}")
    cat = categories.get(entry.get("category", ""))
    if cat is None:
        raise LexiconError(f"{fname}: {rid}: unknown category {entry.get('category')!r}")
    severity = str(entry.get("severity", cat.severity))
    if severity not in SEVERITIES:
        raise LexiconError(f"{fname}: {rid}: unknown severity {severity!r}")
    guards = tuple(entry.get("guards") or cat.guards)
    for g in guards:
        if g not in GUARD_NAMES:
            raise LexiconError(f"{fname}: {rid}: unknown guard {g!r}")
    phrases = tuple(dict.fromkeys(lexicon_form(str(p)) for p in entry.get("phrases") or ()))
    for p in phrases:
        if len(p) < 2:
            raise LexiconError(f"{fname}: {rid}: phrase {p!r} is shorter than two characters")
    regexes = entry.get("regex") or []
    if isinstance(regexes, str):
        regexes = [regexes]
    pattern = None
    if regexes:
        try:
            pattern = re.compile(_fold_pattern("|".join(f"(?:{r})" for r in regexes)))
        except re.error as exc:
            raise LexiconError(f"{fname}: {rid}: bad regex: {exc}") from exc
    if not phrases and pattern is None:
        raise LexiconError(f"{fname}: {rid}: no phrases and no regex")
    return Rule(
        id=rid,
        category=cat,
        severity=severity,
        legal_basis=entry.get("legal_basis", cat.legal_basis),
        reason=entry.get("reason", cat.reason),
        guards=guards,
        phrases=phrases,
        pattern=pattern,
    )


# --------------------------------------------------------------------------------------------------- classifier

_default_lock = threading.Lock()
_default: RuleEngine | None = None


def default_engine() -> RuleEngine:
    """The engine over the bundled lexicon, loaded once per process."""
    global _default
    if _default is None:
        with _default_lock:
            if _default is None:
                _default = RuleEngine.load()
    return _default


class RuleClassifier:
    """:class:`classifiers.base.Classifier` over the legal lexicon.

    ``check_certs=True`` also adds findings for malformed/expired review-certificate numbers (off by default:
    ``pipelines.analyze`` runs :func:`classifiers.certs.find_review_certs` itself over the whole page).
    """

    name = "rules"

    def __init__(self, engine: RuleEngine | None = None, check_certs: bool = False) -> None:
        self.engine = engine or default_engine()
        self.version = self.engine.version
        self.check_certs = check_certs

    def classify(self, texts: Sequence[str]) -> list[ClassifyResult]:
        return [self._with_certs(self.engine.classify_one(text or ""), text) for text in texts]

    def assess(self, texts: Sequence[str]) -> list[tuple[ClassifyResult, set[str], set[str]]]:
        """Per text: its result, guarded labels and standalone labels, from one scan each."""
        out = []
        for text in texts:
            result, guarded, standalone = self.engine.assess(text or "")
            out.append((self._with_certs(result, text), guarded, standalone))
        return out

    def _with_certs(self, result: ClassifyResult, text: str | None) -> ClassifyResult:
        if self.check_certs and text and "医广" in text:
            from classifiers.certs import cert_findings

            result.findings.extend(cert_findings(text))
            result.findings.sort(key=lambda f: (f.start, f.end))
        return result

    def explain(self, text: str) -> list[Hit]:
        return self.engine.explain(text)

    def guarded_labels(self, text: str) -> set[str]:
        return self.engine.guarded_labels(text)

    def standalone_labels(self, text: str) -> set[str]:
        return self.engine.standalone_labels(text)
