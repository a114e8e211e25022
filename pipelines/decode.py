"""Turn a fetched body (bytes) into text: detect binary bodies, pick and verify the charset.

Precedence is BOM, HTTP header, ``<meta charset>``/``http-equiv``, detection — but a declaration is only
trusted when the bytes agree with it. Chinese sites often lie (header says utf-8, bytes are GBK, or the other
way round), so a declared charset that fails to decode loses to a candidate (utf-8, gb18030) that decodes
cleanly. gb2312/gbk are always read as gb18030, their superset.
"""

from __future__ import annotations

import codecs
import re
from dataclasses import dataclass

__all__ = ["DecodeError", "DecodeResult", "decode_body", "normalize_charset"]


@dataclass(slots=True, frozen=True)
class DecodeResult:
    text: str
    encoding: str  # Python codec name, e.g. "utf-8", "gb18030", "big5"
    source: str  # "header" | "meta" | "bom" | "detected"


class DecodeError(Exception):
    """A body that cannot be turned into text; ``kind`` is one of ``domain.ERROR_KINDS``."""

    def __init__(self, kind: str, detail: str) -> None:
        super().__init__(f"{kind}: {detail}")
        self.kind = kind
        self.detail = detail


_BOMS: tuple[tuple[bytes, str], ...] = (
    (codecs.BOM_UTF32_LE, "utf-32-le"),  # before UTF-16 LE: it starts with the same two bytes
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)

# Signatures of common binary formats that servers still label text/html.
_MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"\x89PNG\r\n\x1a\n", "PNG image"),
    (b"\xff\xd8\xff", "JPEG image"),
    (b"GIF87a", "GIF image"),
    (b"GIF89a", "GIF image"),
    (b"%PDF-", "PDF document"),
    (b"PK\x03\x04", "ZIP archive (or docx/xlsx)"),
    (b"\x1f\x8b", "gzip data"),
    (b"BZh", "bzip2 data"),
    (b"\xfd7zXZ\x00", "xz data"),
    (b"7z\xbc\xaf\x27\x1c", "7z archive"),
    (b"Rar!\x1a\x07", "RAR archive"),
    (b"\x7fELF", "ELF executable"),
    (b"MZ\x90\x00", "Windows executable"),
    (b"\x00asm", "WebAssembly"),
    (b"OggS", "Ogg media"),
    (b"ID3", "MP3 audio"),
    (b"fLaC", "FLAC audio"),
    (b"\x1a\x45\xdf\xa3", "Matroska/WebM video"),
    (b"wOFF", "WOFF font"),
    (b"wOF2", "WOFF2 font"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "MS Office document"),
    (b"II*\x00", "TIFF image"),
    (b"MM\x00*", "TIFF image"),
)

_GB_ALIASES = {
    "gb2312",
    "gb_2312",
    "gb_2312-80",
    "gb2312-80",
    "gb2312-1980",
    "gbk",
    "x-gbk",
    "cp936",
    "ms936",
    "windows-936",
    "euc-cn",
    "euccn",
    "x-euc-cn",
    "csgb2312",
    "chinese",
    "iso-ir-58",
    "gb18030",
    "gb-18030",
}
# WHATWG: latin-1 and ascii labels mean windows-1252.
_LATIN_ALIASES = {
    "iso-8859-1",
    "iso8859-1",
    "latin1",
    "latin-1",
    "l1",
    "us-ascii",
    "ascii",
    "cp819",
    "ibm819",
}

_HEADER_CHARSET = re.compile(r"charset\s*=\s*[\"']?\s*([A-Za-z0-9_\-.:]+)", re.I)
_META_CHARSET = re.compile(
    rb"""<meta[^>]{0,400}?charset\s*=\s*["']?\s*([A-Za-z0-9_\-.:]+)""",
    re.I,
)
_XML_ENCODING = re.compile(rb"""^\s*<\?xml[^>]{0,200}?encoding\s*=\s*["']([A-Za-z0-9_\-.:]+)""", re.I)

