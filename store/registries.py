"""The source and institution registries in the store: upsert from registry dicts, list them back."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import select

from store.engine import Database, chunks
from store.models import Institution, Source, utcnow
from store.rows import jsonable, row_fields


class Registries(Database):
    def upsert_sources(self, sources: list[dict]) -> None:
        """Insert or update sources from registry dicts (id, name, type, institution, region, ...)."""
        rows: dict[str, dict[str, Any]] = {}
        for i, entry in enumerate(sources):
            if not isinstance(entry, dict) or not entry.get("id"):
                raise ValueError(f"来源登记第{i + 1}项缺少 id: {entry!r}")
            sid = str(entry["id"])
            rows[sid] = {
                "name": str(entry.get("name") or sid),
                "type": str(entry.get("type") or "site"),
                "config": jsonable(entry),
                "institution_id": _opt_str(entry.get("institution_id", entry.get("institution"))),
                "region": _opt_str(entry.get("region")),
                "updated_at": utcnow(),
            }
        self._upsert_registry(Source, rows)

    def upsert_institutions(self, institutions: list[dict]) -> None:
        known = {"id", "name", "aliases", "licence_no", "license_no", "type", "licensed_subjects", "region"}
        known |= {"domains"}
        rows: dict[str, dict[str, Any]] = {}
        for i, entry in enumerate(institutions):
            if not isinstance(entry, dict) or not entry.get("id"):
                raise ValueError(f"机构登记第{i + 1}项缺少 id: {entry!r}")
            iid = str(entry["id"])
            rows[iid] = {
                "name": str(entry.get("name") or iid),
                "aliases": _str_list(entry.get("aliases")),
                "licence_no": _opt_str(entry.get("licence_no", entry.get("license_no"))),
                "type": _opt_str(entry.get("type")),
                "licensed_subjects": _str_list(entry.get("licensed_subjects")),
                "region": _opt_str(entry.get("region")),
                "domains": _str_list(entry.get("domains")),
                "extra": jsonable({k: v for k, v in entry.items() if k not in known}),
                "updated_at": utcnow(),
            }
        self._upsert_registry(Institution, rows)

    def _upsert_registry(
        self, model: type[Source] | type[Institution], rows: dict[str, dict[str, Any]]
    ) -> None:
        if not rows:
            return
        with self._write() as s:
            ids = list(rows)
            existing: dict[str, Source | Institution] = {}
            for chunk in chunks(ids):
                found: Iterable[Source | Institution] = s.scalars(select(model).where(model.id.in_(chunk)))
                existing.update({o.id: o for o in found})
            for rid, values in rows.items():
                obj = existing.get(rid)
                if obj is None:
                    s.add(model(id=rid, **values))
                else:
                    for k, v in values.items():
                        setattr(obj, k, v)

    def get_sources(self) -> list[dict]:
        with self._read() as s:
            return [
                {
                    "id": o.id,
                    "name": o.name,
                    "type": o.type,
                    "institution_id": o.institution_id,
                    "region": o.region,
                    "config": o.config,
                }
                for o in s.scalars(select(Source).order_by(Source.id))
            ]

    def get_institutions(self) -> list[dict]:
        with self._read() as s:
            return [_institution_json(o) for o in s.scalars(select(Institution).order_by(Institution.id))]


def _opt_str(value: Any) -> str | None:
    return None if value is None or value == "" else str(value)


def _str_list(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    return [str(v) for v in value]


def _institution_json(o: Institution) -> dict[str, Any]:
    return {
        **row_fields(o, "id name aliases licence_no type licensed_subjects region domains"),
        **(o.extra or {}),
    }
