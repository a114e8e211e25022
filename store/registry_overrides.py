"""Persistence of the console's edits to the registries: per source or institution, the fields an admin changed
(or the whole entry an admin added), applied on top of the YAML files by app/registries.py."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from store.db import Store
from store.models import RegistryOverrideRow, utcnow

KINDS = ("source", "institution")


class RegistryOverrides:
    def __init__(self, store: Store) -> None:
        self.store = store

    def list(self, kind: str) -> list[dict[str, Any]]:
        """Every override of ``kind``, oldest change first: ``{"id", "fields", "added", "updated_by", ...}``."""
        with self.store._read() as s:
            rows = s.scalars(
                select(RegistryOverrideRow)
                .where(RegistryOverrideRow.kind == kind)
                .order_by(RegistryOverrideRow.updated_at, RegistryOverrideRow.entity_id)
            )
            return [
                {"id": r.entity_id, "fields": dict(r.fields or {}), "added": r.added, "updated_by": r.updated_by,
                 "updated_at": r.updated_at.isoformat() if r.updated_at else None}
                for r in rows
            ]  # fmt: skip

    def put(self, kind: str, entity_id: str, fields: dict[str, Any], *, added: bool, actor: str) -> None:
        """Merge ``fields`` into the override of (kind, entity_id), creating it if needed."""
        if kind not in KINDS:
            raise ValueError(f"unknown registry kind {kind!r}")
        with self.store._write() as s:
            row = s.get(RegistryOverrideRow, (kind, entity_id))
            if row is None:
                s.add(RegistryOverrideRow(kind=kind, entity_id=entity_id, fields=dict(fields), added=added,
                                          updated_by=actor, updated_at=utcnow()))  # fmt: skip
            else:
                row.fields = {**(row.fields or {}), **fields}
                row.updated_by = actor
                row.updated_at = utcnow()
