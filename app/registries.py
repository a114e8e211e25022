"""The source and institution registries as the use-cases need them: loaded from the configured YAML files,
with ``{demo_port}``-style placeholders filled, and mirrored into the store."""

from __future__ import annotations

import os
from pathlib import Path

from classifiers.institutions import InstitutionRegistry
from config import PACKAGE_ROOT, Settings
from domain.sources import SourceConfig, load_sources
from store.db import Store

DEMO_SOURCES = PACKAGE_ROOT / "demo" / "sources.yaml"
DEMO_INSTITUTIONS = PACKAGE_ROOT / "demo" / "institutions.yaml"


def load_source_registry(
    settings: Settings, sources_file: Path | None = None, variables: dict[str, str] | None = None
) -> list[SourceConfig]:
    """The configured sources (``sources_file`` or the settings' registry), placeholders substituted."""
    path = sources_file or settings.resolve_sources_file()
    variables = {"demo_port": os.environ.get("YIJIAN_DEMO_PORT", ""), **(variables or {})}
    return load_sources(path, variables)


def select_sources(sources: list[SourceConfig], ids: list[str] | tuple[str, ...]) -> list[SourceConfig]:
    """The sources named by ``ids``, in registry order; ``KeyError`` naming the unknown ids and the known ones."""
    known = {s.id for s in sources}
    unknown = [i for i in ids if i not in known]
    if unknown:
        raise KeyError(f"未知来源：{', '.join(unknown)}（可用：{', '.join(sorted(known))}）")
    return [s for s in sources if s.id in ids]


def load_institution_registry(settings: Settings) -> InstitutionRegistry:
    return InstitutionRegistry.load(settings.resolve_institutions_file())


def sync_registries(store: Store, settings: Settings, sources: list[SourceConfig]) -> InstitutionRegistry:
    """Mirror the institution registry and ``sources`` into the store; returns the institution registry."""
    registry = load_institution_registry(settings)
    store.upsert_institutions(registry.as_dicts())
    store.upsert_sources([s.model_dump(mode="json") for s in sources])
    return registry