_SNIFF_BYTES = 8192
_META_BYTES = 32768  # some pages put kilobytes of inline script before their charset meta
_CONTROL = frozenset(list(range(0x00, 0x09)) + [0x0B] + list(range(0x0E, 0x1B)) + list(range(0x1C, 0x20)))
_CJK = re.compile(r"[\u4e00-\u9fff]")
_CJK_RUN = re.compile(r"[\u4e00-\u9fff]{2,}")
_MULTIBYTE_CJK = {
    "gb18030",
    "big5",
    "big5hkscs",
    "shift_jis",
    "euc_jp",
    "euc_kr",
    "cp949",
    "cp932",
    "iso2022_jp",
}


def normalize_charset(label: str | None) -> str | None:
    """Map a declared charset label to a Python codec name (gb2312/gbk → gb18030); None when unknown."""
    if not label:
        return None
    name = label.strip().strip("\"'").lower()
    if not name:
        return None
    if name in _GB_ALIASES:
        return "gb18030"
    if name in _LATIN_ALIASES:
        return "cp1252"
    if name in {"utf8", "utf-8", "unicode-1-1-utf-8", "x-unicode20utf8"}:
        return "utf-8"
    try:
        codec = codecs.lookup(name)
    except LookupError:
        return None
    if codec.name in {"gbk", "gb2312"}:
        return "gb18030"
    # A page cannot really be UTF-16 if it declared so in an ASCII-compatible meta tag; the BOM path
    # handles true UTF-16. Treat such declarations as utf-8 (WHATWG does the same).
    if codec.name.startswith("utf-16") or codec.name.startswith("utf-32"):
        return "utf-8"
    return codec.name


def _header(headers: dict[str, str], name: str) -> str:
    for key, value in headers.items():
        if key.lower() == name:
            return value if isinstance(value, str) else str(value)
    return ""


def _binary_reason(sample: bytes) -> str | None:
    for magic, what in _MAGIC:
        if sample.startswith(magic):
            return f"二进制内容（{what}），不是网页"
    if b"\x00" in sample and not _stray_nuls(sample):
        return "内容含有 NUL 字节，是二进制数据，不是网页"
    controls = sum(1 for b in sample if b in _CONTROL and b != 0)
    if controls > max(8, len(sample) * 0.02):
        return f"控制字符比例过高（{controls}/{len(sample)} 字节），是二进制数据，不是网页"
    return None


_HTML_SIGNS = re.compile(rb"<(?:!doctype\s+html|html|head|body|meta|title)[\s>/]", re.I)
_CLOSING_TAG = re.compile(rb"</[a-z][a-z0-9]{0,9}\s*>", re.I)


