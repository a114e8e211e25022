"""Cases and evidence end to end with the real browser: snapshot demo pages into a case, export the sealed bundle,
verify it, then tamper with it in each way and check that `yijian verify` fails and names what changed; the
screenshot's pixels show the Chinese text (OCR), the JS-only claim is in the PNG and the rendered DOM; a private
address is refused and leaves nothing behind; automatic capture after a crawl run."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import zipfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from app import cases as app_cases
from cases import custody
from cases.capture import validate_wacz
from config import Settings
from demo.server import DemoWeb, find_free_port
from domain import Extracted, Finding
from store.db import Store
from tests.demo_env import DEMO_DIR

YIJIAN = [sys.executable, "-m", "console.cli"]
JS_CLAIMS = ["一次根治", "治愈率高达99%", "无效退款"]


def _cli(*args: str, data: Path, allow_private: bool = True) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "YIJIAN_DATA_DIR": str(data), "HF_HUB_OFFLINE": "1",
           "YIJIAN_SNAPSHOT_ALLOW_PRIVATE": "1" if allow_private else "0"}  # fmt: skip
    return subprocess.run([*YIJIAN, *args], capture_output=True, text=True, env=env, timeout=300, check=False)


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


def _save_doc(store: Store, url: str, *, severity: str, institution: str | None, run_id: int | None) -> str:
    html = f"<html><head><title>t</title></head><body><p>{url} 治愈率高达99%，无效退款。</p></body></html>"
    extracted = Extracted(url=url, title="优惠活动", text=f"{url} 治愈率高达99%，无效退款。")
    outcome = store.save_version(
        run_id=run_id, source_id="test", url=url, final_url=url, extracted=extracted,
        content_hash=f"{abs(hash(url)):064d}"[:64], raw=html.encode(), headers={}, fetched_at=datetime.now(UTC),
        rendered=False, institution_id=institution, region=None,
    )  # fmt: skip
    finding = Finding(category="ad_efficacy_guarantee", label="exaggerated_efficacy", start=0, end=4,
                      text="治愈率高达99%", legal_basis="《广告法》第十六条", severity=severity, source="rule:test")  # fmt: skip
    store.save_analysis(outcome.version_id, ["exaggerated_efficacy"], {}, [finding])
    return outcome.doc_id


@pytest.fixture(scope="module")
def sealed(tmp_path_factory: pytest.TempPathFactory, web: DemoWeb, expected: dict) -> dict[str, Any]:
    """One case with an attached document, a note and a snapshot of the JS-only ad page, exported."""
    data = tmp_path_factory.mktemp("cases")
    settings = Settings(data_dir=data, snapshot_allow_private=True)
    init = _cli("init", "--json", data=data)
    assert init.returncode == 0, init.stderr
    created = _cli("case", "create", "--title", "华康医院虚假广告", "--institution", "private-hospital",
                   "--json", data=data)  # fmt: skip
    assert created.returncode == 0, created.stderr
    case_id = json.loads(created.stdout)["id"]
    store = Store.from_settings(settings)
    try:
        doc_id = _save_doc(
            store, expected["js_only_url"], severity="S1", institution="private-hospital", run_id=None
        )
    finally:
        store.close()
    assert app_cases.attach_document(settings, case_id, doc_id, actor="李四") is True
    assert app_cases.attach_document(settings, case_id, doc_id, actor="李四") is False  # once only
    app_cases.add_note(settings, case_id, "页面含“一次根治”等绝对化用语", author="李四")
    snap = _cli(
        "snapshot", expected["js_only_url"], "--case", str(case_id), "--operator", "张三", "--json", data=data
    )
    assert snap.returncode == 0, snap.stderr
    capture = json.loads(snap.stdout)
    bundle = data / "bundle.zip"
    exported = _cli("case", "export", str(case_id), "--out", str(bundle), "--actor", "王五", data=data)
    assert exported.returncode == 0, exported.stderr
    return {"data": data, "settings": settings, "case_id": case_id, "capture": capture, "bundle": bundle,
            "doc_id": doc_id, "cap_dir": data / capture["path"]}  # fmt: skip


# ------------------------------------------------------------------------------------------- capture


@pytest.mark.browser
def test_snapshot_records_what_how_when_and_who(sealed: dict, expected: dict) -> None:
    cap_dir: Path = sealed["cap_dir"]
    names = {p.name for p in cap_dir.iterdir()}
    assert {"screenshot.png", "page.pdf", "page.mhtml", "raw.html", "rendered.html", "headers.json",
            "redirects.json", "text.txt", "capture.warc.gz", "capture.json", "datapackage.json",
            "datapackage-digest.json"} <= names  # fmt: skip
    record = json.loads((cap_dir / "capture.json").read_text(encoding="utf-8"))
    assert record["url"] == expected["js_only_url"] and record["final_url"] == expected["js_only_url"]
    assert record["operator"] == "张三" and record["case_id"] == sealed["case_id"]
    assert record["capture_started_utc"].endswith("Z") and record["clock"]["source"].startswith(
        "system clock"
    )
    assert record["clock"]["server_date_header"]  # the server's own Date header, as a second witness
    assert record["tools"]["browser"].startswith("Chromium ") and record["tools"]["playwright"] != "unknown"
    assert "HeadlessChrome" in record["user_agent"]
    steps = " ".join(s["step"] for s in record["steps"])
    for word in ("检查目标地址", "访问", "等待网络空闲", "截取整页截图", "MHTML", "PDF", "WARC"):
        assert word in steps
    assert (cap_dir / "page.pdf").read_bytes().startswith(b"%PDF")
    assert b"Content-Type: multipart/related" in (cap_dir / "page.mhtml").read_bytes()[:2000]
    headers = json.loads((cap_dir / "headers.json").read_text(encoding="utf-8"))
    assert headers["response"]["status"] == 200
    assert json.loads((cap_dir / "redirects.json").read_text())[-1]["url"] == expected["js_only_url"]
    # The JS-inserted claim: in the rendered DOM and the extracted text, not in the bytes as served.
    raw = (cap_dir / "raw.html").read_text(encoding="utf-8")
    rendered = (cap_dir / "rendered.html").read_text(encoding="utf-8")
    text = (cap_dir / "text.txt").read_text(encoding="utf-8")
    for claim in JS_CLAIMS:
        assert claim not in raw
        assert claim in rendered and claim in text
    # The stored capture row points at the sealed directory.
    assert sealed["capture"]["status"] == "ok" and sealed["capture"]["manifest_sha256"]
    assert app_cases.check_capture(sealed["settings"], sealed["capture"]["id"]) == []


@pytest.mark.browser
def test_warc_holds_the_exchange_and_the_screenshot(sealed: dict, expected: dict) -> None:
    from warcio.archiveiterator import ArchiveIterator

    kinds: dict[str, list[str]] = {}
    response_body = b""
    with open(sealed["cap_dir"] / "capture.warc.gz", "rb") as fh:
        for rec in ArchiveIterator(fh):
            uri = rec.rec_headers.get_header("WARC-Target-URI") or ""
            kinds.setdefault(rec.rec_type, []).append(uri)
            if rec.rec_type == "response" and uri == expected["js_only_url"]:
                response_body = rec.content_stream().read()
    assert expected["js_only_url"] in kinds["request"] and expected["js_only_url"] in kinds["response"]
    assert any(u.startswith("urn:screenshot:") for u in kinds["resource"])
    assert kinds["warcinfo"] and kinds["metadata"]
    assert response_body == (sealed["cap_dir"] / "raw.html").read_bytes()


@pytest.mark.browser
def test_wacz_is_valid(sealed: dict) -> None:
    ok, output = validate_wacz(sealed["cap_dir"] / "capture.wacz")
    assert ok, output


@pytest.mark.browser
def test_screenshot_pixels_show_the_js_inserted_chinese_claims(sealed: dict) -> None:
    from pipelines.ocr import ocr_image

    text = ocr_image((sealed["cap_dir"] / "screenshot.png").read_bytes()).replace(" ", "")
    for word in ("春季优惠活动", "一次根治", "无效退款", "预约电话"):
        assert word in text, text


# -------------------------------------------------------------------------------------- bundle/verify


def _verify(bundle: Path, data: Path) -> subprocess.CompletedProcess[str]:
    return _cli("verify", str(bundle), "--json", data=data)


def _rewrite(
    src: Path, dst: Path, change: dict[str, bytes | None], add: dict[str, bytes] | None = None
) -> None:
    """Copy a ZIP, replacing (bytes) or dropping (None) the named members and adding others."""
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w") as zout:
        for info in zin.infolist():
            if info.filename in change:
                if change[info.filename] is not None:
                    zout.writestr(info.filename, change[info.filename])
            else:
                zout.writestr(info, zin.read(info.filename))
        for name, data in (add or {}).items():
            zout.writestr(name, data)


@pytest.mark.browser
def test_exported_bundle_verifies(sealed: dict) -> None:
    done = _verify(sealed["bundle"], sealed["data"])
    assert done.returncode == 0, done.stdout + done.stderr
    report = json.loads(done.stdout)
    assert report["ok"] and report["custody_entries"] == 4
    with zipfile.ZipFile(sealed["bundle"]) as zf:
        names = set(zf.namelist())
        entries = custody.parse_jsonl(zf.read("custody.jsonl"))
        record = zf.read("record.html").decode("utf-8")
        assert zf.read("record.pdf").startswith(b"%PDF")
        doc = json.loads(zf.read(f"documents/{sealed['doc_id']}.json"))
    assert {"public_key.pem", "datapackage.json", "datapackage-digest.json", "case.json"} <= names
    assert f"documents/{sealed['doc_id']}.raw" in names
    assert [e["action"] for e in entries] == ["created", "attached", "captured", "exported"]
    assert entries[-1]["actor"] == "王五"
    assert "电子数据提取笔录" in record and "张三" in record and sealed["capture"]["id"] in record
    assert doc["findings"][0]["severity"] == "S1"
    human = _cli("verify", str(sealed["bundle"]), data=sealed["data"])
    assert human.returncode == 0 and "证据包完好" in human.stdout


@pytest.mark.browser
def test_every_kind_of_tampering_is_named(sealed: dict, tmp_path: Path) -> None:
    bundle: Path = sealed["bundle"]
    png = f"captures/{sealed['capture']['id']}/screenshot.png"
    text = f"captures/{sealed['capture']['id']}/text.txt"
    with zipfile.ZipFile(bundle) as zf:
        png_bytes = bytearray(zf.read(png))
        manifest = json.loads(zf.read("datapackage.json"))
        log = zf.read("custody.jsonl").decode("utf-8").splitlines()

    # 1. One byte of the screenshot flipped.
    png_bytes[len(png_bytes) // 2] ^= 0x01
    flipped = tmp_path / "flipped.zip"
    _rewrite(bundle, flipped, {png: bytes(png_bytes)})
    # 2. A file deleted.
    deleted = tmp_path / "deleted.zip"
    _rewrite(bundle, deleted, {text: None})
    # 3. A file added.
    added = tmp_path / "added.zip"
    _rewrite(bundle, added, {}, add={"captures/extra.txt": b"planted"})
    # 4. The manifest edited (a hash changed to match a forged file).
    manifest["resources"][0]["hash"] = "sha256:" + "0" * 64
    edited_manifest = tmp_path / "manifest.zip"
    _rewrite(bundle, edited_manifest, {"datapackage.json": json.dumps(manifest).encode()})
    # 5. The custody log edited (the second entry's actor changed).
    entry = json.loads(log[1])
    entry["actor"] = "冒名者"
    log[1] = json.dumps(entry, ensure_ascii=False)
    edited_log = tmp_path / "custody.zip"
    _rewrite(bundle, edited_log, {"custody.jsonl": ("\n".join(log) + "\n").encode()})

    reports = {}
    for name, path in {"flipped": flipped, "deleted": deleted, "added": added, "manifest": edited_manifest,
                       "custody": edited_log}.items():  # fmt: skip
        done = _verify(path, sealed["data"])
        assert done.returncode == 1, (name, done.stdout, done.stderr)
        reports[name] = json.loads(done.stdout)
        assert not reports[name]["ok"]
    assert reports["flipped"]["altered"] == [png] and not reports["flipped"]["missing"]
    assert reports["deleted"]["missing"] == [text]
    assert reports["added"]["extra"] == ["captures/extra.txt"]
    assert any("datapackage.json" in p for p in reports["manifest"]["signature"])
    assert reports["custody"]["altered"] == ["custody.jsonl"]
    assert reports["custody"]["custody_break"].startswith("第 2 条")
    # The human form names them too.
    human = _cli("verify", str(flipped), data=sealed["data"])
    assert human.returncode == 1 and "文件被改动" in human.stdout and "screenshot.png" in human.stdout
    human = _cli("verify", str(edited_log), data=sealed["data"])
    assert "保管链断裂于第 2 条" in human.stdout


def test_verify_refuses_a_file_that_is_not_a_bundle(tmp_path: Path) -> None:
    junk = tmp_path / "junk.zip"
    junk.write_bytes(b"not a zip")
    done = _cli("verify", str(junk), data=tmp_path / "d")
    assert done.returncode == 2 and "无法读取证据包" in done.stderr


@pytest.mark.browser
def test_a_bundle_signed_by_another_key_is_flagged_when_the_key_is_given(
    sealed: dict, tmp_path: Path
) -> None:
    other = tmp_path / "other"
    assert _cli("init", data=other).returncode == 0
    theirs = tmp_path / "theirs.pem"
    theirs.write_text(_cli("key", "export", data=other).stdout)
    done = _cli("verify", str(sealed["bundle"]), "--public-key", str(theirs), "--json", data=other)
    assert done.returncode == 1 and "不是指定的公钥" in json.loads(done.stdout)["key_mismatch"]


# ----------------------------------------------------------------------------------------------- safety


def test_private_address_is_refused_and_nothing_is_written(tmp_path: Path, web: DemoWeb) -> None:
    data = tmp_path / "d"
    assert _cli("init", data=data).returncode == 0
    created = _cli("case", "create", "--title", "t", "--json", data=data)
    case_id = json.loads(created.stdout)["id"]
    for url in (
        web.url("private_hospital", "/"),
        "http://10.1.2.3/",
        "http://169.254.169.254/latest/meta-data/",
    ):
        done = _cli("snapshot", url, "--case", str(case_id), data=data, allow_private=False)
        assert done.returncode != 0
        assert "拒绝取证" in done.stderr and "snapshot_allow_private" in done.stderr
    done = _cli("snapshot", "file:///etc/passwd", "--case", str(case_id), data=data, allow_private=False)
    assert done.returncode != 0 and "http/https" in done.stderr
    evidence = data / "evidence"
    assert not evidence.exists() or not any(evidence.rglob("*"))
    settings = Settings(data_dir=data)
    assert app_cases.show_case(settings, case_id)["captures"] == []


def test_key_is_private_to_its_owner_and_exportable(tmp_path: Path) -> None:
    data = tmp_path / "d"
    first = _cli("init", "--json", data=data)
    assert first.returncode == 0, first.stderr
    info = json.loads(first.stdout)
    assert info["key_created"] is True
    assert stat.S_IMODE(os.stat(info["private_key"]).st_mode) == 0o600
    again = json.loads(_cli("init", "--json", data=data).stdout)
    assert again["key_created"] is False and again["fingerprint"] == info["fingerprint"]  # never overwritten
    pem = _cli("key", "export", data=data).stdout
    assert pem.startswith("-----BEGIN PUBLIC KEY-----") and "PRIVATE" not in pem
    assert pem == Path(info["public_key"]).read_text()
    missing = _cli("key", "export", data=tmp_path / "none")
    assert missing.returncode != 0 and "yijian init" in missing.stderr


# -------------------------------------------------------------------------------------------- life cycle


def test_case_life_cycle_and_custody_chain(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path)
    case_id = app_cases.create_case(settings, "测试", institution_id="x", actor="甲")
    with pytest.raises(app_cases.InvalidTransition):
        app_cases.set_status(settings, case_id, "referred", actor="甲")  # must investigate first
    for status in ("investigating", "referred", "closed"):
        assert app_cases.set_status(settings, case_id, status, actor="甲")["status"] == status
    with pytest.raises(app_cases.InvalidTransition):
        app_cases.set_status(settings, case_id, "open", actor="甲")  # closed is final
    shown = app_cases.show_case(settings, case_id, actor="乙")
    assert [e["action"] for e in shown["custody"]] == ["created", "viewed"] and shown["custody_intact"]
    assert app_cases.list_cases(settings, status="closed")[0]["id"] == case_id
    with pytest.raises(app_cases.CaseNotFound):
        app_cases.show_case(settings, 999)
    # The chain detects an edited, a removed and a reordered entry.
    entries = shown["custody"] + [
        app_cases.show_case(settings, case_id, actor="丙")["custody"][-1],
    ]
    assert custody.verify_chain(entries) is None
    edited = [dict(e) for e in entries]
    edited[1]["actor"] = "丁"
    assert custody.verify_chain(edited).index == 2  # type: ignore[union-attr]
    assert custody.verify_chain([entries[0], entries[2]]).index == 2  # type: ignore[union-attr]
    assert custody.verify_chain([entries[1], entries[0], entries[2]]).index == 1  # type: ignore[union-attr]


def test_a_failed_export_logs_nothing_and_a_moved_chain_is_refused(tmp_path: Path) -> None:
    from store.cases import CaseRepository, ChainMoved

    settings = Settings(data_dir=tmp_path / "d")
    app_cases.init_evidence(settings)
    case_id = app_cases.create_case(settings, "测试", actor="甲")
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    with pytest.raises(OSError):
        app_cases.export_case(settings, case_id, blocker / "bundle.zip", actor="甲")
    assert [e["action"] for e in app_cases.show_case(settings, case_id)["custody"]] == ["created"]
    store = Store.from_settings(settings)
    try:
        with pytest.raises(ChainMoved):
            CaseRepository(store).append_custody(case_id, actor="甲", action="exported", obj="x", details={},
                                                 seal=custody.entry_hash, expect_prev="f" * 64)  # fmt: skip
    finally:
        store.close()


def test_cli_case_commands(tmp_path: Path) -> None:
    data = tmp_path / "d"
    created = _cli("case", "create", "--title", "案件甲", data=data)
    assert created.returncode == 0 and created.stdout.strip().isdigit()
    case_id = created.stdout.strip()
    assert _cli("case", "note", case_id, "备注一", data=data).returncode == 0
    bad = _cli("case", "status", case_id, "closed", data=data)
    assert bad.returncode == 0  # open → closed (dismissed) is allowed
    again = _cli("case", "status", case_id, "investigating", data=data)
    assert again.returncode != 0 and "不能从 closed 改为 investigating" in again.stderr
    shown = json.loads(_cli("case", "show", case_id, "--json", data=data).stdout)
    assert shown["notes"][0]["text"] == "备注一" and shown["case"]["status"] == "closed"
    listed = json.loads(_cli("case", "list", "--json", data=data).stdout)
    assert [c["id"] for c in listed] == [int(case_id)]
    missing = _cli("case", "attach", case_id, "nosuchdoc", data=data)
    assert missing.returncode != 0 and "没有文档 nosuchdoc" in missing.stderr


# ------------------------------------------------------------------------------------------ auto-capture


@pytest.mark.browser
def test_auto_capture_after_a_run_takes_severe_findings_within_budget(tmp_path: Path, expected: dict) -> None:
    settings = Settings(data_dir=tmp_path, snapshot_allow_private=True, auto_capture_budget=2,
                        snapshot_timeout_s=20)  # fmt: skip
    store = Store.from_settings(settings)
    try:
        assert app_cases.auto_capture_after_run(settings, store, 1)["skipped"].startswith("没有取证签名密钥")
        app_cases.init_evidence(settings)
        run_id = store.start_run(["test"])
        # S1 on an unreachable page (fails, recorded), S1 on the JS ad page (captured), S1 beyond the budget,
        # S2 below the threshold.
        dead = _save_doc(
            store, "http://127.0.0.11:9/gone.html", severity="S1", institution=None, run_id=run_id
        )
        live = _save_doc(
            store, expected["js_only_url"], severity="S1", institution="private-hospital", run_id=run_id
        )
        _save_doc(store, "http://127.0.0.19:9/later.html", severity="S1", institution=None, run_id=run_id)
        _save_doc(store, "http://127.0.0.11:9/mild.html", severity="S2", institution=None, run_id=run_id)
        summary = app_cases.auto_capture_after_run(settings, store, run_id)
    finally:
        store.close()
    assert summary["candidates"] == 3 and summary["over_budget"] == 1
    assert summary["captured"] == 1 and summary["failed"] == 1
    assert summary["browser_launches"] == 1  # one browser for the batch (a fresh context per capture)
    cases = {c["institution_id"]: c for c in app_cases.list_cases(settings)}
    assert set(cases) == {None, "private-hospital"} and all(c["origin"] == "auto" for c in cases.values())
    held = app_cases.show_case(settings, cases[None]["id"])
    assert held["captures"][0]["status"] == "failed" and held["captures"][0]["document_id"] == dead
    assert held["captures"][0]["error"]
    inst = app_cases.show_case(settings, cases["private-hospital"]["id"])
    assert inst["captures"][0]["status"] == "ok" and inst["captures"][0]["document_id"] == live
    assert [e["action"] for e in inst["custody"]] == ["created", "attached", "captured"]
    # The same content is not captured twice by a later run.
    store = Store.from_settings(settings)
    try:
        assert app_cases.auto_capture_after_run(settings, store, run_id)["captured"] == 0
    finally:
        store.close()


def test_severity_thresholds() -> None:
    assert app_cases.parse_thresholds("S1, p2") == {"S": 1, "P": 2}
    assert app_cases.parse_thresholds("") == {}
    with pytest.raises(ValueError):
        app_cases.parse_thresholds("S9")


@pytest.mark.browser
@pytest.mark.e2e
def test_a_crawl_run_captures_its_severe_findings(tmp_path: Path, web: DemoWeb, expected: dict) -> None:
    from app.crawl import crawl_sources
    from app.registries import DEMO_INSTITUTIONS, DEMO_SOURCES
    from domain.sources import load_sources

    # The page's ad findings are S2 (S1 is kept for services such as stem-cell 回输 and fetal sex tests).
    settings = Settings(data_dir=tmp_path, institutions_file=DEMO_INSTITUTIONS, snapshot_allow_private=True,
                        auto_capture_budget=1, auto_capture_min_severity="S2")  # fmt: skip
    app_cases.init_evidence(settings)
    sources = [
        s for s in load_sources(DEMO_SOURCES, {"demo_port": str(web.port)}) if s.id == "private-hospital-js"
    ]
    summary = crawl_sources(settings, sources)
    assert summary["auto_capture"]["captured"] == 1, summary["auto_capture"]
    (case,) = app_cases.list_cases(settings)
    assert case["origin"] == "auto" and case["institution_id"] == "private-hospital" and case["captures"] == 1
    (capture,) = app_cases.show_case(settings, case["id"])["captures"]
    assert capture["url"] == expected["js_only_url"] and capture["trigger"] == "auto"
    assert capture["run_id"] == summary["run_id"]


@pytest.mark.browser
def test_capture_button_on_a_document_opens_a_case(tmp_path: Path, expected: dict) -> None:
    settings = Settings(data_dir=tmp_path, snapshot_allow_private=True)
    app_cases.init_evidence(settings)
    store = Store.from_settings(settings)
    try:
        doc_id = _save_doc(
            store, expected["js_only_url"], severity="S2", institution="private-hospital", run_id=None
        )
    finally:
        store.close()
    res = app_cases.capture_document(settings, doc_id, operator="赵六")
    shown = app_cases.show_case(settings, res["case_id"])
    assert shown["case"]["institution_id"] == "private-hospital"
    assert shown["case"]["categories"] == ["ad_efficacy_guarantee"]
    assert [d["document_id"] for d in shown["documents"]] == [doc_id]
    assert [e["action"] for e in shown["custody"]] == ["created", "attached", "captured"]
    png = app_cases.capture_file(settings, res["capture"]["id"], "screenshot.png")
    assert png.read_bytes().startswith(b"\x89PNG")
    for bad in ("../../yijian.db", "/etc/passwd", "nosuch.txt"):
        with pytest.raises(KeyError):
            app_cases.capture_file(settings, res["capture"]["id"], bad)
    # A stored capture whose file was altered on disk is reported by check_capture.
    text = app_cases.capture_file(settings, res["capture"]["id"], "text.txt")
    text.write_text("篡改", encoding="utf-8")
    assert app_cases.check_capture(settings, res["capture"]["id"]) == ["文件被改动：text.txt"]
    with pytest.raises(KeyError):
        app_cases.capture_document(settings, "nosuchdoc")


@pytest.mark.browser
def test_redirect_chain_subresources_and_image_pixels(tmp_path: Path, expected: dict) -> None:
    """A short link that redirects (302) to the demo's image-only ad: the chain is recorded, the image is in the
    WARC, and the screenshot's pixels show the text drawn in the image."""
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    from warcio.archiveiterator import ArchiveIterator

    from pipelines.ocr import ocr_image

    class ShortLink(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - http.server's naming
            self.send_response(302)
            self.send_header("Location", expected["ocr_url"])
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), ShortLink)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    short = f"http://127.0.0.1:{server.server_address[1]}/go"
    try:
        settings = Settings(data_dir=tmp_path, snapshot_allow_private=True)
        app_cases.init_evidence(settings)
        case_id = app_cases.create_case(settings, "短链接", actor="甲")
        cap = app_cases.snapshot(settings, short, case_id, operator="甲")
    finally:
        server.shutdown()
        server.server_close()
    cap_dir = tmp_path / cap["path"]
    assert cap["url"] == short and cap["final_url"] == expected["ocr_url"]
    chain = json.loads((cap_dir / "redirects.json").read_text())
    assert [(c["url"], c["status"]) for c in chain] == [(short, 302), (expected["ocr_url"], 200)]
    assert chain[0]["location"] == expected["ocr_url"]
    responses: dict[str, tuple[str, bytes]] = {}
    with open(cap_dir / "capture.warc.gz", "rb") as fh:
        for rec in ArchiveIterator(fh):
            if rec.rec_type == "response":
                status = rec.http_headers.get_statuscode()
                responses[rec.rec_headers.get_header("WARC-Target-URI")] = (
                    status,
                    rec.content_stream().read(),
                )
    assert responses[short][0] == "302"
    assert responses[expected["ocr_image_src"]][1].startswith(b"\x89PNG")  # the subresource, body and all
    text = ocr_image((cap_dir / "screenshot.png").read_bytes()).replace(" ", "")
    assert all(word in text for word in expected["ocr_text"]), text


