"""The embedded search's in-memory columns: what a query at a million documents needs for counts, filters, facets,
the date histogram and the order of hits, as numpy arrays indexed by ``docs.rid``; and per-word match sets read from
FTS5 (``group_concat`` of the matching rowids, parsed by numpy) and cached.

Loaded from ``docs`` and ``terms`` on the first search (one pass over each, ``group_concat`` strings parsed by
numpy), then kept current from the ``changes`` log the triggers on ``docs`` write: the changed rids' columns are
re-read, and a cached word set is brought up to date when next used by re-reading only its matches from the lowest
changed rid on (a crawler appends new documents at the end, so that is a short tail). A ``clear()`` of the index
bumps ``meta.epoch`` and forces a reload. The columns are also saved next to the index (``search.sqlite.columns.npz``,
with the epoch and change number they reflect), so that a new process (a CLI search) starts from the file and the
changes since, instead of reading a million rows again.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from . import analysis
from .base import FACET_FIELDS, FILTER_FIELDS, SearchQuery

TITLE_WEIGHT = 5.0
FACET_SIZE = 50
NO_DATE = -(2**63)
_DAY_MS = 86_400_000
_CST_MS = 8 * 3_600_000
# bm25 is computed over at most this many word matches per window. FTS5's bm25 first scans each word's whole match
# list for its document frequency (~50 ms for a word in half of a million documents, on this 2-core machine), then
# costs ~7 µs per row scored.
SCORE_WINDOW = 2_000
SINGLE_VALUED = ("source_id", "institution_id", "region")
TERM_CACHE = 64  # words whose match sets are kept (one byte per document each: 64 MB at a million)
TIE_GROUP_MAX = 50_000  # more hits than this sharing one date at a page boundary: leave the query to SQL


def _ints(text: str | None) -> np.ndarray:
    if not text:
        return np.empty(0, dtype=np.int64)
    return np.fromstring(text, dtype=np.int64, sep=",")


@dataclass(slots=True)
class Found:
    total: int
    rows: list[tuple[int, str, float]]  # (rid, doc_id, score) of the page, in order
    facets: dict[str, dict[str, int]]
    histogram: list[tuple[str, int]]


SNAPSHOT_EVERY = 100_000  # changes applied since the last saved snapshot before saving again


class Columns:
    def __init__(self, snapshot: Path | None = None) -> None:
        self.lock = threading.Lock()
        self.snapshot = snapshot
        self.saved_seq = -1
        self.epoch: int | None = None
        self.seq = 0
        self.cap = 0
        self.alive = np.zeros(0, dtype=bool)
        self.sort_date = np.zeros(0, dtype=np.int64)
        self.flagged = np.zeros(0, dtype=bool)
        self.codes: dict[str, np.ndarray] = {}
        self.vocab: dict[str, list[str]] = {}
        self.index: dict[str, dict[str, int]] = {}
        self.multi: dict[str, dict[str, np.ndarray]] = {}
        self.words: OrderedDict[str, tuple[int, np.ndarray]] = OrderedDict()  # word -> (seq, match set)
        self._all_facets: tuple[int, dict[str, dict[str, int]]] | None = None
        self.deltas: list[tuple[int, int]] = []  # (seq, lowest rid changed up to that seq), oldest first

    # -- loading -------------------------------------------------------------------------------------------------
    def refresh(self, conn: sqlite3.Connection) -> None:
        epoch = conn.execute("SELECT value FROM meta WHERE key = 'epoch'").fetchone()[0]
        seq = conn.execute("SELECT coalesce(max(seq), 0) FROM changes").fetchone()[0]
        if self.epoch is None and epoch is not None:
            self._restore(epoch)
            if self.seq > seq:  # a snapshot from the future of this file: not ours after all
                self.epoch = None
        if epoch != self.epoch:
            self._load(conn, epoch, seq)
            self._save()
            return
        if seq == self.seq:
            return
        oldest = conn.execute("SELECT min(seq) FROM changes").fetchone()[0]
        if oldest is None or oldest > self.seq + 1:  # the log has been pruned past us
            self._load(conn, epoch, seq)
            self._save()
            return
        rids = sorted(
            {
                r
                for (r,) in conn.execute(
                    "SELECT rid FROM changes WHERE seq > ? AND seq <= ?", (self.seq, seq)
                )
            }
        )
        self._apply(conn, rids)
        self.deltas.append((seq, rids[0] if rids else self.cap))
        del self.deltas[:-1000]
        self.seq = seq
        if seq - self.saved_seq > SNAPSHOT_EVERY:
            self._save()

    # -- the snapshot file -----------------------------------------------------------------------------------------
    def _save(self) -> None:
        if self.snapshot is None:
            return
        arrays: dict[str, Any] = {
            "alive": self.alive, "sort_date": self.sort_date, "flagged": self.flagged,
            **{f"code:{f}": a for f, a in self.codes.items()},
            **{f"multi:{i}": a for i, (_, _, a) in enumerate(self._multi_items())},
        }  # fmt: skip
        meta = {
            "epoch": self.epoch, "seq": self.seq, "cap": self.cap, "vocab": self.vocab,
            "multi": [[f, v] for f, v, _ in self._multi_items()],
        }  # fmt: skip
        tmp = self.snapshot.with_name(f"{self.snapshot.name}.{os.getpid()}.tmp")
        try:
            with tmp.open("wb") as fh:
                np.savez(fh, meta=np.array(json.dumps(meta, ensure_ascii=False)), **arrays)
            os.replace(tmp, self.snapshot)
            self.saved_seq = self.seq
        except OSError:  # a cache only: a read-only or full disk costs the next process a reload
            tmp.unlink(missing_ok=True)

    def _multi_items(self) -> list[tuple[str, str, np.ndarray]]:
        return [(f, v, a) for f, vals in self.multi.items() for v, a in vals.items()]

    def _restore(self, epoch: int) -> None:
        if self.snapshot is None or not self.snapshot.exists():
            return
        try:
            with np.load(self.snapshot, allow_pickle=False) as z:
                meta = json.loads(str(z["meta"]))
                if meta["epoch"] != epoch:
                    return
                cap = int(meta["cap"])
                alive, sort_date, flagged = z["alive"], z["sort_date"], z["flagged"]
                codes = {f: z[f"code:{f}"] for f in SINGLE_VALUED}
                multi: dict[str, dict[str, np.ndarray]] = {
                    f: {} for f in FACET_FIELDS if f not in SINGLE_VALUED
                }
                for i, (f, v) in enumerate(meta["multi"]):
                    multi[f][v] = z[f"multi:{i}"]
        except (OSError, ValueError, KeyError):
            return
        if any(len(a) != cap for a in (alive, sort_date, flagged, *codes.values())):
            return
        self.cap, self.alive, self.sort_date, self.flagged = cap, alive, sort_date, flagged
        self.codes, self.multi = codes, multi
        self.vocab = {f: list(meta["vocab"][f]) for f in SINGLE_VALUED}
        self.index = {f: {v: i for i, v in enumerate(vals)} for f, vals in self.vocab.items()}
        self.words.clear()
        self.deltas.clear()
        self._all_facets = None
        self.epoch, self.seq = epoch, int(meta["seq"])
        self.saved_seq = self.seq

    def _grow(self, need: int) -> None:
        if need <= self.cap:
            return
        cap = max(1024, int(need * 1.25))

        def grown(a: np.ndarray, fill: Any) -> np.ndarray:
            out = np.full(cap, fill, dtype=a.dtype)
            out[: len(a)] = a
            return out

        self.alive = grown(self.alive, False)
        self.sort_date = grown(self.sort_date, NO_DATE)
        self.flagged = grown(self.flagged, False)
        self.codes = {f: grown(a, -1) for f, a in self.codes.items()}
        self.multi = {f: {v: grown(a, False) for v, a in vals.items()} for f, vals in self.multi.items()}
        self.words.clear()
        self.cap = cap

    def _load(self, conn: sqlite3.Connection, epoch: int, seq: int) -> None:
        self.cap = 0
        self.alive = np.zeros(0, dtype=bool)
        self.sort_date = np.zeros(0, dtype=np.int64)
        self.flagged = np.zeros(0, dtype=bool)
        self.codes = {f: np.zeros(0, dtype=np.int32) for f in SINGLE_VALUED}
        self.vocab = {f: [] for f in SINGLE_VALUED}
        self.index = {f: {} for f in SINGLE_VALUED}
        self.multi = {f: {} for f in FACET_FIELDS if f not in SINGLE_VALUED}
        self.words.clear()
        self.deltas.clear()
        self._all_facets = None
        packed = _ints(
            conn.execute(
                "SELECT group_concat(rid || ',' || sort_date || ',' || flagged) FROM docs"
            ).fetchone()[0]
        ).reshape(-1, 3)
        if len(packed):
            rids = packed[:, 0]
            self._grow(int(rids.max()) + 1)
            self.alive[rids] = True
            self.sort_date[rids] = packed[:, 1]
            self.flagged[rids] = packed[:, 2] != 0
        for field, value, concat in conn.execute(
            "SELECT field, value, group_concat(rid) FROM terms GROUP BY field, value"
        ):
            self._set(field, value, _ints(concat))
        self.epoch, self.seq = epoch, seq

    def _set(self, field: str, value: str, rids: np.ndarray) -> None:
        if not len(rids):
            return
        self._grow(int(rids.max()) + 1)
        if field in self.codes:
            code = self.index[field].get(value)
            if code is None:
                code = self.index[field][value] = len(self.vocab[field])
                self.vocab[field].append(value)
            self.codes[field][rids] = code
        elif field in self.multi:
            arr = self.multi[field].get(value)
            if arr is None:
                arr = self.multi[field][value] = np.zeros(self.cap, dtype=bool)
            arr[rids] = True

    def _apply(self, conn: sqlite3.Connection, rids: list[int]) -> None:
        if not rids:
            return
        self._grow(max(rids) + 1)
        r = np.array(rids, dtype=np.int64)
        self.alive[r] = False
        self.sort_date[r] = NO_DATE
        self.flagged[r] = False
        for a in self.codes.values():
            a[r] = -1
        for vals in self.multi.values():
            for a in vals.values():
                a[r] = False
        for i in range(0, len(rids), 500):
            chunk = rids[i : i + 500]
            marks = ",".join("?" * len(chunk))
            for rid, sort_date, flagged in conn.execute(
                f"SELECT rid, sort_date, flagged FROM docs WHERE rid IN ({marks})", chunk
            ):
                self.alive[rid] = True
                self.sort_date[rid] = sort_date
                self.flagged[rid] = bool(flagged)
            grouped: dict[tuple[str, str], list[int]] = {}
            for field, value, rid in conn.execute(
                f"SELECT field, value, rid FROM terms WHERE rid IN ({marks})", chunk
            ):
                grouped.setdefault((field, value), []).append(rid)
            for (field, value), members in grouped.items():
                self._set(field, value, np.array(members, dtype=np.int64))

    def word(self, conn: sqlite3.Connection, term: str) -> np.ndarray:
        """Documents containing ``term`` (title or body), as a boolean array by rid."""
        cached = self.words.get(term)
        if cached is not None and len(cached[1]) == self.cap:
            built, mask = cached
            if built != self.seq:
                lows = [low for seq, low in self.deltas if seq > built]
                if len(self.deltas) == 1000 and self.deltas[0][0] > built:
                    lows = [0]  # older than the deltas we remember: re-read it all
                lo = min(lows) if lows else self.cap
                mask[lo:] = False
                mask[self._matches(conn, term, lo)] = True
                self.words[term] = (self.seq, mask)
            self.words.move_to_end(term)
            return mask
        mask = np.zeros(self.cap, dtype=bool)
        mask[self._matches(conn, term, 0)] = True
        self.words[term] = (self.seq, mask)
        while len(self.words) > TERM_CACHE:
            self.words.popitem(last=False)
        return mask

    def _matches(self, conn: sqlite3.Connection, term: str, lo: int) -> np.ndarray:
        rids = _ints(
            conn.execute(
                "SELECT group_concat(rowid) FROM fts WHERE fts MATCH ? AND rowid >= ?", (f'"{term}"', lo)
            ).fetchone()[0]
        )
        return rids[rids < self.cap]

    # -- searching -----------------------------------------------------------------------------------------------
    def _filter(self, query: SearchQuery) -> np.ndarray:
        mask = self.alive.copy()
        for attr, field in FILTER_FIELDS:
            values = [v for v in getattr(query, attr) if v]
            if not values:
                continue
            if field in self.codes:
                anyof = np.zeros(self.cap, dtype=bool)
                for v in values:
                    if v in self.index[field]:
                        anyof |= self.codes[field] == self.index[field][v]
                mask &= anyof
            else:
                anyof = np.zeros(self.cap, dtype=bool)
                for v in values:
                    if v in self.multi[field]:
                        anyof |= self.multi[field][v]
                mask &= anyof
        dated = self.sort_date != NO_DATE
        if query.date_from is not None:
            mask &= dated & (self.sort_date >= analysis.to_ms(query.date_from))
        if query.date_to is not None:
            mask &= dated & (self.sort_date <= analysis.to_ms(query.date_to))
        if query.flagged_only:
            mask &= self.flagged
        return mask

    def search(self, conn: sqlite3.Connection, query: SearchQuery, terms: list[str]) -> Found | None:
        mask = self._filter(query)
        text = None
        if terms:
            text = self.word(conn, terms[0]).copy()
            for term in terms[1:]:
                text &= self.word(conn, term)
            mask &= text
        total = int(np.count_nonzero(mask))
        everything = (
            not terms
            and not any(getattr(query, a) for a, _ in FILTER_FIELDS)
            and not (query.date_from or query.date_to or query.flagged_only)
        )
        facets = self._facets(mask, everything) if query.facets else {}
        histogram = self._histogram(mask, query.histogram_interval) if query.histogram_interval else []
        need = max(0, query.offset) + max(0, query.size)
        if not total or not need or query.offset >= total:
            return Found(total, [], facets, histogram)
        if query.sort == "date" or not terms:
            ordered = self._by_date(conn, mask, need)
            if ordered is None:
                return None
        else:
            ordered = self._by_relevance(conn, terms, text, mask, need)  # type: ignore[arg-type]
        return Found(total, ordered[query.offset : need], facets, histogram)

    def _facets(self, mask: np.ndarray, everything: bool = False) -> dict[str, dict[str, int]]:
        if everything and self._all_facets is not None and self._all_facets[0] == self.seq:
            return {
                f: dict(v) for f, v in self._all_facets[1].items()
            }  # match-all: counted once per index state
        facets: dict[str, dict[str, int]] = {}
        for field in FACET_FIELDS:
            pairs: list[tuple[str, int]] = []
            if field in self.codes:
                codes = self.codes[field][mask]
                counts = np.bincount(codes[codes >= 0], minlength=len(self.vocab[field]))
                pairs = [
                    (self.vocab[field][c], int(n))
                    for c in np.flatnonzero(counts).tolist()
                    for n in [counts[c]]
                ]
            else:
                for value, arr in self.multi[field].items():
                    n = int(np.count_nonzero(arr & mask))
                    if n:
                        pairs.append((value, n))
            pairs.sort(key=lambda p: (-p[1], p[0]))
            facets[field] = dict(pairs[:FACET_SIZE])
        if everything:
            self._all_facets = (self.seq, facets)
        return facets

    def _histogram(self, mask: np.ndarray, interval: str) -> list[tuple[str, int]]:
        dates = self.sort_date[mask & (self.sort_date != NO_DATE)]
        buckets: dict[str, int] = {}
        if not len(dates):
            return analysis.fill_histogram(buckets, interval)
        days = (dates + _CST_MS) // _DAY_MS
        first = int(days.min())
        counts = np.bincount(days - first)  # O(n), where np.unique would sort
        for offset in np.flatnonzero(counts).tolist():
            day, n = first + offset, int(counts[offset])
            bucket = analysis.bucket_start(day * _DAY_MS, interval)
            buckets[bucket] = buckets.get(bucket, 0) + n
        return analysis.fill_histogram(buckets, interval)

    @staticmethod
    def _doc_ids(conn: sqlite3.Connection, rids: list[int]) -> dict[int, str]:
        out: dict[int, str] = {}
        for i in range(0, len(rids), 500):
            chunk = rids[i : i + 500]
            marks = ",".join("?" * len(chunk))
            out.update(conn.execute(f"SELECT rid, doc_id FROM docs WHERE rid IN ({marks})", chunk).fetchall())
        return out

    def _by_date(
        self, conn: sqlite3.Connection, mask: np.ndarray, need: int
    ) -> list[tuple[int, str, float]] | None:
        """The first ``need`` hits by (date desc, doc_id asc): the top dates by numpy, ties at the edge by doc_id."""
        idx = np.flatnonzero(mask)
        dates = self.sort_date[idx]
        if need < len(idx):
            edge = np.partition(dates, len(idx) - need)[len(idx) - need]  # the need-th newest date
            above = idx[dates > edge]
            tied = idx[dates == edge]
        else:
            above, tied = idx, idx[:0]
        if len(tied) > TIE_GROUP_MAX:
            return None
        chosen = np.concatenate([above, tied]).tolist()
        ids = self._doc_ids(conn, chosen)
        chosen.sort(key=lambda r: (-int(self.sort_date[r]), ids[r]))
        return [(r, ids[r], 0.0) for r in chosen[:need]]

    def _by_relevance(
        self, conn: sqlite3.Connection, terms: list[str], text: np.ndarray, mask: np.ndarray, need: int
    ) -> list[tuple[int, str, float]]:
        """bm25 (title weighted) over the word matches, newest ``SCORE_WINDOW`` at a time, until ``need`` hits."""
        match = " ".join(f'"{t}"' for t in terms)
        matches = np.flatnonzero(text)
        ranked: list[tuple[float, int]] = []
        end = len(matches)
        while end > 0 and len(ranked) < need:
            start = max(0, end - SCORE_WINDOW)
            lo, hi = int(matches[start]), int(matches[end - 1])
            window = [
                (-score, rid)
                for rid, score in conn.execute(
                    f"SELECT rowid, bm25(fts, {TITLE_WEIGHT}, 1.0) FROM fts WHERE fts MATCH ? AND rowid BETWEEN ? AND ?",
                    (match, lo, hi),
                )
                if rid < self.cap and mask[rid]
            ]
            window.sort(key=lambda p: (-p[0], p[1]))
            ranked.extend(window)
            end = start
        # Ties in score at the page's edge are ordered by doc_id, as the SQL path does.
        last = ranked[min(need, len(ranked)) - 1][0] if ranked else 0.0
        cut = need
        while cut < len(ranked) and ranked[cut][0] == last:
            cut += 1
        head = ranked[:cut]
        ids = self._doc_ids(conn, [rid for _, rid in head])
        out: list[tuple[int, str, float]] = []
        i = 0
        while i < len(head):  # re-sort each run of equal scores by doc_id
            j = i
            while j < len(head) and head[j][0] == head[i][0]:
                j += 1
            run = sorted(head[i:j], key=lambda p: ids[p[1]])
            out.extend((rid, ids[rid], score) for score, rid in run)
            i = j
        return out[:need]
