"""The `yijian` commands that need no crawl: classify, extract, analyze, stats on an empty data dir."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from tests.demo_env import YIJIAN

FIXTURES = Path(__file__).parent / "fixtures" / "extract"


def yijian(*args: str, data_dir: Path, check: bool = True) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        [*YIJIAN, *args, "--data-dir", str(data_dir)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    if check:
        assert proc.returncode == 0, proc.stderr[-3000:]
    return proc


def test_classify_jsonl(tmp_path: Path) -> None:
    src = tmp_path / "in.jsonl"
    rows = [
        {
            "id": "ad",
            "text": "我院男科专治前列腺炎，一次根治永不复发，治愈率高达98%，无效退款！咨询电话400-800-1200",
        },
        {
            "id": "notice",
            "text": "江州市市场监管局提醒：凡宣称“根治”“一次治愈”的医疗广告均涉嫌违法，消费者切勿轻信。",
        },
        {
            "id": "complaint",
            "text": "在江州华康医院看前列腺炎，说是一次治愈，结果花了三万还没好，医院乱收费，我要投诉。",
        },
    ]
    src.write_text(
        "\n".join(json.dumps(r, ensure_ascii=False) for r in rows) + "\nnot json\n", encoding="utf-8"
    )
    out = tmp_path / "out.jsonl"
    proc = yijian("classify", "--input", str(src), "--output", str(out), data_dir=tmp_path / "d")
    assert "跳过 1 条" in proc.stderr
    res = {r["id"]: r for r in map(json.loads, out.read_text(encoding="utf-8").splitlines())}
    assert set(res) == {"ad", "notice", "complaint"}
    assert "exaggerated_efficacy" in res["ad"]["labels"]
    assert set(res["ad"]["scores"]) == {"exaggerated_efficacy", "unapproved_service", "negative_sentiment"}
    hit = next(f for f in res["ad"]["findings"] if f["category"] == "ad_efficacy_guarantee")
    assert rows[0]["text"][hit["start"] : hit["end"]] == hit["text"] and "广告法" in hit["legal_basis"]
    assert "exaggerated_efficacy" not in res["notice"]["labels"]
    assert "exaggerated_efficacy" not in res["complaint"]["labels"]
    assert "negative_sentiment" in res["complaint"]["labels"]


def test_extract_json(tmp_path: Path) -> None:
    data = json.loads(
        yijian("extract", str(FIXTURES / "wechat_article.html"), "--json", data_dir=tmp_path).stdout
    )
    assert set(data) >= {"url", "title", "text", "published_at", "author", "account", "images", "status"}
    assert data["status"] == "ok" and data["title"] and data["account"] and data["published_at"]
    deleted = json.loads(
        yijian("extract", str(FIXTURES / "wechat_deleted.html"), "--json", data_dir=tmp_path).stdout
    )
    assert deleted["status"] == "deleted" and deleted["text"] == ""


def test_extract_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    proc = yijian("extract", str(tmp_path / "nope.html"), data_dir=tmp_path, check=False)
    assert proc.returncode == 2 and "找不到文件" in proc.stderr


def test_analyze_file_lists_findings_with_legal_basis(tmp_path: Path) -> None:
    page = tmp_path / "ad.html"
    page.write_text(
        "<html><head><meta charset='utf-8'><title>白癜风专科</title></head><body><h1>白癜风专科</h1>"
        "<p>本院采用祖传秘方，白癜风三天根治，无效退款，安全无副作用。</p>"
        "<p>预约电话：0758-1234567</p></body></html>",
        encoding="utf-8",
    )
    res = json.loads(yijian("analyze", str(page), "--json", data_dir=tmp_path / "d").stdout)
    assert "exaggerated_efficacy" in res["labels"]
    cats = {f["category"] for f in res["findings"]}
    assert {"ad_efficacy_guarantee", "ad_tcm_secret_remedy_claim", "ad_safety_guarantee"} <= cats
    assert "ad_missing_invalid_review_cert" in cats  # an ad without a review-certificate number
    assert all(f["legal_basis"] for f in res["findings"] if f["source"].startswith("rules:"))


def test_binary_input_is_reported_not_crashed(tmp_path: Path) -> None:
    blob = tmp_path / "x.html"
    blob.write_bytes(b"PK\x03\x04" + bytes(range(256)) * 20)
    proc = yijian("analyze", str(blob), "--json", data_dir=tmp_path / "d", check=False)
    assert proc.returncode == 1 and json.loads(proc.stdout)["status"] == "not_html"


def test_stats_on_empty_data_dir(tmp_path: Path) -> None:
    stats = json.loads(yijian("stats", "--json", data_dir=tmp_path / "d").stdout)
    assert stats["documents"] == 0 and stats["versions"] == 0


def test_feedback_is_stored_as_training_labels(tmp_path: Path) -> None:
    from datetime import UTC, datetime

    from app.model import feedback_examples
    from classifiers.feedback import training_examples
    from config import get_settings
    from domain import Extracted
    from store.db import Store

    data = tmp_path / "d"
    store = Store.from_settings(get_settings(data_dir=data))
    text = "本院专治白癜风，一个月完全消退，效果看得见。"
    saved = store.save_version(
        run_id=None, source_id="s", url="http://127.0.0.1:9/a.html", final_url="http://127.0.0.1:9/a.html",
        extracted=Extracted(url="http://127.0.0.1:9/a.html", title="白癜风", text=text), content_hash="h1",
        raw=None, headers={}, fetched_at=datetime.now(UTC), rendered=False, institution_id=None, region=None,
    )  # fmt: skip
    store.save_analysis(saved.version_id, [], {}, [])
    store.close()

    res = json.loads(
        yijian("feedback", saved.doc_id, "--decision", "confirm", "--label", "exaggerated_efficacy",
               "--reviewer", "张三", "--json", data_dir=data).stdout
    )  # fmt: skip
    assert res["id"] >= 1
    bad = yijian("feedback", "nope", "--decision", "dismiss", "--label", "exaggerated_efficacy",
                 "--reviewer", "张三", data_dir=data, check=False)  # fmt: skip
    assert bad.returncode == 2 and "nope" in bad.stderr

    store = Store.from_settings(get_settings(data_dir=data))
    try:
        examples = training_examples(store.feedback_records())
    finally:
        store.close()
    assert len(examples) == 1 and text in examples[0]["text"]
    assert examples[0]["labels"] == ["exaggerated_efficacy"]
    # what `yijian train --include-feedback` hands to training
    assert feedback_examples(get_settings(data_dir=data)) == [
        {"text": examples[0]["text"], "labels": ["exaggerated_efficacy"]}
    ]


def test_unreachable_url_is_a_clear_error(tmp_path: Path) -> None:
    proc = yijian("analyze", "http://127.0.0.1:9/nothing.html", data_dir=tmp_path, check=False)
    assert proc.returncode == 1 and "无法获取" in proc.stderr and "Traceback" not in proc.stderr
