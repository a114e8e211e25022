"""`yijian index …`: install Elasticsearch templates, show the index status and outbox backlog, rebuild the index
from the store."""

from __future__ import annotations

from pathlib import Path

import click

from app.index import NotElasticsearch, SearchUnavailable, index_status, install_templates, rebuild_index
from console.options import _dump, _settings, out
from console.options import data_dir_option as _data_dir_option
from console.options import json_option as _json_option


@click.group("index")
def index() -> None:
    """搜索索引：安装 Elasticsearch 模板、查看状态与积压、从库重建。"""


@index.command()
@click.option(
    "--analyzer-profile",
    type=click.Choice(["ik", "smartcn"]),
    default=None,
    help="集群装有 IK / smartcn 插件时，附加对应的中文分词子字段",
)
@click.option("--shards", type=int, default=None, help="主分片数（默认见 index_config/settings.json）")
@click.option("--replicas", type=int, default=None, help="副本数（默认见 index_config/settings.json）")
@_data_dir_option
def install(
    analyzer_profile: str | None, shards: int | None, replicas: int | None, data_dir: Path | None
) -> None:
    """把索引模板、ILM 策略与别名安装到 Elasticsearch（可重复执行）。"""
    try:
        lines = install_templates(
            _settings(data_dir), analyzer_profile=analyzer_profile, shards=shards, replicas=replicas
        )
    except NotElasticsearch:
        out.print("当前使用内置搜索（SQLite FTS5，YIJIAN_SEARCH=embedded），无需安装模板。")
        return
    except SearchUnavailable as exc:
        out.print(f"安装失败：{exc}", markup=False)
        raise SystemExit(1) from exc
    for line in lines:
        out.print(line, markup=False)


@index.command()
@_data_dir_option
@_json_option
def status(data_dir: Path | None, as_json: bool) -> None:
    """搜索后端、是否可达、已索引文档数、待补录积压（outbox）。"""
    st = index_status(_settings(data_dir))
    if as_json:
        _dump(st)
        return
    out.print(f"搜索后端：{st['backend']}（{'可达' if st['reachable'] else '不可达'}）", markup=False)
    out.print(f"库内文档：{st['documents']}", markup=False)
    out.print(f"已索引：{st['indexed'] if st['indexed'] is not None else '未知'}", markup=False)
    out.print(f"待补录积压：{st['backlog']}（其中多次被拒：{st['failed']}）", markup=False)
    if st["error"]:
        out.print(f"错误：{st['error']}", markup=False)


@index.command()
@click.option("--batch", type=int, default=500, show_default=True, help="每批文档数")
@_data_dir_option
@_json_option
def rebuild(batch: int, data_dir: Path | None, as_json: bool) -> None:
    """清空索引，从库中重新索引全部文档，然后补录积压。"""
    try:
        result = rebuild_index(_settings(data_dir), batch=batch)
    except SearchUnavailable as exc:
        if as_json:
            _dump({"error": str(exc)})
        else:
            out.print(f"重建失败：{exc}（库中数据未受影响，恢复后重试）", markup=False)
        raise SystemExit(1) from exc
    if as_json:
        _dump(result)
        return
    out.print(
        f"重建完成：{result['backend']} 已索引 {result['indexed']}/{result['documents']} 篇，"
        f"被拒 {result['rejected']}，积压 {result['backlog']}，用时 {result['seconds']} 秒",
        markup=False,
    )
