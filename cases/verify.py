"""Verify an export bundle: every file against the signed manifest (altered, missing, extra), the manifest's
signature, each capture's own seal, and the custody chain (the first broken entry). Reads the ZIP in place; nothing
is extracted to disk, so a hostile archive cannot write anywhere."""

from __future__ import annotations

import hashlib
import json
import zipfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from cases import custody
from cases.bundle import CUSTODY_FILE, PUBLIC_KEY_FILE
from cases.sealing import (
    DIGEST,
    MANIFEST,
    SEAL_FILES,
    TIMESTAMP_TOKEN,
    check_signature,
    fingerprint,
    load_public_pem,
)
from cases.timestamp import check_token

_CHUNK = 1 << 20
MAX_MANIFEST_BYTES = 64 << 20  # a hostile archive's "manifest" is not read into memory whatever its size


class BundleUnreadable(ValueError):
    """Not a ZIP, or not a Yijian bundle at all (no manifest)."""


@dataclass(slots=True)
class VerifyReport:
    path: str
    files_checked: int = 0
    altered: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    extra: list[str] = field(default_factory=list)
    signature: list[str] = field(default_factory=list)  # problems with the signed digest(s)
    custody_break: str | None = None
    custody_entries: int = 0
    key_fingerprint: str = ""
    key_mismatch: str | None = None
    timestamps: list[dict[str, Any]] = field(
        default_factory=list
    )  # {"manifest", "genTime"} per RFC 3161 token

    @property
    def ok(self) -> bool:
        return not (
            self.altered
            or self.missing
            or self.extra
            or self.signature
            or self.custody_break
            or self.key_mismatch
        )

    def to_json(self) -> dict[str, Any]:
        return {"ok": self.ok, **asdict(self)}

    def problems(self) -> list[str]:
        lines = [f"文件被改动：{p}" for p in self.altered]
        lines += [f"文件缺失：{p}" for p in self.missing]
        lines += [f"多出文件：{p}" for p in self.extra]
        lines += [f"签名：{p}" for p in self.signature]
        if self.custody_break:
            lines.append(f"保管链断裂于{self.custody_break}")
        if self.key_mismatch:
            lines.append(self.key_mismatch)
        return lines


def _sha256(zf: zipfile.ZipFile, name: str) -> str:
    h = hashlib.sha256()
    with zf.open(name) as fh:
        while chunk := fh.read(_CHUNK):
            h.update(chunk)
    return h.hexdigest()


def verify_bundle(
    path: Path, *, expected_public_pem: bytes | None = None, tsa_ca_pem: bytes | None = None
) -> VerifyReport:
    report = VerifyReport(path=str(path))
    try:
        zf = zipfile.ZipFile(path)
    except (OSError, zipfile.BadZipFile) as exc:
        raise BundleUnreadable(f"无法读取证据包 {path}：{exc}") from exc
    with zf:
        names = {i.filename for i in zf.infolist() if not i.is_dir()}
        if MANIFEST not in names:
            raise BundleUnreadable(f"{path} 不是医鉴证据包：缺少 {MANIFEST}")
        if zf.getinfo(MANIFEST).file_size > MAX_MANIFEST_BYTES:
            raise BundleUnreadable(f"{path} 的 {MANIFEST} 大于 {MAX_MANIFEST_BYTES} 字节，不像医鉴证据包")
        manifest_data = zf.read(MANIFEST)
        manifest: Any = {}
        try:
            manifest = json.loads(manifest_data)
            resources = {str(r["path"]): r for r in manifest["resources"]}
        except (ValueError, KeyError, TypeError) as exc:
            report.signature.append(f"{MANIFEST} 无法解析：{exc}")
            resources = {}

        # 1. Every listed file is there with its hash; nothing else is.
        for rel, res in sorted(resources.items()):
            if rel not in names:
                report.missing.append(rel)
                continue
            report.files_checked += 1
            if "sha256:" + _sha256(zf, rel) != res.get("hash"):
                report.altered.append(rel)
        report.extra = sorted(n for n in names if n not in resources and n not in SEAL_FILES)
        if DIGEST not in names:
            report.missing.append(DIGEST)

        # 2. The manifest's digest and its signature, with the bundle's public key (or the one expected).
        public = None
        if PUBLIC_KEY_FILE in names:
            try:
                public = load_public_pem(zf.read(PUBLIC_KEY_FILE))
                report.key_fingerprint = fingerprint(public)
            except ValueError as exc:
                report.signature.append(f"{PUBLIC_KEY_FILE} 不是有效的 Ed25519 公钥：{exc}")
        if expected_public_pem is not None:
            expected = load_public_pem(expected_public_pem)
            if public is None or fingerprint(expected) != fingerprint(public):
                report.key_mismatch = f"证据包中的公钥（{report.key_fingerprint or '无'}）不是指定的公钥（{fingerprint(expected)}）"
            public = expected
        if public is not None and DIGEST in names:
            try:
                digest = json.loads(zf.read(DIGEST))
            except ValueError as exc:
                report.signature.append(f"{DIGEST} 无法解析：{exc}")
            else:
                report.signature += check_signature(public, manifest_data, digest)

        # 3. Each capture's own seal (made at capture time, before any export).
        if public is not None:
            for cap_manifest in sorted(
                n for n in names if n.startswith("captures/") and n.endswith("/" + MANIFEST)
            ):
                prefix = cap_manifest[: -len(MANIFEST)]
                if prefix + DIGEST not in names:
                    report.signature.append(f"{prefix}{DIGEST} 缺失")
                    continue
                try:
                    cap_digest = json.loads(zf.read(prefix + DIGEST))
                except ValueError as exc:
                    report.signature.append(f"{prefix}{DIGEST} 无法解析：{exc}")
                    continue
                for problem in check_signature(public, zf.read(cap_manifest), cap_digest):
                    report.signature.append(f"{prefix}：{problem}")

        # 4. RFC 3161 timestamps, where a TSA stamped a manifest: over that manifest (and signed by the TSA).
        for token_name in sorted(
            n for n in names if n == TIMESTAMP_TOKEN or n.endswith("/" + TIMESTAMP_TOKEN)
        ):
            manifest_name = token_name[: -len(TIMESTAMP_TOKEN)] + MANIFEST
            if manifest_name not in names:
                continue
            gen_time, problems = check_token(zf.read(token_name), zf.read(manifest_name), ca_pem=tsa_ca_pem)
            report.timestamps.append({"manifest": manifest_name, "genTime": gen_time, "verified": not problems,
                                      "chain_checked": tsa_ca_pem is not None})  # fmt: skip
            report.signature += [f"{token_name}：{p}" for p in problems]

        # 5. The custody chain, and that its head is the one the signed manifest names.
        if CUSTODY_FILE in names:
            try:
                entries = custody.parse_jsonl(zf.read(CUSTODY_FILE))
            except (ValueError, UnicodeDecodeError) as exc:
                report.custody_break = f" {CUSTODY_FILE}：{exc}"
            else:
                report.custody_entries = len(entries)
                brk = custody.verify_chain(entries)
                if brk is not None:
                    report.custody_break = brk.describe()
                elif isinstance(manifest, dict) and manifest.get("custodyHead") not in (
                    None,
                    entries[-1]["entry_hash"] if entries else custody.GENESIS_HASH,
                ):
                    report.custody_break = (
                        f"末尾：最后一条的哈希与签名清单记录的 custodyHead 不符（共 {len(entries)} 条）"
                    )
    return report
