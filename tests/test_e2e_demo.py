"""End to end: crawl the bundled demo web through the real CLI (Scrapy, Playwright/Chromium for the JS source,
OCR, rules + model, SQLite store, embedded search) and check what demo/expected.yaml says about each page."""

from __future__ import annotations

import json
import subprocess
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

import demo
from config import get_settings
from demo.server import DemoWeb
from domain.urls import doc_id_for
from store.db import Store
from tests.demo_env import DEMO_DIR, YIJIAN, demo_env

pytestmark = pytest.mark.e2e


def _load_expected(port: int) -> dict[str, Any]:
    text = (DEMO_DIR / "expected.yaml").read_text(encoding="utf-8").replace("{demo_port}", str(port))
    return yaml.safe_load(text)


@dataclass
class Run:
    web: DemoWeb
    port: int
    data: Path
    env: dict[str, str]
    expected: dict[str, Any]
    first: dict[str, Any]
    second: dict[str, Any]
    third: dict[str, Any]
    first_log: list[tuple[float, str, str, str, int]]
    store: Store

    def cli(self, *args: str) -> Any:
        proc = subprocess.run([*YIJIAN, *args], env=self.env, capture_output=True, text=True, timeout=300)
        assert proc.returncode == 0, proc.stderr[-3000:]
        return json.loads(proc.stdout)

    def doc(self, url: str) -> dict[str, Any]:
        doc = self.store.get_document(doc_id_for(url))
        assert doc is not None, f"not stored: {url}"
        return doc


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory):
    web = DemoWeb()
    web.start()
    assert web.port is not None
    data = tmp_path_factory.mktemp("e2e-data")
    env = demo_env(data, web.port)

    def crawl() -> dict[str, Any]:
        proc = subprocess.run(
            [*YIJIAN, "crawl", "--all", "--json"], env=env, capture_output=True, text=True, timeout=600
        )
        assert proc.returncode == 0, proc.stderr[-5000:]
        return json.loads(proc.stdout)

    first = crawl()
    first_log = list(web.access_log)
    second = crawl()
    web.set_revision(2)
    third = crawl()
    store = Store.from_settings(get_settings(data_dir=data))
    r = Run(web, web.port, data, env, _load_expected(web.port), first, second, third, first_log, store)
    yield r
    store.close()
    web.stop()


def _pages(run: Run, key: str) -> list[dict[str, Any]]:
    return [p for p in run.expected["pages"] if p.get(key)]


def test_first_crawl_summary(run: Run) -> None:
    s = run.first
    assert s["new"] >= 45, s
    assert s["errors"] >= 9
    for kind in ("http_404", "http_500", "redirect_loop", "too_large", "not_html", "empty_page", "timeout",
                 "trap", "robots_disallowed", "deleted"):  # fmt: skip
        assert s["errors_by_kind"].get(kind, 0) >= 1, (kind, s["errors_by_kind"])


@pytest.mark.parametrize("key", ["must_categories", "must_not_categories", "must_labels", "must_not_labels"])
def test_expected_flags(run: Run, key: str) -> None:
    """Specific flags (category + legal basis) on specific pages; none on lawful pages and hard negatives."""
    problems = []
    for page in _pages(run, key):
        doc = run.doc(page["url"])
        cats = {f["category"] for f in doc["findings"]}
        labels = set(doc["version"]["labels"])
        want = set(page[key])
        if key == "must_categories" and not want <= cats:
            problems.append(f"{page['url']}: missing {sorted(want - cats)} (has {sorted(cats)})")
        if key == "must_not_categories" and want & cats:
            problems.append(f"{page['url']}: unexpected {sorted(want & cats)}")
        if key == "must_labels" and not want <= labels:
            problems.append(f"{page['url']}: missing label {sorted(want - labels)} (has {sorted(labels)})")
        if key == "must_not_labels" and want & labels:
            bad = [f for f in doc["findings"] if f["label"] in want & labels]
            problems.append(f"{page['url']}: unexpected label {sorted(want & labels)} from {bad[:3]}")
    assert not problems, "\n".join(problems)


def test_rule_findings_carry_legal_basis_and_span(run: Run) -> None:
    page = next(p for p in run.expected["pages"] if p["url"].endswith("/treatment.html"))
    doc = run.doc(page["url"])
    text = doc["version"]["text"]
    title = doc["version"]["title"]
    rule_hits = [f for f in doc["findings"] if f["source"].startswith("rules:") and f["end"] > f["start"]]
    assert rule_hits
    for f in rule_hits:
        assert f["legal_basis"] and f["severity"]
        body = {"text": text, "title": title}.get(f["field"])
        if body is not None:
            assert body[f["start"] : f["end"]] == f["text"]
    guarantee = [f for f in rule_hits if f["category"] == "ad_efficacy_guarantee"]
    assert guarantee and all("广告法" in f["legal_basis"] for f in guarantee)


def test_error_pages_recorded_by_kind(run: Run) -> None:
    errors = run.store.list_errors(run_id=run.first["run_id"])
    by_kind: dict[str, set[str]] = {}
    for e in errors:
        by_kind.setdefault(e["kind"], set()).add(e["url"])
    for page in _pages(run, "error_kind"):
        kind = page["error_kind"]
        urls = by_kind.get(kind, set())
        if kind == "trap":
            prefix = page["url"].rsplit("/", 2)[0]
            assert any(u.startswith(prefix) for u in urls), (kind, urls)
        else:
            assert page["url"] in urls, (page["url"], kind, by_kind)


def test_trap_is_bounded(run: Run) -> None:
    calendar = [r for r in run.first_log if r[1] == "messy" and r[3].startswith("/calendar/")]
    assert 1 <= len(calendar) <= 30


