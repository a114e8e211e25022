"""Issue 13's defects, one test each (each fails on the code before the fix): the store's single-transaction save
and interrupted runs, bounded rule matching, session ids, near-duplicates, the declared charset, gzip bombs, rendered
pages without conditional GET, deep paging and cursors, failed extraction's exit status, and the size and time caps
of `yijian extract|analyze`. Crash tests with real processes are in tests/test_faults.py, hostile input in
tests/test_hostile.py."""

from __future__ import annotations

import gzip
import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scrapy import Request
from scrapy.exceptions import IgnoreRequest

from app.analysis import InputError, read_input
from classifiers.rules import MAX_HITS_PER_RULE, default_engine
from crawlers.downloadermiddlewares.conditional import ConditionalGetMiddleware
from crawlers.items import classify_exception
from domain import Extracted, Finding
from domain.fingerprint import NEAR_DUPLICATE_BITS, simhash
from domain.urls import canonical_url, doc_id_for
from pipelines.decode import decode_body
from store.db import Store
from tests.demo_env import YIJIAN

T0 = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    s = Store(f"sqlite:///{tmp_path / 'y.db'}", tmp_path / "blobs")
    yield s
    s.close()


def item(url: str, text: str, **extra: object) -> dict:
    return {
        "run_id": None, "source_id": "src", "url": url, "final_url": url,
        "extracted": Extracted(url=url, title="t", text=text), "content_hash": f"h:{text}", "raw": text.encode(),
        "headers": {}, "fetched_at": T0, "rendered": False, "institution_id": None, "region": None, **extra,
    }  # fmt: skip


HIT = Finding(
    category="ad_efficacy_guarantee", label="exaggerated_efficacy", start=0, end=2, text="根治",
    legal_basis="《广告法》第16条", severity="S2", source="rules:x",
)  # fmt: skip


# -- the store: one transaction, redo, interrupted runs ------------------------------------------------------


def test_version_analysis_and_outbox_entry_are_one_transaction(store: Store) -> None:
    (out,) = store.save_many(
        [item("http://a.cn/1", "根治", analysis=(["exaggerated_efficacy"], {}, [HIT]), index=True)]
    )
    doc = store.get_document(out.doc_id)
    assert doc["version"]["labels"] == ["exaggerated_efficacy"] and len(doc["findings"]) == 1
    assert store.outbox_pending() == [out.doc_id]  # queued with the version, not by a later call


def test_a_version_saved_without_its_analysis_is_redone(store: Store) -> None:
    """A database written by the old three-step save, killed after the version: the re-crawl analyses it."""
    (bare,) = store.save_many([item("http://a.cn/1", "根治")])  # no analysis (the old crash window)
    assert store.content_hash_of("http://a.cn/1") == "h:根治"
    assert store.settled_hash_of("http://a.cn/1") is None  # so the pipeline does not call it unchanged
    (again,) = store.save_many(
        [item("http://a.cn/1", "根治", analysis=(["exaggerated_efficacy"], {}, [HIT]), index=True)]
    )
    assert (again.changed, again.unanalysed, again.version) == (False, True, 1)
    assert store.get_document(bare.doc_id)["version"]["labels"] == ["exaggerated_efficacy"]
    assert store.outbox_pending() == [bare.doc_id]
    assert store.settled_hash_of("http://a.cn/1") == "h:根治"


def test_runs_of_killed_processes_are_closed_as_interrupted(store: Store, tmp_path: Path) -> None:
    code = (
        "import os,signal,sys; from store.db import Store; "
        f"s=Store('sqlite:///{tmp_path / 'y.db'}', '{tmp_path / 'blobs'}'); print(s.start_run(['src']), flush=True); "
        "os.kill(os.getpid(), signal.SIGKILL)"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.returncode == -signal.SIGKILL
    killed = int(proc.stdout.strip())
    assert store.list_runs()[0]["status"] == "running"
    live = store.start_run(["src"])
    runs = {r["id"]: r for r in store.list_runs()}
    assert runs[killed]["status"] == "interrupted" and runs[killed]["finished_at"]
    assert runs[live]["status"] == "running"  # this process is alive: its run is left alone
    store.close_interrupted_runs()
    assert {r["id"]: r["status"] for r in store.list_runs()}[live] == "running"


# -- rules: linear time, bounded findings ---------------------------------------------------------------------


def test_repeated_phrase_is_linear_and_findings_are_capped() -> None:
    engine = default_engine()
    engine.findings("根治")
    t0 = time.perf_counter()
    findings = engine.findings("根治" * 20_000)  # 40k chars: 13.8 s before (quadratic), ~0.5 s now
    took = time.perf_counter() - t0
    assert 0 < len(findings) <= MAX_HITS_PER_RULE
    assert took < 5.0, took


# -- URLs: session ids, near-duplicates -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("http://a.cn/x.jsp;jsessionid=0AB12CD?id=3", "http://a.cn/x.jsp?id=3"),
        ("http://a.cn/x.jsp;JSESSIONID=0AB12CD", "http://a.cn/x.jsp"),
        ("http://a.cn/p?sid=9f3e&id=1", "http://a.cn/p?id=1"),
        ("http://a.cn/p.php?PHPSESSID=abc&id=2", "http://a.cn/p.php?id=2"),
        ("http://a.cn/p.asp?ASPSESSIONIDQAQBSDTR=xyz&id=2", "http://a.cn/p.asp?id=2"),
        ("http://a.cn/(S(abcd1234))/page.aspx", "http://a.cn/page.aspx"),
        ("http://a.cn/p?sessionid=1&id=4", "http://a.cn/p?id=4"),
    ],
)
def test_session_ids_are_canonicalised(url: str, expected: str) -> None:
    assert canonical_url(url) == expected


