"""One settings object for the whole product.

Read from ``yijian.yaml`` (current directory, or the file named by ``YIJIAN_CONFIG``) and ``YIJIAN_*``
environment variables; the defaults give a working embedded setup under ``./data``.
"""

from __future__ import annotations

import os
from functools import cached_property
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic_settings import BaseSettings, SettingsConfigDict

PACKAGE_ROOT = Path(__file__).resolve().parent


def _yaml_config() -> dict[str, Any]:
    path = Path(os.environ.get("YIJIAN_CONFIG", "yijian.yaml"))
    if not path.is_file():
        return {}
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a mapping of settings, got {type(data).__name__}")
    return data


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="YIJIAN_", extra="ignore")

    data_dir: Path = Path("data")
    # SQLAlchemy URL of the system of record; default: SQLite (WAL) file in data_dir.
    database_url: str | None = None

    # Search backend: embedded SQLite FTS5 (default) or Elasticsearch 8.
    search: Literal["embedded", "elasticsearch"] = "embedded"
    es_url: str = "http://localhost:9200"  # one or more, comma-separated
    es_username: str | None = None
    es_password: str | None = None
    es_api_key: str | None = None
    es_ca_cert: Path | None = None
    es_index_prefix: str = "yijian"

    # Registries. Default: ./sources.yaml and ./institutions.yaml if present, else the bundled demo ones.
    sources_file: Path | None = None
    institutions_file: Path | None = None

    # Classifier model directory (a fine-tuned Hugging Face model); None = rules only / shipped default.
    model_dir: Path | None = None
    # Which network of the model directory scores: "student" (fast, the shipped default) or "transformer";
    # None = the directory's own default (classifiers/model.py).
    model_network: Literal["student", "transformer"] | None = None

    user_agent: str = "YijianBot/0.1 (+medical advertising supervision; contact: admin@example.gov.cn)"
    ocr_enabled: bool = True

    # Redis for distributed crawling (scrapy-redis); None = single-process crawl.
    redis_url: str | None = None

    def __init__(self, **values: Any) -> None:
        merged = {**_yaml_config(), **values}
        super().__init__(**merged)

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
