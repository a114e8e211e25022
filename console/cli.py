"""The `yijian` command line: a thin shell over the application layer (app/). Every command takes ``--data-dir``;
``--json`` gives machine-readable output.

Each command imports the use-case module it calls inside its body, so that `yijian --help` and light commands start
without loading the pipeline, the model or the Elasticsearch client (0.3 s instead of 3 s)."""

from __future__ import annotations

import contextlib
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
from rich.markup import escape
from rich.table import Table
from rich.text import Text

if TYPE_CHECKING:
    from app.analysis import PageInput


from console.cmd_cases import COMMANDS as CASE_COMMANDS
from console.cmd_db import db
from console.cmd_digest import digest, report
from console.cmd_index import index
from console.cmd_model import evaluate, train
from console.cmd_schedule import schedule
from console.cmd_serve import serve, user
from console.options import _dump, _settings, console, data_dir_option, json_option, out, spinner

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """医鉴 Yijian：医疗广告与医疗舆情监测。"""


# --------------------------------------------------------------------------------------------- crawl
@main.command()
@click.option("--source", "source_ids", multiple=True, help="来源 ID（可多次指定）")
@click.option("--all", "all_sources", is_flag=True, help="抓取全部来源")
@click.option("--sources-file", type=click.Path(dir_okay=False, path_type=Path), default=None)
@click.option("--distributed", is_flag=True, help="分布式抓取：多个进程/主机经 Redis 共享待抓队列")
@click.option(
    "--redis", "redis_url", default=None, envvar="YIJIAN_REDIS_URL", help="Redis 地址（分布式抓取用）"
)
@click.option(
    "--workers", default=1, show_default=True, type=click.IntRange(1, 64), help="本机启动的抓取进程数"
)
@click.option("--join", "join_run", default=None, type=int, help="加入另一台主机已开始的抓取运行（运行编号）")
@data_dir_option
@json_option
def crawl(
    source_ids: tuple[str, ...],
    all_sources: bool,
    sources_file: Path | None,
    distributed: bool,
    redis_url: str | None,
    workers: int,
    join_run: int | None,
    data_dir: Path | None,
    as_json: bool,
) -> None:
    """抓取来源：分析、入库、建立索引（--distributed：多进程/多主机共享 Redis 队列）。"""
    from app.crawl import crawl_sources
    from app.registries import active_sources, load_source_registry, select_sources

    settings = _settings(data_dir)
    sources = load_source_registry(settings, sources_file)
    if not all_sources and not source_ids:
        raise click.UsageError("请指定 --source ID 或 --all")
    if not source_ids:  # --all: every source not paused in the console; --source ID crawls a paused one too
        sources = active_sources(sources)
    else:
        try:
            sources = select_sources(sources, source_ids)
        except KeyError as exc:
            raise click.BadParameter(exc.args[0]) from exc
    if distributed or join_run is not None:
        from app.distributed import crawl_distributed

        try:
            summary = crawl_distributed(
                settings, sources, redis_url=_redis_url(redis_url), workers=workers, join_run=join_run,
                progress=None if as_json else spinner,
            )  # fmt: skip
        except ValueError as exc:
            raise click.BadParameter(str(exc), param_hint="--join") from exc
        except RuntimeError as exc:  # app.distributed.RedisUnavailable
            raise click.ClickException(str(exc)) from exc
    else:
        summary = crawl_sources(settings, sources, progress=None if as_json else spinner)
    if as_json:
        _dump(summary)
    else:
        _print_run_summary(summary)


def _redis_url(url: str | None) -> str:
    if not url:
        raise click.UsageError(
            "分布式抓取需要 Redis：--redis redis://主机:6379/0（或环境变量 YIJIAN_REDIS_URL）"
        )
    return url


# -------------------------------------------------------------------------------------- extract/analyze
def _read_input(path_or_url: str, as_json: bool = False) -> PageInput:
    from app.analysis import InputError, MissingFile, read_input

    try:
        return read_input(path_or_url)
    except MissingFile as exc:
        raise click.BadParameter(str(exc)) from exc
    except InputError as exc:
        if as_json:  # machine-readable failure: the kind and the reason, exit status 1
            _dump({"url": path_or_url, "status": exc.kind, "detail": str(exc)})
            sys.exit(1)
        raise click.ClickException(str(exc)) from exc


# Extraction outcomes that mean the page could not be read (exit status 1); "deleted" is a result, not a failure.
_EXTRACT_FAILURES = frozenset({"not_html", "empty_page", "decode_error", "parse_error", "too_large"})


