"""Keeps the search index in step with the store (the system of record) through the store's outbox.

Every ``index`` call first records its doc_ids in the outbox (write-ahead: a crash between the store write and
the search write loses nothing), then pushes them to the backend and removes them from the outbox once the
backend acknowledged. When the backend is down (``SearchUnavailable``) they simply stay queued, and for
``COOLDOWN_S`` seconds further calls queue without trying the network (a crawl does not wait on timeouts page
after page). ``replay`` drains the queue; it runs at the start of every ``index`` call. Documents the backend
refuses (``SearchIndexRejected``) stay queued with the reason and an attempt count; after ``MAX_ATTEMPTS`` they
are left to ``rebuild`` or a manual ``replay(include_failed=True)``, and ``status`` shows them.

Queued ids the store no longer knows (deleted documents) are deleted from the index.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Mapping
from typing import Any, Protocol

from .search.base import IndexDoc, SearchBackend, SearchIndexRejected, SearchUnavailable

log = logging.getLogger(__name__)

BATCH = 500
MAX_ATTEMPTS = 3
COOLDOWN_S = 10.0


class OutboxStore(Protocol):
    """The part of ``store.db.Store`` the indexer uses."""

    def index_docs(self, doc_ids: list[str]) -> list[IndexDoc]: ...
    def all_doc_ids(self) -> list[str]: ...
    def outbox_add(self, doc_ids: list[str], error: str = "") -> None: ...
    def outbox_pending(self, limit: int = 1000, max_attempts: int | None = None) -> list[str]: ...
    def outbox_remove(self, doc_ids: list[str]) -> None: ...
    def outbox_size(self) -> int: ...


class Indexer:
    def __init__(self, store: OutboxStore, backend: SearchBackend, *, cooldown_s: float = COOLDOWN_S) -> None:
        self.store = store
        self.backend = backend
        self.cooldown_s = cooldown_s
        self.last_error = ""
        self._down_until = 0.0
        self._lock = threading.RLock()

    # -- public ------------------------------------------------------------------------------------------------

    def index(
        self, doc_ids: list[str], *, queued: bool = False, segmented: Mapping[str, str] | None = None
    ) -> bool:
        """Index these documents (current versions from the store), after the older backlog. Returns False when
        the backend is unreachable (they wait in the outbox); never raises for that. ``queued=True``: the ids are
        already in the outbox (written in the same transaction as the documents), so no write-ahead.
        ``segmented``: text → its ``index_text`` form, already computed by the caller (a title or body found
        there is not segmented again)."""
        ids = list(dict.fromkeys(doc_ids))
        if not ids:
            return True
        if not queued:
            self.store.outbox_add(ids)  # write-ahead
        if time.monotonic() < self._down_until:
            return False
        with self._lock:
            try:
                # the backlog, ``ids`` included
                self._replay(include_failed=False, limit_batches=None, segmented=segmented)
            except SearchUnavailable as exc:
                self._mark_down(exc)
                return False
        return True

    def replay(self, include_failed: bool = False) -> int:
        """Drain the outbox into the backend. Returns how many queued ids were handled (indexed or deleted).
        Raises ``SearchUnavailable`` when the backend is still down."""
        with self._lock:
            try:
                done = self._replay(include_failed=include_failed, limit_batches=None)
            except SearchUnavailable as exc:
                self._mark_down(exc)
                raise
        self._down_until = 0.0
        return done

    def rebuild(self, batch: int = BATCH) -> dict[str, Any]:
        """Clear the index and re-index every document of the store, in batches; then drain the outbox.
        Raises ``SearchUnavailable`` when the backend is down (the store is untouched; run it again)."""
        started = time.monotonic()
        with self._lock:
            self.backend.clear()
            ids = self.store.all_doc_ids()
            indexed, rejected = 0, 0
            for i in range(0, len(ids), batch):
                chunk = ids[i : i + batch]
                handled, refused = self._push(chunk)
                indexed += handled
                rejected += refused
            self._replay(include_failed=True, limit_batches=None)
        return {
            "backend": self.backend.name,
            "documents": len(ids),
            "indexed": indexed,
            "rejected": rejected,
            "backlog": self.store.outbox_size(),
            "seconds": round(time.monotonic() - started, 3),
        }

    def status(self) -> dict[str, Any]:
        """Backend name, whether it answers, how many documents it holds, and the outbox backlog."""
        out: dict[str, Any] = {
            "backend": self.backend.name,
            "reachable": True,
            "indexed": None,
            "documents": len(self.store.all_doc_ids()),
            "backlog": self.store.outbox_size(),
            "failed": len(self.store.outbox_pending(limit=10**9))
            - len(self.store.outbox_pending(limit=10**9, max_attempts=MAX_ATTEMPTS)),
            "error": "",
        }
        try:
            out["indexed"] = self.backend.count()
        except SearchUnavailable as exc:
            out["reachable"] = False
            out["error"] = str(exc)
        return out

    # -- internals ---------------------------------------------------------------------------------------------

    def _mark_down(self, exc: Exception) -> None:
        self.last_error = str(exc)
        self._down_until = time.monotonic() + self.cooldown_s
        log.warning("search backend unavailable, documents stay in the outbox: %s", exc)

    def _replay(
        self, include_failed: bool, limit_batches: int | None, segmented: Mapping[str, str] | None = None
    ) -> int:
        if self.store.outbox_size() == 0:
            return 0
        max_attempts = None if include_failed else MAX_ATTEMPTS
        done = 0
        tried: set[str] = set()
        batches = 0
        while limit_batches is None or batches < limit_batches:
            ids = [
                i for i in self.store.outbox_pending(limit=BATCH, max_attempts=max_attempts) if i not in tried
            ]
            if not ids:
                break
            tried.update(ids)
            handled, _ = self._push(ids, segmented)
            done += handled
            batches += 1
        return done

    def _push(self, ids: list[str], segmented: Mapping[str, str] | None = None) -> tuple[int, int]:
        """Send these ids to the backend; remove them from the outbox when acknowledged. Returns (handled,
        refused). Raises SearchUnavailable (ids stay queued)."""
        docs = self.store.index_docs(ids)
        if segmented:
            for d in docs:
                d.title_seg = segmented.get(d.title)
                d.text_seg = segmented.get(d.text)
        found = {d.doc_id for d in docs}
        gone = [i for i in ids if i not in found]
        refused: dict[str, str] = {}
        if docs:
            try:
                self.backend.index(docs)
            except SearchIndexRejected as exc:
                refused = exc.failures
        if gone:
            self.backend.delete(gone)
        self.store.outbox_remove([i for i in ids if i not in refused])
        for doc_id, reason in refused.items():
            self.store.outbox_add([doc_id], error=reason[:1000])
        if refused:
            log.warning("search backend refused %d documents, kept in the outbox", len(refused))
        return len(ids) - len(refused), len(refused)
