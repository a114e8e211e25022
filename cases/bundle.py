"""The export bundle of a case: one ZIP with every capture's files (each capture sealed on its own), the attached
documents as stored, the case record and notes, the custody log, the Chinese 电子数据提取笔录 (HTML and PDF), the
public key, and a top-level manifest of every file with its signed digest.

Layout::

    captures/<capture id>/…        the capture directory as sealed at capture time (its own datapackage.json)
    documents/<doc id>.json        the attached document's stored record (URL, title, text, findings)
    documents/<doc id>.raw         its raw body as fetched by the crawler, when the blob store has it
    case.json                      the case, its notes, attached documents and captures
    custody.jsonl                  the case's custody log, one canonical-JSON entry per line
    record.html, record.pdf        电子数据提取笔录
    public_key.pem                 the Ed25519 public key the manifests are signed with
    datapackage.json               every file above: path, SHA-256, size
    datapackage-digest.json        SHA-256 of datapackage.json, signed
    datapackage.tsr                RFC 3161 timestamp over datapackage.json, when a TSA is configured

The bundle is built in a temporary directory and moved into place when complete.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import zipfile
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from jinja2 import Environment, FileSystemLoader, select_autoescape

from cases import custody
from cases.sealing import MANIFEST, fingerprint, public_pem, seal_directory, sha256_file
from cases.status import STATUS_NAMES
from cases.timestamp import stamp_directory

TEMPLATES = Path(__file__).resolve().parent / "templates"
PUBLIC_KEY_FILE = "public_key.pem"
CUSTODY_FILE = "custody.jsonl"
ACTION_NAMES = {
    "created": "立案",
    "captured": "取证",
    "viewed": "查看",
    "attached": "关联文档",
    "exported": "导出",
}

FILE_KINDS: dict[str, tuple[str, str]] = {
    "screenshot.png": ("网页截图（整页）", "PNG 图像"),
    "page.pdf": ("网页打印件", "PDF"),
    "page.mhtml": ("网页快照", "MHTML"),
    "raw.html": ("原始网页源代码（服务器返回）", "HTML"),
    "rendered.html": ("渲染后网页源代码（DOM）", "HTML"),
    "headers.json": ("HTTP 请求与响应头", "JSON"),
    "redirects.json": ("跳转记录", "JSON"),
    "text.txt": ("提取的正文", "UTF-8 文本"),
    "capture.warc.gz": ("网络交互记录", "WARC 1.1（gzip）"),
    "capture.wacz": ("网页存档（可用 ReplayWeb.page 打开）", "WACZ"),
    "capture.json": ("提取过程记录（元数据）", "JSON"),
}


def _env() -> Environment:
    return Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(["html", "j2"]))


def _capture_files(capture_dir: Path) -> list[dict[str, Any]]:
    manifest = json.loads((capture_dir / MANIFEST).read_text(encoding="utf-8"))
    rows = []
    for res in manifest.get("resources", []):
        category, fmt = FILE_KINDS.get(res["path"], ("其他", Path(res["path"]).suffix.lstrip(".").upper()))
        rows.append(
            {
                "path": res["path"],
                "category": category,
                "format": fmt,
                "bytes": res["bytes"],
                "sha256": str(res["hash"]).removeprefix("sha256:"),
            }  # fmt: skip
        )
    return rows


def render_record(context: dict[str, Any]) -> str:
    return _env().get_template("record.html.j2").render(action_names=ACTION_NAMES, **context)


def write_bundle(
    out: Path,
    *,
    case: dict[str, Any],
    institution: str | None,
    notes: list[dict[str, Any]],
    documents: list[dict[str, Any]],
    document_raw: Callable[[dict[str, Any]], bytes | None],
    captures: list[tuple[dict[str, Any], Path]],
    custody_entries: list[dict[str, Any]],
    key: Ed25519PrivateKey,
    html_to_pdf: Callable[[str], bytes],
    yijian_version: str,
    tsa_url: str | None = None,
) -> dict[str, Any]:
    """Write the bundle ZIP to ``out``; returns a summary (files, manifest digest, bytes)."""
    out.parent.mkdir(parents=True, exist_ok=True)
    exported_at = datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
    with tempfile.TemporaryDirectory(prefix=".yijian-bundle-", dir=out.parent) as tmp:
        root = Path(tmp) / "bundle"
        root.mkdir()
        capture_ctx = []
        for cap, cap_dir in captures:
            dest = root / "captures" / cap["id"]
            shutil.copytree(cap_dir, dest)
            record = json.loads((dest / "capture.json").read_text(encoding="utf-8"))
            capture_ctx.append(
                {
                    "id": cap["id"],
                    "trigger": cap.get("trigger"),
                    "record": record,
                    "files": _capture_files(dest),
                    "manifest_sha256": sha256_file(dest / MANIFEST),
                }  # fmt: skip
            )
        if documents:
            (root / "documents").mkdir()
        for doc in documents:
            raw = document_raw(doc)
            (root / "documents" / f"{doc['id']}.json").write_bytes(_json(doc))
            if raw is not None:
                (root / "documents" / f"{doc['id']}.raw").write_bytes(raw)
        (root / "case.json").write_bytes(
            _json(
                {
                    "case": case,
                    "notes": notes,
                    "documents": [d["id"] for d in documents],
                    "captures": [c for c, _ in captures],
                    "exported_at": exported_at,
                }
            )  # fmt: skip
        )
        (root / CUSTODY_FILE).write_bytes(custody.to_jsonl(custody_entries))
        (root / PUBLIC_KEY_FILE).write_bytes(public_pem(key))
        html = render_record(
            {
                "case": case,
                "institution": institution,
                "status_name": STATUS_NAMES.get(case["status"], case["status"]),
                "exported_at": exported_at,
                "yijian_version": yijian_version,
                "key_fingerprint": fingerprint(key),
                "captures": capture_ctx,
                "documents": documents,
                "notes": notes,
                "custody": custody_entries,
            }
        )
        (root / "record.html").write_text(html, encoding="utf-8")
        (root / "record.pdf").write_bytes(html_to_pdf(html))
        head = custody_entries[-1]["entry_hash"] if custody_entries else custody.GENESIS_HASH
        digest = seal_directory(
            root,
            key,
            {
                "name": f"yijian-case-{case['id']}",
                "title": f"案件 {case['id']} 证据包：{case['title']}",
                "created": exported_at,
                "software": f"Yijian {yijian_version}",
                "custodyHead": head,
                "custodyEntries": len(custody_entries),
            },
        )
        stamp = stamp_directory(root, tsa_url) if tsa_url else None
        staging = Path(tmp) / "bundle.zip"
        files = sorted(p for p in root.rglob("*") if p.is_file())
        with zipfile.ZipFile(staging, "w", compression=zipfile.ZIP_DEFLATED) as zf:
            for path in files:
                # Already-compressed formats are stored as they are.
                compress = zipfile.ZIP_STORED if path.suffix in {".png", ".gz", ".wacz", ".pdf"} else None
                zf.write(path, path.relative_to(root).as_posix(), compress_type=compress)
        os.replace(staging, out)
    return {"path": str(out), "files": len(files), "bytes": out.stat().st_size, "manifest_sha256": digest,
            "timestamp": stamp}  # fmt: skip


def _json(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False, indent=2, default=str).encode("utf-8") + b"\n"
