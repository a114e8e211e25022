"""`yijian serve` (the web console under uvicorn) and `yijian user add|list|disable|enable|passwd` (console
users and roles), plus the console part of `yijian demo`: demo accounts, one per role."""

from __future__ import annotations

import secrets
import sys
from pathlib import Path

import click
from rich.table import Table

from console.options import _dump, _settings, console, data_dir_option, json_option, out

ROLE_CHOICE = click.Choice(["staff", "analyst", "investigator", "admin"])


def _check_port(host: str, port: int) -> None:
    import socket

    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            raise click.ClickException(
                f"无法在 {host}:{port} 上监听（{exc.strerror}），请换一个端口"
            ) from exc


def _serve(
    settings: object, host: str, port: int, certfile: Path | None = None, keyfile: Path | None = None
) -> None:
    import uvicorn

    from console.web import create_app

    app = create_app(settings, https=certfile is not None)  # type: ignore[arg-type]
    uvicorn.run(app, host=host, port=port, log_level="warning", ssl_certfile=certfile, ssl_keyfile=keyfile,
                proxy_headers=False, server_header=False)  # fmt: skip


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="监听地址")
@click.option("--port", default=8000, show_default=True, type=int, help="监听端口")
@click.option("--certfile", type=click.Path(dir_okay=False, exists=True, path_type=Path), default=None,
              help="TLS 证书（启用 HTTPS，会话 Cookie 标记为 Secure）")  # fmt: skip
@click.option("--keyfile", type=click.Path(dir_okay=False, exists=True, path_type=Path), default=None,
              help="TLS 私钥")  # fmt: skip
@data_dir_option
def serve(host: str, port: int, certfile: Path | None, keyfile: Path | None, data_dir: Path | None) -> None:
    """启动 Web 控制台（检索、审核、趋势、风险排名、管理）。"""
    if (certfile is None) != (keyfile is None):
        raise click.UsageError("--certfile 与 --keyfile 须同时给出")
    settings = _settings(data_dir)
    _check_port(host, port)
    scheme = "https" if certfile else "http"
    console.print(f"医鉴控制台：{scheme}://{host}:{port}/   （Ctrl-C 退出）")
    _serve(settings, host, port, certfile, keyfile)


@click.group()
def user() -> None:
    """管理控制台用户与角色（staff < analyst < investigator < admin）。"""


def _ctx(data_dir: Path | None):  # type: ignore[no-untyped-def]
    from app.context import AppContext

    return AppContext(_settings(data_dir))


@user.command("add")
@click.argument("name")
@click.option("--role", type=ROLE_CHOICE, required=True, help="角色")
@click.option("--password-stdin", is_flag=True, help="从标准输入读取密码（第一行）")
@data_dir_option
@json_option
def user_add(name: str, role: str, password_stdin: bool, data_dir: Path | None, as_json: bool) -> None:
    """添加用户。密码从标准输入读取（--password-stdin），或交互输入。"""
    from app import audit
    from app.users import UserError, add_user

    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = click.prompt("密码", hide_input=True, confirmation_prompt=True)
    with _ctx(data_dir) as ctx:
        try:
            u = add_user(ctx, name, role, password)
        except UserError as exc:
            raise click.ClickException(str(exc)) from exc
        audit.record(ctx, "cli", "user_add", name, {"role": role})
    if as_json:
        _dump(u)
    else:
        out.print(f"已添加用户 {name}（{role}）")


@user.command("list")
@data_dir_option
@json_option
def user_list(data_dir: Path | None, as_json: bool) -> None:
    """列出用户。"""
    from app.users import list_users

    with _ctx(data_dir) as ctx:
        users = list_users(ctx)
    if as_json:
        _dump(users)
        return
    table = Table("用户名", "角色", "状态", "最近登录")
    for u in users:
        table.add_row(u["name"], u["role"], "启用" if u["active"] else "已停用", u["last_login_at"] or "-")
    out.print(table)


def _set_active(name: str, active: bool, data_dir: Path | None) -> None:
    from app import audit
    from app.users import UserError, set_active

    with _ctx(data_dir) as ctx:
        try:
            set_active(ctx, name, active)
        except UserError as exc:
            raise click.ClickException(str(exc)) from exc
        audit.record(ctx, "cli", "user_update", name, {"active": active})
    out.print(f"已{'启用' if active else '停用'}用户 {name}")


@user.command("disable")
@click.argument("name")
@data_dir_option
def user_disable(name: str, data_dir: Path | None) -> None:
    """停用用户（立即失去访问权限）。"""
    _set_active(name, False, data_dir)


@user.command("enable")
@click.argument("name")
@data_dir_option
def user_enable(name: str, data_dir: Path | None) -> None:
    """重新启用用户。"""
    _set_active(name, True, data_dir)


DEMO_ACCOUNTS = (("demo-staff", "staff"), ("demo-analyst", "analyst"), ("demo-investigator", "investigator"),
                 ("demo-admin", "admin"))  # fmt: skip


def demo_accounts(settings: object) -> list[tuple[str, str, str]]:
    """One account per role with a fresh random password each run: (name, role, password)."""
    from app.context import AppContext
    from app.users import add_user, get_user, set_active, set_password, set_role

    accounts = []
    with AppContext(settings) as ctx:  # type: ignore[arg-type]
        for name, role in DEMO_ACCOUNTS:
            password = secrets.token_urlsafe(9)
            if get_user(ctx, name) is None:
                add_user(ctx, name, role, password)
            else:
                set_password(ctx, name, password)
                set_role(ctx, name, role)
                set_active(ctx, name, True)
            accounts.append((name, role, password))
    return accounts


def serve_demo_console(settings: object, host: str, port: int) -> None:
    _check_port(host, port)
    accounts = demo_accounts(settings)
    table = Table("角色", "用户名", "密码")
    for name, role, password in accounts:
        table.add_row(role, name, password)
    out.print(f"\n[bold]医鉴控制台：http://{host}:{port}/[/bold]   （Ctrl-C 退出）")
    out.print(table)
    _serve(settings, host, port)
