"""The source and institution registries as the use-cases need them: the operator's YAML files (placeholders like
``{demo_port}`` filled) with the console's edits applied on top (table ``registry_overrides``), mirrored into the
store; and the admin use-cases that make those edits (add a source, pause/resume it, change its schedule or render
mode; add an institution, change its licence, licensed subjects, region or type).

The YAML files stay the operator's base: an edit is stored as the changed fields of one entry (or a whole added
entry) and re-applied every time a registry is loaded — by the crawl, the scheduler, the analysis and the console —
so a crawl that re-syncs the registries no longer overwrites the console's edits.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from app.context import AppContext
from classifiers.institutions import SERVICES, InstitutionRegistry
from config import PACKAGE_ROOT, Settings
from domain.institutions import FIRST_LEVEL_SUBJECTS, INSTITUTION_TYPES, PARENT_SUBJECT
from domain.sources import SourceConfig, SourceError, load_sources
from store.db import Store
from store.registry_overrides import RegistryOverrides

DEMO_SOURCES = PACKAGE_ROOT / "demo" / "sources.yaml"
DEMO_INSTITUTIONS = PACKAGE_ROOT / "demo" / "institutions.yaml"

__all__ = [
    "INSTITUTION_TYPES",
    "RegistryError",
    "SourceError",
    "load_institution_registry",
    "load_source_registry",
]

FIELD_NAMES = {
    "id": "ID", "name": "名称", "type": "类型", "start_urls": "起始地址", "allowed_domains": "允许的域名",
    "depth": "抓取深度", "max_pages": "最多页面数", "render": "渲染方式", "schedule": "抓取计划",
    "institution": "所属机构", "region": "地区", "enabled": "状态",
}  # fmt: skip
CRON_HELP = "抓取计划须为 5 段 cron 表达式（分 时 日 月 周），例如 0 */6 * * *；留空表示不定时抓取"
KNOWN_SUBJECTS = frozenset(
    {
        *FIRST_LEVEL_SUBJECTS,
        *PARENT_SUBJECT,
        *PARENT_SUBJECT.values(),
        *(s for svc in SERVICES for s in svc.subjects),
    }
)


class RegistryError(ValueError):
    """An admin edit the registries refuse (message in Chinese, shown on the form)."""


# ------------------------------------------------------------------------------------------------ loading
def _overrides(settings: Settings, kind: str, store: Store | None) -> list[dict[str, Any]]:
    """The console's edits of ``kind``; none while no database exists yet (opening one would create it)."""
    if store is not None:
        return RegistryOverrides(store).list(kind)
    if not settings.database_url and not (settings.data_dir / "yijian.db").is_file():
        return []
    opened = Store.from_settings(settings)
    try:
        return RegistryOverrides(opened).list(kind)
    finally:
        opened.close()


def load_source_registry(
    settings: Settings,
    sources_file: Path | None = None,
    variables: dict[str, str] | None = None,
    *,
    store: Store | None = None,
) -> list[SourceConfig]:
    """The effective sources: ``sources_file`` (or the settings' registry) with the console's edits applied,
    placeholders substituted. Paused sources are included (``enabled`` false): see :func:`active_sources`."""
    path = sources_file or settings.resolve_sources_file()
    variables = {"demo_port": os.environ.get("YIJIAN_DEMO_PORT", ""), **(variables or {})}
    return load_sources(path, variables, _overrides(settings, "source", store))


def active_sources(sources: list[SourceConfig]) -> list[SourceConfig]:
    """The sources not paused: what ``crawl --all``, the scheduler and the demo crawl."""
    return [s for s in sources if s.enabled]


def select_sources(sources: list[SourceConfig], ids: list[str] | tuple[str, ...]) -> list[SourceConfig]:
    """The sources named by ``ids``, in registry order; ``KeyError`` naming the unknown ids and the known ones.
    A paused source named explicitly is still selected: pausing stops the automatic crawls only."""
    known = {s.id for s in sources}
    unknown = [i for i in ids if i not in known]
    if unknown:
        raise KeyError(f"未知来源：{', '.join(unknown)}（可用：{', '.join(sorted(known))}）")
    return [s for s in sources if s.id in ids]


def load_institution_registry(settings: Settings, *, store: Store | None = None) -> InstitutionRegistry:
    """The effective institution registry: the YAML file with the console's edits applied."""
    return InstitutionRegistry.load(
        settings.resolve_institutions_file(), _overrides(settings, "institution", store)
    )


def registry_fingerprint(settings: Settings, sources_file: Path | None = None) -> str:
    """Changes when the source YAML or a console edit of a source changes (the scheduler reloads its jobs)."""
    path = sources_file or settings.resolve_sources_file()
    h = hashlib.sha256()
    try:
        h.update(path.read_bytes())
    except OSError:
        return ""
    h.update(json.dumps(_overrides(settings, "source", None), sort_keys=True, default=str).encode())
    return h.hexdigest()


