"""`yijian digest` (the daily digest: build, archive, copy out, send) and `yijian report` (campaign statistics as
Excel or Markdown)."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import click

from console.options import _dump, _settings, data_dir_option, json_option, out


def _date(value: str | None, name: str) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError as exc:
        raise click.BadParameter(f"日期格式应为 YYYY-MM-DD：{value}", param_hint=name) from exc


@click.command()
@click.option("--date", "day", default=None, help="统计哪一天（北京时间，YYYY-MM-DD；默认昨天）")
@click.option("--region", default=None, help="只统计该地区（前缀匹配，如 广东省）")
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="另外复制到此目录",
)
@click.option("--send", is_flag=True, help="通过已配置的渠道发送（邮件、企业微信、钉钉）")
@data_dir_option
@json_option
def digest(
    day: str | None,
    region: str | None,
    out_dir: Path | None,
    send: bool,
    data_dir: Path | None,
    as_json: bool,
) -> None:
    """生成每日监测日报（HTML 邮件、Markdown、JSON、图表），存档于数据目录，可选发送。"""
    from app.digest import make_digest

    result = make_digest(_settings(data_dir), _date(day, "--date"), region=region, out_dir=out_dir, send=send)
    if as_json:
        _dump(result)
        return
    t = result["totals"]
    out.print(
        f"日报 {result['day']}{'（' + result['scope'] + '）' if result['scope'] else ''}：新增标记网页 "
        f"{t['flagged_documents']} 篇，新增发现 {t['new_findings']} 条，S1/S2 网页 {t['severe_documents']} 篇，"
        f"舆情突增机构 {t['spikes']} 家"
    )
    out.print(f"存档：{result['archive']}")
    if "out" in result:
        out.print(f"已复制到：{result['out']}")
    if send:
        if not result["deliveries"]:
            out.print("未配置任何发送渠道（SMTP 与收件人、企业微信或钉钉 Webhook），未发送。")
        for channel, status in result["deliveries"].items():
            out.print(f"  {channel}：{'已发送' if status == 'sent' else '发送失败（已记录，稍后重试）'}")


@click.command()
@click.option("--from", "start", required=True, help="开始日期（含，YYYY-MM-DD，北京时间）")
@click.option("--to", "end", required=True, help="结束日期（含，YYYY-MM-DD，北京时间）")
@click.option("--region", default=None, help="只统计该地区（前缀匹配，如 广东省江州市）")
@click.option(
    "--out",
    "out_file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="输出文件：.xlsx 为 Excel，其他为 Markdown；不指定则在终端打印 Markdown",
)
@data_dir_option
@json_option
def report(
    start: str, end: str, region: str | None, out_file: Path | None, data_dir: Path | None, as_json: bool
) -> None:
    """专项整治量化统计：按违法类别、地区、机构类型、机构统计发现与确认违法数（Excel 或 Markdown）。"""
    from app.digest import campaign_report, report_markdown

    first, last = _date(start, "--from"), _date(end, "--to")
    assert first is not None and last is not None
    try:
        stats = campaign_report(_settings(data_dir), first, last, region=region, out=out_file)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from exc
    if as_json:
        _dump(stats)
    elif out_file is None:
        click.echo(report_markdown(stats))
    else:
        t = stats["totals"]
        out.print(
            f"已写入 {out_file}：发现问题 {t['flags']} 条，确认违法 {t['confirmed']} 条，涉及机构 {t['institutions']} 家"
        )
