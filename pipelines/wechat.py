"""WeChat public-account articles (mp.weixin.qq.com): title, account, publish time, body, images.

WeChat pages carry their metadata twice: in the DOM (``#activity-name``, ``#js_name``, ``#js_content``) and in
inline script variables (``var msg_title``, ``var nickname``, ``var ct`` — a unix time). The script variables
are the more reliable source (the DOM may be filled in by JavaScript), so they come first. Deleted, expired or
blocked articles are reported with status ``deleted``.
"""

from __future__ import annotations

import html as html_lib
import re
from typing import Any
from urllib.parse import urlsplit

from domain import Extracted
from pipelines.dates import find_publish_time, from_unix, parse_chinese_datetime

__all__ = ["DELETED_MARKERS", "deleted_reason", "is_wechat", "parse_wechat"]

# Phrases WeChat shows instead of an article that was removed, expired or blocked.
DELETED_MARKERS: tuple[str, ...] = (
    "该内容已被发布者删除",
    "此内容因违规无法查看",
    "此内容被多人投诉，相关的内容无法进行查看",
    "此内容被投诉且经审核涉嫌侵权",
    "此内容发送失败无法查看",
    "内容已被删除",
    "该内容已被删除",
    "该公众号已迁移",
    "此帐号已被屏蔽",
    "此帐号已自主注销",
    "该账号因违规无法查看",
    "此账号已被屏蔽",
    "此账号已自主注销",
    "该文章已被删除",
    "链接已过期",
    "该内容暂时无法查看",
    "涉嫌违反相关法律法规和政策",
    "已停止访问该网页",
    "该公众号已被封禁",
)


def _js_var(source: str, name: str) -> str | None:
    """Value of ``var NAME = "..."`` / ``NAME: '...'`` in inline script; None when absent."""
    patterns = (
        rf"""\bvar\s+{name}\s*=\s*(["'])(.*?)(?<!\\)\1""",
        rf"""\bwindow\.{name}\s*=\s*(["'])(.*?)(?<!\\)\1""",
        rf"""[{{,\s]{name}\s*:\s*(["'])(.*?)(?<!\\)\1""",
    )
    for pat in patterns:
        m = re.search(pat, source, re.S)
        if m:
            return _unescape_js(m.group(2))
    return None


def _unescape_js(value: str) -> str:
    value = re.sub(r"\\x([0-9a-fA-F]{2})", lambda m: chr(int(m.group(1), 16)), value)
    value = re.sub(r"\\u([0-9a-fA-F]{4})", lambda m: chr(int(m.group(1), 16)), value)
    value = value.replace("\\'", "'").replace('\\"', '"').replace("\\\\", "\\").replace("\\n", "\n")
    # WeChat HTML-escapes the title inside the JS string (sometimes twice: &amp;quot;).
    for _ in range(2):
        value = html_lib.unescape(value)
    return value.strip()


def is_wechat(url: str, html: str) -> bool:
    """True for mp.weixin.qq.com URLs and for pages with WeChat's article structure."""
    host = urlsplit(url).hostname or "" if url else ""
    if host.endswith("mp.weixin.qq.com") or host == "weixin.qq.com":
        return True
    return ('id="js_content"' in html or "id='js_content'" in html) and (
        "var msg_title" in html or "rich_media" in html or 'id="activity-name"' in html
    )


def deleted_reason(text: str) -> str | None:
    """The deleted/blocked marker found in a page's visible text, or None."""
    for marker in DELETED_MARKERS:
        if marker in text:
            return marker
    return None


def _node_text(tree: Any, xpath: str) -> str:
    nodes = tree.xpath(xpath)
    if not nodes:
        return ""
    return re.sub(r"\s+", " ", nodes[0].text_content()).strip()


def parse_wechat(tree: Any, source: str, url: str, *, extracted: Extracted) -> Extracted:
    """Fill ``extracted`` from a WeChat article page (``tree`` is the lxml tree of ``source``).

    Body text and images are taken from ``#js_content`` by the caller's block renderer
    (``pipelines.extract``); this function handles metadata and the deleted/blocked states.
    """
    title = _js_var(source, "msg_title") or ""
    if not title:
        title = _node_text(tree, '//*[@id="activity-name"]')
    if not title:
        og = tree.xpath('//meta[@property="og:title"]/@content')
        title = og[0].strip() if og else ""
    account = _js_var(source, "nickname") or ""
    if not account:
        account = _node_text(tree, '//*[@id="js_name"]') or _node_text(tree, '//*[@id="post-user"]')
    if not account:
        account = _node_text(tree, '//*[contains(@class,"rich_media_meta_nickname")]')
    author = _node_text(tree, '//*[@id="js_author_name"]')
    if not author:
        og_author = tree.xpath('//meta[@property="og:article:author"]/@content')
        author = og_author[0].strip() if og_author else ""

    published = None
    ct = _js_var(source, "ct")
    if ct is None:
        m = re.search(r"""\bvar\s+ct\s*=\s*["']?(\d{10})""", source)
        ct = m.group(1) if m else None
    if ct:
        published = from_unix(ct)
    if published is None:
        pt = _js_var(source, "publish_time")
        if pt:
            published = parse_chinese_datetime(pt)
    if published is None:
        dom_time = _node_text(tree, '//*[@id="publish_time"]') or _node_text(tree, '//*[@id="post-date"]')
        if dom_time:
            published = parse_chinese_datetime(dom_time)
    if published is None:
        published = find_publish_time(tree, raw_html=source, title=title)

    extracted.title = title
    extracted.account = account
    extracted.author = author
    extracted.published_at = published
    return extracted


def wechat_content_node(tree: Any) -> Any | None:
    nodes = tree.xpath('//*[@id="js_content"]')
    return nodes[0] if nodes else None
