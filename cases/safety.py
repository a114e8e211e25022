"""Which snapshot targets may be fetched: http(s) URLs whose host resolves only to public addresses. Loopback,
private, link-local, shared (CGNAT), multicast, reserved and unspecified addresses are refused unless the setting
``snapshot_allow_private`` allows them (the demo web lives on 127.0.0.x). The browser re-checks every request and
the address it actually connected to (see cases.capture), so a redirect or a subresource cannot reach an internal
host either."""

from __future__ import annotations

import ipaddress
import socket
from urllib.parse import urlsplit


class TargetRefused(ValueError):
    """A snapshot target that is not allowed (bad scheme, unresolvable, or an internal address)."""


def is_internal(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return (
        ip.is_loopback
        or ip.is_private
        or ip.is_link_local
        or ip.is_multicast
        or ip.is_reserved
        or ip.is_unspecified
        or (isinstance(ip, ipaddress.IPv4Address) and ip in ipaddress.ip_network("100.64.0.0/10"))
    )


def resolve(host: str, port: int | None) -> list[str]:
    try:
        infos = socket.getaddrinfo(host, port or 80, proto=socket.IPPROTO_TCP)
    except (socket.gaierror, UnicodeError) as exc:
        raise TargetRefused(f"无法解析主机名 {host}：{exc}") from exc
    return sorted({str(info[4][0]) for info in infos})


def check_target(url: str, *, allow_private: bool) -> list[str]:
    """The addresses ``url``'s host resolves to; raises :class:`TargetRefused` if it may not be captured."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        raise TargetRefused(f"只能对 http/https 网址取证：{url}")
    if not parts.hostname:
        raise TargetRefused(f"网址没有主机名：{url}")
    try:
        port = parts.port
    except ValueError as exc:
        raise TargetRefused(f"网址端口无效：{url}") from exc
    addresses = resolve(parts.hostname, port)
    if not allow_private:
        internal = [a for a in addresses if is_internal(a)]
        if internal:
            raise TargetRefused(
                f"拒绝取证：{parts.hostname} 解析到内网/回环/链路本地地址 {', '.join(internal)}。"
                "如确需对内网地址取证（例如演示网站），请设置 snapshot_allow_private"
                "（环境变量 YIJIAN_SNAPSHOT_ALLOW_PRIVATE=1）"
            )
    return addresses