def test_session_id_urls_are_one_document(store: Store) -> None:
    urls = [f"http://a.cn/news/1.jsp;jsessionid={i:08X}" for i in range(50)]
    outs = store.save_many([item(u, "同一篇文章的正文内容") for u in urls])
    assert len({o.doc_id for o in outs}) == 1 and outs[0].doc_id == doc_id_for("http://a.cn/news/1.jsp")


def test_near_duplicates_are_linked_to_their_original(store: Store) -> None:
    body = "本院专家团队采用国际先进技术，治疗各类皮肤病，效果显著，欢迎广大患者来电咨询预约。" * 8
    original, copy, other = store.save_many(
        [
            item("http://a.cn/a.html", body, simhash=simhash(body)),
            item("http://b.cn/mirror.html", body + "更新时间：2026-03-01", simhash=simhash(body + "更新时间：2026-03-01")),
            item("http://a.cn/c.html", "今天天气晴朗，市民纷纷到公园散步锻炼身体。" * 8, simhash=simhash("今天天气晴朗，市民纷纷到公园散步锻炼身体。" * 8)),
        ]
    )  # fmt: skip
    assert store.get_document(copy.doc_id)["near_duplicate_of"] == original.doc_id
    assert store.get_document(original.doc_id)["near_duplicate_of"] is None
    assert store.get_document(other.doc_id)["near_duplicate_of"] is None
    assert store.near_duplicates(original.doc_id) == [copy.doc_id]


def test_near_duplicates_link_across_batches_to_the_root(store: Store) -> None:
    """A batch finds the originals saved by earlier batches, and a copy of a copy links to the first original."""
    body = "本院专家团队采用国际先进技术，治疗各类皮肤病，效果显著，欢迎广大患者来电咨询预约。" * 8
    (original,) = store.save_many([item("http://a.cn/a.html", body, simhash=simhash(body))])
    first, second = (body + "更新时间：2026-03-01", body + "更新时间：2026-03-01。转载")
    copy, copy2 = store.save_many(
        [
            item("http://b.cn/1.html", first, simhash=simhash(first)),
            item("http://c.cn/2.html", second, simhash=simhash(second)),
        ]
    )
    assert store.get_document(copy.doc_id)["near_duplicate_of"] == original.doc_id
    assert store.get_document(copy2.doc_id)["near_duplicate_of"] == original.doc_id
    # the original rewritten to something else: its own fingerprint row is updated, not duplicated
    other = "今天天气晴朗，市民纷纷到公园散步锻炼身体。" * 8
    store.save_many([item("http://a.cn/a.html", other, simhash=simhash(other))])
    assert store.get_document(original.doc_id)["near_duplicate_of"] is None
    assert sorted(store.near_duplicates(original.doc_id)) == sorted([copy.doc_id, copy2.doc_id])


def _nearest_links(batches: list[list[tuple[str, int]]]) -> dict[str, str | None]:
    """Reference for the store's near-duplicate links: document -> the document it nearly duplicates, by brute
    force over every document saved so far (one saved again with the same analysed content gets no new version and
    keeps its link)."""
    state: dict[str, tuple[int, str | None]] = {}  # document -> (SimHash, its original)
    for batch in batches:
        for doc, value in batch:
            if doc in state and state[doc][0] == value:
                continue
            best: tuple[int, str] | None = None
            for other, (other_value, original) in state.items():
                d = (value ^ other_value).bit_count()
                root = original or other
                if (
                    other != doc
                    and d <= NEAR_DUPLICATE_BITS
                    and root != doc
                    and (best is None or (d, root) < best)
                ):
                    best = (d, root)
            state[doc] = (value, best[1] if best else None)
    return {doc: original for doc, (_, original) in state.items()}


