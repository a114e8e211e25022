"""Near-duplicate fingerprints: a 64-bit SimHash (Charikar) over a page's text, so that copies of one page under
many addresses (session ids, mirrors, print views, a changed timestamp) can be linked to their original.

Features are overlapping character 4-grams of the text with whitespace and ASCII punctuation removed (no word
segmentation needed: it works alike for Chinese and for Latin text). Two texts whose fingerprints differ in at most
``NEAR_DUPLICATE_BITS`` bits are near-duplicates. ``bands`` splits a fingerprint into four 16-bit bands: by the
pigeonhole principle two fingerprints within 3 bits share at least one band, so the store finds candidates with
four indexed equality lookups instead of a scan.
"""

from __future__ import annotations

import hashlib
import re
from collections import Counter

import numpy as np

NEAR_DUPLICATE_BITS = 3
MIN_CHARS = 40  # shorter texts (a title, an error stub) are too small to fingerprint meaningfully
_MAX_CHARS = 50_000  # a fingerprint of the first 50,000 characters is plenty
_STRIP = re.compile(r"[\s!-/:-@\[-`{-~，。、；：？！“”‘’（）《》【】…—·]+")
_MASK = (1 << 64) - 1


def simhash(text: str, n: int = 4) -> int | None:
    """The 64-bit SimHash of ``text`` (None when it has fewer than ``MIN_CHARS`` characters of content)."""
    norm = _STRIP.sub("", (text or "")[:_MAX_CHARS]).lower()
    if len(norm) < MIN_CHARS:
        return None
    counts = Counter(norm[i : i + n] for i in range(len(norm) - n + 1))
    hashes = np.fromiter(
        (int.from_bytes(hashlib.blake2b(g.encode("utf-8"), digest_size=8).digest(), "big") for g in counts),
        dtype=np.uint64,
        count=len(counts),
    )
    weight = np.fromiter(counts.values(), dtype=np.int64, count=len(counts))
    bits = ((hashes[:, None] >> np.arange(64, dtype=np.uint64)) & np.uint64(1)).astype(np.int64)
    score = ((2 * bits - 1) * weight[:, None]).sum(axis=0)
    value = 0
    for bit in np.flatnonzero(score > 0):
        value |= 1 << int(bit)
    return value & _MASK


def distance(a: int, b: int) -> int:
    return (a ^ b).bit_count()


def bands(value: int) -> tuple[int, int, int, int]:
    return tuple((value >> shift) & 0xFFFF for shift in (0, 16, 32, 48))  # type: ignore[return-value]