def sync_registries(store: Store, settings: Settings, sources: list[SourceConfig]) -> InstitutionRegistry:
    """Mirror the institution registry and ``sources`` into the store; returns the institution registry."""
    registry = load_institution_registry(settings, store=store)
    store.upsert_institutions(registry.as_dicts())
    store.upsert_sources([s.model_dump(mode="json") for s in sources])
    return registry


# ------------------------------------------------------------------------------------------ admin: sources
def source_admin_rows(ctx: AppContext) -> list[dict[str, Any]]:
    """The effective sources for the admin page, each with whether the console added or changed it."""
    edits = {o["id"]: o for o in RegistryOverrides(ctx.store).list("source")}
    rows = []
    for s in load_source_registry(ctx.settings, store=ctx.store):
        o = edits.get(s.id)
        rows.append({**s.model_dump(mode="json"), "added": bool(o and o["added"]),
                     "edited": sorted(o["fields"]) if o and not o["added"] else [],
                     "updated_by": o["updated_by"] if o else ""})  # fmt: skip
    return rows


def _lines(value: Any) -> list[str]:
    return [p for p in re.split(r"[\s,，、;；]+", str(value or "")) if p]


def _int(value: Any, field: str) -> int:
    try:
        return int(str(value).strip())
    except ValueError:
        raise RegistryError(f"{FIELD_NAMES[field]}应为整数") from None


def _schedule(value: Any) -> str | None:
    text = " ".join(str(value or "").split())
    if not text:
        return None
    from apscheduler.triggers.cron import CronTrigger

    try:
        CronTrigger.from_crontab(text)
    except ValueError:
        raise RegistryError(f"抓取计划 {text!r} 无效：{CRON_HELP}") from None
    return text


def _validate_source(entry: dict[str, Any]) -> SourceConfig:
    try:
        return SourceConfig.model_validate(entry)
    except ValidationError as exc:
        err = exc.errors()[0]
        field = str(err["loc"][0]) if err["loc"] else ""
        msg = str(err["msg"]).removeprefix("Value error, ")
        raise RegistryError(f"{FIELD_NAMES.get(field, field or '来源')}无效：{msg}") from None


def _check_institution(ctx: AppContext, institution: str | None) -> None:
    if institution and load_institution_registry(ctx.settings, store=ctx.store).get(institution) is None:
        raise RegistryError(f"没有机构 {institution}（先在“机构”页添加）")


def add_source(ctx: AppContext, form: dict[str, Any], actor: str) -> SourceConfig:
    """Add a source from the admin form (id, name, type, start URLs, allowed domains, depth, max pages, render
    mode, schedule, institution, region)."""
    entry: dict[str, Any] = {
        "id": str(form.get("id") or "").strip(),
        "name": str(form.get("name") or "").strip(),
        "type": str(form.get("type") or "site"),
        "start_urls": _lines(form.get("start_urls")),
        "allowed_domains": _lines(form.get("allowed_domains")),
        "depth": _int(form.get("depth") or 3, "depth"),
        "max_pages": _int(form.get("max_pages") or 200, "max_pages"),
        "render": str(form.get("render") or "static"),
        "schedule": _schedule(form.get("schedule")),
        "institution": str(form.get("institution") or "").strip() or None,
        "region": str(form.get("region") or "").strip(),
    }
    if not entry["id"]:
        raise RegistryError("请填写来源 ID")
    if not entry["start_urls"]:
        raise RegistryError("请至少填写一个起始地址")
    source = _validate_source(entry)
    if any(s.id == source.id for s in load_source_registry(ctx.settings, store=ctx.store)):
        raise RegistryError(f"来源 ID {source.id} 已存在")
    _check_institution(ctx, source.institution)
    fields = source.model_dump(mode="json", exclude={"id"})
    RegistryOverrides(ctx.store).put("source", source.id, fields, added=True, actor=actor)
    ctx.store.upsert_sources([source.model_dump(mode="json")])
    return source


def update_source(ctx: AppContext, source_id: str, changes: dict[str, Any], actor: str) -> SourceConfig:
    """Pause/resume a source (``enabled``), change its schedule (cron, validated) or render mode."""
    current = {s.id: s for s in load_source_registry(ctx.settings, store=ctx.store)}.get(source_id)
    if current is None:
        raise RegistryError(f"没有来源 {source_id}")
    fields: dict[str, Any] = {}
    if "enabled" in changes:
        fields["enabled"] = bool(changes["enabled"])
    if "schedule" in changes:
        fields["schedule"] = _schedule(changes["schedule"])
    if "render" in changes:
        if changes["render"] not in ("static", "js"):
            raise RegistryError("渲染方式应为“静态”或“JS 渲染”")
        fields["render"] = changes["render"]
    if not fields:
        raise RegistryError("没有要修改的内容")
    updated = _validate_source({**current.model_dump(mode="json"), **fields})
    RegistryOverrides(ctx.store).put("source", source_id, fields, added=False, actor=actor)
    ctx.store.upsert_sources([updated.model_dump(mode="json")])
    return updated


