"""`yijian db`: the database's schema version (Alembic migrations in store/migrations)."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from console.options import _dump, _settings, data_dir_option, json_option, out


@click.group()
def db() -> None:
    """数据库结构版本（迁移）：升级到最新版本、查看当前版本。"""


@db.command()
@data_dir_option
@json_option
def upgrade(data_dir: Path | None, as_json: bool) -> None:
    """把数据库升级到最新结构版本（新库从零建表；迁移前用 create_all 建的旧库先核对结构再标记版本）。"""
    from app.database import SchemaMismatch, upgrade_database

    try:
        result = upgrade_database(_settings(data_dir))
    except SchemaMismatch as exc:
        raise click.ClickException(str(exc)) from exc
    if as_json:
        _dump(result)
    elif result["changed"]:
        out.print(f"数据库 {result['database']}：{result['before'] or '（无版本）'} → {result['after']}")
    else:
        out.print(f"数据库 {result['database']} 已是最新版本 {result['after']}")


@db.command()
@data_dir_option
@json_option
def current(data_dir: Path | None, as_json: bool) -> None:
    """显示数据库当前的结构版本与代码中的最新版本；不一致时退出码为 1。"""
    from app.database import database_status

    info = database_status(_settings(data_dir))
    if as_json:
        _dump(info)
    else:
        out.print(f"数据库：{info['database']}")
        out.print(f"当前版本：{info['current'] or '（无版本，尚未迁移）'}   最新版本：{info['head']}")
        for d in info["diff"]:
            out.print(f"  与代码模型不一致：{d}")
    if not info["up_to_date"] or info["diff"]:
        sys.exit(1)
