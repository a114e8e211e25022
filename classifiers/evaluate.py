"""Evaluation of rules only / model only / model + rules on the same split.

Per label precision / recall / F1, macro-F1, a confusion summary (per-label TP/FP/FN/TN and the most common
gold→predicted label-set confusions), the hard-negative false-positive rate (the share of regulator notices,
penalty news, clinical text and patient education flagged ``exaggerated_efficacy``) and the share of texts
without any gold label that get one. ``split="real"`` scores the real-web corpus (training_data/real).
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from classifiers.base import Classifier
from classifiers.train import DATA_DIR, load_split
from domain import LABELS

# Sources (record "source" prefixes / families) that are hard negatives for the ad label.
HARD_NEGATIVE_SOURCES = (
    "gen:notice",
    "gen:penalty_news",
    "gen:penalty_svc_news",
    "gen:clinical",
    "gen:patient_edu",
    "hand:notice",
    "hand:penalty_news",
    "hand:clinical",
    "hand:education",
)

NATURAL_HARD_GENRES = frozenset(
    {"regulator_notice", "penalty_news", "clinical_note", "patient_edu", "drug_insert", "law_explainer"}
)


# real-web corpus (training_data/real): kinds that are not advertising when they carry no ad label
REAL_HARD_KINDS = frozenset({"news", "case_report", "education", "department", "gratitude"})


def is_hard_negative(row: dict) -> bool:
    if "kind" in row:  # real-web corpus rows have a kind instead of a source
        return row["kind"] in REAL_HARD_KINDS and "exaggerated_efficacy" not in row.get("labels", [])
    src = row.get("source", "")
    if src in HARD_NEGATIVE_SOURCES or (src.startswith("case:") and src.endswith("-news")):
        return True
    # natural texts (training: natural:<genre>; challenge split: fresh:<genre>) of those genres, not ads
    genre = src.split(":", 1)[-1]
    return (
        src.startswith(("natural:", "fresh:"))
        and genre in NATURAL_HARD_GENRES
        and "exaggerated_efficacy" not in row.get("labels", [])
    )


def prf(gold: list[set[str]], pred: list[set[str]], label: str) -> dict[str, float]:
    tp = sum(1 for g, p in zip(gold, pred, strict=True) if label in g and label in p)
    fp = sum(1 for g, p in zip(gold, pred, strict=True) if label not in g and label in p)
    fn = sum(1 for g, p in zip(gold, pred, strict=True) if label in g and label not in p)
    tn = len(gold) - tp - fp - fn
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {
        "precision": round(precision, 4),
        "recall": round(recall, 4),
        "f1": round(f1, 4),
        "tp": tp,
        "fp": fp,
        "fn": fn,
        "tn": tn,
        "support": tp + fn,
    }


def score_system(rows: list[dict], pred: list[set[str]]) -> dict[str, Any]:
    gold = [set(r["labels"]) for r in rows]
    per_label = {lab: prf(gold, pred, lab) for lab in LABELS}
    macro = sum(v["f1"] for v in per_label.values()) / len(LABELS)
    hard = [(r, p) for r, p in zip(rows, pred, strict=True) if is_hard_negative(r)]
    flagged = sum(1 for _r, p in hard if "exaggerated_efficacy" in p)
    confusions = Counter(
        ("+".join(sorted(g)) or "none", "+".join(sorted(p)) or "none")
        for g, p in zip(gold, pred, strict=True)
        if g != p
    )
    exact = sum(1 for g, p in zip(gold, pred, strict=True) if g == p) / max(1, len(rows))
    neutral = [p for g, p in zip(gold, pred, strict=True) if not g]
    neutral_flagged = sum(1 for p in neutral if p)
    report: dict[str, Any] = {
        "per_label": per_label,
        "macro_f1": round(macro, 4),
        "exact_match": round(exact, 4),
        "hard_negatives": len(hard),
        "hard_negative_ad_flagged": flagged,
        "hard_negative_fp_rate": round(flagged / len(hard), 4) if hard else 0.0,
        "neutral": len(neutral),
        "neutral_flagged": neutral_flagged,
        "neutral_flag_rate": round(neutral_flagged / len(neutral), 4) if neutral else 0.0,
        "top_confusions": [{"gold": g, "pred": p, "count": c} for (g, p), c in confusions.most_common(8)],
    }
    if any("kind" in r for r in rows):
        report["errors_by_kind"] = errors_by_kind(rows, pred)
    return report


def errors_by_kind(rows: list[dict], pred: list[set[str]]) -> dict[str, dict[str, int]]:
    """Per page kind of the real-web corpus (ad, agency, news, department, …): items, items whose label set is
    wrong, labels wrongly added (false positives) and labels missed (false negatives)."""
    out: dict[str, dict[str, int]] = {}
    for r, p in zip(rows, pred, strict=True):
        g = set(r["labels"])
        k = out.setdefault(str(r.get("kind", "other")), {"n": 0, "wrong": 0, "fp": 0, "fn": 0})
        k["n"] += 1
        k["wrong"] += g != p
        k["fp"] += len(p - g)
        k["fn"] += len(g - p)
    return dict(sorted(out.items(), key=lambda kv: (-kv[1]["wrong"], kv[0])))


def run_system(clf: Classifier, texts: Sequence[str], batch: int = 256) -> tuple[list[set[str]], float]:
    t0 = time.perf_counter()
    out: list[set[str]] = []
    for i in range(0, len(texts), batch):
        out += [set(r.labels) for r in clf.classify(list(texts[i : i + batch]))]
    return out, time.perf_counter() - t0


def evaluate(
    model_dir: Path | None = None,
    split: str = "test",
    data_dir: Path = DATA_DIR,
    systems: Sequence[str] = ("rules", "model", "hybrid"),
    network: str | None = None,
) -> dict[str, Any]:
    """Scores of each available system on ``split``; a system that cannot load is reported with its reason."""
    from classifiers.model import DEFAULT_MODEL_DIR, ModelClassifier

    rows = load_split(split, data_dir)
    texts = [r["text"] for r in rows]
    report: dict[str, Any] = {"split": split, "n": len(rows), "systems": {}, "unavailable": {}}
    label_counts = Counter(lab for r in rows for lab in r["labels"])
    report["support"] = {lab: label_counts.get(lab, 0) for lab in LABELS}

    model = rules = None
    try:
        model = ModelClassifier(model_dir or DEFAULT_MODEL_DIR, network=network)
        report["model_version"] = model.version
        report["network"] = model.network
        report["precision"] = model.precision
    except Exception as exc:  # reported, not raised: the other systems still evaluate
        report["unavailable"]["model"] = f"{type(exc).__name__}: {exc}"
    try:
        from classifiers.rules import RuleClassifier

        rules = RuleClassifier()
    except Exception as exc:
        report["unavailable"]["rules"] = f"{type(exc).__name__}: {exc}"

    for name in systems:
        if name == "rules" and rules is not None:
            pred = [set(r.labels) for r in rules.classify(texts)]
        elif name == "model" and model is not None:
            t0 = time.perf_counter()
            pred = [set(r.labels) for r in model.classify(texts)]
            report["model_docs_per_s"] = round(len(rows) / (time.perf_counter() - t0), 1)
        elif name == "hybrid" and model is not None and rules is not None:
            from classifiers.hybrid import HybridClassifier

            hyb = HybridClassifier(model, rules)
            pred = [set(x.labels) for x in hyb.classify(texts)]
        else:
            if name not in report["unavailable"]:
                report["unavailable"][name] = "依赖的分类器不可用"
            continue
        report["systems"][name] = score_system(rows, pred)
    return report


def format_report(rep: dict[str, Any]) -> str:
    lines = [f"评测集 {rep['split']}：{rep['n']} 条；各标签正例数 {rep['support']}"]
    if rep.get("model_version"):
        lines.append(f"模型版本 {rep['model_version']}（{rep.get('network')}，{rep.get('precision')}）")
    for name, why in rep.get("unavailable", {}).items():
        lines.append(f"[{name}] 不可用：{why}")
    header = f"{'系统':<8}{'标签':<22}{'P':>7}{'R':>7}{'F1':>7}{'TP':>6}{'FP':>6}{'FN':>6}"
    lines.append(header)
    for name, s in rep["systems"].items():
        for lab, v in s["per_label"].items():
            lines.append(
                f"{name:<10}{lab:<22}{v['precision']:>7.3f}{v['recall']:>7.3f}{v['f1']:>7.3f}"
                f"{v['tp']:>6}{v['fp']:>6}{v['fn']:>6}"
            )
        lines.append(
            f"{name:<10}macro-F1 {s['macro_f1']:.3f}  完全匹配 {s['exact_match']:.3f}  "
            f"难负例被判为广告 {s['hard_negative_ad_flagged']}/{s['hard_negatives']} "
            f"({s['hard_negative_fp_rate']:.1%})  "
            f"无标签文本被标记 {s['neutral_flagged']}/{s['neutral']} ({s['neutral_flag_rate']:.1%})"
        )
        conf = "; ".join(f"{c['gold']}→{c['pred']}×{c['count']}" for c in s["top_confusions"][:5])
        if conf:
            lines.append(f"{'':<10}主要混淆：{conf}")
        if kinds := s.get("errors_by_kind"):
            per = "; ".join(
                f"{k} {v['wrong']}/{v['n']}（误报 {v['fp']}，漏报 {v['fn']}）"
                for k, v in kinds.items()
                if v["wrong"]
            )
            lines.append(f"{'':<10}按页面类型的错误：{per or '无'}")
    if rep.get("model_docs_per_s"):
        lines.append(f"模型推理速度：{rep['model_docs_per_s']} 条/秒（本评测集，含分词）")
    return "\n".join(lines)
