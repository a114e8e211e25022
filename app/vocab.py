"""Chinese display names of what the console shows: document labels, fine categories (from the rule lexicon's
categories.yaml), severities, triage decisions and institution types."""

from __future__ import annotations

from functools import cache
from pathlib import Path

import yaml

import classifiers

LABEL_NAMES = {
    "exaggerated_efficacy": "夸大疗效",
    "unapproved_service": "超范围/未经批准的服务",
    "negative_sentiment": "负面舆情",
}
SEVERITY_NAMES = {
    "S1": "S1 严重", "S2": "S2 较重", "S3": "S3 一般", "S4": "S4 轻微",
    "P1": "P1 重大舆情", "P2": "P2 较大舆情", "P3": "P3 一般舆情",
}  # fmt: skip
SEVERITY_RANK = {s: i for i, s in enumerate(("S1", "P1", "S2", "P2", "S3", "P3", "S4"))}
DECISION_NAMES = {"confirm": "确认违规", "dismiss": "驳回（误报）", "escalate": "上报"}
TRIAGE_STATUS_NAMES = {"untriaged": "未审核", **DECISION_NAMES}
INSTITUTION_TYPE_NAMES = {
    "public_hospital": "公立医院",
    "private_hospital": "民营医院",
    "medical_beauty": "医疗美容机构",
    "beauty_salon": "生活美容场所",
    "clinic": "诊所",
}

_CATEGORIES_FILE = Path(classifiers.__file__).resolve().parent / "lexicon" / "categories.yaml"


@cache
def category_names() -> dict[str, str]:
    data = yaml.safe_load(_CATEGORIES_FILE.read_text(encoding="utf-8")) or {}
    return {k: str(v.get("name", k)) for k, v in (data.get("categories") or {}).items()}


def category_name(category: str) -> str:
    return category_names().get(category) or LABEL_NAMES.get(category) or category


def severity_rank(severity: str | None) -> int:
    """0 = most severe; unknown or empty sorts last."""
    return SEVERITY_RANK.get(severity or "", len(SEVERITY_RANK))