def _stray_nuls(sample: bytes) -> bool:
    """A few NUL bytes in a sample that is clearly HTML (a doctype or html/head/body tag and several closing
    tags): a template or CMS bug, not binary data. One NUL byte must not cost a whole page."""
    nul = sample.count(0)
    return (
        len(sample) >= 256
        and nul <= max(2, len(sample) // 1000)
        and _HTML_SIGNS.search(sample) is not None
        and len(_CLOSING_TAG.findall(sample)) >= 3
    )


def _utf16_without_bom(sample: bytes) -> str | None:
    """Detect BOM-less UTF-16 (ASCII markup interleaved with NUL bytes)."""
    if len(sample) < 8:
        return None
    even, odd = sample[0::2], sample[1::2]
    if odd.count(0) > len(odd) * 0.6 and even.count(0) < len(even) * 0.1:
        return "utf-16-le"
    if even.count(0) > len(even) * 0.6 and odd.count(0) < len(odd) * 0.1:
        return "utf-16-be"
    # Chinese text in UTF-16 has few NUL bytes (only its ASCII markup), but they all sit on one side; the caller
    # still checks that the whole body decodes cleanly.
    odd0, even0 = odd.count(0), even.count(0)
    if odd0 >= max(4, len(odd) * 0.05) and even0 * 8 <= odd0 and even0 <= len(even) * 0.05:
        return "utf-16-le"
    if even0 >= max(4, len(even) * 0.05) and odd0 * 8 <= even0 and odd0 <= len(odd) * 0.05:
        return "utf-16-be"
    return None


def _decode(body: bytes, encoding: str) -> tuple[str, int]:
    """Decode, returning the text and the number of undecodable sequences (0 = clean)."""
    try:
        return body.decode(encoding), 0
    except UnicodeDecodeError:
        text = body.decode(encoding, errors="replace")
        return text, text.count("\ufffd")
    except LookupError:
        return "", len(body)


def _is_clean(bad: int, body_len: int, *, truncated_tail: bool = False) -> bool:
    # A body cut at the crawler's size cap may end mid-character: tolerate a couple of bad sequences.
    return bad == 0 or (truncated_tail and bad <= 2) or bad <= body_len // 5000


def _utf8_clean(body: bytes) -> tuple[str, bool]:
    text, bad = _decode(body, "utf-8")
    if bad == 0:
        return text, True
    # Only the last few bytes broken → body truncated mid-character.
    head, head_bad = _decode(body[:-4], "utf-8") if len(body) > 4 else ("", 1)
    if head_bad == 0:
        return text, True
    return text, _is_clean(bad, len(body))


def _mostly_utf8(text: str) -> bool:
    """A utf-8 decode (with U+FFFD for bad sequences) with real Chinese in it: CJK ideographs that are not
    outnumbered 8:1 by bad sequences. A GBK or Big5 body mislabelled utf-8 decodes to U+FFFD and stray Latin or
    Cyrillic letters (its byte pairs rarely form valid 3-byte UTF-8), next to no ideographs."""
    bad = text.count("\ufffd")
    if bad == 0:
        return True
    cjk = len(_CJK.findall(text))  # a GBK/Big5 body read as utf-8 yields next to none
    if cjk >= 20 and cjk * 8 >= bad:
        return True
    # Kilobytes of noise next to a short text: real text has ideographs in runs, noise almost never does.
    paired = sum(len(m) for m in _CJK_RUN.findall(text))
    return paired >= 200 and paired * 64 >= bad


def _looks_chinese(text: str) -> bool:
    """True when the non-ASCII characters of a decoded text are mostly common CJK ideographs."""
    non_ascii = sum(1 for ch in text if ord(ch) > 0x7F)
    if non_ascii == 0:
        return False
    cjk = len(_CJK.findall(text))
    return cjk >= non_ascii * 0.6


def decode_body(body: bytes, headers: dict[str, str], url: str = "") -> DecodeResult:
    """Decode a fetched body to text.

    Raises :class:`DecodeError` with kind ``empty_page`` (no bytes / only whitespace), ``not_html`` (binary
    body, even when served as text/html) or ``decode_error`` (no charset yields readable text).
    """
    where = f"（{url}）" if url else ""
    if not body or not body.strip():
        return _raise("empty_page", f"响应内容为空{where}")

    # 1. Byte-order mark.
    for bom, enc in _BOMS:
        if body.startswith(bom):
            text, bad = _decode(body[len(bom) :], enc)
            if bad and not _is_clean(bad, len(body)):
                _raise("decode_error", f"按 BOM 指示的 {enc} 解码失败（{bad} 处错误）{where}")
            return _finish(text, enc, "bom", where)

    sample = body[:_SNIFF_BYTES]
    utf16 = _utf16_without_bom(sample)
    if utf16:
        text, bad = _decode(body, utf16)
        if _is_clean(bad, len(body)):
            return _finish(text, utf16, "detected", where)
    reason = _binary_reason(sample)
    if reason:
        _raise("not_html", reason + where)
    if b"\x00" in body:
        # stray NUL bytes in an HTML page (never part of a UTF-8 or GB18030 character): drop them, the parser
        # rejects them and they hide words from the rules
        body = body.replace(b"\x00", b"")

    # 2. Declarations: header, then meta / XML declaration.
    declared: list[tuple[str, str]] = []
    ctype = _header(headers, "content-type")
    m = _HEADER_CHARSET.search(ctype)
    if m and (header_enc := normalize_charset(m.group(1))):
        declared.append((header_enc, "header"))
    head = body[:_META_BYTES]
    m2 = _META_CHARSET.search(head) or _XML_ENCODING.search(head)
    if m2 and (meta_enc := normalize_charset(m2.group(1).decode("ascii", "ignore"))):
        declared.append((meta_enc, "meta"))

    def source_for(enc: str) -> str:
        for d_enc, d_src in declared:
            if d_enc == enc:
                return d_src
        return "detected"

    # Pure ASCII: every ASCII-compatible charset gives the same text; report the declaration.
    if body.isascii():
        enc, src = declared[0] if declared else ("utf-8", "detected")
        if _decode(body, enc)[1]:  # e.g. a 7-bit charset like iso2022_jp with escapes: keep it simple
            enc, src = "utf-8", "detected"
        return _finish(body.decode("ascii"), enc, src, where)

    # 3. Valid UTF-8 with non-ASCII content is almost never anything else.
    text, ok = _utf8_clean(body)
    if ok:
        return _finish(text, "utf-8", source_for("utf-8"), where)
    # 3b. The page's own word: declared utf-8 that decodes with few errors (stray bytes, a corrupt ad block) is
    #     utf-8. UTF-8 is self-synchronising, so noise cannot hide its real characters; gb18030 would "decode"
    #     the same bytes cleanly into mojibake and lose the rule evidence.
    if any(enc == "utf-8" for enc, _ in declared) and _mostly_utf8(text):
        return _finish(text, "utf-8", source_for("utf-8"), where)

    # 4. A declared multi-byte charset that decodes cleanly; single-byte declarations only when the
    #    bytes are not clean Chinese (old Chinese sites often declare iso-8859-1).
    gb_text: str | None = None
    gb_ok = False

    def gb() -> tuple[str, bool]:
        nonlocal gb_text, gb_ok
        if gb_text is None:
            gb_text, bad = _decode(body, "gb18030")
            gb_ok = _is_clean(bad, len(body)) and _looks_chinese(gb_text)
        return gb_text, gb_ok

    for enc, src in declared:
        if enc == "utf-8":
            continue  # already failed above
        dtext, bad = _decode(body, enc)
        if enc == "gb18030":
            if _is_clean(bad, len(body)):
                return _finish(dtext, enc, src, where)
            continue
        if enc in _MULTIBYTE_CJK or codecs.lookup(enc).name in _MULTIBYTE_CJK:
            if _is_clean(bad, len(body)):
                return _finish(dtext, enc, src, where)
            continue
        # single-byte charset: always "decodes"; prefer clean Chinese when the bytes say so
        g_text, g_ok = gb()
        if g_ok:
            return _finish(g_text, "gb18030", "detected", where)
        if bad == 0:
            return _finish(dtext, enc, src, where)

    # 5. No usable declaration: gb18030, then statistical detection.
    g_text, g_ok = gb()
    if g_ok:
        return _finish(g_text, "gb18030", source_for("gb18030"), where)
    try:
        from charset_normalizer import from_bytes

        best = from_bytes(body[:200_000]).best()
    except Exception:  # detection is best effort
        best = None
    if best is not None:
        enc = normalize_charset(best.encoding) or best.encoding
        dtext, bad = _decode(body, enc)
        if _is_clean(bad, len(body)):
            return _finish(dtext, enc, source_for(enc), where)

    # 6. Nothing is clean: take the least broken candidate if it is mostly readable.
    candidates = [("utf-8", *_decode(body, "utf-8")), ("gb18030", *_decode(body, "gb18030"))]
    candidates += [(enc, *_decode(body, enc)) for enc, _ in declared if enc not in {"utf-8", "gb18030"}]
    enc, dtext, bad = min(candidates, key=lambda c: c[2])
    non_ascii = sum(1 for b in body if b > 0x7F) or 1
    if bad / non_ascii > 0.1:
        _raise("decode_error", f"无法确定字符编码：最佳候选 {enc} 仍有 {bad} 处无法解码{where}")
    return _finish(dtext, enc, source_for(enc), where)


def _finish(text: str, encoding: str, source: str, where: str) -> DecodeResult:
    if not text.strip():
        _raise("empty_page", f"解码后内容为空{where}")
    return DecodeResult(text=text, encoding=encoding, source=source)


def _raise(kind: str, detail: str) -> DecodeResult:
    raise DecodeError(kind, detail)