@main.command()
@click.argument("path_or_url")
@json_option
@data_dir_option
def extract(path_or_url: str, as_json: bool, data_dir: Path | None) -> None:
    """抽取网页的标题、正文、发布时间、作者、公众号与图片。"""
    from app.analysis import extract_page

    ex = extract_page(_read_input(path_or_url, as_json))
    data = ex.to_json()
    if ex.status in _EXTRACT_FAILURES:  # say why and exit 1, also with --json (a deleted article is a result)
        data["detail"] = ex.error_detail
        if as_json:
            _dump(data)
        else:
            out.print(f"[red]无法抽取[/red]：{data['status']} {_esc(ex.error_detail or '')}")
        sys.exit(1)
    if as_json:
        _dump(data)
        return
    out.print(f"[bold]{_esc(data['title'])}[/bold]  状态：{data['status']}")
    out.print(
        f"发布时间：{data['published_at'] or '-'}  作者：{_esc(data['author']) or '-'}  公众号：{_esc(data['account']) or '-'}"
    )
    out.print(_esc(data["text"][:2000]))


def _esc(s: str) -> str:
    return escape(s or "")


@main.command()
@click.argument("path_or_url")
@json_option
@data_dir_option
def analyze(path_or_url: str, as_json: bool, data_dir: Path | None) -> None:
    """对单个网页/文件运行完整分析（解码、抽取、OCR、规则与模型），不入库。"""
    from app.analysis import analyze_page

    result = analyze_page(_settings(data_dir), _read_input(path_or_url, as_json))
    if as_json:
        _dump(result)
        if result["status"] in _EXTRACT_FAILURES:
            sys.exit(1)
        return
    if result["status"] != "ok":
        out.print(f"[red]无法分析[/red]：{result['status']} {_esc(result.get('detail', ''))}")
        sys.exit(1)
    out.print(f"[bold]{_esc(result['title'])}[/bold]")
    out.print(f"标签：{', '.join(result['labels']) or '无'}  分数：{result['scores']}")
    _print_findings(result["findings"])


def _print_findings(findings: list[dict[str, Any]]) -> None:
    if not findings:
        out.print("无命中。")
        return
    table = Table("类别", "严重度", "位置", "命中文本", "法律依据", "来源")
    for f in findings:
        table.add_row(
            f["category"],
            f["severity"],
            f"{f['field']} {f['start']}–{f['end']}",
            _esc(f["text"]),
            _esc(f["legal_basis"]),
            f["source"],
        )
    out.print(table)


# ------------------------------------------------------------------------------------------- classify
@main.command()
@click.option("--input", "input_path", required=True, type=click.Path(dir_okay=False, path_type=Path))
@click.option("--output", "output_path", required=True, type=click.Path(dir_okay=False, path_type=Path))
@click.option("--batch-size", default=64, show_default=True)
@data_dir_option
def classify(input_path: Path, output_path: Path, batch_size: int, data_dir: Path | None) -> None:
    """批量分类 JSONL：每行 {"id","text"}，输出追加 labels、scores、findings。"""
    from app.analysis import classify_jsonl

    def skipped(lineno: int, reason: str) -> None:
        console.print(f"[yellow]第 {lineno} 行跳过[/yellow]：{reason}")

    res = classify_jsonl(_settings(data_dir), input_path, output_path, batch_size=batch_size, on_skip=skipped)
    console.print(
        f"已分类 {res.classified} 条（跳过 {res.skipped} 条无效行），用时 {res.seconds:.1f} 秒 → {output_path}"
    )
    if res.skipped:
        sys.exit(2 if not res.classified else 0)


