"""`yijian init`, `yijian key export`, `yijian case …`, `yijian snapshot` and `yijian verify`: cases and sealed
evidence (app/cases.py)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click
from rich.markup import escape
from rich.table import Table

from console.options import _dump, _settings, console, data_dir_option, json_option, out


def _esc(s: Any) -> str:
    return escape("" if s is None else str(s))


def _fail(exc: BaseException) -> click.ClickException:
    msg = exc.args[0] if isinstance(exc, KeyError) and exc.args else str(exc)
    return click.ClickException(str(msg))


# ------------------------------------------------------------------------------------------------- init
@click.command("init")
@data_dir_option
@json_option
def init(data_dir: Path | None, as_json: bool) -> None:
    """初始化数据目录：建库，并生成取证签名密钥（Ed25519，私钥仅所有者可读；已存在则不覆盖）。"""
    from app.cases import init_evidence

    info = init_evidence(_settings(data_dir))
    if as_json:
        _dump(info)
        return
    out.print(f"数据目录：{_esc(info['data_dir'])}")
    state = "已生成" if info["key_created"] else "已存在，未改动"
    out.print(f"取证签名密钥{state}：{_esc(info['private_key'])}（权限 0600）")
    out.print(f"公钥：{_esc(info['public_key'])}  指纹：{info['fingerprint']}")


@click.group("key")
def key() -> None:
    """取证签名密钥。"""


@key.command("export")
@data_dir_option
def key_export(data_dir: Path | None) -> None:
    """打印取证签名公钥（PEM），供核验证据包的单位使用。"""
    from app.cases import KeyMissing, public_key_pem

    try:
        click.echo(public_key_pem(_settings(data_dir)), nl=False)
    except KeyMissing as exc:
        raise _fail(exc) from exc


# ------------------------------------------------------------------------------------------------- case
@click.group("case")
def case() -> None:
    """案件：立案、关联文档、备注、状态、导出证据包。"""


@case.command("create")
@click.option("--title", required=True, help="案件名称")
@click.option("--institution", "institution_id", default=None, help="涉及机构 ID")
@click.option("--category", "categories", multiple=True, help="违法类别（可多次指定）")
@click.option("--assignee", default="", help="承办人")
@click.option("--actor", default=None, help="操作人（默认当前系统用户）")
@data_dir_option
@json_option
def case_create(title: str, institution_id: str | None, categories: tuple[str, ...], assignee: str,
                actor: str | None, data_dir: Path | None, as_json: bool) -> None:  # fmt: skip
    """立案；打印新案件的编号。"""
    from app.cases import create_case

    try:
        case_id = create_case(_settings(data_dir), title, institution_id=institution_id,
                              categories=list(categories), assignee=assignee, actor=actor)  # fmt: skip
    except ValueError as exc:
        raise _fail(exc) from exc
    if as_json:
        _dump({"id": case_id})
    else:
        click.echo(case_id)


@case.command("list")
@click.option("--status", type=click.Choice(["open", "investigating", "referred", "closed"]), default=None)
@click.option("--institution", "institution_id", default=None)
@data_dir_option
@json_option
def case_list(status: str | None, institution_id: str | None, data_dir: Path | None, as_json: bool) -> None:
    """列出案件。"""
    from app.cases import STATUS_NAMES, list_cases

    rows = list_cases(_settings(data_dir), status=status, institution_id=institution_id)
    if as_json:
        _dump(rows)
        return
    table = Table("编号", "名称", "机构", "状态", "文档", "取证", "立案时间")
    for r in rows:
        table.add_row(str(r["id"]), _esc(r["title"]), _esc(r["institution_id"] or "—"),
                      STATUS_NAMES.get(r["status"], r["status"]), str(r["documents"]), str(r["captures"]),
                      _esc(r["created_at"]))  # fmt: skip
    out.print(table)


@case.command("show")
@click.argument("case_id", type=int)
@click.option("--actor", default=None, help="查看人（记入保管记录；默认当前系统用户）")
@data_dir_option
@json_option
def case_show(case_id: int, actor: str | None, data_dir: Path | None, as_json: bool) -> None:
    """显示案件：文档、取证、备注与保管记录（本次查看记入保管记录）。"""
    from app.cases import CaseNotFound, default_actor, show_case

    try:
        data = show_case(_settings(data_dir), case_id, actor=actor or default_actor())
    except CaseNotFound as exc:
        raise click.ClickException(f"没有案件 {case_id}") from exc
    if as_json:
        _dump(data)
        return
    c = data["case"]
    out.print(f"[bold]案件 {c['id']}：{_esc(c['title'])}[/bold]  状态：{data['status_name']}  "
              f"机构：{_esc(c['institution_id'] or '—')}  承办人：{_esc(c['assignee'] or '—')}")  # fmt: skip
    if data["documents"]:
        t = Table("文档", "标题", "网址", "标签")
        for d in data["documents"]:
            t.add_row(d["id"], _esc(d.get("title")), _esc(d.get("url")), ", ".join(d.get("labels") or []))
        out.print(t)
    if data["captures"]:
        t = Table("取证编号", "状态", "网址", "时间（UTC）", "操作人")
        for cap in data["captures"]:
            state = "成功" if cap["status"] == "ok" else f"失败：{cap['error'][:60]}"
            t.add_row(cap["id"], _esc(state), _esc(cap["final_url"] or cap["url"]), _esc(cap["captured_at"]),
                      _esc(cap["operator"]))  # fmt: skip
        out.print(t)
    for n in data["notes"]:
        out.print(f"备注 {n['at']} {_esc(n['author'])}：{_esc(n['text'])}")
    chain = "完整" if data["custody_intact"] else f"[red]断裂：{_esc(data['custody_break'])}[/red]"
    out.print(f"保管记录 {len(data['custody'])} 条，哈希链{chain}")


@case.command("attach")
@click.argument("case_id", type=int)
@click.argument("document_ids", nargs=-1, required=True)
@click.option("--actor", default=None)
@data_dir_option
def case_attach(
    case_id: int, document_ids: tuple[str, ...], actor: str | None, data_dir: Path | None
) -> None:
    """把已入库的文档关联到案件。"""
    from app.cases import CaseNotFound, attach_document

    settings = _settings(data_dir)
    for doc_id in document_ids:
        try:
            added = attach_document(settings, case_id, doc_id, actor=actor)
        except (CaseNotFound, KeyError) as exc:
            raise _fail(exc) from exc
        out.print(f"{doc_id}：{'已关联' if added else '此前已关联'}")


@case.command("note")
@click.argument("case_id", type=int)
@click.argument("text")
@click.option("--author", default=None)
@data_dir_option
def case_note(case_id: int, text: str, author: str | None, data_dir: Path | None) -> None:
    """给案件添加备注。"""
    from app.cases import CaseNotFound, add_note

    try:
        note_id = add_note(_settings(data_dir), case_id, text, author=author)
    except (CaseNotFound, ValueError) as exc:
        raise _fail(exc) from exc
    out.print(f"已添加备注 #{note_id}")


@case.command("status")
@click.argument("case_id", type=int)
@click.argument("status", type=click.Choice(["open", "investigating", "referred", "closed"]))
@click.option("--actor", default=None)
@data_dir_option
def case_status(case_id: int, status: str, actor: str | None, data_dir: Path | None) -> None:
    """修改案件状态（open → investigating → referred → closed；未移送的案件也可直接结案）。"""
    from app.cases import STATUS_NAMES, CaseNotFound, InvalidTransition, set_status

    try:
        c = set_status(_settings(data_dir), case_id, status, actor=actor)
    except (CaseNotFound, InvalidTransition) as exc:
        raise _fail(exc) from exc
    out.print(f"案件 {case_id} 状态：{STATUS_NAMES[c['status']]}（{c['status']}）")


@case.command("export")
@click.argument("case_id", type=int)
@click.option("--out", "out_path", required=True, type=click.Path(dir_okay=False, path_type=Path))
@click.option("--actor", default=None)
@data_dir_option
@json_option
def case_export(
    case_id: int, out_path: Path, actor: str | None, data_dir: Path | None, as_json: bool
) -> None:
    """导出案件证据包（ZIP：取证文件、清单、签名、公钥、保管记录、电子数据提取笔录）。"""
    from app.cases import CaptureError, CaseNotFound, ExportConflict, KeyMissing, export_case

    try:
        res = export_case(_settings(data_dir), case_id, out_path, actor=actor)
    except (CaseNotFound, KeyMissing, CaptureError, ExportConflict) as exc:
        raise _fail(exc) from exc
    if as_json:
        _dump(res)
    else:
        out.print(f"已导出证据包 {_esc(res['path'])}：{res['files']} 个文件，{res['bytes']} 字节，"
                  f"清单 SHA-256 {res['manifest_sha256']}")  # fmt: skip


# --------------------------------------------------------------------------------------------- snapshot
@click.command("snapshot")
@click.argument("url")
@click.option("--case", "case_id", type=int, required=True, help="案件编号")
@click.option("--operator", default=None, help="取证人（默认当前系统用户）")
@data_dir_option
@json_option
def snapshot(url: str, case_id: int, operator: str | None, data_dir: Path | None, as_json: bool) -> None:
    """对网页取证：整页截图、PDF、MHTML、原始与渲染后源代码、HTTP 头、跳转、正文、WARC，并签名封存。"""
    from app.cases import CaptureError, CaseNotFound, KeyMissing, TargetRefused
    from app.cases import snapshot as take_snapshot

    try:
        with console.status(f"正在取证 {url} …"):
            cap = take_snapshot(_settings(data_dir), url, case_id, operator=operator)
    except CaseNotFound as exc:
        raise click.ClickException(f"没有案件 {case_id}") from exc
    except (TargetRefused, CaptureError, KeyMissing) as exc:
        raise _fail(exc) from exc
    if as_json:
        _dump(cap)
    else:
        out.print(f"取证完成 {cap['id']}：{_esc(cap['final_url'])}（HTTP {cap['meta'].get('http_status')}，"
                  f"{cap['meta'].get('duration_s')} 秒）→ {_esc(cap['path'])}")  # fmt: skip


# ----------------------------------------------------------------------------------------------- verify
@click.command("verify")
@click.argument("bundle", type=click.Path(dir_okay=False, exists=True, path_type=Path))
@click.option("--public-key", type=click.Path(dir_okay=False, exists=True, path_type=Path), default=None,
              help="要求证据包由此公钥（PEM）签署")  # fmt: skip
@click.option("--tsa-ca", type=click.Path(dir_okay=False, exists=True, path_type=Path), default=None,
              help="可信时间戳机构的根证书（PEM），用于核验时间戳签名")  # fmt: skip
@json_option
def verify(bundle: Path, public_key: Path | None, tsa_ca: Path | None, as_json: bool) -> None:
    """核验证据包：每个文件的哈希、签名与保管链。完好退出码 0，被改动 1，无法读取 2。"""
    from app.cases import BundleUnreadable
    from app.cases import verify as run_verify

    try:
        report = run_verify(bundle, public_key=public_key, tsa_ca=tsa_ca)
    except BundleUnreadable as exc:
        console.print(f"[red]{_esc(exc)}[/red]")
        sys.exit(2)
    if as_json:
        _dump(report.to_json())
    elif report.ok:
        out.print(f"[green]证据包完好[/green]：{report.files_checked} 个文件哈希一致，签名有效"
                  f"（公钥指纹 {report.key_fingerprint}），保管记录 {report.custody_entries} 条哈希链完整")  # fmt: skip
        for ts in report.timestamps:
            checked = (
                "签名与证书链已核验" if ts["chain_checked"] else "未核验签名（可用 --tsa-ca 指定根证书）"
            )
            out.print(f"  可信时间戳 {ts['manifest']}：{ts['genTime']}（{checked}）")
    else:
        out.print("[red]证据包未通过核验[/red]：")
        for line in report.problems():
            out.print(f"  - {_esc(line)}")
    sys.exit(0 if report.ok else 1)


COMMANDS = (init, key, case, snapshot, verify)
