"""Elasticsearch 8 search backend (official ``elasticsearch`` client, 8.x line).

Layout (names from ``index_config.Names``): documents live in ``{prefix}-docs-NNNNNN`` indices behind the read
alias ``{prefix}-docs`` and the write alias ``{prefix}-docs-write``; findings (one record per rule hit / model
label, for trend analytics) likewise under ``{prefix}-findings``. On real Elasticsearch an ILM policy rolls the
write index over by age/size; since a document is updated in place, re-indexing a doc_id that lives in an older
backing index writes to that index (located by an ids query), so rollover never duplicates a document.

The query side mirrors the embedded backend (``store.search.analysis``): the pre-segmented ``title_seg`` /
``text_seg`` fields (``whitespace`` analyzer), every query word must match in the title or the body, keyword
filters, terms aggregations for facets, a ``date_histogram`` in China Standard Time, and ``search_after`` paging
with a tiebreaker sort on ``doc_id`` (no point-in-time, so it works on every cluster). Highlights are made from
the stored original text with the same code as the embedded backend.

Connection failures (after the client's own retries) raise ``SearchUnavailable``; documents the cluster rejects
raise ``SearchIndexRejected`` naming each doc_id and reason, after the others were indexed.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from elasticsearch import ApiError, Elasticsearch, TransportError, helpers

import index_config
from config import Settings

from . import analysis
from .base import (
    FACET_FIELDS,
    FILTER_FIELDS,
    IndexDoc,
    SearchHit,
    SearchIndexRejected,
    SearchQuery,
    SearchResult,
    SearchUnavailable,
)

log = logging.getLogger(__name__)

TITLE_BOOST = 5.0
FACET_SIZE = 50
BULK_CHUNK = 500
_RETRY_STATUS = (429, 502, 503, 504)
_SOURCE_EXCLUDES = ["title_seg", "text_seg", "findings", "scores"]


def build_client(settings: Settings, **options: Any) -> Elasticsearch:
    """An ``Elasticsearch`` client from the settings: hosts, basic auth or API key, CA certificate, retries."""
    hosts = [h.strip() for h in settings.es_url.split(",") if h.strip()]
    kwargs: dict[str, Any] = {
        "request_timeout": 30,
        "max_retries": 3,
        "retry_on_timeout": True,
        "retry_on_status": _RETRY_STATUS,
    }
    if settings.es_api_key:
        kwargs["api_key"] = settings.es_api_key
    elif settings.es_username:
        kwargs["basic_auth"] = (settings.es_username, settings.es_password or "")
    if settings.es_ca_cert:
        kwargs["ca_certs"] = str(settings.es_ca_cert)
    kwargs.update(options)
    return Elasticsearch(hosts, **kwargs)


class ElasticSearch:
    """Search backend on an Elasticsearch 8 cluster."""

    name = "elasticsearch"

    def __init__(
        self,
        settings: Settings,
        *,
        refresh: bool = False,
        client: Elasticsearch | None = None,
        **client_options: Any,
    ) -> None:
        """``refresh=True`` makes every write visible to search at once (tests, CLI); the default relies on the
        index refresh interval (near real time, much cheaper for crawls). ``client_options`` go to the client."""
        self.settings = settings
        self.names = index_config.Names(settings.es_index_prefix)
        self.refresh = refresh
        self.client = client or build_client(settings, **client_options)
        self._ready = False

    # -- errors ------------------------------------------------------------------------------------------------

    @contextmanager
    def _guard(self, what: str) -> Iterator[None]:
        try:
            yield
        except TransportError as exc:  # connection refused/reset, timeout: after the client's retries
            raise SearchUnavailable(f"Elasticsearch 不可达（{what}）: {exc}") from exc
        except ApiError as exc:
            if exc.meta.status in _RETRY_STATUS or exc.meta.status >= 500:
                raise SearchUnavailable(f"Elasticsearch 暂不可用（{what}）: HTTP {exc.meta.status}") from exc
            if exc.meta.status in (401, 403):  # credentials/privileges: an operator must act; documents wait
                raise SearchUnavailable(
                    f"Elasticsearch 认证或权限失败（{what}）: HTTP {exc.meta.status}"
                ) from exc
            raise

    # -- installation ------------------------------------------------------------------------------------------

    def capabilities(self) -> dict[str, Any]:
        """What the cluster offers: distribution, version, and whether ILM is there."""
        with self._guard("info"):
            info = self.client.info().body
        version = info.get("version", {})
        distribution = version.get("distribution", "elasticsearch")
        ilm = False
        if distribution == "elasticsearch":
            with self._guard("ilm"):
                try:
                    self.client.ilm.get_status()
                    ilm = True
                except ApiError as exc:
                    if exc.meta.status not in (400, 403, 404, 405, 410):
                        raise
        return {"distribution": distribution, "version": version.get("number", ""), "ilm": ilm}

    def install(
        self,
        *,
        analyzer_profile: str | None = None,
        shards: int | None = None,
        replicas: int | None = None,
    ) -> list[str]:
        """Install (or update) policies and templates and bootstrap the indices. Idempotent. Returns what was
        done, in Chinese, for the operator."""
        caps = self.capabilities()
        plan = index_config.install_plan(
            self.names.prefix,
            ilm=caps["ilm"],
            analyzer_profile=analyzer_profile,
            shards=shards,
            replicas=replicas,
        )
        done = [f"集群: {caps['distribution']} {caps['version']}"]
        with self._guard("install"):
            if caps["ilm"]:
                for name, policy in plan.ilm_policies.items():
                    self.client.ilm.put_lifecycle(name=name, policy=policy)
                    done.append(f"ILM 策略 {name}: 已安装（按时间/大小滚动）")
            else:
                done.append("ILM: 该集群不支持（如 OpenSearch/osmem），已跳过；索引不会自动滚动")
            for name, body in plan.component_templates.items():
                self.client.cluster.put_component_template(name=name, **body)
                done.append(f"组件模板 {name}: 已安装")
            for name, body in plan.index_templates.items():
                self.client.indices.put_index_template(name=name, **body)
                done.append(f"索引模板 {name}: 已安装")
            for kind in index_config.KINDS:
                write = self.names.write_alias(kind)
                if self.client.indices.exists_alias(name=write):
                    done.append(f"写别名 {write}: 已存在")
                    continue
                first = self.names.first_index(kind)
                self.client.indices.create(index=first, aliases={write: {"is_write_index": True}})
                done.append(f"索引 {first}: 已创建（读别名 {self.names.read_alias(kind)}，写别名 {write}）")
        self._ready = True
        return done

    def _ensure_ready(self) -> None:
        """Install on first write when nobody ran ``yijian index install`` (writing to a missing alias would
        silently create a plain index of that name)."""
        if self._ready:
            return
        with self._guard("exists_alias"):
            ready = all(
                self.client.indices.exists_alias(name=self.names.write_alias(k)) for k in index_config.KINDS
            )
        if not ready:
            self.install()
        self._ready = True

    # -- writes ------------------------------------------------------------------------------------------------

    def _locate(self, doc_ids: list[str]) -> dict[str, str]:
        """Concrete index of each already indexed doc_id (they may sit in an index rolled over since)."""
        found: dict[str, str] = {}
        for i in range(0, len(doc_ids), 1000):
            chunk = doc_ids[i : i + 1000]
            res = self.client.search(
                index=self.names.read_alias("docs"),
                query={"ids": {"values": chunk}},
                source=False,
                size=len(chunk),
            )
            for hit in res["hits"]["hits"]:
                found[hit["_id"]] = hit["_index"]
        return found

    def index(self, docs: list[IndexDoc]) -> None:
        if not docs:
            return
        unique = list({d.doc_id: d for d in docs}.values())
        bodies = {d.doc_id: analysis.doc_fields(d) for d in unique}
        self._ensure_ready()
        failures: dict[str, str] = {}
        with self._guard("bulk"):
            where = self._locate(list(bodies))
            write = self.names.write_alias("docs")
            actions = (
                {"_op_type": "index", "_index": where.get(doc_id, write), "_id": doc_id, "_source": body}
                for doc_id, body in bodies.items()
            )
            failures.update(self._bulk(actions))
            self._index_findings([b for k, b in bodies.items() if k not in failures], replaced=set(where))
        if failures:
            raise SearchIndexRejected(failures)

    def _bulk(self, actions: Any) -> dict[str, str]:
        """Stream actions in chunks; 429s are retried with exponential backoff by the helper, connection errors and
        5xx by the transport. Returns {doc_id: reason} of the items the cluster rejected."""
        failures: dict[str, str] = {}
        for ok, item in helpers.streaming_bulk(
            self.client,
            actions,
            chunk_size=BULK_CHUNK,
            max_retries=5,
            initial_backoff=1,
            max_backoff=30,
            raise_on_error=False,
            raise_on_exception=True,
            refresh=self.refresh,
        ):
            if not ok:
                info = next(iter(item.values()))
                status = info.get("status", 0)
                if status in _RETRY_STATUS or status >= 500:
                    raise SearchUnavailable(f"Elasticsearch 批量写入失败: HTTP {status}")
                error = info.get("error", {})
                reason = error.get("reason", str(error)) if isinstance(error, dict) else str(error)
                failures[str(info.get("_id"))] = f"HTTP {status}: {reason}"
        return failures

    def _index_findings(self, bodies: list[dict[str, Any]], replaced: set[str]) -> None:
        """Replace the finding records of these documents. Old records of re-indexed documents are deleted by
        query first (they may sit in any backing index); brand-new documents skip that round trip."""
        if not bodies:
            return
        old = [b["doc_id"] for b in bodies if b["doc_id"] in replaced]
        if old:
            findings = self.names.read_alias("findings")
            self.client.indices.refresh(index=findings)  # delete by query only sees refreshed records
            self.client.delete_by_query(
                index=findings, query={"terms": {"doc_id": old}}, conflicts="proceed", refresh=True
            )
        actions = []
        for body in bodies:
            for i, finding in enumerate(body["findings"]):
                record = {
                    k: finding.get(k) for k in ("category", "label", "severity", "legal_basis", "start")
                }
                record.update(
                    {k: finding.get(k) for k in ("end", "text", "source", "field", "score", "reason")}
                )
                record.update(
                    {k: body[k] for k in ("doc_id", "url", "source_id", "institution_id", "region", "date")}
                )
                actions.append(
                    {
                        "_op_type": "index",
                        "_index": self.names.write_alias("findings"),
                        "_id": f"{body['doc_id']}#{i}",
                        "_source": record,
                    }
                )
        if actions:
            self._bulk(actions)

    def delete(self, doc_ids: list[str]) -> None:
        if not doc_ids:
            return
        self._ensure_ready()
        with self._guard("delete"):
            for kind in index_config.KINDS:
                self.client.indices.refresh(
                    index=self.names.read_alias(kind)
                )  # delete by query sees refreshed docs
                self.client.delete_by_query(
                    index=self.names.read_alias(kind),
                    query={"terms": {"doc_id": list(doc_ids)}},
                    conflicts="proceed",
                    refresh=True,
                )

    def delete_before(self, before: datetime) -> int:
        """Retention: delete documents (and their findings) dated before ``before``; returns documents deleted."""
        self._ensure_ready()
        query = {"range": {"date": {"lt": analysis.as_utc(before).isoformat()}}}  # type: ignore[union-attr]
        with self._guard("delete_by_query"):
            res = self.client.delete_by_query(
                index=self.names.read_alias("docs"), query=query, conflicts="proceed", refresh=True
            )
            self.client.delete_by_query(
                index=self.names.read_alias("findings"), query=query, conflicts="proceed", refresh=True
            )
        return int(res.get("deleted", 0))

    def reindex_in_place(self, query: SearchQuery | None = None) -> int:
        """Re-analysis after a mapping/analyzer change (e.g. an analyzer profile installed later): update by query
        without a script re-indexes the matching documents from their _source. Returns documents updated."""
        self._ensure_ready()
        body_query = self._query(query or SearchQuery(), analysis.query_terms((query or SearchQuery()).text))
        with self._guard("update_by_query"):
            res = self.client.update_by_query(
                index=self.names.read_alias("docs"), query=body_query, conflicts="proceed", refresh=True
            )
        return int(res.get("updated", 0))

    def clear(self) -> None:
        self._ensure_ready()
        with self._guard("clear"):
            for kind in index_config.KINDS:
                self.client.indices.refresh(index=self.names.read_alias(kind))
                self.client.delete_by_query(
                    index=self.names.read_alias(kind),
                    query={"match_all": {}},
                    conflicts="proceed",
                    refresh=True,
                )

    def count(self) -> int:
        with self._guard("count"):
            try:
                return int(self.client.count(index=self.names.read_alias("docs"))["count"])
            except ApiError as exc:
                if exc.meta.status == 404:  # not installed yet: nothing indexed
                    return 0
                raise

    def doc_ids(self) -> list[str]:
        """Every indexed doc_id (for consistency checks; pages with search_after)."""
        ids: list[str] = []
        after: list[Any] | None = None
        with self._guard("doc_ids"):
            while True:
                res = self.client.search(
                    index=self.names.read_alias("docs"),
                    query={"match_all": {}},
                    sort=[{"doc_id": "asc"}],
                    source=False,
                    size=1000,
                    search_after=after,
                )
                hits = res["hits"]["hits"]
                ids += [h["_id"] for h in hits]
                if len(hits) < 1000:
                    return ids
                after = hits[-1]["sort"]

    # -- search ------------------------------------------------------------------------------------------------

    def _query(self, query: SearchQuery, terms: list[str]) -> dict[str, Any]:
        must = [
            {
                "multi_match": {
                    "query": t,
                    "type": "most_fields",
                    "fields": [f"title_seg^{TITLE_BOOST}", "text_seg"],
                }
            }
            for t in terms
        ]
        filters: list[dict[str, Any]] = []
        for attr, field in FILTER_FIELDS:
            values = [v for v in getattr(query, attr) if v]
            if values:
                filters.append({"terms": {field: values}})
        date_range: dict[str, str] = {}
        if query.date_from is not None:
            date_range["gte"] = analysis.as_utc(query.date_from).isoformat()  # type: ignore[union-attr]
        if query.date_to is not None:
            date_range["lte"] = analysis.as_utc(query.date_to).isoformat()  # type: ignore[union-attr]
        if date_range:
            filters.append({"range": {"date": date_range}})
        if query.flagged_only:
            filters.append({"term": {"flagged": True}})
        if not must and not filters:
            return {"match_all": {}}
        return {"bool": {"must": must, "filter": filters}}

    def search(self, query: SearchQuery) -> SearchResult:
        analysis.validate_query(query.histogram_interval, query.sort, query.offset, query.size)
        terms = analysis.query_terms(query.text)
        by_date = query.sort == "date" or not terms
        sort: list[Any] = (
            [{"date": {"order": "desc", "missing": "_last"}}, {"doc_id": "asc"}]
            if by_date
            else [{"_score": "desc"}, {"doc_id": "asc"}]
        )
        body: dict[str, Any] = {
            "query": self._query(query, terms),
            "sort": sort,
            "size": max(0, query.size),
            "track_total_hits": True,
            "_source": {"excludes": _SOURCE_EXCLUDES},
        }
        if query.search_after:
            body["search_after"] = list(query.search_after)
        elif query.offset:
            body["from"] = max(0, query.offset)
        aggs: dict[str, Any] = {}
        if query.facets:
            for field in FACET_FIELDS:
                aggs[f"facet_{field}"] = {
                    "terms": {
                        "field": field,
                        "size": FACET_SIZE,
                        "order": [{"_count": "desc"}, {"_key": "asc"}],
                    }
                }
        if query.histogram_interval:
            aggs["histogram"] = {
                "date_histogram": {
                    "field": "date",
                    "calendar_interval": query.histogram_interval,
                    "time_zone": "+08:00",
                    "format": "yyyy-MM-dd",
                    "min_doc_count": 0,
                }
            }
        if aggs:
            body["aggs"] = aggs
        with self._guard("search"):
            try:
                res = self.client.search(index=self.names.read_alias("docs"), **body).body
            except ApiError as exc:
                if exc.meta.status == 404:  # nothing installed/indexed yet
                    return SearchResult(
                        total=0, hits=[], facets={f: {} for f in FACET_FIELDS} if query.facets else {}
                    )
                raise
        raw_hits = res["hits"]["hits"]
        hits = [self._hit(h, terms) for h in raw_hits]
        next_cursor = list(raw_hits[-1]["sort"]) if raw_hits and len(raw_hits) == query.size else None
        aggregations = res.get("aggregations", {})
        facets: dict[str, dict[str, int]] = {}
        if query.facets:
            for field in FACET_FIELDS:
                buckets = aggregations.get(f"facet_{field}", {}).get("buckets", [])
                facets[field] = {str(b["key"]): int(b["doc_count"]) for b in buckets}
        histogram: list[tuple[str, int]] = []
        if query.histogram_interval:
            buckets = aggregations.get("histogram", {}).get("buckets", [])
            histogram = [(b["key_as_string"], int(b["doc_count"])) for b in buckets]
            while histogram and histogram[0][1] == 0:
                histogram.pop(0)
            while histogram and histogram[-1][1] == 0:
                histogram.pop()
        total = res["hits"]["total"]
        return SearchResult(
            total=int(total["value"] if isinstance(total, dict) else total),
            hits=hits,
            facets=facets,
            histogram=histogram,
            next_cursor=next_cursor,
        )

    @staticmethod
    def _hit(hit: dict[str, Any], terms: list[str]) -> SearchHit:
        f = hit["_source"]
        return SearchHit(
            doc_id=f["doc_id"],
            url=f["url"],
            title=f["title"],
            score=float(hit.get("_score") or 0.0) if terms else 0.0,
            highlights=analysis.highlight(f.get("text") or "", terms, f.get("title") or ""),
            labels=list(f.get("labels") or []),
            categories=list(f.get("categories") or []),
            severities=list(f.get("severities") or []),
            source_id=f["source_id"],
            institution_id=f.get("institution_id"),
            region=f.get("region"),
            published_at=analysis.parse_dt(f.get("published_at")),
            fetched_at=analysis.parse_dt(f.get("fetched_at")),
        )
