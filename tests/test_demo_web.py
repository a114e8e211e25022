"""The bundled demo web: server behaviour and the self-consistency of demo/expected.yaml."""

from __future__ import annotations

import base64
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import xml.etree.ElementTree as ET
from email.utils import parsedate_to_datetime
from pathlib import Path

import pytest
import yaml

from crawlers.settings import PLAYWRIGHT_LAUNCH_OPTIONS
from demo import SITES
from demo.server import SITES_DIR, DemoWeb, find_free_port
from domain.sources import SourceConfig

DEMO_DIR = Path(__file__).resolve().parents[1] / "demo"


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, req, fp, code, msg, headers, newurl):  # type: ignore[no-untyped-def]
        return None


# No proxies (an http_proxy in the environment must not swallow 127.0.0.x), no redirects followed.
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}), _NoRedirect())


def fetch(
    url: str, headers: dict[str, str] | None = None, method: str = "GET", timeout: float = 10
) -> tuple[int, dict[str, str], bytes]:
    req = urllib.request.Request(url, headers=headers or {}, method=method)
    try:
        with _OPENER.open(req, timeout=timeout) as resp:
            return resp.status, dict(resp.headers.items()), resp.read()
    except urllib.error.HTTPError as err:
        return err.code, dict(err.headers.items()), err.read()


@pytest.fixture(scope="module")
def web():
    w = DemoWeb()
    w.start(find_free_port())
    yield w
    w.stop()


@pytest.fixture(scope="module")
def expected(web: DemoWeb) -> dict:
    text = (DEMO_DIR / "expected.yaml").read_text(encoding="utf-8").replace("{demo_port}", str(web.port))
    return yaml.safe_load(text)


def _static_urls(web: DemoWeb) -> list[str]:
    """Every page file of every site, as a URL (files under _revisions/ are not pages)."""
    urls = []
    for site in SITES:
        root = SITES_DIR / site
        if not root.is_dir():
            continue
        for p in sorted(root.rglob("*")):
            rel = p.relative_to(root).as_posix()
            if p.is_file() and not any(seg.startswith("_") for seg in rel.split("/")):
                urls.append(web.url(site, "/" + rel))
    return urls


def test_start_is_fast_and_stop_releases_the_ports() -> None:
    port = find_free_port()
    w = DemoWeb()
    t0 = time.perf_counter()
    w.start(port)
    started = time.perf_counter() - t0
    try:
        assert started < 0.5
        assert fetch(w.url("news", "/"))[0] == 200
        with pytest.raises(RuntimeError):
            w.start(port)
    finally:
        w.stop()
    for addr in SITES.values():
        with socket.socket() as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind((addr, port))  # raises if the port were still held
    with pytest.raises(urllib.error.URLError):
        _OPENER.open(f"http://127.0.0.16:{port}/", timeout=2)
    # and it can start again on the same port
    w.start(port)
    try:
        assert fetch(w.url("messy", "/"))[0] == 200
    finally:
        w.stop()


def test_start_on_a_taken_port_fails_cleanly() -> None:
    port = find_free_port()
    with socket.socket() as blocker:
        blocker.bind((SITES["news"], port))
        blocker.listen()
        w = DemoWeb()
        with pytest.raises(OSError, match="127.0.0.16"):
            w.start(port)
        assert not w.running
    # the addresses bound before the failure were released
    for addr in SITES.values():
        with socket.socket() as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind((addr, port))


def test_every_site_home_answers(web: DemoWeb) -> None:
    status, headers, body = fetch(web.url("index", "/"))
    assert status == 200
    index = body.decode("utf-8")
    for site in SITES:
        st, _, b = fetch(web.url(site, "/"))
        assert st == 200, site
        assert len(b) > 100, site
        if site != "index":
            assert web.base_url(site) + "/" in index, f"index does not link {site}"


