"""The digest's charts as PNG bytes (matplotlib, Agg backend, the Noto Sans CJK font so Chinese labels render)."""

from __future__ import annotations

import io
from typing import Any

import matplotlib

matplotlib.use("Agg")

from matplotlib import font_manager  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402

CJK_FAMILIES = ("Noto Sans CJK SC", "Noto Sans CJK JP", "WenQuanYi Zen Hei", "Source Han Sans SC")


def cjk_family() -> str | None:
    """The first installed CJK font family (Debian: fonts-noto-cjk), or None."""
    installed = {f.name for f in font_manager.fontManager.ttflist}
    return next((f for f in CJK_FAMILIES if f in installed), None)


def _figure(height: float) -> Figure:
    family = cjk_family()
    if family:
        matplotlib.rcParams["font.family"] = [family, "DejaVu Sans"]
    matplotlib.rcParams["axes.unicode_minus"] = False
    return Figure(figsize=(7.2, height), dpi=110)


def _png(fig: Figure) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", bbox_inches="tight", metadata={"Software": None})
    return buf.getvalue()


def category_chart(digest: dict[str, Any], limit: int = 12) -> bytes:
    """Horizontal bars: the day's new findings by category."""
    items = digest["by_category"][:limit]
    fig = _figure(max(2.2, 0.42 * len(items) + 1.2))
    ax = fig.add_subplot()
    if items:
        names = [i["name"] for i in reversed(items)]
        values = [i["count"] for i in reversed(items)]
        bars = ax.barh(names, values, color="#c0392b")
        ax.bar_label(bars, padding=3, fontsize=9)
        ax.set_xlabel("新增发现（条）")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    else:
        ax.text(0.5, 0.5, "当日无新增发现", ha="center", va="center", fontsize=14, transform=ax.transAxes)
        ax.set_axis_off()
    ax.set_title(f"{digest['day']} 新增发现（按违法类别）", fontsize=12)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    return _png(fig)


def trend_chart(digest: dict[str, Any]) -> bytes:
    """Lines: new flagged documents per label over the day and the 7 days before."""
    trend = digest["trend"]
    fig = _figure(3.0)
    ax = fig.add_subplot()
    x = [d[5:] for d in trend["days"]]
    colours = {
        "exaggerated_efficacy": "#c0392b",
        "unapproved_service": "#8e44ad",
        "negative_sentiment": "#2c7fb8",
    }
    for label, values in trend["by_label"].items():
        ax.plot(x, values, marker="o", label=trend["label_names"].get(label, label), color=colours.get(label))
    ax.set_ylabel("新增标记网页（篇）")
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_ylim(bottom=0)
    ax.legend(fontsize=9, frameon=False)
    ax.set_title("近 8 天新增标记趋势", fontsize=12)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    return _png(fig)


def digest_charts(digest: dict[str, Any]) -> dict[str, bytes]:
    """Chart name → PNG bytes, in the order the digest shows them."""
    return {"categories": category_chart(digest), "trend": trend_chart(digest)}
