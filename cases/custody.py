"""The custody log: every action on a case's evidence (created, captured, viewed, attached, exported) as an
append-only chain in which each entry's SHA-256 covers its content and the previous entry's hash, so that an
edited, removed or reordered entry breaks the chain from that point on."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

GENESIS_HASH = "0" * 64
ACTIONS: tuple[str, ...] = ("created", "captured", "viewed", "attached", "exported")
HASHED_FIELDS: tuple[str, ...] = ("case_id", "seq", "at", "actor", "action", "object", "details", "prev_hash")


def canonical_json(value: Any) -> bytes:
    """The byte form that is hashed and signed: sorted keys, no insignificant whitespace, UTF-8."""
    return json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode("utf-8")


def entry_hash(entry: dict[str, Any]) -> str:
    return hashlib.sha256(canonical_json({k: entry.get(k) for k in HASHED_FIELDS})).hexdigest()


@dataclass(frozen=True, slots=True)
class ChainBreak:
    index: int  # 1-based position in the log
    seq: Any
    reason: str

    def describe(self) -> str:
        return f"第 {self.index} 条（seq={self.seq}）：{self.reason}"


def verify_chain(entries: list[dict[str, Any]]) -> ChainBreak | None:
    """The first broken entry of a chain, or None when every link holds."""
    prev = GENESIS_HASH
    for i, entry in enumerate(entries, start=1):
        seq = entry.get("seq")
        if seq != i:
            return ChainBreak(i, seq, f"序号应为 {i}（条目被删除、插入或重排）")
        if entry.get("prev_hash") != prev:
            return ChainBreak(i, seq, "prev_hash 与上一条的 entry_hash 不符")
        if entry.get("action") not in ACTIONS:
            return ChainBreak(i, seq, f"未知动作 {entry.get('action')!r}")
        if entry_hash(entry) != entry.get("entry_hash"):
            return ChainBreak(i, seq, "entry_hash 与条目内容不符（条目被改动）")
        prev = entry["entry_hash"]
    return None


def to_jsonl(entries: list[dict[str, Any]]) -> bytes:
    return b"".join(canonical_json(e) + b"\n" for e in entries)


def parse_jsonl(data: bytes) -> list[dict[str, Any]]:
    """Entries of a custody.jsonl; raises ValueError naming the first unreadable line."""
    entries = []
    for n, line in enumerate(data.decode("utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            value = json.loads(line)
        except json.JSONDecodeError as exc:
            raise ValueError(f"第 {n} 行不是 JSON：{exc}") from exc
        if not isinstance(value, dict):
            raise ValueError(f"第 {n} 行不是对象")
        entries.append(value)
    return entries
