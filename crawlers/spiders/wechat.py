"""WeChat spider: article pages (mp.weixin.qq.com structure) and account article-list pages.

Article pages (``/s/<id>``, ``/s?__biz=…``, or a page with ``#js_content``) are leaves. Any other page is treated
as a list (an account's 历史消息 page, an album, an index) whose article links are followed: ``<a href>``, the
``hrefs`` / ``data-link`` attributes WeChat puts on message cards, and ``content_url`` values of the msgList JSON
embedded in real profile pages.
"""

from __future__ import annotations

import html
import re
from collections.abc import AsyncIterator, Iterator
from typing import Any
from urllib.parse import urldefrag, urlsplit

from scrapy.http import Response

from crawlers.spiders.base import SourceSpider

_ARTICLE_PATH = re.compile(r"^/s(/[^/]+)?/?$")
_CONTENT_URL = re.compile(r"""content_url["']?\s*[:=]\s*["']([^"']+)["']""")


def is_article_url(url: str) -> bool:
    parts = urlsplit(url)
    return bool(_ARTICLE_PATH.match(parts.path)) and (parts.path != "/s" or "__biz=" in parts.query)


class WechatSpider(SourceSpider):
    source_type = "wechat"
    name = "wechat"

    async def start(self) -> AsyncIterator[Any]:
        for url in self.source.start_urls:
            yield self.make_request(url, self.parse_page, depth=0)

    def is_article(self, response: Response) -> bool:
        return is_article_url(response.url) or bool(response.css("#js_content, .rich_media_content"))

    def parse_page(self, response: Response) -> Iterator[Any]:
        yield self.page_item(response)
        if not self.ok_for_links(response) or self.is_article(response):
            return
        yield from self.safely(response, lambda: self._list_children(response))

    def article_links(self, response: Response) -> list[str]:
        raw = response.xpath("//@hrefs | //@data-link | //a/@href").getall()
        raw += [html.unescape(m.replace("\\/", "/")) for m in _CONTENT_URL.findall(response.text)]
        out: list[str] = []
        for href in raw:
            href = href.strip()
            if not href or href.startswith(("javascript:", "#")):
                continue
            url = urldefrag(response.urljoin(href))[0]
            if is_article_url(url) and self.allowed_url(url) and url not in out:
                out.append(url)
        return out

    def _list_children(self, response: Response) -> Iterator[Any]:
        depth = int(response.meta.get("depth", 0)) + 1
        articles = self.article_links(response)
        for url in articles:
            yield self.make_request(url, self.parse_page, depth=depth, leaf=True)
        for url in self.extract_links(response):
            if url not in articles:
                yield self.make_request(url, self.parse_page, depth=depth)
