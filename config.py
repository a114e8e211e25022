"""One settings object for the whole product, and where each value came from.

Precedence, highest first: an explicit value (a command-line flag such as ``--data-dir``, or a keyword argument),
the environment (``YIJIAN_*``), the file ``yijian.yaml`` (current directory, or the file named by
``YIJIAN_CONFIG``), the defaults. The defaults give a working embedded setup under ``./data``.

Every setting is documented once, in its ``description`` below; ``yijian config`` prints them with their
effective values and origins, secrets masked.
"""

from __future__ import annotations

import os
from functools import cached_property
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import Field
from pydantic.fields import FieldInfo
from pydantic_settings import (
    BaseSettings,
    EnvSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

PACKAGE_ROOT = Path(__file__).resolve().parent
ENV_PREFIX = "YIJIAN_"
# Settings whose values are never printed in full.
SECRET_MARKERS = ("password", "api_key", "secret", "token", "webhook")


class ConfigFileError(ValueError):
    """``yijian.yaml`` (or the file named by ``YIJIAN_CONFIG``) is unreadable or not a mapping of settings."""


def config_file() -> Path:
    return Path(os.environ.get("YIJIAN_CONFIG", "yijian.yaml"))


def _yaml_config() -> dict[str, Any]:
    path = config_file()
    if not path.is_file():
        return {}
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigFileError(f"{path}: {exc}") from exc
    if not isinstance(data, dict):
        raise ConfigFileError(f"{path}: expected a mapping of settings, got {type(data).__name__}")
    return data


class YamlFileSource(PydanticBaseSettingsSource):
    """The settings file, ranked below the environment."""

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        return _yaml_config().get(field_name), field_name, False

    def __call__(self) -> dict[str, Any]:
        return {k: v for k, v in _yaml_config().items() if k in self.settings_cls.model_fields}


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="ignore")

    data_dir: Path = Field(Path("data"), description="数据目录：数据库、原始网页、内置索引都在这里")
    database_url: str | None = Field(
        None,
        description="系统记录库的 SQLAlchemy 地址；默认 data_dir 下的 SQLite（WAL）。"
        "多机部署用 postgresql+psycopg://用户:密码@主机/库名",
    )

    search: Literal["embedded", "elasticsearch"] = Field(
        "embedded", description="检索后端：embedded（内置 SQLite FTS5）或 elasticsearch（Elasticsearch 8）"
    )
    es_url: str = Field("http://localhost:9200", description="Elasticsearch 地址，可多个，逗号分隔")
    es_username: str | None = Field(None, description="Elasticsearch 用户名（基本认证）")
    es_password: str | None = Field(None, description="Elasticsearch 密码（基本认证）")
    es_api_key: str | None = Field(None, description="Elasticsearch API key（与用户名/密码二选一）")
    es_ca_cert: Path | None = Field(None, description="校验 Elasticsearch 证书用的 CA 证书文件")
    es_index_prefix: str = Field("yijian", description="Elasticsearch 索引、别名与模板的名称前缀")

    sources_file: Path | None = Field(
        None, description="来源登记表（YAML）；默认当前目录的 sources.yaml，没有则用内置演示来源"
    )
    institutions_file: Path | None = Field(
        None, description="医疗机构登记表（YAML）；默认当前目录的 institutions.yaml，没有则用内置演示机构"
    )

    model_dir: Path | None = Field(None, description="分类模型目录（本地路径）；默认随软件发布的模型")
    model_network: Literal["student", "transformer"] | None = Field(
        None,
        description="模型目录中用哪个网络打分：student（快速，默认）或 transformer；不设则用模型目录自己的默认值",
    )

    user_agent: str = Field(
        "YijianBot/0.1 (+medical advertising supervision; contact: admin@example.gov.cn)",
        description="抓取时使用的 User-Agent（请写明单位与联系方式）",
    )
    ocr_enabled: bool = Field(True, description="是否对网页图片做文字识别（OCR）后一并分析")

    redis_url: str | None = Field(None, description="分布式抓取用的 Redis 地址；不设则单进程抓取")

    console_secret: str | None = Field(
        None,
        description="Web 控制台会话签名密钥；不设则首次启动时随机生成并保存在 data_dir/console_secret",
    )
    console_session_hours: int = Field(8, description="Web 控制台登录会话的有效时长（小时）")

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # explicit values > environment > yijian.yaml > defaults
        return (init_settings, env_settings, YamlFileSource(settings_cls))

    @cached_property
    def db_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'yijian.db').resolve()}"

    @property
    def blob_dir(self) -> Path:
        return self.data_dir / "blobs"

    def resolve_sources_file(self) -> Path:
        if self.sources_file:
            return self.sources_file
        local = Path("sources.yaml")
        return local if local.is_file() else PACKAGE_ROOT / "demo" / "sources.yaml"

    def resolve_institutions_file(self) -> Path:
        if self.institutions_file:
            return self.institutions_file
        local = Path("institutions.yaml")
        return local if local.is_file() else PACKAGE_ROOT / "demo" / "institutions.yaml"


def get_settings(**overrides: Any) -> Settings:
    """Settings with explicit overrides (e.g. ``data_dir`` from ``--data-dir``) taking precedence."""
    clean = {k: v for k, v in overrides.items() if v is not None}
    settings = Settings(**clean)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    return settings


def is_secret(name: str) -> bool:
    return any(marker in name for marker in SECRET_MARKERS)


def mask(value: Any) -> str:
    text = "" if value is None else str(value)
    return "" if not text else "****" + (text[-2:] if len(text) > 8 else "")


def describe(**overrides: Any) -> list[dict[str, Any]]:
    """Every setting with its effective value (secrets masked), its origin — ``flag``, ``environment``,
    ``file`` or ``default`` — and its description."""
    explicit = {k: v for k, v in overrides.items() if v is not None}
    settings = Settings(**explicit)
    from_env = EnvSettingsSource(Settings)()
    from_file = YamlFileSource(Settings)()
    rows = []
    for name, info in Settings.model_fields.items():
        if name in explicit:
            origin = "flag"
        elif name in from_env:
            origin = "environment"
        elif name in from_file:
            origin = "file"
        else:
            origin = "default"
        value = getattr(settings, name)
        shown: Any = (
            mask(value) if is_secret(name) and value else (str(value) if isinstance(value, Path) else value)
        )
        rows.append(
            {
                "name": name,
                "env": ENV_PREFIX + name.upper(),
                "value": shown,
                "origin": origin,
                "description": info.description or "",
            }
        )
    return rows