def test_gbk_site_serves_gbk_bytes(web: DemoWeb) -> None:
    st, headers, body = fetch(web.url("gbk_clinic", "/nocharset.html"))
    assert st == 200
    assert "charset" not in headers["Content-Type"].lower()
    assert b"charset=" not in body.lower() and b"<meta" not in body.lower()
    assert "核准诊疗科目为内科、中医科" in body.decode("gbk")
    with pytest.raises(UnicodeDecodeError):
        body.decode("utf-8")

    st, headers, body = fetch(web.url("gbk_clinic", "/lying.html"))
    assert "charset=utf-8" in headers["Content-Type"]
    assert "老年人、残疾人优先就诊" in body.decode("gbk")
    with pytest.raises(UnicodeDecodeError):
        body.decode("utf-8")

    st, headers, body = fetch(web.url("gbk_clinic", "/gb2312.html"))
    assert b"charset=gb2312" in body
    text = body.decode("gb18030")
    for name in ("李喆", "王堃", "张珺", "陈昇"):
        assert name in text
    with pytest.raises(UnicodeDecodeError):
        body.decode("gb2312")


def test_conditional_get(web: DemoWeb) -> None:
    url = web.url("public_hospital", "/departments.html")
    st, headers, body = fetch(url)
    assert st == 200 and body
    etag, last_modified = headers["ETag"], headers["Last-Modified"]
    assert fetch(url)[1]["ETag"] == etag  # stable

    st, h304, body304 = fetch(url, {"If-None-Match": etag})
    assert (st, body304) == (304, b"")
    assert h304["ETag"] == etag
    assert fetch(url, {"If-None-Match": '"other", ' + etag})[0] == 304
    assert fetch(url, {"If-None-Match": '"not-the-etag"'})[0] == 200

    assert fetch(url, {"If-Modified-Since": last_modified})[0] == 304
    earlier = "Mon, 02 Mar 2026 00:00:00 GMT"
    assert fetch(url, {"If-Modified-Since": earlier})[0] == 200
    # If-None-Match wins over If-Modified-Since
    assert fetch(url, {"If-None-Match": '"x"', "If-Modified-Since": last_modified})[0] == 200
    # HEAD: headers only
    st, hh, hb = fetch(url, method="HEAD")
    assert st == 200 and hb == b"" and hh["ETag"] == etag


def test_revision_changes_exactly_the_documented_page(web: DemoWeb, expected: dict) -> None:
    changed = expected["changed_url"]
    urls = _static_urls(web)
    assert changed in urls
    before = {u: fetch(u) for u in urls}
    assert expected["changed_text"] not in before[changed][2].decode("utf-8")
    st, _, body = fetch(expected["revision_endpoint"] + "?n=2", method="POST")
    try:
        assert st == 200 and b'"revision": 2' in body
        assert web.revision == 2
        after = {u: fetch(u) for u in urls}
    finally:
        web.set_revision(1)
    differing = [u for u in urls if after[u][2] != before[u][2]]
    assert differing == [changed]
    assert expected["changed_text"] in after[changed][2].decode("utf-8")
    assert after[changed][1]["ETag"] != before[changed][1]["ETag"]
    old_lm = parsedate_to_datetime(before[changed][1]["Last-Modified"])
    assert parsedate_to_datetime(after[changed][1]["Last-Modified"]) > old_lm
    for u in urls:
        if u != changed:
            assert after[u][1]["ETag"] == before[u][1]["ETag"], u
    # back at revision 1 the page is byte-identical to before
    assert fetch(changed)[2] == before[changed][2]
    assert fetch(expected["revision_endpoint"] + "?n=zero", method="POST")[0] == 400


def test_redirect_loop(web: DemoWeb) -> None:
    st, h, _ = fetch(web.url("messy", "/loop/a"))
    assert st == 302 and h["Location"] == "/loop/b"
    st, h, _ = fetch(web.url("messy", "/loop/b"))
    assert st == 302 and h["Location"] == "/loop/a"
    # a client that follows redirects gives up
    following = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with pytest.raises(urllib.error.HTTPError, match="infinite loop"):
        following.open(web.url("messy", "/loop/a"), timeout=5)


