"""The source registry: YAML schema, placeholder substitution, clear errors naming source and field."""

from __future__ import annotations

from pathlib import Path

import pytest

from domain.sources import SourceConfig, SourceError, load_sources

GOOD = """
sources:
  - id: private-hospital
    name: 某某男科医院官网
    type: site
    start_urls: ["http://127.0.0.12:{demo_port}/"]
    sitemaps: ["http://127.0.0.12:{demo_port}/sitemap.xml"]
    depth: 3
    max_pages: 200
    include: ['/news/\\d{2,4}']
    exclude: []
    render: js
    schedule: "0 */6 * * *"
    institution: private-hospital
    region: 某省某市
    delay: 0.5
    concurrency: 1
  - id: news
    type: news
    feeds: ["http://127.0.0.16:{demo_port}/rss.xml"]
    schedule: null
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "sources.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_load_substitutes_placeholders_and_fills_defaults(tmp_path: Path) -> None:
    site, news = load_sources(write(tmp_path, GOOD), {"demo_port": "8765"})
    assert site.start_urls == ["http://127.0.0.12:8765/"]
    assert site.sitemaps == ["http://127.0.0.12:8765/sitemap.xml"]
    assert site.include == [r"/news/\d{2,4}"]  # regex quantifiers are not placeholders
    assert (site.render, site.delay, site.concurrency, site.institution) == ("js", 0.5, 1, "private-hospital")
    assert site.allowed_domains == ["127.0.0.12"]
    assert news.allowed_domains == ["127.0.0.16"]  # derived from the feed host
    assert (news.depth, news.max_pages, news.render, news.schedule, news.institution) == (
        3,
        200,
        "static",
        None,
        None,
    )
    assert news.allows_host("127.0.0.16") and not news.allows_host("127.0.0.160")


def test_subdomains_are_allowed() -> None:
    src = SourceConfig(id="x", start_urls=["https://www.example.cn/"], allowed_domains=["example.cn"])
    assert src.allows_host("www.example.cn") and src.allows_host("example.cn")
    assert not src.allows_host("badexample.cn")


@pytest.mark.parametrize(
    ("entry", "field"),
    [
        ("{id: a, start_urls: ['http://h:{nope}/']}", "start_urls"),
        ("{id: a, start_urls: ['ftp://h/']}", "start_urls"),
        ("{id: a, start_urls: ['http://h/'], type: forum}", "type"),
        ("{id: a, start_urls: ['http://h/'], render: webkit}", "render"),
        ("{id: a, start_urls: ['http://h/'], depth: -1}", "depth"),
        ("{id: a, start_urls: ['http://h/'], max_pages: 0}", "max_pages"),
        ("{id: a, start_urls: ['http://h/'], include: ['(']}", "include"),
        ("{id: a, start_urls: ['http://h/'], schedule: 'every day'}", "schedule"),
        ("{id: a, start_urls: ['http://h/'], allowed_domains: ['http://h']}", "allowed_domains"),
        ("{id: a, start_urls: ['http://h/'], delay: -2}", "delay"),
        ("{id: a, start_urls: ['http://h/'], colour: red}", "colour"),
        ("{id: a}", "(整体)"),
    ],
)
def test_invalid_entries_name_source_and_field(tmp_path: Path, entry: str, field: str) -> None:
    path = write(tmp_path, f"sources:\n  - {{id: ok, start_urls: ['http://h/']}}\n  - {entry}\n")
    with pytest.raises(SourceError) as err:
        load_sources(path, {"demo_port": "1"})
    assert err.value.source_id == "a" and err.value.field == field
    assert "信息源 a" in str(err.value) and field in str(err.value)


def test_duplicate_ids_and_bad_files(tmp_path: Path) -> None:
    dup = write(
        tmp_path, "sources:\n  - {id: a, start_urls: ['http://h/']}\n  - {id: a, start_urls: ['http://g/']}\n"
    )
    with pytest.raises(SourceError, match="id 重复"):
        load_sources(dup)
    with pytest.raises(SourceError, match="sources 列表"):
        load_sources(write(tmp_path, "- just a list\n"))
    with pytest.raises(SourceError, match="YAML"):
        load_sources(write(tmp_path, "sources: [unclosed\n"))
    with pytest.raises(SourceError, match="无法读取"):
        load_sources(tmp_path / "missing.yaml")


def test_demo_registry_loads_when_present() -> None:
    path = Path(__file__).resolve().parents[1] / "demo" / "sources.yaml"
    sources = load_sources(path, {"demo_port": "8765"})
    assert sources and len({s.id for s in sources}) == len(sources)
    assert all("{" not in u for s in sources for u in [*s.start_urls, *s.feeds, *s.sitemaps])


def test_console_overrides_apply_over_the_yaml(tmp_path: Path) -> None:
    path = tmp_path / "sources.yaml"
    path.write_text(
        "sources:\n"
        "  - {id: a, start_urls: ['http://a.example/'], schedule: '0 1 * * *'}\n"
        "  - {id: b, start_urls: ['http://b.example/'], enabled: false}\n",
        encoding="utf-8",
    )
    overrides = [
        {"id": "a", "fields": {"render": "js", "enabled": False}, "added": False},
        {"id": "gone", "fields": {"render": "js"}, "added": False},  # removed from the YAML: dropped
        {"id": "c", "fields": {"start_urls": ["http://c.example/"], "schedule": None}, "added": True},
    ]
    sources = {s.id: s for s in load_sources(path, {}, overrides)}
    assert list(sources) == ["a", "b", "c"]
    assert (sources["a"].render, sources["a"].enabled, sources["a"].schedule) == ("js", False, "0 1 * * *")
    assert sources["b"].enabled is False and sources["c"].schedule is None
    with pytest.raises(SourceError, match="schedule"):
        load_sources(path, {}, [{"id": "a", "fields": {"schedule": "not cron"}, "added": False}])
