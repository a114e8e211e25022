"""The web console (FastAPI + server-rendered Jinja2): search, documents, triage, trends, risk and admin pages
and a JSON API, for supervision and propaganda staff. `create_app(settings)` builds it; `yijian serve` runs it."""

from __future__ import annotations

from console.web.app import create_app

__all__ = ["create_app"]