def test_big_page_is_streamed_over_10_mb(web: DemoWeb) -> None:
    st, h, body = fetch(web.url("messy", "/big.html"), timeout=30)
    assert st == 200
    assert "Content-Length" not in h
    assert len(body) > 10 * 1024 * 1024
    assert body.rstrip().endswith(b"</html>")


def test_hostile_routes(web: DemoWeb) -> None:
    assert fetch(web.url("messy", "/missing.html"))[0] == 404
    assert fetch(web.url("messy", "/error.html"))[0] == 500
    st, h, body = fetch(web.url("messy", "/binary.html"))
    assert st == 200 and h["Content-Type"].startswith("text/html") and b"\x00" in body
    with pytest.raises(UnicodeDecodeError):
        body.decode("utf-8")
    assert fetch(web.url("messy", "/binary.html"))[2] == body  # deterministic
    st, h, body = fetch(web.url("messy", "/empty.html"))
    assert (st, body) == (200, b"")
    # the calendar never ends
    st, _, body = fetch(web.url("messy", "/calendar/2025/12"))
    assert st == 200 and b'href="/calendar/2026/01"' in body and b'href="/calendar/2025/11"' in body
    assert fetch(web.url("messy", "/calendar/2025/13"))[0] == 404
    # path traversal does not escape the site folder
    assert fetch(web.url("messy", "/../private_hospital/index.html"))[0] == 404
    assert fetch(web.url("news", "/article/2026/_revisions/0306-overtreatment.r2.html"))[0] == 404


def test_slow_page_is_slow(web: DemoWeb) -> None:
    with pytest.raises((TimeoutError, urllib.error.URLError)):
        _OPENER.open(web.url("messy", "/slow.html"), timeout=0.5)


def test_robots_and_sitemap(web: DemoWeb, expected: dict) -> None:
    st, _, robots = fetch(web.url("gbk_clinic", "/robots.txt"))
    lines = robots.decode().splitlines()
    assert "Crawl-delay: 1" in lines and "Disallow: /private/" in lines
    assert f"Sitemap: {expected['sitemap_url']}" in lines
    st, _, sm = fetch(expected["sitemap_url"])
    locs = [e.text for e in ET.fromstring(sm).iter("{http://www.sitemaps.org/schemas/sitemap/0.9}loc")]
    assert expected["sitemap_only_url"] in locs
    assert all(fetch(u)[0] == 200 for u in locs)
    site_pages = [
        u for u in _static_urls(web) if u.startswith(web.base_url("gbk_clinic")) and u.endswith(".html")
    ]
    assert len(site_pages) <= 8
    hidden_path = expected["sitemap_only_url"].removeprefix(web.base_url("gbk_clinic"))
    disallowed_path = expected["robots_disallowed_url"].removeprefix(web.base_url("gbk_clinic"))
    linked = False
    for u in site_pages:
        text = fetch(u)[2].decode("gbk")
        assert hidden_path not in text, f"{u} links the sitemap-only page"
        linked |= f'href="{disallowed_path}"' in text
    assert linked, "no page links the robots-disallowed page"


def test_rss_feed(web: DemoWeb) -> None:
    st, h, body = fetch(web.url("news", "/rss.xml"))
    assert st == 200
    items = ET.fromstring(body).findall("./channel/item")
    assert len(items) >= 8
    for item in items:
        link = item.findtext("link")
        assert link.startswith(web.base_url("news") + "/article/")
        assert parsedate_to_datetime(item.findtext("pubDate")).tzinfo is not None
        assert fetch(link)[0] == 200
    # list pages paginate and together link every article of the feed
    links = set()
    page = web.url("news", "/list/1.html")
    while page:
        text = fetch(page)[2].decode()
        links |= {web.base_url("news") + p for p in re.findall(r'href="(/article/[^"]+)"', text)}
        nxt = re.search(r'href="(/list/\d+\.html)" class="next"', text)
        page = web.base_url("news") + nxt.group(1) if nxt else None
    assert {i.findtext("link") for i in items} == links