def test_verify_survives_hostile_bundles(tmp_path: Path) -> None:
    """A bundle sealed by hand (no browser): intact it verifies; malformed seal files are reported, not crashes."""
    from cases.sealing import ensure_key, load_private_key, public_pem, seal_directory
    from cases.verify import verify_bundle

    ensure_key(tmp_path / "keys")
    key = load_private_key(tmp_path / "keys")
    root = tmp_path / "b"
    (root / "captures" / "c1").mkdir(parents=True)
    (root / "captures" / "c1" / "text.txt").write_text("一次根治", encoding="utf-8")
    seal_directory(root / "captures" / "c1", key, {"name": "c1"})
    entry = {"case_id": 1, "seq": 1, "at": "2026-01-01T00:00:00Z", "actor": "甲", "action": "created",
             "object": "case:1", "details": {}, "prev_hash": custody.GENESIS_HASH}  # fmt: skip
    entry["entry_hash"] = custody.entry_hash(entry)
    (root / "custody.jsonl").write_bytes(custody.to_jsonl([entry]))
    (root / "public_key.pem").write_bytes(public_pem(key))
    seal_directory(root, key, {"name": "bundle", "custodyHead": entry["entry_hash"]})
    bundle = tmp_path / "bundle.zip"
    with zipfile.ZipFile(bundle, "w") as zf:
        for p in sorted(root.rglob("*")):
            if p.is_file():
                zf.write(p, p.relative_to(root).as_posix())
    assert verify_bundle(bundle).ok
    variants = {
        "datapackage-digest.json": b"[1, 2]",
        "datapackage.json": b"\xff\xfe",
        "custody.jsonl": b"\xff\n{",
        "public_key.pem": b"-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n",
        "captures/c1/datapackage-digest.json": json.dumps({"hash": "sha256:é", "signature": "!!"}).encode(),
    }
    for name, data in variants.items():
        bad = tmp_path / "bad.zip"
        _rewrite(bundle, bad, {name: data})
        report = verify_bundle(bad)
        assert not report.ok and report.problems(), name


