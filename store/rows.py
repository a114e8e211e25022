"""Row and value serialisers shared by the parts of the store: UTC ISO datetimes, JSON-safe values, row → dict."""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any

from store.models import as_utc


def iso(value: datetime | None) -> str | None:
    value = as_utc(value)
    return value.isoformat() if value else None


def jsonable(value: Any) -> Any:
    """Registry YAML may hold dates, paths, sets: make it JSON-safe."""
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [jsonable(v) for v in value]
    if isinstance(value, str | int | bool) or value is None:
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, datetime):
        return iso(value)
    return str(value)


def row_fields(row: Any, names: str) -> dict[str, Any]:
    """The named attributes of a row (space-separated names), datetimes as UTC ISO strings."""
    out: dict[str, Any] = {}
    for name in names.split():
        value = getattr(row, name)
        out[name] = iso(value) if isinstance(value, datetime) else value
    return out
