"""Options and helpers shared by every `yijian` command module."""

from __future__ import annotations

import json
from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any, TypeVar

import click
from rich.console import Console

from config import Settings, get_settings

F = TypeVar("F", bound=Callable[..., Any])
console = Console(stderr=True)
out = Console(highlight=False)


def data_dir_option(f: F) -> F:
    return click.option(
        "--data-dir",
        type=click.Path(file_okay=False, path_type=Path),
        default=None,
        envvar="YIJIAN_DATA_DIR",
        help="数据目录（默认 ./data，或环境变量 YIJIAN_DATA_DIR）",
    )(f)


def json_option(f: F) -> F:
    return click.option("--json", "as_json", is_flag=True, help="输出 JSON")(f)


def _settings(data_dir: Path | None) -> Settings:
    return get_settings(data_dir=data_dir)


def spinner(message: str) -> AbstractContextManager[Any]:
    """A progress spinner on stderr while a long step runs."""
    return console.status(message)


def _dump(obj: Any) -> None:
    out.print(json.dumps(obj, ensure_ascii=False, indent=2, default=str), soft_wrap=True, markup=False)
