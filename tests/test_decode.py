from __future__ import annotations

import pytest

from domain import ERROR_KINDS
from pipelines.decode import DecodeError, decode_body, normalize_charset

PAGE = (
    '<html><head><meta charset="{cs}"><title>医疗广告监测</title></head>'
    "<body><p>某医院宣称“包治百病”，已被市场监管部门立案调查。</p></body></html>"
)


def test_gbk_bytes_with_lying_utf8_header_are_read_as_gb18030():
    body = PAGE.format(cs="utf-8").encode("gbk")
    r = decode_body(body, {"Content-Type": "text/html; charset=UTF-8"})
    assert r.encoding == "gb18030"
    assert r.source == "detected"
    assert "包治百病" in r.text and "\ufffd" not in r.text


def test_utf8_bytes_with_lying_gbk_header_are_read_as_utf8():
    body = PAGE.format(cs="utf-8").encode("utf-8")
    r = decode_body(body, {"content-type": "text/html; charset=gbk"})
    assert (r.encoding, r.source) == ("utf-8", "meta")
    assert "立案调查" in r.text


def test_meta_gb2312_means_gb18030():
    # 𠀀 (U+20000) exists in gb18030 but not in gb2312/gbk: a page labelled gb2312 may still carry it.
    body = PAGE.format(cs="gb2312").replace("医疗", "医疗𠀀").encode("gb18030")
    r = decode_body(body, {})
    assert (r.encoding, r.source) == ("gb18030", "meta")
    assert "医疗𠀀广告" in r.text


def test_header_wins_when_it_is_true():
    body = PAGE.format(cs="big5").replace("医疗广告监测", "醫療廣告").encode("big5", errors="replace")
    r = decode_body(body, {"Content-Type": "text/html; charset=big5"})
    assert (r.encoding, r.source) == ("big5", "header")
    assert "醫療廣告" in r.text


def test_bom_beats_declarations():
    body = "\ufeff".encode() + PAGE.format(cs="gbk").encode("utf-8")
    r = decode_body(body, {"Content-Type": "text/html; charset=gbk"})
    assert (r.encoding, r.source) == ("utf-8", "bom")
    assert r.text.startswith("<html>")
    r16 = decode_body(PAGE.format(cs="utf-16").encode("utf-16"), {})
    assert r16.source == "bom" and "包治百病" in r16.text


def test_undeclared_gbk_is_detected():
    body = PAGE.replace('<meta charset="{cs}">', "").encode("gbk")
    r = decode_body(body, {})
    assert (r.encoding, r.source) == ("gb18030", "detected")
    assert "医疗广告监测" in r.text


def test_latin1_declaration_on_chinese_bytes_is_overridden():
    body = PAGE.format(cs="iso-8859-1").encode("gbk")
    r = decode_body(body, {})
    assert r.encoding == "gb18030"
    assert "包治百病" in r.text


def test_real_latin1_page_stays_latin1():
    r = decode_body(
        "<p>Café crème brûlée</p>".encode("latin-1"), {"Content-Type": "text/html; charset=ISO-8859-1"}
    )
    assert r.text == "<p>Café crème brûlée</p>"
    assert r.source == "header"


def test_utf8_truncated_mid_character_still_utf8():
    body = PAGE.format(cs="utf-8").encode("utf-8")
    cut = body[: body.index("百病".encode()) + 4]  # cut inside the 3-byte "病"
    r = decode_body(cut, {})
    assert r.encoding == "utf-8"
    assert "包治百" in r.text


@pytest.mark.parametrize(
    "body",
    [
        b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(40),
        b"\xff\xd8\xff\xe0\x00\x10JFIF" + bytes(40),
        b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj",
        b"PK\x03\x04\x14\x00\x06\x00" + bytes(30),
        b"<html>\x00\x01\x02\x03 binary</html>",
        bytes(range(1, 32)) * 20,
    ],
)
def test_binary_bodies_are_not_html_even_when_served_as_html(body):
    with pytest.raises(DecodeError) as exc:
        decode_body(body, {"Content-Type": "text/html; charset=utf-8"}, "https://example.cn/x")
    assert exc.value.kind == "not_html"
    assert exc.value.kind in ERROR_KINDS
    assert "不是网页" in exc.value.detail


@pytest.mark.parametrize("body", [b"", b"   \r\n\t  "])
def test_empty_bodies(body):
    with pytest.raises(DecodeError) as exc:
        decode_body(body, {})
    assert exc.value.kind == "empty_page"


def test_undecodable_garbage_is_decode_error():
    # Bytes that are neither UTF-8 nor GB18030 nor anything mostly-clean, declared as utf-8.
    body = b"<html>" + b"\x81\x20\xff\x30" * 200 + b"</html>"
    with pytest.raises(DecodeError) as exc:
        decode_body(body, {"Content-Type": "text/html; charset=utf-8"})
    assert exc.value.kind == "decode_error"


def test_normalize_charset():
    assert normalize_charset("GB2312") == "gb18030"
    assert normalize_charset('"gbk"') == "gb18030"
    assert normalize_charset("UTF8") == "utf-8"
    assert normalize_charset("x-no-such-charset") is None


LONG_PAGE = (
    "<!DOCTYPE html><html><head><meta charset='utf-8'><title>皮肤科</title></head><body>"
    + "<div><p>本院皮肤科位于门诊三楼，开设湿疹、银屑病、痤疮等专病门诊。</p></div>" * 6
    + "</body></html>"
)


@pytest.mark.parametrize("encoding", ["utf-8", "gbk"])
def test_a_stray_nul_byte_in_a_clear_html_page_is_dropped_not_fatal(encoding):
    raw = LONG_PAGE.replace("charset='utf-8'", f"charset='{encoding}'").encode(encoding)
    at = raw.index("门诊三楼".encode(encoding))
    body = raw[:at] + b"\x00" + raw[at:]
    assert b"\x00" in body[:8192]
    r = decode_body(body, {"Content-Type": "text/html"}, "https://example.cn/nul")
    assert "门诊三楼" in r.text and "\x00" not in r.text


def test_many_nul_bytes_still_mean_binary():
    body = LONG_PAGE.encode("utf-8")
    body = body[:300] + bytes(64) + body[300:]
    with pytest.raises(DecodeError) as exc:
        decode_body(body, {"Content-Type": "text/html"})
    assert exc.value.kind == "not_html"