@pytest.mark.browser
def test_rfc3161_timestamps_from_a_tsa(tmp_path: Path, expected: dict) -> None:
    """With `tsa_url` set, the capture's and the bundle's manifests are timestamped by the TSA (OpenSSL's `ts`
    responder, see tests/tsa_openssl.py); verify checks the tokens against the manifests and the TSA's root; a
    TSA that is down costs nothing but a note."""
    from tests.tsa_openssl import openssl_tsa

    with openssl_tsa() as tsa:
        settings = Settings(data_dir=tmp_path / "d", snapshot_allow_private=True, tsa_url=tsa.url)
        app_cases.init_evidence(settings)
        case_id = app_cases.create_case(settings, "时间戳", actor="甲")
        cap = app_cases.snapshot(settings, expected["js_only_url"], case_id, operator="甲")
        bundle = tmp_path / "b.zip"
        app_cases.export_case(settings, case_id, bundle, actor="甲")
        assert tsa.requests == 2
        ca = tmp_path / "tsa-ca.pem"
        ca.write_bytes(tsa.ca_pem)
    assert cap["meta"]["timestamp"]["file"] == "datapackage.tsr"
    cap_dir = settings.data_dir / cap["path"]
    assert (cap_dir / "datapackage.tsr").is_file()
    digest = json.loads((cap_dir / "datapackage-digest.json").read_text(encoding="utf-8"))
    assert digest["timestamp"]["genTime"].endswith("Z")
    report = app_cases.verify(bundle, tsa_ca=ca)
    assert report.ok, report.problems()
    assert {t["manifest"] for t in report.timestamps} == {
        "datapackage.json",
        f"captures/{cap['id']}/datapackage.json",
    } and all(t["verified"] and t["chain_checked"] for t in report.timestamps)
    # A token moved from the capture onto the bundle's manifest does not cover it.
    with zipfile.ZipFile(bundle) as zf:
        inner = zf.read(f"captures/{cap['id']}/datapackage.tsr")
    swapped = tmp_path / "swapped.zip"
    _rewrite(bundle, swapped, {"datapackage.tsr": inner})
    bad = app_cases.verify(swapped)
    assert not bad.ok and any("datapackage.tsr" in p and "不是针对本清单" in p for p in bad.signature)
    # Another TSA's root does not vouch for this token.
    with openssl_tsa() as other:
        ca.write_bytes(other.ca_pem)
    assert not app_cases.verify(bundle, tsa_ca=ca).ok
    # A TSA that is down: the capture is kept, the failure noted.
    down = Settings(data_dir=tmp_path / "d", snapshot_allow_private=True, tsa_url="http://127.0.0.1:9/tsa")
    cap2 = app_cases.snapshot(down, expected["js_only_url"], case_id, operator="甲")
    assert cap2["status"] == "ok" and "不可用" in cap2["meta"]["timestamp"]["error"]
    assert not (down.data_dir / cap2["path"] / "datapackage.tsr").exists()
