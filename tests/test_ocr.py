from __future__ import annotations

import io
import threading
from pathlib import Path

import pytest
from PIL import Image, ImageDraw, ImageFont

from pipelines.ocr import ocr_image

FONT = Path("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc")


def _png(lines: list[str], size: tuple[int, int], *, mode: str = "RGB", fmt: str = "PNG") -> bytes:
    img = Image.new(mode, size, "white" if mode == "RGB" else (255, 255, 255, 0))
    draw = ImageDraw.Draw(img)
    font = ImageFont.truetype(str(FONT), 40)
    y = 30
    for line in lines:
        draw.text((30, y), line, font=font, fill="black")
        y += 90
    buf = io.BytesIO()
    img.save(buf, fmt)
    return buf.getvalue()


def _compact(s: str) -> str:
    return "".join(s.split())


def test_reads_chinese_ad_text():
    text = ocr_image(_png(["专家坐诊 一次根治", "无效退款 无副作用"], (720, 220)))
    lines = [_compact(line) for line in text.splitlines()]
    assert "".join(lines) == "专家坐诊一次根治无效退款无副作用"
    assert len(lines) == 2


def test_transparent_png_and_jpeg():
    assert "包治百病" in _compact(ocr_image(_png(["包治百病"], (400, 110), mode="RGBA")))
    assert "包治百病" in _compact(ocr_image(_png(["包治百病"], (400, 110), fmt="JPEG")))


def test_tall_poster_is_read_in_tiles():
    # 400×2000: a long WeChat-style poster; text at the top and at the bottom.
    img = Image.new("RGB", (400, 2000), "white")
    draw = ImageDraw.Draw(img)
    font = ImageFont.truetype(str(FONT), 36)
    draw.text((20, 40), "干细胞抗衰老", font=font, fill="black")
    draw.text((20, 1900), "预约电话咨询", font=font, fill="black")
    buf = io.BytesIO()
    img.save(buf, "PNG")
    text = _compact(ocr_image(buf.getvalue()))
    assert "干细胞抗衰老" in text and "预约电话咨询" in text


@pytest.mark.parametrize(
    "data",
    [b"", b"not an image at all", b"\x89PNG\r\n\x1a\n\x00\x00broken", None],
)
def test_bad_data_gives_empty_string(data):
    if data is None:  # a valid but tiny image (tracking pixel)
        buf = io.BytesIO()
        Image.new("RGB", (1, 1), "white").save(buf, "GIF")
        data = buf.getvalue()
    assert ocr_image(data) == ""


def test_blank_image_has_no_text():
    buf = io.BytesIO()
    Image.new("RGB", (300, 200), "white").save(buf, "PNG")
    assert ocr_image(buf.getvalue()) == ""


def test_concurrent_calls_share_one_engine():
    data = _png(["正规医院"], (360, 110))
    results: list[str] = []
    threads = [threading.Thread(target=lambda: results.append(_compact(ocr_image(data)))) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == ["正规医院"] * 3


def test_the_same_image_is_read_once():
    """A banner that recurs on every page of a site is OCR'd once per process: its text comes from the cache by
    the image's SHA-256 (the engine is not run again), and another image is read afresh."""
    import hashlib

    from pipelines import ocr

    banner = _png(["名医坐诊 包治百病"], (600, 120))
    first = ocr_image(banner)
    assert "包治百病" in _compact(first)
    assert ocr._cache[hashlib.sha256(banner).hexdigest()] == first
    engine, ocr._engine = ocr._engine, None  # were the engine needed, ocr_image would load a new one…
    try:
        ocr._warned_unavailable = False
        assert ocr_image(banner) == first
        assert ocr._engine is None  # … so it was not
    finally:
        ocr._engine = engine
    assert "无效退款" in _compact(ocr_image(_png(["无效退款"], (400, 110))))
