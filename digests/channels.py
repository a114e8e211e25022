"""Delivery channels — SMTP e-mail, 企业微信 group robot, 钉钉 group robot — and delivery with retries: each channel is
tried on its own, with exponential back-off, every attempt recorded in the store; one channel being down never
stops the others, and a message that failed everywhere stays recorded as failed for a later retry.

SMTP uses the standard library (smtplib + email): it does STARTTLS, implicit TLS and AUTH, and builds the
multipart MIME we need, so no third-party mail library is worth its weight. The robots are posted with httpx to
the webhook URL exactly as the operator pasted it (plus 钉钉's ``timestamp``/``sign`` when a secret is set):
Apprise's wecombot/dingtalk plugins rebuild the URL from a key (fixed qyapi.weixin.qq.com / oapi.dingtalk.com
hosts), so a private gateway or a local test receiver could not be used (docs/decisions.md)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import smtplib
import ssl
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import httpx

from config import Settings
from digests.render import Message, email_message
from store.db import Store
from store.digests import Deliveries

WECOM_MARKDOWN_MAX_BYTES = 4096  # 企业微信: markdown.content at most 4096 bytes (UTF-8)
DINGTALK_MARKDOWN_MAX_BYTES = 18000  # 钉钉: 20000 bytes per message; keep a margin for the title
TRUNCATED = "\n\n……（内容过长已截断，完整内容见邮件日报或控制台）"


class DeliveryError(RuntimeError):
    """A channel refused or could not take a message (the text says why)."""


class Channel(Protocol):
    name: str

    def send(self, message: Message) -> None: ...


def _truncate_bytes(text: str, limit: int) -> str:
    data = text.encode("utf-8")
    if len(data) <= limit:
        return text
    room = limit - len(TRUNCATED.encode("utf-8"))
    return data[:room].decode("utf-8", errors="ignore") + TRUNCATED


@dataclass
class SmtpChannel:
    host: str
    port: int
    sender: str
    recipients: list[str]
    user: str | None = None
    password: str | None = None
    starttls: bool = True
    implicit_tls: bool = False
    ca_file: Path | None = None
    timeout: float = 30.0
    name: str = "email"

    def _tls(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=str(self.ca_file) if self.ca_file else None)

    def send(self, message: Message) -> None:
        if not self.recipients:
            raise DeliveryError("没有收件人")
        msg = email_message(message, self.sender, self.recipients)
        try:
            if self.implicit_tls:
                smtp: smtplib.SMTP = smtplib.SMTP_SSL(
                    self.host, self.port, timeout=self.timeout, context=self._tls()
                )
            else:
                smtp = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
            with smtp:
                smtp.ehlo()
                if self.starttls and not self.implicit_tls:
                    smtp.starttls(context=self._tls())
                    smtp.ehlo()
                if self.user:
                    _login(smtp, self.user, self.password or "")
                refused = smtp.send_message(msg, from_addr=self.sender, to_addrs=self.recipients)
        except (smtplib.SMTPException, OSError) as exc:
            raise DeliveryError(f"SMTP {self.host}:{self.port}: {type(exc).__name__}: {exc}") from exc
        if refused:
            raise DeliveryError(f"SMTP 拒收部分收件人：{refused}")


def _login(smtp: smtplib.SMTP, user: str, password: str) -> None:
    """``smtp.login``, except for a non-ASCII user or password, which smtplib cannot encode: then AUTH PLAIN with
    UTF-8 (RFC 4616)."""
    if (user + password).isascii():
        smtp.login(user, password)
        return
    smtp.ehlo_or_helo_if_needed()
    token = base64.b64encode(f"\0{user}\0{password}".encode()).decode("ascii")
    code, response = smtp.docmd("AUTH", "PLAIN " + token)
    if code != 235:
        raise smtplib.SMTPAuthenticationError(code, response)


def _post_json(url: str, payload: dict[str, Any], timeout: float) -> None:
    try:
        response = httpx.post(url, json=payload, timeout=timeout)
    except httpx.HTTPError as exc:
        raise DeliveryError(f"{type(exc).__name__}: {exc}") from exc
    if response.status_code >= 400:
        raise DeliveryError(f"HTTP {response.status_code}: {response.text[:300]}")
    try:
        body = response.json()
    except ValueError as exc:
        raise DeliveryError(f"应答不是 JSON：{response.text[:300]}") from exc
    if not isinstance(body, dict) or body.get("errcode", 0) != 0:
        raise DeliveryError(f"机器人拒收：{body}")


@dataclass
class WeComChannel:
    """企业微信群机器人: ``{"msgtype": "markdown", "markdown": {"content": …}}``."""

    url: str
    timeout: float = 10.0
    name: str = "wecom"

    def payload(self, message: Message) -> dict[str, Any]:
        return {
            "msgtype": "markdown",
            "markdown": {"content": _truncate_bytes(message.markdown, WECOM_MARKDOWN_MAX_BYTES)},
        }

    def send(self, message: Message) -> None:
        _post_json(self.url, self.payload(message), self.timeout)


def dingtalk_sign(secret: str, timestamp_ms: int) -> str:
    """钉钉加签: base64(HMAC-SHA256(key=secret, msg="timestamp\\nsecret")), not yet URL-encoded."""
    digest = hmac.new(secret.encode("utf-8"), f"{timestamp_ms}\n{secret}".encode(), hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")


def signed_url(url: str, secret: str, timestamp_ms: int) -> str:
    """The webhook URL as given, with ``timestamp`` and the URL-encoded ``sign`` appended."""
    sign = urllib.parse.quote_plus(dingtalk_sign(secret, timestamp_ms))
    return f"{url}{'&' if '?' in url else '?'}timestamp={timestamp_ms}&sign={sign}"


@dataclass
class DingTalkChannel:
    """钉钉群机器人: ``{"msgtype": "markdown", "markdown": {"title": …, "text": …}}``, signed when a secret is set."""

    url: str
    secret: str | None = None
    timeout: float = 10.0
    name: str = "dingtalk"
    clock: Callable[[], float] = time.time

    def payload(self, message: Message) -> dict[str, Any]:
        return {
            "msgtype": "markdown",
            "markdown": {
                "title": message.subject[:60],
                "text": _truncate_bytes(message.markdown, DINGTALK_MARKDOWN_MAX_BYTES),
            },
        }

    def send(self, message: Message) -> None:
        url = self.url
        if self.secret:
            url = signed_url(url, self.secret, int(round(self.clock() * 1000)))
        _post_json(url, self.payload(message), self.timeout)


def deliver(
    store: Store,
    *,
    kind: str,
    ref: str,
    message: Message,
    channels: list[Channel],
    attempts: int = 3,
    backoff_s: float = 2.0,
    sleep: Callable[[float], None] = time.sleep,
) -> dict[str, str]:
    """Send ``message`` on every channel, each with up to ``attempts`` tries (waiting ``backoff_s``, then double,
    between tries), every try recorded. A channel that already delivered this (kind, ref) is skipped. Never raises
    for a channel failure; returns channel name → ``sent`` / ``failed``."""
    deliveries = Deliveries(store)
    results: dict[str, str] = {}
    for channel in channels:
        delivery_id = deliveries.open(kind, ref, channel.name)
        if deliveries.status(delivery_id) == "sent":
            results[channel.name] = "sent"
            continue
        results[channel.name] = "failed"
        for attempt in range(attempts):
            t0 = time.perf_counter()
            try:
                channel.send(message)
            except Exception as exc:  # any failure of one channel is recorded; the others still deliver
                deliveries.record_attempt(
                    delivery_id,
                    ok=False,
                    error=f"{type(exc).__name__}: {exc}",
                    seconds=time.perf_counter() - t0,
                )
                if attempt + 1 < attempts:
                    sleep(backoff_s * (2**attempt))
                continue
            deliveries.record_attempt(delivery_id, ok=True, seconds=time.perf_counter() - t0)
            results[channel.name] = "sent"
            break
        if results[channel.name] != "sent":
            deliveries.mark_failed(delivery_id)
    return results


def split_list(value: str | list[str] | None) -> list[str]:
    """``"a@x, b@y"`` (or a list) → ``["a@x", "b@y"]``."""
    if not value:
        return []
    items = value if isinstance(value, list) else str(value).split(",")
    return [str(i).strip() for i in items if str(i).strip()]


def email_recipients(settings: Settings, *, region: str | None = None, alerts: bool = False) -> list[str]:
    """Who gets a message by e-mail: for alerts, ``digest_to`` and every recipient entry with ``alerts: true``;
    for the all-regions digest, ``digest_to`` and entries without a region; for a region's digest, the entries of
    that region."""
    out: list[str] = [] if region else split_list(settings.digest_to)
    for entry in settings.recipients:
        emails = split_list(entry.get("emails") or entry.get("email"))
        wanted = bool(entry.get("alerts")) if alerts else (entry.get("region") or None) == (region or None)
        out += [e for e in emails if wanted and e not in out]
    return out


def recipient_regions(settings: Settings) -> list[str]:
    """Regions that have recipients of their own (each gets a digest limited to its region)."""
    return sorted({str(e["region"]) for e in settings.recipients if e.get("region")})


def channels_from_settings(
    settings: Settings, *, region: str | None = None, alerts: bool = False
) -> list[Channel]:
    """The configured channels. A region's digest goes by e-mail only (the robots get the all-regions one)."""
    channels: list[Channel] = []
    recipients = email_recipients(settings, region=region, alerts=alerts)
    if settings.smtp_host and recipients:
        channels.append(
            SmtpChannel(
                host=settings.smtp_host,
                port=settings.smtp_port,
                sender=settings.digest_from or (settings.smtp_user or "yijian@localhost"),
                recipients=recipients,
                user=settings.smtp_user,
                password=settings.smtp_password,
                starttls=settings.smtp_starttls,
                implicit_tls=settings.smtp_ssl,
                ca_file=settings.smtp_ca_file,
                timeout=settings.smtp_timeout_s,
            )
        )
    if region:
        return channels
    if settings.wecom_webhook:
        channels.append(WeComChannel(settings.wecom_webhook, timeout=settings.webhook_timeout_s))
    if settings.dingtalk_webhook:
        channels.append(
            DingTalkChannel(
                settings.dingtalk_webhook, secret=settings.dingtalk_secret, timeout=settings.webhook_timeout_s
            )
        )
    return channels
