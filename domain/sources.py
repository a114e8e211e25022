"""The source registry: which sites, WeChat accounts and news feeds to crawl, and how.

Sources are declared in YAML (see ``demo/sources.yaml``)::

    sources:
      - id: private-hospital
        name: 某某男科医院官网
        type: site                      # site | wechat | news
        start_urls: ["http://127.0.0.12:{demo_port}/"]
        allowed_domains: ["127.0.0.12"]
        depth: 3
        max_pages: 200
        render: static                  # static | js
        schedule: "0 */6 * * *"
        enabled: true                   # false: paused (skipped by `crawl --all`, the scheduler and the demo)

``{name}`` placeholders in strings are substituted from ``variables`` (e.g. ``demo_port``). Invalid entries
raise :class:`SourceError` naming the source id and the field.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from domain.overrides import apply_overrides

SourceType = Literal["site", "wechat", "news"]
RenderMode = Literal["static", "js"]

_PLACEHOLDER = re.compile(r"\{([A-Za-z_]\w*)\}")


class SourceError(ValueError):
    """An invalid source registry entry (or an unreadable registry file)."""

    def __init__(self, message: str, *, source_id: str | None = None, field: str | None = None) -> None:
        super().__init__(message)
        self.source_id = source_id
        self.field = field


def _check_url(url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"不是有效的 http(s) 地址: {url!r}")
    if _PLACEHOLDER.search(url):
        raise ValueError(f"地址中有未替换的占位符: {url!r}")
    try:
        parts.port  # noqa: B018 - raises on a bad port
    except ValueError as exc:
        raise ValueError(f"端口无效: {url!r}") from exc
    return url


class SourceConfig(BaseModel):
    """One crawl source: a website, a WeChat public account, or a news site."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(min_length=1, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
    name: str = ""
    type: SourceType = "site"
    start_urls: list[str] = Field(default_factory=list)
    feeds: list[str] = Field(default_factory=list)
    sitemaps: list[str] = Field(default_factory=list)
    allowed_domains: list[str] = Field(default_factory=list)
    depth: int = Field(default=3, ge=0)
    max_pages: int = Field(default=200, ge=1)
    include: list[str] = Field(default_factory=list)
    exclude: list[str] = Field(default_factory=list)
    render: RenderMode = "static"
    schedule: str | None = "0 */6 * * *"
    enabled: bool = True  # a paused source is skipped by `crawl --all` and the scheduler
    institution: str | None = None
    region: str = ""
    delay: float = Field(default=0.0, ge=0.0)
    concurrency: int = Field(default=2, ge=1)
    timeout: float | None = Field(
        default=None, gt=0
    )  # per-source download timeout (s); None = DOWNLOAD_TIMEOUT

    @field_validator("start_urls", "feeds", "sitemaps")
    @classmethod
    def _urls(cls, value: list[str]) -> list[str]:
        return [_check_url(u) for u in value]

    @field_validator("include", "exclude")
    @classmethod
    def _regexes(cls, value: list[str]) -> list[str]:
        for pattern in value:
            try:
                re.compile(pattern)
            except re.error as exc:
                raise ValueError(f"正则表达式无效 {pattern!r}: {exc}") from exc
        return value

    @field_validator("allowed_domains")
    @classmethod
    def _domains(cls, value: list[str]) -> list[str]:
        out = []
        for domain in value:
            d = domain.strip().lower().lstrip(".")
            if not d or "/" in d or ":" in d:
                raise ValueError(f"域名应为不带协议和端口的主机名: {domain!r}")
            out.append(d)
        return out

    @field_validator("schedule")
    @classmethod
    def _cron(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        from apscheduler.triggers.cron import CronTrigger

        try:
            CronTrigger.from_crontab(value)
        except ValueError as exc:
            raise ValueError(f"cron 表达式无效 {value!r}: {exc}") from exc
        return value

    @model_validator(mode="after")
    def _seeds_and_domains(self) -> SourceConfig:
        if not (self.start_urls or self.feeds or self.sitemaps):
            raise ValueError("start_urls、feeds、sitemaps 至少要有一个地址")
        if not self.allowed_domains:
            hosts = sorted(
                {urlsplit(u).hostname or "" for u in [*self.start_urls, *self.feeds, *self.sitemaps]} - {""}
            )
            object.__setattr__(self, "allowed_domains", hosts)
        return self

    def allows_host(self, host: str | None) -> bool:
        """Whether ``host`` is one of the allowed domains or a subdomain of one."""
        if not host:
            return False
        host = host.lower()
        return any(host == d or host.endswith("." + d) for d in self.allowed_domains)


def _substitute(value: Any, variables: dict[str, str]) -> Any:
    if isinstance(value, str):
        return _PLACEHOLDER.sub(lambda m: str(variables.get(m.group(1), m.group(0))), value)
    if isinstance(value, list):
        return [_substitute(v, variables) for v in value]
    if isinstance(value, dict):
        return {k: _substitute(v, variables) for k, v in value.items()}
    return value


def parse_sources(
    data: Any, variables: dict[str, str] | None = None, *, origin: str = "sources"
) -> list[SourceConfig]:
    """Validate an already-loaded registry mapping (``{"sources": [...]}``) into source configs."""
    if not isinstance(data, dict) or not isinstance(data.get("sources"), list):
        raise SourceError(f"{origin}: 顶层应为包含 sources 列表的映射")
    variables = {k: str(v) for k, v in (variables or {}).items()}
    out: list[SourceConfig] = []
    seen: set[str] = set()
    for index, raw in enumerate(data["sources"]):
        sid = str(raw.get("id")) if isinstance(raw, dict) and raw.get("id") is not None else f"#{index + 1}"
        if not isinstance(raw, dict):
            raise SourceError(f"{origin}: 信息源 {sid}: 条目应为映射", source_id=sid)
        try:
            source = SourceConfig.model_validate(_substitute(raw, variables))
        except ValidationError as exc:
            err = exc.errors()[0]
            field = ".".join(str(p) for p in err["loc"]) or "(整体)"
            msg = err["msg"].removeprefix("Value error, ")
            raise SourceError(
                f"{origin}: 信息源 {sid}: 字段 {field} 无效: {msg}", source_id=sid, field=field
            ) from exc
        if source.id in seen:
            raise SourceError(f"{origin}: 信息源 {sid}: 字段 id 重复", source_id=sid, field="id")
        seen.add(source.id)
        out.append(source)
    return out


def load_sources(
    path: Path, variables: dict[str, str] | None = None, overrides: list[dict[str, Any]] | None = None
) -> list[SourceConfig]:
    """Load and validate the source registry at ``path`` with the console's ``overrides`` applied
    (:func:`domain.overrides.apply_overrides`); raises :class:`SourceError`."""
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise SourceError(f"{path}: 无法读取信息源文件: {exc}") from exc
    except yaml.YAMLError as exc:
        raise SourceError(f"{path}: YAML 格式错误: {exc}") from exc
    if overrides and isinstance(data, dict) and isinstance(data.get("sources"), list):
        data = {**data, "sources": apply_overrides(data["sources"], overrides)}
    return parse_sources(data, variables, origin=str(path))
