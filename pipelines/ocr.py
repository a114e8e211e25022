"""Text in images (ad posters, screenshots of claims) with RapidOCR 3.x and its bundled ONNX models.

The engine loads once, lazily, on first use (about 1–2 s) and is shared by all threads; calls are serialised
because the machine is small and ONNX Runtime already uses the cores. Nothing is downloaded: RapidOCR ships
its PP-OCR det/rec/cls models inside the wheel.

The same image (same bytes) is read once per process: a site's banner or ad poster recurs on many of its pages,
so the text of the last ``CACHE_SIZE`` images is kept by their SHA-256.

Detection runs with the image's long side limited to 960 px (RapidOCR's default scales the *short* side up to
736 px, which made a 640×120 banner cost ~7 s instead of ~0.3 s). Long posters (typical of WeChat ads) are cut
into roughly square tiles first so their text stays readable after that limit.
"""

from __future__ import annotations

import hashlib
import io
import logging
import threading
import warnings
from collections import OrderedDict
from typing import Any

__all__ = ["CACHE_SIZE", "MIN_SIDE", "THREADS", "ocr_image"]

log = logging.getLogger(__name__)

MIN_SIDE = 16  # px: smaller images (icons, tracking pixels) carry no readable text
_MAX_PIXELS = 60_000_000  # decompression-bomb guard
_TILE_RATIO = 1.3  # tile height relative to width for tall images
_OVERLAP = 48  # px shared by neighbouring tiles so a text line cut by a tile edge is read whole once
CACHE_SIZE = 512  # images whose text is kept (by SHA-256 of their bytes)
# ONNX Runtime threads; set before the first image. A processing worker process (pipelines.workers) uses 1: with
# 2 on a loaded 2-core machine the threads spun against the crawler (~1.4x slower per image).
THREADS = 2

_engine: Any = None
_engine_lock = threading.Lock()
_warned_unavailable = False
_run_lock = threading.Lock()
_cache: OrderedDict[str, str] = OrderedDict()
_cache_lock = threading.Lock()


class OCRUnavailable(RuntimeError):
    """The OCR engine (the ``ocr`` extra) is not installed."""


def _get_engine() -> Any:
    global _engine
    if _engine is None:
        with _engine_lock:
            if _engine is None:
                try:
                    from rapidocr import RapidOCR  # the optional `ocr` extra
                except ImportError as exc:
                    raise OCRUnavailable("rapidocr is not installed (pip install 'yijian[ocr]')") from exc
                _engine = RapidOCR(
                    params={
                        "Global.log_level": "error",
                        "Global.use_cls": False,
                        "Det.limit_type": "max",
                        "Det.limit_side_len": 960,
                        "EngineConfig.onnxruntime.intra_op_num_threads": THREADS,
                    }
                )
    return _engine


def _load(data: bytes) -> Any | None:
    from PIL import Image

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            img = Image.open(io.BytesIO(data))
            if img.width * img.height > _MAX_PIXELS:
                return None
            img.seek(0)  # first frame of an animated GIF/WebP
            img.load()
    except Exception:  # undecodable, truncated, unsupported or a decompression bomb
        return None
    if img.mode in ("RGBA", "LA", "P"):
        rgba = img.convert("RGBA")
        background = Image.new("RGB", rgba.size, "white")
        background.paste(rgba, mask=rgba.getchannel("A"))
        return background
    return img.convert("RGB")


def _tiles(img: Any) -> list[Any]:
    w, h = img.size
    tile_h = int(w * _TILE_RATIO)
    if h <= tile_h * 1.5:
        return [img]
    out = []
    top = 0
    while top < h:
        bottom = min(h, top + tile_h)
        out.append(img.crop((0, top, w, bottom)))
        if bottom == h:
            break
        top = bottom - _OVERLAP
    return out


def ocr_image(data: bytes) -> str:
    """Text lines found in an image (PNG, JPEG, GIF, WebP, BMP …), joined by newlines.

    Returns "" for undecodable, tiny or text-free images; never raises for bad image data.
    """
    if not data:
        return ""
    key = hashlib.sha256(data).hexdigest()
    with _cache_lock:
        if key in _cache:
            _cache.move_to_end(key)
            return _cache[key]
    text = _read(data)
    if _engine is not None:  # not cached while the engine is unavailable
        with _cache_lock:
            _cache[key] = text
            while len(_cache) > CACHE_SIZE:
                _cache.popitem(last=False)
    return text


def _read(data: bytes) -> str:
    global _warned_unavailable
    try:
        engine = _get_engine()
    except OCRUnavailable as exc:
        if not _warned_unavailable:
            log.warning("images are not read: %s", exc)
            _warned_unavailable = True
        return ""
    img = _load(data)
    if img is None or min(img.size) < MIN_SIDE:
        return ""
    import numpy as np

    lines: list[str] = []
    for tile in _tiles(img):
        # RapidOCR takes numpy arrays in OpenCV's BGR order.
        arr = np.ascontiguousarray(np.asarray(tile)[:, :, ::-1])
        try:
            with _run_lock:
                result = engine(arr)
        except Exception as exc:  # a model failure on one image must not stop a crawl
            log.warning("OCR failed on a %sx%s image: %s", tile.width, tile.height, exc)
            continue
        for text in getattr(result, "txts", None) or ():
            text = text.strip()
            if text and (not lines or lines[-1] != text):  # overlap can repeat a line
                lines.append(text)
    return "\n".join(lines)
