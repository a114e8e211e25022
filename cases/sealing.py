"""Sealing: SHA-256 of every file in a WACZ-style ``datapackage.json``, and that manifest's digest signed with the
installation's Ed25519 key (``datapackage-digest.json``). The key pair is created once by ``yijian init``; the
private key file is readable by its owner only.

Layout of a sealed directory (a capture, or an export bundle)::

    datapackage.json         {"profile": "data-package", "resources": [{"name", "path", "hash": "sha256:…",
                              "bytes"}, …], plus metadata}
    datapackage-digest.json  {"path": "datapackage.json", "hash": "sha256:…", "signature": base64 Ed25519
                              signature of the ASCII text "sha256:…", "publicKeyFingerprint": "sha256:…"}
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

MANIFEST = "datapackage.json"
DIGEST = "datapackage-digest.json"
TIMESTAMP_TOKEN = "datapackage.tsr"  # optional RFC 3161 token over the manifest (cases.timestamp)
SEAL_FILES = frozenset({MANIFEST, DIGEST, TIMESTAMP_TOKEN})
PRIVATE_KEY_NAME = "evidence-ed25519.key"
PUBLIC_KEY_NAME = "evidence-ed25519.pub.pem"
_CHUNK = 1 << 20


class KeyMissing(FileNotFoundError):
    """No signing key: run `yijian init`."""


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(_CHUNK):
            h.update(chunk)
    return h.hexdigest()


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# -------------------------------------------------------------------------------------------------- keys
@dataclass(frozen=True, slots=True)
class KeyPaths:
    private: Path
    public: Path


def key_paths(key_dir: Path) -> KeyPaths:
    return KeyPaths(key_dir / PRIVATE_KEY_NAME, key_dir / PUBLIC_KEY_NAME)


def ensure_key(key_dir: Path) -> tuple[KeyPaths, bool]:
    """Create the key pair unless it exists. Returns the paths and whether a key was created. The private key
    is written with mode 0600 from the start (O_CREAT | O_EXCL), never rewritten."""
    paths = key_paths(key_dir)
    if paths.private.exists():
        if not paths.public.exists():
            paths.public.write_bytes(public_pem(load_private_key(key_dir)))
        return paths, False
    key_dir.mkdir(parents=True, exist_ok=True)
    os.chmod(key_dir, 0o700)
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    fd = os.open(paths.private, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(pem)
    paths.public.write_bytes(public_pem(key))
    return paths, True


def load_private_key(key_dir: Path) -> Ed25519PrivateKey:
    path = key_paths(key_dir).private
    try:
        data = path.read_bytes()
    except FileNotFoundError as exc:
        raise KeyMissing(f"没有取证签名密钥（{path}）：请先运行 yijian init") from exc
    key = serialization.load_pem_private_key(data, password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise ValueError(f"{path} 不是 Ed25519 私钥")
    return key


def public_pem(key: Ed25519PrivateKey | Ed25519PublicKey) -> bytes:
    pub = key.public_key() if isinstance(key, Ed25519PrivateKey) else key
    return pub.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


def load_public_pem(data: bytes) -> Ed25519PublicKey:
    try:
        key = serialization.load_pem_public_key(data)
    except UnsupportedAlgorithm as exc:
        raise ValueError(f"不支持的公钥算法：{exc}") from exc
    if not isinstance(key, Ed25519PublicKey):
        raise ValueError("不是 Ed25519 公钥")
    return key


def fingerprint(key: Ed25519PrivateKey | Ed25519PublicKey) -> str:
    pub = key.public_key() if isinstance(key, Ed25519PrivateKey) else key
    raw = pub.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return "sha256:" + sha256_bytes(raw)


# ---------------------------------------------------------------------------------------------- manifest
def build_manifest(root: Path, metadata: dict[str, Any]) -> dict[str, Any]:
    """A WACZ-style data package listing every file under ``root`` (the seal files excepted)."""
    resources = []
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        rel = path.relative_to(root).as_posix()
        if rel in SEAL_FILES:
            continue
        resources.append(
            {
                "name": rel.replace("/", "-"),
                "path": rel,
                "hash": "sha256:" + sha256_file(path),
                "bytes": path.stat().st_size,
            }
        )
    return {"profile": "data-package", **metadata, "resources": resources}


def manifest_bytes(manifest: dict[str, Any]) -> bytes:
    return json.dumps(manifest, ensure_ascii=False, indent=2).encode("utf-8") + b"\n"


def sign_digest(key: Ed25519PrivateKey, manifest_data: bytes) -> dict[str, Any]:
    digest = "sha256:" + sha256_bytes(manifest_data)
    return {
        "path": MANIFEST,
        "hash": digest,
        "signatureAlgorithm": "Ed25519",
        "signature": base64.b64encode(key.sign(digest.encode("ascii"))).decode("ascii"),
        "publicKeyFingerprint": fingerprint(key),
    }


def seal_directory(root: Path, key: Ed25519PrivateKey, metadata: dict[str, Any]) -> str:
    """Write ``datapackage.json`` and its signed digest into ``root``; returns the manifest's SHA-256 (hex)."""
    data = manifest_bytes(build_manifest(root, metadata))
    (root / MANIFEST).write_bytes(data)
    digest = sign_digest(key, data)
    (root / DIGEST).write_bytes(json.dumps(digest, ensure_ascii=False, indent=2).encode("utf-8") + b"\n")
    return digest["hash"].removeprefix("sha256:")


def check_signature(public_key: Ed25519PublicKey, manifest_data: bytes, digest: Any) -> list[str]:
    """Problems with a manifest's signed digest (empty when the digest matches and the signature holds)."""
    if not isinstance(digest, dict):
        return [f"{DIGEST} 不是 JSON 对象"]
    problems = []
    actual = "sha256:" + sha256_bytes(manifest_data)
    if digest.get("hash") != actual:
        problems.append(f"{MANIFEST} 被改动：摘要应为 {digest.get('hash')}，实际为 {actual}")
    try:
        sig = base64.b64decode(str(digest.get("signature", "")), validate=True)
        public_key.verify(sig, str(digest.get("hash", "")).encode("ascii"))
    except (InvalidSignature, ValueError, UnicodeEncodeError):
        problems.append(f"{DIGEST} 的签名无效（清单摘要不是由该公钥签署的）")
    return problems
