"""The digest archive: each digest written under ``data_dir/digests/<day>/<scope>/`` (JSON, Markdown, HTML with its
chart PNGs beside it) and listed in the store's ``digests`` table, so the console can browse them and a failed
delivery can be re-sent from what was archived."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from digests.render import html, markdown, write_json
from store.db import Store
from store.digests import DigestArchiveRepo


def scope_dir_name(scope: str) -> str:
    return re.sub(r"[\\/:*?\"<>|\s]+", "_", scope) if scope else "all"


def archive_dir(data_dir: Path, day: str, scope: str) -> Path:
    return data_dir / "digests" / day / scope_dir_name(scope)


def write_archive(
    store: Store, data_dir: Path, digest: dict[str, Any], charts: dict[str, bytes]
) -> tuple[int, Path]:
    """Write the digest's files and its archive row; returns (archive id, folder)."""
    folder = archive_dir(data_dir, digest["day"], digest["scope"])
    (folder / "charts").mkdir(parents=True, exist_ok=True)
    chart_files = {}
    for name, png in charts.items():
        (folder / "charts" / f"{name}.png").write_bytes(png)
        chart_files[name] = f"charts/{name}.png"
    write_json(folder / "digest.json", digest)
    (folder / "digest.md").write_text(markdown(digest, chart_files), encoding="utf-8")
    (folder / "digest.html").write_text(html(digest, lambda name: chart_files[name]), encoding="utf-8")
    archive_id = DigestArchiveRepo(store).save(
        day=digest["day"],
        scope=digest["scope"],
        subject=digest["title"],
        path=str(folder),
        totals=digest["totals"],
    )
    return archive_id, folder


def read_archive(folder: Path) -> tuple[dict[str, Any], dict[str, bytes]]:
    """A digest and its charts as archived."""
    digest = json.loads((folder / "digest.json").read_text(encoding="utf-8"))
    charts = {p.stem: p.read_bytes() for p in sorted((folder / "charts").glob("*.png"))}
    return digest, charts
