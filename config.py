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
# Debian's Chromium, driven by Playwright for `render: js` sources, evidence captures and the console tests; never a
# browser build of Playwright's own. The flags keep it off the network except for the page itself.
CHROMIUM_EXECUTABLE = "/usr/bin/chromium"
CHROMIUM_ARGS: tuple[str, ...] = (
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
)
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
    processing_workers: int = Field(
        1,
        ge=0,
        description="抓取时做解码、抽取、OCR、分析、入库和索引的独立工作进程数（与抓取进程分用 CPU 核）；"
        "0 表示在抓取进程内用线程处理",
    )
    prepare_workers: int = Field(
        1,
        ge=0,
        description="另设的解码与抽取工作进程数（不加载模型，启动快、占内存少），与分析进程分用 CPU 核；"
        "0 表示由分析工作进程一并解码与抽取；processing_workers 为 0 时不起作用",
    )

    redis_url: str | None = Field(None, description="分布式抓取用的 Redis 地址；不设则单进程抓取")

    # -- digests, alerts and the scheduler (digests/, scheduler.py) --
    console_url: str = Field(
        "http://127.0.0.1:8000",
        description="Web 控制台的地址；日报与告警中的链接指向 {console_url}/documents/{文档ID}",
    )
    smtp_host: str | None = Field(None, description="发送日报的 SMTP 服务器；不设则不发邮件")
    smtp_port: int = Field(587, description="SMTP 端口（STARTTLS 通常 587，隐式 TLS 通常 465）")
    smtp_user: str | None = Field(None, description="SMTP 登录用户名；不设则不登录")
    smtp_password: str | None = Field(None, description="SMTP 登录密码")
    smtp_starttls: bool = Field(True, description="连接后用 STARTTLS 升级为加密连接")
    smtp_ssl: bool = Field(False, description="使用隐式 TLS（SMTPS，通常端口 465）；设为真时不再做 STARTTLS")
    smtp_ca_file: Path | None = Field(None, description="校验 SMTP 服务器证书用的 CA 证书文件；默认系统证书")
    smtp_timeout_s: float = Field(30.0, description="SMTP 连接与发送的超时（秒）")
    digest_from: str | None = Field(None, description="日报与告警邮件的发件人地址")
    digest_to: str | list[str] = Field(
        "", description="日报与告警邮件的收件人，多个用逗号分隔（yijian.yaml 中也可写成列表）"
    )
    recipients: list[dict[str, Any]] = Field(
        default_factory=list,
        description="按角色/地区的收件人（yijian.yaml 中的列表）：每项含 role、可选 region（只收该地区的日报）、"
        "emails（邮箱列表）、alerts（是否接收即时告警）",
    )
    wecom_webhook: str | None = Field(None, description="企业微信群机器人的完整 Webhook 地址（原样使用）")
    dingtalk_webhook: str | None = Field(None, description="钉钉群机器人的完整 Webhook 地址（原样使用）")
    dingtalk_secret: str | None = Field(
        None, description="钉钉群机器人“加签”密钥（SEC 开头）；设置后每次发送都签名"
    )
    delivery_attempts: int = Field(
        3, ge=1, description="每个渠道每次发送的最多尝试次数（失败后按指数退避重试）"
    )
    delivery_backoff_s: float = Field(2.0, ge=0, description="发送重试的首次等待（秒），之后每次加倍")
    webhook_timeout_s: float = Field(10.0, description="企业微信/钉钉 Webhook 请求超时（秒）")
    alerts_enabled: bool = Field(
        True, description="抓取结束后是否发送即时告警（S1 发现、被关注机构的负面舆情突增）"
    )
    alert_severities: str = Field("S1", description="触发即时告警的严重度，多个用逗号分隔（默认 S1）")
    alert_watch_institutions: str = Field(
        "", description="关注的机构 ID，逗号分隔；其负面舆情突增会即时告警。留空表示全部机构"
    )
    alert_min_interval_s: int = Field(
        600, ge=0, description="同一渠道两次告警之间的最短间隔（秒）；间隔内的新告警合并到下一次发送"
    )
    spike_min_count: int = Field(3, ge=1, description="判定负面舆情突增所需的当日最少条数")
    spike_p_value: float = Field(
        0.01,
        gt=0,
        lt=1,
        description="负面舆情突增的显著性水平：当日条数在泊松基线下的上尾概率低于此值即为突增",
    )
    digest_cron: str = Field("0 8 * * *", description="每日日报的发送时间（cron，北京时间）；日报统计前一天")
    cleanup_cron: str = Field("30 3 * * *", description="清理任务的运行时间（cron，北京时间）")
    retention_days: int = Field(
        180, ge=1, description="作业历史、发送记录与日报存档的保留天数（抓取到的网页与发现不在清理范围）"
    )
    schedule_stop_grace_s: float = Field(
        120.0,
        ge=0,
        description="收到停止信号后等待进行中的抓取完成的最长时间（秒）；超时则中止并记为 interrupted",
    )
    evidence_key_dir: Path | None = Field(
        None,
        description="取证签名密钥（Ed25519）所在目录，由 yijian init 生成；默认 data_dir/keys。私钥文件仅所有者可读",
    )
    snapshot_allow_private: bool = Field(
        False,
        description="是否允许对解析到回环、内网、链路本地地址的网址取证（默认拒绝；演示网站在 127.0.0.x，演示与测试时打开）",
    )
    snapshot_timeout_s: float = Field(
        60.0, description="网页取证的时间上限（秒）：页面加载与渲染超过此时间即放弃"
    )
    snapshot_max_mb: float = Field(
        50.0, description="网页取证的大小上限（MB）：页面及其资源超过此总量时停止加载，正文超过即放弃"
    )
    tsa_url: str | None = Field(
        None,
        description="RFC 3161 可信时间戳服务（TSA）地址；设置后每次取证与导出都为清单申请时间戳（datapackage.tsr），"
        "服务不可用时取证照常完成并记录原因；默认不申请",
    )
    auto_capture_min_severity: str = Field(
        "S1",
        description="抓取后自动取证的严重度门槛：命中达到该级别（含）以上的页面自动取证；可写多个，逗号分隔，如 S1,P1；"
        "留空则不自动取证",
    )
    auto_capture_budget: int = Field(
        5, description="每次抓取最多自动取证的页面数（0 表示不自动取证）；失败的取证记入案件，不影响抓取"
    )
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

    @property
    def evidence_dir(self) -> Path:
        return self.data_dir / "evidence"

    @property
    def key_dir(self) -> Path:
        return self.evidence_key_dir or self.data_dir / "keys"

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
