"""A real RFC 3161 time-stamping authority for tests: OpenSSL's `openssl ts -reply` behind a small HTTP server on
127.0.0.1, with a throw-away root CA and TSA certificate made with `cryptography`. No public TSA can be reached from
the test machines; this one runs the same protocol."""

from __future__ import annotations

import datetime as dt
import subprocess
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

_CONFIG = """
[ tsa ]
default_tsa = tsa_config1
[ tsa_config1 ]
dir = {dir}
serial = $dir/serial
crypto_device = builtin
signer_cert = $dir/tsa.crt
signer_key = $dir/tsa.key
signer_digest = sha256
default_policy = 1.2.3.4.1
digests = sha256, sha384, sha512
accuracy = secs:1
ordering = no
tsa_name = no
ess_cert_id_chain = no
ess_cert_id_alg = sha256
"""


@dataclass
class TSA:
    url: str
    ca_pem: bytes
    requests: int = 0


def _cert(subject: str, key: Any, issuer: x509.Name | None, issuer_key: Any, *, ca: bool) -> x509.Certificate:
    now = dt.datetime.now(dt.UTC)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)])
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(issuer or name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if ca:
        builder = builder.add_extension(
            x509.KeyUsage(digital_signature=True, content_commitment=False, key_encipherment=False,
                          data_encipherment=False, key_agreement=False, key_cert_sign=True, crl_sign=True,
                          encipher_only=False, decipher_only=False), critical=True)  # fmt: skip
    else:
        builder = builder.add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.TIME_STAMPING]), critical=True
        )
        builder = builder.add_extension(
            x509.KeyUsage(digital_signature=True, content_commitment=False, key_encipherment=False,
                          data_encipherment=False, key_agreement=False, key_cert_sign=False, crl_sign=False,
                          encipher_only=False, decipher_only=False), critical=True)  # fmt: skip
    return builder.sign(issuer_key, hashes.SHA256())


@contextmanager
def openssl_tsa() -> Iterator[TSA]:
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        ca_key = ec.generate_private_key(ec.SECP256R1())
        ca = _cert("Yijian Test Root CA", ca_key, None, ca_key, ca=True)
        tsa_key = ec.generate_private_key(ec.SECP256R1())
        tsa_cert = _cert("Yijian Test TSA", tsa_key, ca.subject, ca_key, ca=False)
        (d / "ca.crt").write_bytes(ca.public_bytes(serialization.Encoding.PEM))
        (d / "tsa.crt").write_bytes(tsa_cert.public_bytes(serialization.Encoding.PEM))
        (d / "tsa.key").write_bytes(
            tsa_key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )  # fmt: skip
        )
        (d / "serial").write_text("01\n")
        (d / "ts.cnf").write_text(_CONFIG.format(dir=d))
        lock = threading.Lock()
        tsa = TSA(url="", ca_pem=(d / "ca.crt").read_bytes())

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                query = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with lock:
                    tsa.requests += 1
                    (d / "q.tsq").write_bytes(query)
                    done = subprocess.run(
                        ["openssl", "ts", "-reply", "-config", str(d / "ts.cnf"), "-queryfile", str(d / "q.tsq"),
                         "-out", str(d / "r.tsr")], capture_output=True, check=False,
                    )  # fmt: skip
                    body = (d / "r.tsr").read_bytes() if done.returncode == 0 else done.stderr
                self.send_response(200 if done.returncode == 0 else 500)
                self.send_header("Content-Type", "application/timestamp-reply")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        tsa.url = f"http://127.0.0.1:{server.server_address[1]}/tsa"
        try:
            yield tsa
        finally:
            server.shutdown()
            server.server_close()