def test_js_only_claim_found_only_by_rendering(run: Run) -> None:
    url = run.expected["js_only_url"]
    raw = urllib.request.urlopen(url, timeout=10).read().decode("utf-8")
    for snippet in run.expected["js_only_text"]:
        assert snippet not in raw
    doc = run.doc(url)
    assert doc["version"]["rendered"] is True
    assert all(s in doc["version"]["text"] for s in run.expected["js_only_text"])
    cats = {f["category"] for f in doc["findings"]}
    assert {"ad_efficacy_guarantee", "ad_cure_rate_stats"} <= cats


def test_gbk_pages_decoded(run: Run) -> None:
    pages = [p for p in _pages(run, "must_contain") if "127.0.0.17" in p["url"]]
    assert pages
    for page in pages:
        doc = run.doc(page["url"])
        blob = doc["version"]["title"] + "\n" + doc["version"]["text"]
        for snippet in page["must_contain"]:
            assert snippet in blob, (page["url"], snippet)
        assert "\ufffd" not in blob


def test_image_only_claim_found_by_ocr(run: Run) -> None:
    doc = run.doc(run.expected["ocr_url"])
    src = run.expected["ocr_image_src"]
    for snippet in run.expected["ocr_text"]:
        assert snippet not in doc["version"]["text"]
    ocr_hits = [f for f in doc["findings"] if f["field"] == f"image:{src}"]
    assert ocr_hits, doc["findings"]
    assert any(f["label"] == "exaggerated_efficacy" for f in ocr_hits)
    assert "exaggerated_efficacy" in doc["version"]["labels"]


def test_crawl_delay_honoured(run: Run) -> None:
    """robots.txt says Crawl-delay: 1. Scrapy spaces the *dispatch* of requests; their arrival here can lag when
    the reactor thread waits for the GIL (OCR and the model run in worker threads), which shortens one gap and
    lengthens another. So the check is the schedule: the k-th request after robots.txt arrives no earlier than
    k delays after it (minus the time robots.txt takes to reach the crawler)."""
    host = run.expected["crawl_delay_host"]
    site = next(k for k, v in demo.SITES.items() if v == host)
    log = sorted((t, path) for t, s, _method, path, _status in run.first_log if s == site)
    robots = next(t for t, path in log if path == "/robots.txt")
    times = [t for t, path in log if path != "/robots.txt"]
    assert len(times) >= 4
    for k, t in enumerate(times, start=1):
        assert t - robots >= k * 1.0 - 0.2, (k, [round(x - robots, 2) for x in times])


def test_robots_disallow_and_sitemap(run: Run) -> None:
    disallowed = run.expected["robots_disallowed_url"]
    path = disallowed.split(str(run.port), 1)[1]
    assert not [r for r in run.first_log if r[3] == path]
    assert run.store.get_document(doc_id_for(disallowed)) is None
    run.doc(run.expected["sitemap_only_url"])


def test_recrawl_reanalyses_nothing_unchanged(run: Run) -> None:
    assert run.second["new"] == 0 and run.second["changed"] == 0, run.second
    assert run.store.run_stats(run.second["run_id"])["versions_created"] == 0
    changed = run.expected["changed_url"]
    assert run.third["changed"] == 1 and run.third["new"] == 0, run.third
    doc = run.doc(changed)
    assert [v["version"] for v in doc["versions"]] == [1, 2]
    assert run.expected["changed_text"] in doc["version"]["text"]
    other = run.doc(run.expected["js_only_url"])
    assert len(other["versions"]) == 1


def test_search_cli_returns_flagged_demo_pages(run: Run) -> None:
    res = run.cli("search", "根治", "--json")
    urls = {h["url"] for h in res["hits"]}
    flagged = [h for h in res["hits"] if "exaggerated_efficacy" in h["labels"]]
    assert any(u.endswith("/treatment.html") for u in urls)
    assert len(flagged) >= 3
    for h in res["hits"]:
        assert "<script" not in "".join(h["highlights"]).lower()
    only = run.cli("search", "根治", "--label", "exaggerated_efficacy", "--json")
    assert only["total"] == len(flagged) or only["total"] >= len(flagged)
    assert all("exaggerated_efficacy" in h["labels"] for h in only["hits"])


def test_stats_cli(run: Run) -> None:
    stats = run.cli("stats", "--json")
    assert stats["documents"] >= 45
    assert stats["versions"] == stats["documents"] + 1
    assert stats["errors_by_kind"]["redirect_loop"] >= 1


def test_elasticsearch_backend_gives_the_same_hits(run: Run) -> None:
    """The same store indexed into the Elasticsearch backend (osmem-server here) answers like the embedded one."""
    from store.indexer import Indexer
    from store.search.base import SearchQuery
    from store.search.embedded import EmbeddedSearch
    from tests.osmem import OsmemProcess, es_backend

    embedded = EmbeddedSearch(run.data / "search.sqlite")
    with OsmemProcess() as osmem:
        es = es_backend(osmem.url, "e2e", run.data)
        es.install()
        report = Indexer(run.store, es).rebuild()
        assert es.count() == embedded.count() == len(run.store.all_doc_ids()), report
        for query in (
            SearchQuery(text="根治", size=50),
            SearchQuery(text="根治", labels=["exaggerated_efficacy"], size=50),
            SearchQuery(text="医院 投诉", size=50),
            SearchQuery(categories=["svc_non_medical_beauty"], size=50),
        ):
            a, b = embedded.search(query), es.search(query)
            assert a.total == b.total, query
            assert {h.doc_id for h in a.hits} == {h.doc_id for h in b.hits}, query
            assert a.facets.get("labels") == b.facets.get("labels"), query