@settings(max_examples=25, deadline=None)
@given(
    st.lists(
        st.lists(
            st.tuples(
                st.integers(0, 5),  # page
                st.sampled_from((0x0123_4567_89AB_CDEF, 0xFFFF_0000_FFFF_0000)),
                st.lists(st.integers(0, 63), max_size=3),  # bits flipped
            ),
            min_size=1,
            max_size=6,
        ),
        min_size=1,
        max_size=4,
    )
)
def test_near_duplicate_links_match_a_brute_force_reference(
    tmp_path_factory: pytest.TempPathFactory, raw: list[list[tuple[int, int, list[int]]]]
) -> None:
    """Batches in any order, the same page twice in one batch, pages rewritten into and out of a copy: the
    banded lookup links each document exactly as comparing it with every earlier document would."""
    urls = [f"http://a.cn/{page}.html" for page in range(6)]
    batches = [
        [(urls[page], base ^ sum(1 << b for b in set(bits))) for page, base, bits in batch] for batch in raw
    ]
    expected = _nearest_links([[(doc_id_for(url), value) for url, value in batch] for batch in batches])
    tmp = tmp_path_factory.mktemp("fp")
    s = Store(f"sqlite:///{tmp / 'y.db'}", tmp / "blobs")
    try:
        for batch in batches:
            s.save_many(
                [item(url, f"正文{value:016x}", simhash=value, analysis=([], {}, [])) for url, value in batch]
            )
        assert {doc: s.get_document(doc)["near_duplicate_of"] for doc in expected} == expected
    finally:
        s.close()


# -- decoding -------------------------------------------------------------------------------------------------

UTF8_HEADERS = {"content-type": "text/html; charset=utf-8"}
PAGE = (
    "<html><head><meta charset='utf-8'><title>根治牛皮癣</title></head><body>"
    + "本院专家保证一次根治，无效退款。我们是正规医院。" * 20
    + "</body></html>"
).encode()


def test_declared_utf8_with_stray_bytes_is_not_mojibake() -> None:
    rnd = random.Random(0)
    body = bytearray(PAGE)
    for _ in range(200):
        body.insert(rnd.randrange(len(body)), rnd.randrange(0x80, 0x100))
    res = decode_body(bytes(body), UTF8_HEADERS)  # before: gb18030, "detected", mojibake
    assert res.encoding == "utf-8" and "一次根治" in res.text


def test_declared_utf8_with_20kb_of_noise() -> None:
    rnd = random.Random(5)
    noise = bytes(rnd.randrange(0x80, 0x100) for _ in range(20_000))
    res = decode_body(PAGE.replace(b"</body>", b"<!--" + noise + b"--></body>"), UTF8_HEADERS)
    assert res.encoding == "utf-8" and "一次根治" in res.text


def test_gbk_mislabelled_utf8_is_still_gbk() -> None:
    res = decode_body(PAGE.decode().encode("gb18030"), UTF8_HEADERS)
    assert res.encoding == "gb18030" and "一次根治" in res.text


@pytest.mark.parametrize("enc", ["utf-16-le", "utf-16-be"])
def test_chinese_utf16_without_bom(enc: str) -> None:
    body = "<html><body><p>本院专家保证一次根治，无效退款。我们是正规医院。</p></body></html>".encode(enc)
    res = decode_body(body, {})  # before: not_html
    assert res.encoding == enc and "一次根治" in res.text


def test_gzip_bomb_is_too_large_not_connection_error() -> None:
    exc = IgnoreRequest("Ignored response <200 http://x/> because its body (10485761 B compressed, 6 B "
                        "decompressed so far) exceeded DOWNLOAD_MAXSIZE (5242880 B) during decompression.")  # fmt: skip
    assert classify_exception(exc)[0] == "too_large"


# -- rendered pages: no conditional GET --------------------------------------------------------------------------


def test_rendered_pages_are_not_fetched_conditionally() -> None:
    class Stats:
        def inc_value(self, *_a: object) -> None: ...

    class Crawler:
        stats = Stats()

    mw = ConditionalGetMiddleware(Crawler(), lambda url: ('"v1"', "Mon, 01 Jan 2024 00:00:00 GMT"))  # type: ignore[arg-type]
    plain = Request("http://a.cn/x", meta={"yijian_conditional": True})
    rendered = Request("http://a.cn/x", meta={"yijian_conditional": True, "playwright": True})
    mw.process_request(plain)
    mw.process_request(rendered)
    assert plain.headers.get(b"If-None-Match") == b'"v1"'
    assert b"If-None-Match" not in rendered.headers and b"If-Modified-Since" not in rendered.headers


# -- CLI: deep paging, cursors, failed extraction --------------------------------------------------------------


def yijian(*args: str, data_dir: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1]), "HF_HUB_OFFLINE": "1"}
    return subprocess.run(
        [*YIJIAN, *args, "--data-dir", str(data_dir)], capture_output=True, text=True, timeout=300, env=env
    )


