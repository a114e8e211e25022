"""Optional RFC 3161 trusted timestamps (可信时间戳) over a sealed manifest, from a TSA configured by URL.

The request carries SHA-256 of ``datapackage.json`` and a nonce; the token (the TSA's DER TimeStampResp) is kept
beside the manifest as ``datapackage.tsr``, and its time is noted in ``datapackage-digest.json``. A TSA that is
down or answers badly never costs the evidence: the failure is recorded in the digest file instead. Verification
checks that the token is over this manifest; given the TSA's CA certificate it also checks the token's signature
and certificate chain (rfc3161-client).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cases.sealing import DIGEST, MANIFEST
from cases.sealing import TIMESTAMP_TOKEN as TOKEN

_HASHES = {
    "2.16.840.1.101.3.4.2.1": hashlib.sha256,
    "2.16.840.1.101.3.4.2.2": hashlib.sha384,
    "2.16.840.1.101.3.4.2.3": hashlib.sha512,
}


class TimestampError(RuntimeError):
    """The TSA could not be reached, refused the request, or answered with a token for something else."""


@dataclass(frozen=True, slots=True)
class Stamp:
    tsa_url: str
    gen_time: str  # ISO 8601, UTC
    serial: int
    token: bytes  # DER TimeStampResp


def request_timestamp(tsa_url: str, manifest_data: bytes, *, timeout_s: float = 30.0) -> Stamp:
    """Ask the TSA for a timestamp over ``manifest_data`` (SHA-256); checks the answer's imprint and nonce."""
    import httpx
    from rfc3161_client import HashAlgorithm, PKIStatus, TimestampRequestBuilder, decode_timestamp_response

    request = TimestampRequestBuilder().data(manifest_data).hash_algorithm(HashAlgorithm.SHA256).build()
    try:
        response = httpx.post(
            tsa_url,
            content=request.as_bytes(),
            headers={"Content-Type": "application/timestamp-query"},
            timeout=timeout_s,
        )
        response.raise_for_status()
    except httpx.HTTPError as exc:
        raise TimestampError(f"可信时间戳服务 {tsa_url} 不可用：{exc}") from exc
    try:
        tsr = decode_timestamp_response(response.content)
    except ValueError as exc:
        raise TimestampError(f"可信时间戳服务返回的不是 RFC 3161 响应：{exc}") from exc
    if tsr.status not in (PKIStatus.GRANTED, PKIStatus.GRANTED_WITH_MODS):
        raise TimestampError(f"可信时间戳服务拒绝了请求：{tsr.status_string or tsr.status}")
    info = tsr.tst_info
    if info.message_imprint.message != hashlib.sha256(manifest_data).digest():
        raise TimestampError("可信时间戳不是针对本清单的（摘要不符）")
    if request.nonce is not None and info.nonce != request.nonce:
        raise TimestampError("可信时间戳的随机数（nonce）与请求不符")
    return Stamp(tsa_url, _iso(info.gen_time), int(info.serial_number), response.content)


def stamp_directory(root: Path, tsa_url: str) -> dict[str, Any]:
    """Timestamp ``root``'s sealed manifest; writes the token and notes the outcome in the digest file. Returns
    the note (``{"tsa", "genTime", "file"}`` or ``{"tsa", "error"}``); never raises for a TSA failure."""
    digest_path = root / DIGEST
    digest = json.loads(digest_path.read_text(encoding="utf-8"))
    try:
        stamp = request_timestamp(tsa_url, (root / MANIFEST).read_bytes())
    except TimestampError as exc:
        note: dict[str, Any] = {"tsa": tsa_url, "error": str(exc)}
    else:
        (root / TOKEN).write_bytes(stamp.token)
        note = {"tsa": tsa_url, "genTime": stamp.gen_time, "serialNumber": stamp.serial, "file": TOKEN}
    digest["timestamp"] = note
    digest_path.write_text(json.dumps(digest, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    return note


def check_token(
    token: bytes, manifest_data: bytes, *, ca_pem: bytes | None = None
) -> tuple[str | None, list[str]]:
    """(the token's time, problems): the token must be a granted timestamp over this manifest; with ``ca_pem``
    (the TSA's root certificate) its signature and chain are verified too."""
    from rfc3161_client import VerificationError, VerifierBuilder, decode_timestamp_response

    try:
        tsr = decode_timestamp_response(token)
        info = tsr.tst_info
    except (ValueError, AttributeError) as exc:
        return None, [f"{TOKEN} 不是有效的 RFC 3161 时间戳：{exc}"]
    gen_time = _iso(info.gen_time)
    hasher = _HASHES.get(info.message_imprint.hash_algorithm.dotted_string)
    if hasher is None:
        return gen_time, [f"{TOKEN} 使用了不支持的摘要算法"]
    if info.message_imprint.message != hasher(manifest_data).digest():
        return gen_time, [f"{TOKEN} 不是针对本清单的时间戳（清单在盖时间戳之后被改动）"]
    if ca_pem is not None:
        from cryptography import x509

        try:
            roots = x509.load_pem_x509_certificates(ca_pem)
            builder = VerifierBuilder()
            for root in roots:
                builder = builder.add_root_certificate(root)
            builder.build().verify_message(tsr, manifest_data)
        except (VerificationError, ValueError) as exc:
            return gen_time, [f"{TOKEN} 的签名或证书链未通过核验：{exc}"]
    return gen_time, []


def _iso(value: Any) -> str:
    from datetime import UTC

    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")
