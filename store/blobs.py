"""Content-addressed blob store: raw pages, screenshots, archives, keyed by their SHA-256.

Layout: ``<root>/ab/cd/<sha>`` (or ``<sha>.gz`` when stored gzip-compressed). The address is always the
SHA-256 of the *uncompressed* content, so compression is invisible to callers. Every write goes to a temp
file in the target directory and is renamed into place, so a reader never sees a half-written blob and a
crash leaves at most a stray ``.tmp-*`` file. Writing the same content twice stores it once.
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import os
import re
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

__all__ = ["BlobNotFound", "BlobStore", "sha256_hex"]

_SHA_RE = re.compile(r"^[0-9a-f]{64}$")
# Bodies at least this large are gzip-compressed when that saves at least 10 %.
GZIP_MIN_BYTES = 32 * 1024
_CHUNK = 1024 * 1024


class BlobNotFound(KeyError):
    """No blob with that SHA-256 is stored."""


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class BlobStore:
    def __init__(self, root: Path | str, *, durable: bool = False) -> None:
        """``durable=True`` fsyncs each blob before the rename (slower; for evidence capture)."""
        self.root = Path(root)
        self.durable = durable
        self.root.mkdir(parents=True, exist_ok=True)

    # -- addressing ---------------------------------------------------------------------------------
    @staticmethod
    def _check(sha: str) -> str:
        if not isinstance(sha, str) or not _SHA_RE.match(sha):
            raise ValueError(f"not a SHA-256 hex digest: {sha!r}")
        return sha

    def path(self, sha: str) -> Path:
        """Path of the uncompressed file for ``sha`` (it may instead exist as ``<path>.gz``)."""
        sha = self._check(sha)
        return self.root / sha[:2] / sha[2:4] / sha

    def _existing(self, sha: str) -> Path | None:
        plain = self.path(sha)
        if plain.is_file():
            return plain
        gz = plain.with_name(plain.name + ".gz")
        return gz if gz.is_file() else None

    # -- API ------------------------------------------------------------------------------------------
    def exists(self, sha: str) -> bool:
        return self._existing(sha) is not None

    def put(self, data: bytes, *, compress: bool | None = None) -> str:
        """Store ``data`` and return its SHA-256. ``compress=None``: gzip large bodies when it pays off."""
        if not isinstance(data, bytes | bytearray | memoryview):
            raise TypeError(f"blob data must be bytes, got {type(data).__name__}")
        data = bytes(data)
        sha = sha256_hex(data)
        if self.exists(sha):
            return sha
        target = self.path(sha)
        payload = data
        if compress is None:
            compress = len(data) >= GZIP_MIN_BYTES
        if compress:
            packed = gzip.compress(data, compresslevel=6, mtime=0)
            if len(packed) <= len(data) * 0.9:
                payload = packed
                target = target.with_name(target.name + ".gz")
        self._write_atomic(target, lambda out: out.write(payload))
        return sha

    def put_file(self, src: Path | str) -> str:
        """Store a file's content by streaming it (screenshots, archives); returns its SHA-256."""
        src = Path(src)
        h = hashlib.sha256()
        with src.open("rb") as f:
            while chunk := f.read(_CHUNK):
                h.update(chunk)
        sha = h.hexdigest()
        if self.exists(sha):
            return sha

        def copy(out: BinaryIO) -> None:
            with src.open("rb") as f:
                shutil.copyfileobj(f, out, _CHUNK)

        self._write_atomic(self.path(sha), copy)
        return sha

    def get(self, sha: str) -> bytes:
        found = self._existing(sha)
        if found is None:
            raise BlobNotFound(sha)
        data = found.read_bytes()
        return gzip.decompress(data) if found.suffix == ".gz" else data

    def verify(self, sha: str) -> bool:
        """True when the stored content still hashes to ``sha`` (tamper / bit-rot check)."""
        try:
            return sha256_hex(self.get(sha)) == sha
        except (BlobNotFound, OSError, gzip.BadGzipFile, EOFError):
            return False

    def delete(self, sha: str) -> bool:
        found = self._existing(sha)
        if found is None:
            return False
        found.unlink(missing_ok=True)
        return True

    # -- internals ------------------------------------------------------------------------------------
    def _sync(self, f) -> None:  # noqa: ANN001 - a binary file object
        if self.durable:
            f.flush()
            os.fsync(f.fileno())

    def _write_atomic(self, target: Path, write: Callable[[BinaryIO], object]) -> None:
        """Write ``target`` through a temporary file in the same directory and an atomic rename."""
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as out:
                write(out)
                self._sync(out)
            # Rename is atomic on POSIX; a concurrent writer of the same content renames identical bytes.
            os.replace(tmp, target)
        except BaseException:
            _unlink_quietly(tmp)
            raise


def _unlink_quietly(path: str) -> None:
    with contextlib.suppress(OSError):
        os.unlink(path)