def test_search_out_of_range_page_and_cursor_paging(tmp_path: Path) -> None:
    from app.search import SearchParams, result_to_json, search
    from config import get_settings
    from store.indexer import Indexer
    from store.search.factory import get_search

    data = tmp_path / "d"
    settings = get_settings(data_dir=data)
    st = Store.from_settings(settings)
    outs = st.save_many(
        [item(f"http://a.cn/{i}", f"医院公告第{i}号", analysis=([], {}, []), index=True) for i in range(7)]
    )
    Indexer(st, get_search(settings)).replay()
    st.close()
    deep = yijian("search", "--page", "600", data_dir=data)
    assert deep.returncode == 2 and "页码超出范围" in deep.stderr and "--cursor" in deep.stderr
    assert "Traceback" not in deep.stderr
    seen: list[str] = []
    cursor: str | None = None
    for _ in range(5):
        args = ["search", "--size", "3", "--json"] + (["--cursor", cursor] if cursor else [])
        page = json.loads(yijian(*args, data_dir=data).stdout)
        seen += [h["doc_id"] for h in page["hits"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert sorted(seen) == sorted(o.doc_id for o in outs)  # every document once, across cursor pages
    bad = yijian("search", "--cursor", "not-a-cursor!", data_dir=data)
    assert bad.returncode == 2 and "游标" in bad.stderr
    assert result_to_json(search(settings, SearchParams(size=50)))["next_cursor"] is None


@pytest.mark.parametrize(
    ("body", "status"),
    [(b"PK\x03\x04" + bytes(range(256)) * 8, "not_html"), (b"   \n", "empty_page")],
)
def test_extract_json_failure_exits_1_with_reason(tmp_path: Path, body: bytes, status: str) -> None:
    page = tmp_path / "p.html"
    page.write_bytes(body)
    proc = yijian("extract", str(page), "--json", data_dir=tmp_path / "d")
    data = json.loads(proc.stdout)
    assert proc.returncode == 1 and data["status"] == status and data["detail"]


# -- extract|analyze inputs: size and time caps -----------------------------------------------------------------


class _Hostile(BaseHTTPRequestHandler):
    def log_message(self, *_a: object) -> None: ...

    def do_GET(self) -> None:  # noqa: N802
        if self.path == "/bomb":
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Encoding", "gzip")
            self.send_header("Content-Length", str(len(BOMB)))
            self.end_headers()
            self.wfile.write(BOMB)
        elif self.path == "/drip":
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", "100000")
            self.end_headers()
            try:
                for _ in range(100_000):
                    self.wfile.write(b"x")
                    self.wfile.flush()
                    time.sleep(0.2)
            except OSError:
                pass


BOMB = gzip.compress(b"\0" * (200 * 1024 * 1024), compresslevel=9)  # 200 MiB inflated, ~200 KiB on the wire


@pytest.fixture(scope="module")
def hostile() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Hostile)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def test_gzip_bomb_by_url_is_refused_with_bounded_memory(hostile: str) -> None:
    import tracemalloc

    tracemalloc.start()
    with pytest.raises(InputError) as err:
        read_input(hostile + "/bomb")
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert err.value.kind == "too_large"
    assert peak < 40 * 1024 * 1024, peak  # before: the whole 200 MiB (4.2 GB for the bomb)


def test_drip_fed_url_stops_at_the_time_budget(hostile: str) -> None:
    t0 = time.monotonic()
    with pytest.raises(InputError) as err:
        read_input(hostile + "/drip", timeout=2.0)
    assert err.value.kind == "timeout" and time.monotonic() - t0 < 4.0  # before: until the body ended


def test_file_over_the_size_cap_is_refused(tmp_path: Path) -> None:
    big = tmp_path / "big.html"
    with big.open("wb") as fh:
        fh.truncate(6 * 1024 * 1024)
    with pytest.raises(InputError) as err:
        read_input(str(big))
    assert err.value.kind == "too_large"


def test_a_deeply_nested_page_does_not_freeze_later_extractions() -> None:
    """Found by the hostile corpus: 2,000 nested tables made the extractor hit RecursionError inside lxml's
    text_content(), whose XPath lock then stayed held — every later extraction in the process (a crawl child)
    hung forever."""
    code = (
        "from pipelines.extract import extract_bytes\n"
        "deep = ('<html><body>' + '<table>' * 2000 + '一次根治' + '</table>' * 2000 + '</body></html>').encode()\n"
        "print(extract_bytes(deep, {}, 'http://h/').status)\n"
        "ok = '<html><head><title>标题</title></head><body><p>正文内容足够长的一段文字。</p></body></html>'\n"
        "print(extract_bytes(ok.encode(), {}, 'http://h/').title)\n"
    )
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env=env)
    assert proc.stdout.split()[1:] == ["标题"], proc.stderr[-2000:]
