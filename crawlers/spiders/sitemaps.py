"""Sitemap parsing (urlset and sitemapindex, plain or gzipped)."""

from __future__ import annotations

import gzip

from scrapy.http import Response
from scrapy.utils.gz import gunzip
from scrapy.utils.sitemap import Sitemap


def sitemap_body(response: Response) -> bytes:
    body = response.body
    if body[:2] == b"\x1f\x8b":
        try:
            return gunzip(body, max_size=response.meta.get("download_maxsize", 50 * 1024 * 1024))
        except (OSError, gzip.BadGzipFile, EOFError, ValueError) as exc:
            raise ValueError(f"gzip 解压失败: {exc}") from exc
    return body


def parse_sitemap(response: Response) -> tuple[str, list[str]]:
    """``(type, locs)`` where type is ``urlset`` or ``sitemapindex``; ValueError when it is not a sitemap."""
    body = sitemap_body(response)
    if not body.strip():
        raise ValueError("空文件")
    try:
        sm = Sitemap(body)
    except Exception as exc:
        raise ValueError(str(exc) or type(exc).__name__) from exc
    if sm.type not in ("urlset", "sitemapindex"):
        raise ValueError(f"根元素不是 urlset/sitemapindex: {sm.type}")
    locs = [entry["loc"].strip() for entry in sm if entry.get("loc")]
    return sm.type, locs
