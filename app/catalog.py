"""Use-cases that read the registries as mirrored in the store: the institutions (with their licence and
licensed scope) and the sources (with their schedule and render mode), for the console's lists and filters."""

from __future__ import annotations

from typing import Any

from app.context import AppContext


def institutions(ctx: AppContext) -> list[dict[str, Any]]:
    return sorted(ctx.store.get_institutions(), key=lambda i: i["name"])


def institution_names(ctx: AppContext) -> dict[str, str]:
    return {i["id"]: i["name"] for i in ctx.store.get_institutions()}


def sources(ctx: AppContext) -> list[dict[str, Any]]:
    out = []
    for s in ctx.store.get_sources():
        cfg = s.get("config") or {}
        out.append({**s, "schedule": cfg.get("schedule"), "render": cfg.get("render", "static"),
                    "url": (cfg.get("start_urls") or [""])[0] if isinstance(cfg.get("start_urls"), list) else "",
                    "enabled": cfg.get("enabled", True)})  # fmt: skip
    return out
