"""Elasticsearch index configuration as JSON files under version control, rendered for an index prefix.

Files (``{prefix}`` in any string is replaced by the configured ``es_index_prefix``):

* ``settings.json``          component template: shards/replicas, refresh, the ``yijian_seg`` whitespace analyzer
* ``docs_mappings.json``     component template: document mappings (keyword facets, dates, nested findings)
* ``findings_mappings.json`` component template: one record per finding, for trend analytics
* ``docs_template.json`` / ``findings_template.json``  index templates composing the above, with the read alias
* ``ilm_policy.json``        ILM policy (rollover by age/size) for real Elasticsearch 8
* ``analyzers/<name>.json``  optional analyzer profiles (``ik``, ``smartcn``) for clusters with those plugins
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

KINDS: tuple[str, ...] = ("docs", "findings")


def load(name: str, prefix: str = "yijian") -> dict[str, Any]:
    """One JSON file of this package (``name`` without ``.json``, may contain ``/``), rendered for ``prefix``."""
    path = resources.files(__name__).joinpath(*f"{name}.json".split("/"))
    if not path.is_file():
        raise FileNotFoundError(f"index_config: 没有配置文件 {name}.json")
    return _render(json.loads(path.read_text(encoding="utf-8")), prefix)


def analyzer_profiles() -> list[str]:
    """Names of the optional analyzer profiles shipped in ``analyzers/``."""
    folder = resources.files(__name__).joinpath("analyzers")
    return sorted(p.name.removesuffix(".json") for p in folder.iterdir() if p.name.endswith(".json"))


def _render(value: Any, prefix: str) -> Any:
    if isinstance(value, str):
        return value.replace("{prefix}", prefix)
    if isinstance(value, list):
        return [_render(v, prefix) for v in value]
    if isinstance(value, dict):
        return {_render(k, prefix): _render(v, prefix) for k, v in value.items()}
    return value


@dataclass(slots=True)
class Names:
    """Index, alias, template and policy names for one prefix."""

    prefix: str

    def read_alias(self, kind: str) -> str:
        return f"{self.prefix}-{kind}"

    def write_alias(self, kind: str) -> str:
        return f"{self.prefix}-{kind}-write"

    def first_index(self, kind: str) -> str:
        return f"{self.prefix}-{kind}-000001"

    def index_template(self, kind: str) -> str:
        return f"{self.prefix}-{kind}"

    def policy(self, kind: str) -> str:
        return f"{self.prefix}-{kind}"

    @property
    def settings_component(self) -> str:
        return f"{self.prefix}-settings"

    @property
    def analyzer_component(self) -> str:
        return f"{self.prefix}-analyzer-profile"

    def mappings_component(self, kind: str) -> str:
        return f"{self.prefix}-{kind}-mappings"


@dataclass(slots=True)
class InstallPlan:
    """Everything ``yijian index install`` puts on a cluster, in order."""

    names: Names
    component_templates: dict[str, dict[str, Any]] = field(default_factory=dict)
    index_templates: dict[str, dict[str, Any]] = field(default_factory=dict)
    ilm_policies: dict[str, dict[str, Any]] = field(default_factory=dict)


def install_plan(
    prefix: str,
    *,
    ilm: bool,
    analyzer_profile: str | None = None,
    shards: int | None = None,
    replicas: int | None = None,
) -> InstallPlan:
    """Render the templates for ``prefix``; ILM settings only when the cluster has ILM (real Elasticsearch)."""
    names = Names(prefix)
    plan = InstallPlan(names)
    settings = load("settings", prefix)
    index_settings = settings["template"]["settings"]["index"]
    if shards is not None:
        index_settings["number_of_shards"] = shards
    if replicas is not None:
        index_settings["number_of_replicas"] = replicas
    plan.component_templates[names.settings_component] = settings
    for kind in KINDS:
        plan.component_templates[names.mappings_component(kind)] = load(f"{kind}_mappings", prefix)
    if analyzer_profile:
        if analyzer_profile not in analyzer_profiles():
            raise ValueError(f"未知的分词配置 {analyzer_profile!r}，可选: {', '.join(analyzer_profiles())}")
        plan.component_templates[names.analyzer_component] = load(f"analyzers/{analyzer_profile}", prefix)
    for kind in KINDS:
        template = load(f"{kind}_template", prefix)
        if analyzer_profile and kind == "docs":
            template["composed_of"].append(names.analyzer_component)
        if ilm:
            template["template"].setdefault("settings", {})["index"] = {
                "lifecycle": {"name": names.policy(kind), "rollover_alias": names.write_alias(kind)}
            }
            plan.ilm_policies[names.policy(kind)] = load("ilm_policy", prefix)
        plan.index_templates[names.index_template(kind)] = template
    return plan
