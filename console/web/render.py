"""Jinja2 templates of the console (autoescaping on) and their filters: Beijing time, Chinese names of labels,
categories, severities and triage decisions, safe highlights and safe links."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from fastapi.templating import Jinja2Templates

from app.search import SHANGHAI
from app.users import ROLE_NAMES, role_at_least
from app.vocab import (
    DECISION_NAMES,
    INSTITUTION_TYPE_NAMES,
    LABEL_NAMES,
    SEVERITY_NAMES,
    TRIAGE_STATUS_NAMES,
    category_name,
)
from console.highlight import safe_highlight
from console.web.security import safe_url

TEMPLATES_DIR = Path(__file__).resolve().parent / "templates"
templates = Jinja2Templates(directory=str(TEMPLATES_DIR))


def bjtime(value: Any, fmt: str = "%Y-%m-%d %H:%M") -> str:
    """A UTC datetime or ISO string shown in Beijing time."""
    if value is None or value == "":
        return "—"
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            return value
    if value.tzinfo is None:
        from datetime import UTC

        value = value.replace(tzinfo=UTC)
    return value.astimezone(SHANGHAI).strftime(fmt)


def query_with(params: dict[str, Any], **changes: Any) -> str:
    """The current query string with some parameters replaced (pagination and sort links)."""
    merged = {**params, **changes}
    pairs = []
    for k, v in merged.items():
        if isinstance(v, list):
            pairs += [(k, x) for x in v if x not in (None, "")]
        elif v not in (None, ""):
            pairs.append((k, v))
    return "?" + urlencode(pairs)


env = templates.env
env.filters.update(
    bjtime=bjtime,
    label_name=lambda v: LABEL_NAMES.get(v, v),
    category_name=category_name,
    severity_name=lambda v: SEVERITY_NAMES.get(v, v or "—"),
    decision_name=lambda v: DECISION_NAMES.get(v, v),
    triage_name=lambda v: TRIAGE_STATUS_NAMES.get(v, v),
    role_name=lambda v: ROLE_NAMES.get(v, v),
    itype_name=lambda v: INSTITUTION_TYPE_NAMES.get(v or "", v or "—"),
    highlight=safe_highlight,
    safe_url=safe_url,
)
env.globals.update(
    role_at_least=role_at_least,
    query_with=query_with,
    LABEL_NAMES=LABEL_NAMES,
    SEVERITY_NAMES=SEVERITY_NAMES,
    DECISION_NAMES=DECISION_NAMES,
    TRIAGE_STATUS_NAMES=TRIAGE_STATUS_NAMES,
    ROLE_NAMES=ROLE_NAMES,
)