def test_js_page_hides_claims_from_static_html(web: DemoWeb, expected: dict) -> None:
    body = fetch(expected["js_only_url"])[2].decode("utf-8")
    for claim in expected["js_only_text"]:
        assert claim not in body
    # ...but the script carries them, encoded: decode the base64 halves the way the page does
    pairs = re.findall(r'\["([A-Za-z0-9+/=]+)", "([A-Za-z0-9+/=]+)"\]', body)
    decoded = "".join(base64.b64decode(a + b).decode("utf-8") for a, b in pairs)
    for claim in expected["js_only_text"]:
        assert claim in decoded


def test_ocr_image_page(web: DemoWeb, expected: dict) -> None:
    page = fetch(expected["ocr_url"])[2].decode("gbk")
    src = expected["ocr_image_src"].removeprefix(web.base_url("gbk_clinic"))
    assert f'src="{src}"' in page
    for claim in expected["ocr_text"]:
        assert claim not in page
    st, h, png = fetch(expected["ocr_image_src"])
    assert st == 200 and h["Content-Type"] == "image/png" and png.startswith(b"\x89PNG")


# legal_taxonomy.md §2.1
FINE_CATEGORIES = set(
    [
        "ad_efficacy_guarantee",
        "ad_cure_rate_stats",
        "ad_absolute_superlative",
        "ad_endorsement_testimonial",
        "ad_comparison_disparagement",
        "ad_safety_guarantee",
        "ad_state_military_authority",
        "ad_medical_tech_disease_content",
        "ad_tcm_secret_remedy_claim",
        "ad_bad_taste_appearance_anxiety",
        "ad_prohibited_drug_device",
        "ad_minor_targeting",
        "ad_missing_invalid_review_cert",
        "ad_non_medical_publisher",
        "ad_disguised_news_science",
        "ad_improper_inducement",
        "svc_unapproved_cell_gene_therapy",
        "svc_fetal_sex_determination",
        "svc_surrogacy_gamete_trade",
        "svc_organ_trade",
        "svc_genetic_testing_claims",
        "svc_non_medical_beauty",
        "svc_out_of_scope_practice",
        "svc_unlicensed_practice",
        "svc_internet_diagnosis_violation",
        "sent_medical_dispute",
        "sent_medical_accident",
        "sent_violence_disorder",
        "sent_bribery_kickback",
        "sent_overtreatment",
        "sent_overcharging",
        "sent_insurance_fraud",
        "sent_service_attitude",
    ]
)
_STATUS_FOR_ERROR = {
    "http_404": 404,
    "http_500": 500,
    "redirect_loop": 302,
    "empty_page": 200,
    "not_html": 200,
}


def test_expected_yaml_matches_the_served_pages(web: DemoWeb, expected: dict) -> None:
    known_labels = {"exaggerated_efficacy", "unapproved_service", "negative_sentiment"}
    for page in expected["pages"]:
        url = page["url"]
        assert re.match(r"^http://127\.0\.0\.\d+:\d+/", url), url
        for key in ("must_categories", "must_not_categories"):
            for cat in page.get(key, []):
                assert cat in FINE_CATEGORIES, (url, cat)
        for key in ("must_labels", "must_not_labels"):
            assert set(page.get(key, [])) <= known_labels, url
        assert not set(page.get("must_labels", [])) & set(page.get("must_not_labels", [])), url
        kind = page.get("error_kind")
        if kind in ("too_large", "timeout"):
            continue  # covered by their own tests (slow / big)
        st, h, body = fetch(url)
        if kind in _STATUS_FOR_ERROR:
            assert st == _STATUS_FOR_ERROR[kind], url
            continue
        assert st == 200, url
        if kind == "deleted":
            assert "该内容已被发布者删除" in body.decode() or "此内容因违规无法查看" in body.decode()
            continue
        text = body.decode("gb18030" if url.startswith(web.base_url("gbk_clinic")) else "utf-8")
        if page.get("render") != "js":
            for snippet in page.get("must_contain", []):
                assert snippet in text, (url, snippet)
        if "title" in page:
            assert page["title"] in text, url
        if "account" in page:
            assert f'var nickname = "{page["account"]}"' in text, url


