"""`yijian schedule run|list|run-now`: the scheduler service in the foreground, its jobs with next run times and
last results, and one job run now. Bare `yijian schedule` is `yijian schedule run`."""

from __future__ import annotations

from pathlib import Path

import click
from rich.markup import escape
from rich.table import Table

from console.options import _dump, _settings, data_dir_option, json_option, out

_sources_file_option = click.option(
    "--sources-file", type=click.Path(dir_okay=False, path_type=Path), default=None, help="来源登记表（YAML）"
)
_STATUS = {"ok": "成功", "failed": "失败", "interrupted": "已中断", "running": "运行中"}


@click.group("schedule", invoke_without_command=True)
@_sources_file_option
@data_dir_option
@click.pass_context
def schedule(ctx: click.Context, sources_file: Path | None, data_dir: Path | None) -> None:
    """定时任务：按来源的 cron 计划抓取、每日日报、重发与清理（APScheduler，作业与历史保存在数据库中）。"""
    if ctx.invoked_subcommand is None:
        ctx.invoke(run, sources_file=sources_file, data_dir=data_dir)


@schedule.command()
@_sources_file_option
@data_dir_option
def run(sources_file: Path | None, data_dir: Path | None) -> None:
    """前台运行调度服务，直到收到 SIGTERM/SIGINT（进行中的抓取先完成，超时则中止并记为 interrupted）。"""
    from scheduler import run_service

    run_service(_settings(data_dir), sources_file)


@schedule.command("list")
@_sources_file_option
@data_dir_option
@json_option
def list_(sources_file: Path | None, data_dir: Path | None, as_json: bool) -> None:
    """列出作业：下次运行时间、最近一次运行结果。"""
    from scheduler import list_jobs

    rows = list_jobs(_settings(data_dir), sources_file)
    if as_json:
        _dump(rows)
        return
    table = Table("作业", "名称", "计划", "下次运行（北京时间）", "最近运行", "结果")
    for r in rows:
        last = r["last_run"] or {}
        table.add_row(
            escape(r["id"]),
            escape(r["name"]),
            escape(r["trigger"]),
            (r["next_run_time"] or "（已暂停）")[:19].replace("T", " "),
            (last.get("started_at") or "从未运行")[:19].replace("T", " "),
            _STATUS.get(last.get("status", ""), last.get("status", "")),
        )
    out.print(table)


@schedule.command("run-now")
@click.argument("job_id")
@_sources_file_option
@data_dir_option
@json_option
def run_now_(job_id: str, sources_file: Path | None, data_dir: Path | None, as_json: bool) -> None:
    """立即在前台运行一个作业（JOB_ID 见 `yijian schedule list`；也可写 digest / cleanup / retry）。"""
    from scheduler import run_now

    try:
        result = run_now(_settings(data_dir), job_id, sources_file)
    except KeyError as exc:
        raise click.BadParameter(exc.args[0], param_hint="JOB_ID") from exc
    if as_json:
        _dump(result)
    else:
        out.print(f"作业 {escape(result['job_id'])}：{_STATUS.get(result['status'], result['status'])}")
        _dump(result["detail"])
    if result["status"] != "ok":
        raise SystemExit(1)