# --------------------------------------------------------------------------------------------- search
@main.command()
@click.argument("query", required=False, default="")
@click.option("--label", "labels", multiple=True, help="文档标签，如 exaggerated_efficacy")
@click.option("--category", "categories", multiple=True, help="细分类别，如 ad_efficacy_guarantee")
@click.option("--severity", "severities", multiple=True)
@click.option("--source", "source_ids", multiple=True)
@click.option("--institution", "institution_ids", multiple=True)
@click.option("--region", "regions", multiple=True)
@click.option("--from", "date_from", type=click.DateTime(["%Y-%m-%d"]), default=None)
@click.option("--to", "date_to", type=click.DateTime(["%Y-%m-%d"]), default=None)
@click.option("--flagged", is_flag=True, help="只看有标签的文档")
@click.option("--size", default=20, show_default=True)
@click.option("--page", default=1, show_default=True)
@click.option("--cursor", default=None, help="游标翻页：上一页结果中的 next_cursor（深度翻页用）")
@click.option("--sort", type=click.Choice(["relevance", "date"]), default="relevance")
@data_dir_option
@json_option
def search(query: str, labels, categories, severities, source_ids, institution_ids, regions,
           date_from, date_to, flagged: bool, size: int, page: int, cursor: str | None, sort: str,
           data_dir: Path | None, as_json: bool) -> None:  # fmt: skip
    """全文检索已入库文档（关键词 + 过滤 + 分面 + 高亮）。"""
    from app.search import SearchParamError, SearchParams, encode_cursor, result_to_json
    from app.search import search as run_search

    params = SearchParams(
        text=query, labels=list(labels), categories=list(categories), severities=list(severities),
        source_ids=list(source_ids), institution_ids=list(institution_ids), regions=list(regions),
        date_from=date_from.date() if date_from else None, date_to=date_to.date() if date_to else None,
        flagged_only=flagged, size=size, page=page, sort=sort, cursor=cursor,
    )  # fmt: skip
    try:
        res = run_search(_settings(data_dir), params)
    except SearchParamError as exc:
        raise click.UsageError(str(exc)) from exc
    if as_json:
        _dump(result_to_json(res))
        return
    out.print(f"共 {res.total} 条结果" + ("（游标翻页）" if cursor else f"（第 {page} 页）"))
    if next_cursor := encode_cursor(res.next_cursor):
        out.print(f"下一页：--cursor {next_cursor}")
    for h in res.hits:
        out.print(f"\n[bold]{_esc(h.title) or h.url}[/bold]  {h.url}")
        out.print(f"  标签：{', '.join(h.labels) or '无'}  类别：{', '.join(h.categories[:6])}")
        for frag in h.highlights[:2]:
            out.print(_highlight_text(frag))


def _highlight_text(fragment: str) -> Text:
    """A highlight fragment for the terminal: matches in bold yellow, no tags, no rich markup taken from it."""
    from console.highlight import plain_highlight

    line = Text("  … ")
    for piece, em in plain_highlight(fragment):
        line.append(piece, style="bold yellow" if em else None)
    line.append(" …")
    return line


# ---------------------------------------------------------------------------------------------- stats
@main.command()
@data_dir_option
@json_option
def stats(data_dir: Path | None, as_json: bool) -> None:
    """统计：文档、版本、按标签的命中、按类型的错误。"""
    from app.records import stats as store_stats

    data = store_stats(_settings(data_dir))
    if as_json:
        _dump(data)
        return
    _print_stats(data)


def _print_stats(data: dict[str, Any]) -> None:
    table = Table("指标", "数值")
    for key in ("documents", "versions", "findings", "runs"):
        if key in data:
            table.add_row(key, str(data[key]))
    out.print(table)
    for key, title in (
        ("findings_by_label", "按标签"),
        ("findings_by_category", "按类别"),
        ("findings_by_severity", "按严重度"),
        ("errors_by_kind", "错误（按类型）"),
    ):
        if data.get(key):
            t = Table(title, "数量")
            for k, v in sorted(data[key].items(), key=lambda kv: -kv[1]):
                t.add_row(str(k), str(v))
            out.print(t)


def _print_run_summary(summary: dict[str, Any]) -> None:
    out.print(
        f"[bold]抓取完成[/bold]：运行 #{summary.get('run_id')}，页面 {summary['pages']}，新文档 {summary['new']}，"
        f"更新 {summary['changed']}，未变化 {summary['unchanged']}，错误 {summary['errors']}，"
        f"用时 {summary['seconds']:.1f} 秒"
    )
    for key, title in (
        ("errors_by_kind", "错误（按类型）"),
        ("flags_by_label", "标记（按标签）"),
        ("flags_by_category", "标记（按类别）"),
        ("flags_by_severity", "标记（按严重度）"),
        ("top_institutions", "涉及机构（按标记文档数）"),
    ):
        if summary.get(key):
            t = Table(title, "数量")
            for k, v in summary[key].items():
                t.add_row(_esc(str(k)), str(v))
            out.print(t)
    auto = summary.get("auto_capture") or {}
    if auto.get("captured") or auto.get("failed"):
        out.print(f"自动取证：成功 {auto['captured']} 个，失败 {auto['failed']} 个，案件 {auto.get('cases')}")


# ------------------------------------------------------------------------------------------- feedback
@main.command()
@click.argument("doc_id")
@click.option("--decision", type=click.Choice(["confirm", "dismiss", "escalate"]), required=True)
@click.option("--label", default=None, help="审核文档标签，如 exaggerated_efficacy")
@click.option("--finding", "finding_id", type=int, default=None, help="审核某条命中（命中 ID）")
@click.option("--reviewer", required=True, help="审核人")
@data_dir_option
@json_option
def feedback(
    doc_id: str, decision: str, label: str | None, finding_id: int | None, reviewer: str,
    data_dir: Path | None, as_json: bool,
) -> None:  # fmt: skip
    """记录审核结论（确认/驳回/上报）；`yijian train --include-feedback` 会把它们作为训练标注。"""
    from app.records import record_feedback

    try:
        fid = record_feedback(
            _settings(data_dir), document_id=doc_id, finding_id=finding_id, label=label, decision=decision,
            reviewer=reviewer,
        )  # fmt: skip
    except (KeyError, ValueError) as exc:
        raise click.BadParameter(str(exc).strip("'\"")) from exc
    if as_json:
        _dump({"id": fid})
    else:
        out.print(f"已记录审核结论 #{fid}")


