"""Embedded search backend: SQLite FTS5 over jieba-segmented text, in its own file (``data_dir/search.sqlite``).

Tables: ``docs`` (one row per doc_id, the stored fields as JSON plus the sort/filter columns), ``terms`` (one row
per (field, value) of the facet fields, for filters and facet counts) and ``fts`` (FTS5, ``unicode61`` tokenizer
over the pre-segmented title and body; its rowid is ``docs.rid``). Title matches weigh ``TITLE_WEIGHT`` times a
body match in bm25.

Searching a million documents (store/search/columns.py): counts, filters, facets and the date histogram are
computed over an in-memory column copy of the facet fields (numpy arrays by ``rid``) and per-word match sets read from
FTS5 once and cached, instead of joining every match with ``docs``/``terms`` in SQL. Triggers on ``docs`` log every
changed ``rid`` in ``changes``; a searcher applies them before each query, so a search in one process sees what
another process indexed. Relevance is bm25 over all matches when a query's words match at most
``columns.SCORE_WINDOW`` (2,000) documents; beyond that, bm25 ranks the matches window by window, newest window first (the
totals, facets and histogram stay exact). Paging with ``search_after`` keeps the plain SQL path (exact bm25 order).

Thread-safe: one SQLite connection per thread (WAL lets readers run beside the writer), writes serialised by a
lock; other processes are serialised by SQLite's busy timeout.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from pathlib import Path
from typing import Any

from . import analysis, columns
from .base import FACET_FIELDS, FILTER_FIELDS, IndexDoc, SearchHit, SearchQuery, SearchResult

TITLE_WEIGHT = 5.0
FACET_SIZE = 50
NO_DATE = -(2**63)  # sort key of documents without any date: after every dated one in "newest first"
_DAY_MS = 86_400_000
_CST_MS = 8 * 3_600_000

_SCHEMA = """
CREATE TABLE IF NOT EXISTS docs (
    rid INTEGER PRIMARY KEY,
    doc_id TEXT NOT NULL UNIQUE,
    date_ms INTEGER,
    sort_date INTEGER NOT NULL,
    flagged INTEGER NOT NULL,
    data TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS docs_by_date ON docs(sort_date DESC, doc_id);
CREATE TABLE IF NOT EXISTS terms (
    field TEXT NOT NULL,
    value TEXT NOT NULL,
    rid INTEGER NOT NULL,
    PRIMARY KEY (field, value, rid)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS terms_by_rid ON terms(rid);
CREATE VIRTUAL TABLE IF NOT EXISTS fts USING fts5(title, body, tokenize = 'unicode61 remove_diacritics 0');
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
INSERT OR IGNORE INTO meta (key, value) VALUES ('epoch', abs(random() % 1000000000000));  -- per index file
CREATE TABLE IF NOT EXISTS changes (seq INTEGER PRIMARY KEY AUTOINCREMENT, rid INTEGER NOT NULL);
CREATE TRIGGER IF NOT EXISTS docs_changed_insert AFTER INSERT ON docs
    BEGIN INSERT INTO changes (rid) VALUES (new.rid); END;
CREATE TRIGGER IF NOT EXISTS docs_changed_update AFTER UPDATE ON docs
    BEGIN INSERT INTO changes (rid) VALUES (new.rid); END;
CREATE TRIGGER IF NOT EXISTS docs_changed_delete AFTER DELETE ON docs
    BEGIN INSERT INTO changes (rid) VALUES (old.rid); END;
"""
CHANGES_KEPT = 200_000  # a searcher further behind than this reloads its columns


def _field_values(fields: dict[str, Any], name: str) -> list[str]:
    value = fields.get(name)
    if value is None or value == "":
        return []
    if isinstance(value, list):
        return [str(v) for v in value if v is not None and v != ""]
    return [str(value)]


class EmbeddedSearch:
    """SQLite FTS5 search backend (the default; no server needed)."""

    name = "embedded"

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._local = threading.local()
        self._write_lock = threading.Lock()
        self._connections: list[sqlite3.Connection] = []
        self._conn_lock = threading.Lock()
        self._columns = columns.Columns(self.path.with_name(self.path.name + ".columns.npz"))
        with self._write_lock:
            self._conn().executescript(_SCHEMA)

    # -- connections -------------------------------------------------------------------------------------------

    def _conn(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self.path, timeout=30.0, isolation_level=None, check_same_thread=False)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute("PRAGMA busy_timeout=30000")
            conn.execute("PRAGMA mmap_size=1073741824")  # reads straight from the page cache
            conn.execute("PRAGMA cache_size=-65536")  # 64 MiB per connection
            self._local.conn = conn
            with self._conn_lock:
                self._connections.append(conn)
        return conn

    def close(self) -> None:
        with self._conn_lock:
            for conn in self._connections:
                conn.close()
            self._connections.clear()
        self._local = threading.local()

    # -- writes ------------------------------------------------------------------------------------------------

    def index(self, docs: list[IndexDoc]) -> None:
        if not docs:
            return
        # Segment outside the lock and the transaction: jieba is the slow part.
        prepared = []
        for doc in {d.doc_id: d for d in docs}.values():  # last one wins within a batch
            fields = analysis.doc_fields(doc)
            title_seg, text_seg = fields.pop("title_seg"), fields.pop("text_seg")
            date = analysis.doc_date(doc)
            date_ms = analysis.to_ms(date) if date else None
            prepared.append((doc.doc_id, fields, title_seg, text_seg, date_ms))
        with self._write_lock:
            conn = self._conn()
            conn.execute("BEGIN IMMEDIATE")
            try:
                for doc_id, fields, title_seg, text_seg, date_ms in prepared:
                    row = conn.execute("SELECT rid FROM docs WHERE doc_id = ?", (doc_id,)).fetchone()
                    data = json.dumps(fields, ensure_ascii=False)
                    sort_date = NO_DATE if date_ms is None else date_ms
                    flagged = 1 if fields["flagged"] else 0
                    if row:
                        rid = row[0]
                        conn.execute("DELETE FROM fts WHERE rowid = ?", (rid,))
                        conn.execute("DELETE FROM terms WHERE rid = ?", (rid,))
                        conn.execute(
                            "UPDATE docs SET date_ms = ?, sort_date = ?, flagged = ?, data = ? WHERE rid = ?",
                            (date_ms, sort_date, flagged, data, rid),
                        )
                    else:
                        rid = conn.execute(
                            "INSERT INTO docs (doc_id, date_ms, sort_date, flagged, data) VALUES (?, ?, ?, ?, ?)",
                            (doc_id, date_ms, sort_date, flagged, data),
                        ).lastrowid
                    conn.execute(
                        "INSERT INTO fts (rowid, title, body) VALUES (?, ?, ?)", (rid, title_seg, text_seg)
                    )
                    conn.executemany(
                        "INSERT OR IGNORE INTO terms (field, value, rid) VALUES (?, ?, ?)",
                        [(f, v, rid) for f in FACET_FIELDS for v in _field_values(fields, f)],
                    )
                conn.execute(
                    "DELETE FROM changes WHERE seq < (SELECT max(seq) FROM changes) - ?", (CHANGES_KEPT,)
                )
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise

    def delete(self, doc_ids: list[str]) -> None:
        if not doc_ids:
            return
        with self._write_lock:
            conn = self._conn()
            conn.execute("BEGIN IMMEDIATE")
            try:
                for doc_id in doc_ids:
                    row = conn.execute("SELECT rid FROM docs WHERE doc_id = ?", (doc_id,)).fetchone()
                    if row:
                        conn.execute("DELETE FROM fts WHERE rowid = ?", (row[0],))
                        conn.execute("DELETE FROM terms WHERE rid = ?", (row[0],))
                        conn.execute("DELETE FROM docs WHERE rid = ?", (row[0],))
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise

    def clear(self) -> None:
        with self._write_lock:
            conn = self._conn()
            conn.execute("BEGIN IMMEDIATE")
            try:
                conn.execute("DELETE FROM fts")
                conn.execute("DELETE FROM terms")
                conn.execute("DELETE FROM docs")
                conn.execute("DELETE FROM changes")
                conn.execute("UPDATE meta SET value = value + 1 WHERE key = 'epoch'")  # searchers reload
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise

    def count(self) -> int:
        return int(self._conn().execute("SELECT count(*) FROM docs").fetchone()[0])

    def doc_ids(self) -> list[str]:
        """Every indexed doc_id (for consistency checks)."""
        return [r[0] for r in self._conn().execute("SELECT doc_id FROM docs ORDER BY doc_id")]

    # -- search ------------------------------------------------------------------------------------------------

    def search(self, query: SearchQuery) -> SearchResult:
        analysis.validate_query(query.histogram_interval, query.sort, query.offset, query.size)
        if query.search_after:
            return self._search_sql(query)
        conn = self._conn()
        with self._columns.lock:
            self._columns.refresh(conn)
            found = self._columns.search(conn, query, analysis.query_terms(query.text))
        if found is None:  # a case the columns leave to SQL (a huge group of equal dates to page through)
            return self._search_sql(query)
        terms = analysis.query_terms(query.text)
        rows = found.rows
        data: dict[Any, Any] = {}
        for chunk_start in range(0, len(rows), 500):
            chunk = [rid for rid, _, _ in rows[chunk_start : chunk_start + 500]]
            marks = ",".join("?" * len(chunk))
            data.update(conn.execute(f"SELECT rid, data FROM docs WHERE rid IN ({marks})", chunk).fetchall())
        hits = [self._hit(data[rid], score if terms else 0.0, terms) for rid, _, score in rows if rid in data]
        next_cursor = None
        if rows and len(rows) == query.size:
            rid, doc_id, score = rows[-1]
            by_date = query.sort == "date" or not terms
            next_cursor = [int(self._columns.sort_date[rid]) if by_date else score, doc_id]
        return SearchResult(
            total=found.total,
            hits=hits,
            facets=found.facets,
            histogram=found.histogram,
            next_cursor=next_cursor,
        )

    def _search_sql(self, query: SearchQuery) -> SearchResult:
        """The plain SQL path: every match joined in SQL (exact bm25 order; used for ``search_after`` paging)."""
        terms = analysis.query_terms(query.text)
        params: list[Any] = []
        if terms:
            match = " ".join(f'"{t}"' for t in terms)
            base = (
                f"SELECT d.rid AS rid, d.doc_id AS doc_id, d.sort_date AS sort_date, d.date_ms AS date_ms, "
                f"-bm25(fts, {TITLE_WEIGHT}, 1.0) AS score, d.data AS data "
                "FROM fts JOIN docs d ON d.rid = fts.rowid WHERE fts MATCH ?"
            )
            params.append(match)
        else:
            base = (
                "SELECT d.rid AS rid, d.doc_id AS doc_id, d.sort_date AS sort_date, d.date_ms AS date_ms, "
                "0.0 AS score, d.data AS data FROM docs d WHERE 1"
            )
        for attr, field in FILTER_FIELDS:
            values = [v for v in getattr(query, attr) if v]
            if values:
                marks = ",".join("?" * len(values))
                base += f" AND d.rid IN (SELECT rid FROM terms WHERE field = ? AND value IN ({marks}))"
                params += [field, *values]
        if query.date_from is not None:
            base += " AND d.date_ms >= ?"
            params.append(analysis.to_ms(query.date_from))
        if query.date_to is not None:
            base += " AND d.date_ms <= ?"
            params.append(analysis.to_ms(query.date_to))
        if query.flagged_only:
            base += " AND d.flagged = 1"

        conn = self._conn()
        cte = f"WITH m AS ({base}) "
        match_all = not params  # no words, no filters: count and facet straight from the tables' indexes
        count_sql = "SELECT count(*) FROM docs" if match_all else cte + "SELECT count(*) FROM m"
        total = int(conn.execute(count_sql, params).fetchone()[0])

        by_date = query.sort == "date" or not terms
        key = "sort_date" if by_date else "score"
        page_sql = cte + "SELECT doc_id, sort_date, score, data FROM m"
        page_params = list(params)
        if query.search_after:
            cursor_key, cursor_id = query.search_after[0], str(query.search_after[1])
            page_sql += f" WHERE ({key} < ? OR ({key} = ? AND doc_id > ?))"
            page_params += [cursor_key, cursor_key, cursor_id]
            offset = 0
        else:
            offset = max(0, query.offset)
        page_sql += f" ORDER BY {key} DESC, doc_id ASC LIMIT ? OFFSET ?"
        page_params += [max(0, query.size), offset]
        rows = conn.execute(page_sql, page_params).fetchall()

        hits = [self._hit(data, score if terms else 0.0, terms) for _, _, score, data in rows]
        next_cursor = None
        if rows and len(rows) == query.size:
            last = rows[-1]
            next_cursor = [last[1] if by_date else last[2], last[0]]

        facets: dict[str, dict[str, int]] = {}
        if query.facets:
            facets = {f: {} for f in FACET_FIELDS}
            counted: dict[str, list[tuple[str, int]]] = {f: [] for f in FACET_FIELDS}
            facet_sql = "SELECT field, value, count(*) FROM terms GROUP BY field, value"
            if not match_all:
                facet_sql = cte + facet_sql.replace(
                    "FROM terms", "FROM terms WHERE rid IN (SELECT rid FROM m)"
                )
            for field, value, n in conn.execute(facet_sql, params):
                counted[field].append((value, n))
            for field, pairs in counted.items():
                pairs.sort(key=lambda p: (-p[1], p[0]))
                facets[field] = dict(pairs[:FACET_SIZE])

        histogram: list[tuple[str, int]] = []
        if query.histogram_interval:
            buckets: dict[str, int] = {}
            for day, n in conn.execute(
                cte + f"SELECT (date_ms + {_CST_MS}) / {_DAY_MS} AS day, count(*) FROM m "
                "WHERE date_ms IS NOT NULL GROUP BY day",
                params,
            ):
                bucket = analysis.bucket_start(day * _DAY_MS, query.histogram_interval)
                buckets[bucket] = buckets.get(bucket, 0) + n
            histogram = analysis.fill_histogram(buckets, query.histogram_interval)

        return SearchResult(
            total=total, hits=hits, facets=facets, histogram=histogram, next_cursor=next_cursor
        )

    @staticmethod
    def _hit(data: str, score: float, terms: list[str]) -> SearchHit:
        f = json.loads(data)
        return SearchHit(
            doc_id=f["doc_id"],
            url=f["url"],
            title=f["title"],
            score=float(score),
            highlights=analysis.highlight(f["text"], terms, f["title"]),
            labels=f["labels"],
            categories=f["categories"],
            severities=f["severities"],
            source_id=f["source_id"],
            institution_id=f["institution_id"],
            region=f["region"],
            published_at=analysis.parse_dt(f["published_at"]),
            fetched_at=analysis.parse_dt(f["fetched_at"]),
        )