def test_sources_and_institutions_schema(web: DemoWeb) -> None:
    port = str(web.port)
    sources = yaml.safe_load((DEMO_DIR / "sources.yaml").read_text(encoding="utf-8"))["sources"]
    insts = yaml.safe_load((DEMO_DIR / "institutions.yaml").read_text(encoding="utf-8"))["institutions"]
    src_keys = {
        "id", "name", "type", "start_urls", "feeds", "sitemaps", "allowed_domains", "depth", "max_pages",
        "include", "exclude", "render", "schedule", "institution", "region",
    }  # fmt: skip
    inst_keys = {
        "id",
        "name",
        "aliases",
        "licence_no",
        "type",
        "licensed_subjects",
        "region",
        "domains",
        "wechat_accounts",
    }
    inst_ids = {i["id"] for i in insts}
    assert len(inst_ids) == len(insts)
    for inst in insts:
        assert set(inst) == inst_keys, inst["id"]
        assert inst["type"] in {
            "public_hospital",
            "private_hospital",
            "clinic",
            "medical_beauty",
            "beauty_salon",
        }
        assert all(d in SITES.values() for d in inst["domains"])
    assert next(i for i in insts if i["id"] == "beauty-clinic")["licensed_subjects"] == ["美容皮肤科"]
    ids = [s["id"] for s in sources]
    assert len(ids) == len(set(ids))
    covered = set()
    for src in sources:
        # every documented key, plus any optional field the registry's schema knows (timeout, delay, ...)
        assert src_keys <= set(src) <= set(SourceConfig.model_fields), src["id"]
        assert src["type"] in {"site", "wechat", "news"} and src["render"] in {"static", "js"}
        assert src["institution"] is None or src["institution"] in inst_ids
        assert len(src["schedule"].split()) == 5
        for pat in src["include"] + src["exclude"]:
            re.compile(pat)
        for url in src["start_urls"] + src["feeds"] + src["sitemaps"]:
            assert "{demo_port}" in url
            real = url.replace("{demo_port}", port)
            assert fetch(real)[0] == 200, real
            host = real.split("/")[2].split(":")[0]
            assert host in src["allowed_domains"]
            covered.add(host)
    assert covered == set(SITES.values()) - {SITES["index"]}
    assert any(s["render"] == "js" for s in sources)


def test_main_serves_until_interrupted() -> None:
    port = find_free_port()
    proc = subprocess.Popen(
        [sys.executable, "-c", f"from demo.server import main; main({port})"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        # as from a terminal: a test run started in the background (`make test &`) inherits SIGINT ignored,
        # and Python then installs no KeyboardInterrupt handler in the child
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    try:
        deadline = time.monotonic() + 30  # a cold interpreter start on a loaded 2-core CI machine
        while True:
            try:
                if fetch(f"http://127.0.0.12:{port}/", timeout=1)[0] == 200:
                    break
            except OSError:  # refused while starting, or a read timeout
                pass
            assert time.monotonic() < deadline, "main() did not start serving"
            time.sleep(0.05)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=15)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, err
    assert err == b""  # quiet: no per-request log lines
    assert "演示网络已停止" in out.decode()


CHROMIUM = PLAYWRIGHT_LAUNCH_OPTIONS["executable_path"]
CHROMIUM_ARGS = PLAYWRIGHT_LAUNCH_OPTIONS["args"]


@pytest.mark.browser
def test_js_page_shows_claims_once_rendered(web: DemoWeb, expected: dict) -> None:
    from playwright import sync_api

    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page()
            errors: list[str] = []
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.goto(expected["js_only_url"])
            rendered = page.inner_text("body")
            page.goto(web.url("wechat", "/s/Hk7Qm2xLpZ3vN8aR1cT5bw"))
            publish_time = page.inner_text("#publish_time")
        finally:
            browser.close()
    for claim in expected["js_only_text"]:
        assert claim in rendered
    assert publish_time == "2026-03-05"  # the WeChat page's own scripts ran without errors
    assert errors == []
