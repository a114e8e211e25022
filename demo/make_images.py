"""Regenerate the demo web's PNG images (committed; run this only after changing them).

The important one is ``gbk_clinic/images/ad-claim.png``: an ad whose efficacy claim exists only as pixels, so
the OCR stage is the only way to find it. The others are small neutral pictures for the WeChat articles.

    .venv/bin/python -m demo.make_images
"""

from __future__ import annotations

from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

SITES_DIR = Path(__file__).resolve().parent / "sites"
FONT_CANDIDATES = (
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Bold.ttc",
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/opentype/noto/NotoSerifCJK-Bold.ttc",
)

# The claim drawn into the OCR test image (see demo/expected.yaml: ocr_url / ocr_text).
AD_CLAIM_LINES = ("祖传秘方", "三天根治", "无效退款")


def _font(size: int) -> ImageFont.FreeTypeFont:
    for path in FONT_CANDIDATES:
        if Path(path).is_file():
            # index 2 = Simplified Chinese face in the Noto CJK collections
            return ImageFont.truetype(path, size, index=2)
    raise SystemExit("no CJK font found (install fonts-noto-cjk)")


def text_image(
    lines: tuple[str, ...],
    size: tuple[int, int],
    font_size: int,
    fg: str = "black",
    bg: str = "white",
) -> Image.Image:
    img = Image.new("RGB", size, bg)
    draw = ImageDraw.Draw(img)
    font = _font(font_size)
    line_h = int(font_size * 1.3)
    y = (size[1] - line_h * len(lines)) // 2
    for line in lines:
        w = draw.textlength(line, font=font)
        draw.text(((size[0] - w) / 2, y), line, fill=fg, font=font)
        y += line_h
    return img


def _qr_like(size: int) -> Image.Image:
    """A QR-code-looking grid (not a real code: the demo must not point anywhere)."""
    img = Image.new("RGB", (size, size), "white")
    draw = ImageDraw.Draw(img)
    cell = size // 25
    bits = 0x5DEECE66D
    for r in range(25):
        for c in range(25):
            bits = (bits * 0x5DEECE66D + 0xB) & ((1 << 48) - 1)
            if (bits >> 17) & 1:
                draw.rectangle([c * cell, r * cell, (c + 1) * cell - 1, (r + 1) * cell - 1], fill="black")
    for x, y in ((0, 0), (18, 0), (0, 18)):
        draw.rectangle([x * cell, y * cell, (x + 7) * cell - 1, (y + 7) * cell - 1], fill="black")
        draw.rectangle([(x + 1) * cell, (y + 1) * cell, (x + 6) * cell - 1, (y + 6) * cell - 1], fill="white")
        draw.rectangle([(x + 2) * cell, (y + 2) * cell, (x + 5) * cell - 1, (y + 5) * cell - 1], fill="black")
    return img


def build() -> list[Path]:
    images: dict[str, Image.Image] = {
        "gbk_clinic/images/ad-claim.png": text_image(AD_CLAIM_LINES, (900, 420), 96),
        "wechat/mmbiz/hk-banner.png": text_image(
            ("江州华康医院", "关爱男性健康"), (640, 360), 48, "white", "#1f5fa8"
        ),
        "wechat/mmbiz/hk-qrcode.png": _qr_like(250),
        "wechat/mmbiz/hk-head.png": text_image(("华康",), (96, 96), 36, "white", "#1f5fa8"),
        "wechat/mmbiz/jzyy-flu.png": text_image(("春季流感防护",), (640, 360), 56, "#0b5", "white"),
        "wechat/mmbiz/jzyy-head.png": text_image(("一院",), (96, 96), 36, "white", "#0a7"),
        "private_hospital/logo.png": text_image(("江州华康医院",), (240, 64), 32, "#1f5fa8", "white"),
    }
    written = []
    for rel, img in images.items():
        out = SITES_DIR / rel
        out.parent.mkdir(parents=True, exist_ok=True)
        img.save(out, format="PNG", optimize=True)
        written.append(out)
    return written


if __name__ == "__main__":
    for path in build():
        print(path.relative_to(SITES_DIR.parent), path.stat().st_size, "bytes")