# ----------------------------------------------------------------------------------------------- demo
@main.command("demo-web")
@click.option(
    "--port", default=None, type=int, help="端口（默认 8765；各演示站点使用同一端口、不同回环地址）"
)
def demo_web(port: int | None) -> None:
    """启动内置演示网站（127.0.0.x 上的离线“互联网”）。"""
    from demo import DEFAULT_PORT
    from demo.server import main as serve_demo_web

    serve_demo_web(port or DEFAULT_PORT)


@main.command()
@click.option("--once", is_flag=True, help="抓取、分析、索引全部演示来源，打印摘要后退出")
@click.option("--port", default=None, type=int, help="演示网站端口（默认自动选择空闲端口）")
@click.option("--console-port", default=8000, show_default=True, type=int, help="Web 控制台端口")
@click.option("--distributed", is_flag=True, help="用多个进程经 Redis 共享队列抓取演示来源")
@click.option(
    "--redis", "redis_url", default=None, envvar="YIJIAN_REDIS_URL", help="Redis 地址（分布式抓取用）"
)
@click.option(
    "--workers", default=2, show_default=True, type=click.IntRange(1, 64), help="抓取进程数（分布式）"
)
@data_dir_option
@json_option
def demo(
    once: bool, port: int | None, console_port: int, distributed: bool, redis_url: str | None, workers: int,
    data_dir: Path | None, as_json: bool,
) -> None:  # fmt: skip
    """运行演示：启动演示网站，抓取全部演示来源，分析、入库、索引并打印摘要；
    不带 --once 时随后在 127.0.0.1 上启动 Web 控制台（每个角色一个演示账号）。"""
    from app.crawl import crawl_demo
    from app.crawl import demo_web as running_demo_web

    settings = _settings(data_dir)
    with running_demo_web(port) as demo_port:
        if distributed:
            from app.distributed import crawl_demo_distributed

            try:
                summary = crawl_demo_distributed(
                    settings, demo_port, redis_url=_redis_url(redis_url), workers=workers,
                    progress=None if as_json else spinner,
                )  # fmt: skip
            except RuntimeError as exc:  # app.distributed.RedisUnavailable, or every worker failed
                raise click.ClickException(str(exc)) from exc
        else:
            summary = crawl_demo(settings, demo_port, progress=None if as_json else spinner)
        if as_json:
            _dump(summary)
        else:
            _print_run_summary(summary)
            out.print(f"\n数据目录：{settings.data_dir.resolve()}   试试：yijian search 根治")
        if not once:
            from app.cases import init_evidence
            from console.cmd_serve import serve_demo_console

            init_evidence(settings)  # a signing key, so the console's "取证" button works on the demo web

            console.print(f"演示网站运行中：http://127.0.0.1:{demo_port}/")
            with contextlib.suppress(KeyboardInterrupt):
                serve_demo_console(settings, "127.0.0.1", console_port)


# --------------------------------------------------------------------------------------------- config
_ORIGINS = {"flag": "命令行参数", "environment": "环境变量", "file": "配置文件", "default": "默认值"}


@main.command("config")
@data_dir_option
@json_option
def show_config(data_dir: Path | None, as_json: bool) -> None:
    """显示生效的配置：每项的值、来源（命令行参数 > 环境变量 > yijian.yaml > 默认值）与说明；密钥类的值已打码。"""
    from config import config_file, describe

    ctx = click.get_current_context()
    given = ctx.get_parameter_source("data_dir") == click.core.ParameterSource.COMMANDLINE
    rows = describe(data_dir=data_dir if given else None)
    if as_json:
        _dump({"config_file": str(config_file()), "settings": rows})
        return
    path = config_file()
    out.print(f"配置文件：{_esc(str(path))}（{'已读取' if path.is_file() else '不存在，未使用'}）")
    table = Table("设置", "环境变量", "值", "来源", "说明")
    for r in rows:
        value = "" if r["value"] is None else str(r["value"])
        table.add_row(r["name"], r["env"], _esc(value), _ORIGINS[r["origin"]], _esc(r["description"]))
    out.print(table)


for _command in (index, train, evaluate, schedule, digest, report, serve, user, db, *CASE_COMMANDS):
    main.add_command(_command)

if __name__ == "__main__":
    main()
