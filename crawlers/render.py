"""Helpers for JS rendering with scrapy-playwright (used only by ``render: js`` sources)."""

from __future__ import annotations

from typing import Any

BLOCKED_RESOURCE_TYPES = frozenset({"image", "font", "media"})


def abort_heavy_request(request: Any) -> bool:
    """``PLAYWRIGHT_ABORT_REQUEST``: skip images, fonts and media while rendering (the DOM is what we keep)."""
    return request.resource_type in BLOCKED_RESOURCE_TYPES
