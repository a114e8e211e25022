"""Test helpers for digests, alerts and the scheduler: pages written through the real store, a real SMTP server
(aiosmtpd) and a real HTTP receiver (stdlib http.server) on localhost, and a self-signed certificate for TLS."""

from __future__ import annotations

import datetime as dt
import hashlib
import ipaddress
import json
import ssl
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from demo.server import find_free_port
from domain import Extracted, Finding
from store.db import Store

BEIJING = dt.timezone(dt.timedelta(hours=8))


def at(day: dt.date, hour: int = 12) -> dt.datetime:
    """A Beijing wall-clock time on ``day``, as UTC."""
    return dt.datetime.combine(day, dt.time(hour), tzinfo=BEIJING).astimezone(dt.UTC)


def finding(category: str, label: str | None, severity: str, text: str) -> Finding:
    return Finding(
        category=category,
        label=label,
        start=0,
        end=len(text),
        text=text,
        legal_basis="测试",
        severity=severity,
        source="test",
    )


def save_page(
    store: Store,
    url: str,
    when: dt.datetime,
    *,
    institution: str | None = None,
    region: str | None = "广东省江州市",
    labels: list[str] | None = None,
    findings: list[Finding] | None = None,
    body: str | None = None,
    run_id: int | None = None,
) -> tuple[str, int]:
    """Store a page version fetched at ``when`` with its analysis; returns (doc id, version id)."""
    text = body if body is not None else f"{url} {labels} {[f.text for f in findings or []]}"
    outcome = store.save_version(
        run_id=run_id,
        source_id="test",
        url=url,
        final_url=url,
        extracted=Extracted(url=url, title=f"标题 {url.rsplit('/', 1)[-1]}", text=text),
        content_hash=hashlib.sha256(text.encode()).hexdigest(),
        raw=None,
        headers={},
        fetched_at=when,
        rendered=False,
        institution_id=institution,
        region=region,
    )
    store.save_analysis(outcome.version_id, labels or [], {}, findings or [])
    return outcome.doc_id, outcome.version_id


# -- SMTP ------------------------------------------------------------------------------------------------------
@dataclass
class Mailbox:
    messages: list[dict[str, Any]] = field(default_factory=list)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802 (aiosmtpd hook)
        self.messages.append(
            {
                "from": envelope.mail_from,
                "to": list(envelope.rcpt_tos),
                "data": envelope.original_content or envelope.content,
                "authenticated": bool(session.authenticated),
                "tls": session.ssl is not None or server.transport.get_extra_info("ssl_object") is not None,
            }
        )
        return "250 OK"


def _authenticator(user: str, password: str) -> Any:
    def check(server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any) -> AuthResult:
        ok = isinstance(auth_data, LoginPassword) and (auth_data.login, auth_data.password) == (
            user.encode(),
            password.encode(),
        )
        return AuthResult(success=ok, handled=False)

    return check


@contextmanager
def smtp_server(
    *,
    user: str = "robot",
    password: str = "口令-secret",
    tls: str = "none",
    cert: tuple[Path, Path] | None = None,
) -> Iterator[tuple[int, Mailbox]]:
    """A real SMTP server on 127.0.0.1 requiring AUTH; ``tls``: none | starttls | implicit."""
    box = Mailbox()
    port = find_free_port()
    kwargs: dict[str, Any] = {"authenticator": _authenticator(user, password)}
    context = None
    if tls != "none":
        assert cert is not None
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(str(cert[0]), str(cert[1]))
    if tls == "starttls":
        kwargs.update(tls_context=context, require_starttls=True, auth_require_tls=True)
    else:
        kwargs.update(auth_require_tls=False)
    controller = Controller(
        box, hostname="127.0.0.1", port=port, ssl_context=context if tls == "implicit" else None, **kwargs
    )
    controller.start()
    try:
        yield port, box
    finally:
        controller.stop()


def self_signed_cert(folder: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 / localhost (its own CA) and its key."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return cert_path, key_path


# -- HTTP receiver for the group robots ------------------------------------------------------------------------
@dataclass
class Received:
    path: str
    query: dict[str, list[str]]
    body: dict[str, Any]
    content_type: str


class Receiver:
    """A local HTTP endpoint standing in for 企业微信/钉钉: records each POST; answers ``{"errcode": 0}``, or fails
    the first ``fail_first`` requests of a path with HTTP 500."""

    def __init__(self) -> None:
        self.requests: list[Received] = []
        self.fail_first: dict[str, int] = {}
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server hook)
                length = int(self.headers.get("Content-Length", 0))
                parts = urlsplit(self.path)
                body = json.loads(self.rfile.read(length).decode("utf-8"))
                receiver.requests.append(
                    Received(parts.path, parse_qs(parts.query), body, self.headers.get("Content-Type", ""))
                )
                if receiver.fail_first.get(parts.path, 0) > 0:
                    receiver.fail_first[parts.path] -= 1
                    self.send_response(500)
                    self.end_headers()
                    self.wfile.write(b"down")
                    return
                out = json.dumps({"errcode": 0, "errmsg": "ok"}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(out)))
                self.end_headers()
                self.wfile.write(out)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def at(self, path: str) -> list[Received]:
        return [r for r in self.requests if r.path == path]

    def __enter__(self) -> Receiver:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