# ------------------------------------------------------------------------------------- admin: institutions
def institution_admin_rows(ctx: AppContext) -> list[dict[str, Any]]:
    edits = {o["id"]: o for o in RegistryOverrides(ctx.store).list("institution")}
    rows = []
    for inst in load_institution_registry(ctx.settings, store=ctx.store).institutions:
        o = edits.get(inst.id)
        rows.append({**inst.to_dict(), "added": bool(o and o["added"]),
                     "edited": sorted(o["fields"]) if o and not o["added"] else [],
                     "updated_by": o["updated_by"] if o else ""})  # fmt: skip
    return sorted(rows, key=lambda r: r["name"])


def _subjects(value: Any, registered: frozenset[str] = frozenset()) -> list[str]:
    """Licensed subjects from a form: names of the catalogue (or already used in the registry), deduplicated."""
    subjects = _lines(value)
    unknown = [s for s in subjects if s not in KNOWN_SUBJECTS and s not in registered]
    if unknown:
        raise RegistryError(
            f"未知诊疗科目：{'、'.join(unknown)}（应为《医疗机构诊疗科目名录》中的科目，如 内科、外科、美容外科）"
        )
    return list(dict.fromkeys(subjects))


def _institution_fields(ctx: AppContext, form: dict[str, Any]) -> dict[str, Any]:
    fields: dict[str, Any] = {}
    if "licensed_subjects" in form:
        registry = load_institution_registry(ctx.settings, store=ctx.store)
        registered = frozenset(s for i in registry.institutions for s in i.licensed_subjects)
        fields["licensed_subjects"] = _subjects(form["licensed_subjects"], registered)
    if "licence_no" in form:
        fields["licence_no"] = str(form["licence_no"] or "").strip()
    if "region" in form:
        fields["region"] = str(form["region"] or "").strip()
    if "type" in form:
        if form["type"] not in INSTITUTION_TYPES:
            raise RegistryError(f"未知机构类型 {form['type']!r}")
        fields["type"] = form["type"]
    return fields


def _save_institution(ctx: AppContext, iid: str, fields: dict[str, Any], added: bool, actor: str) -> None:
    repo = RegistryOverrides(ctx.store)
    path = ctx.settings.resolve_institutions_file()
    prospective = [o for o in repo.list("institution") if o["id"] != iid]
    old = next((o for o in repo.list("institution") if o["id"] == iid), None)
    merged = {**(old["fields"] if old else {}), **fields}
    prospective.append({"id": iid, "fields": merged, "added": added or bool(old and old["added"])})
    try:
        registry = InstitutionRegistry.load(path, prospective)  # the whole registry must still load
    except ValueError as exc:
        raise RegistryError(str(exc)) from None
    repo.put("institution", iid, fields, added=added, actor=actor)
    ctx.store.upsert_institutions(registry.as_dicts())


def add_institution(ctx: AppContext, form: dict[str, Any], actor: str) -> None:
    iid = str(form.get("id") or "").strip()
    name = str(form.get("name") or "").strip()
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,127}", iid):
        raise RegistryError("机构 ID 须为字母、数字或 _ . -（不超过 128 个字符）")
    if not name:
        raise RegistryError("请填写机构名称")
    if load_institution_registry(ctx.settings, store=ctx.store).get(iid) is not None:
        raise RegistryError(f"机构 ID {iid} 已存在")
    fields = {"name": name, "aliases": _lines(form.get("aliases")), "domains": _lines(form.get("domains")),
              **_institution_fields(ctx, {"type": form.get("type") or "", **{k: form.get(k) or "" for k in
                                     ("licensed_subjects", "licence_no", "region")}})}  # fmt: skip
    _save_institution(ctx, iid, fields, True, actor)


def update_institution(ctx: AppContext, institution_id: str, form: dict[str, Any], actor: str) -> None:
    """Change an institution's licensed subjects (诊疗科目), licence number, region or type."""
    if load_institution_registry(ctx.settings, store=ctx.store).get(institution_id) is None:
        raise RegistryError(f"没有机构 {institution_id}")
    fields = _institution_fields(ctx, form)
    if not fields:
        raise RegistryError("没有要修改的内容")
    _save_institution(ctx, institution_id, fields, False, actor)
