"""News spider: RSS/Atom feeds (item links; the entry's date rides along in ``x-feed-published``) and list
pages with pagination. Articles are leaves: their links are not followed (a news site's "related" links would
otherwise crawl the whole site); list pages follow article links (depth + 1) and pagination links (same depth,
bounded by the trap guards)."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Iterator
from typing import Any

from lxml import etree
from scrapy.http import Response

from crawlers.spidermiddlewares.traps import url_pattern
from crawlers.spiders.base import SourceSpider

_NEXT_TEXT = re.compile(r"^\s*(下一页|下页|后一页|next|next page|»|>|›|>>)\s*$", re.IGNORECASE)
_PAGE_PARAM = re.compile(
    r"([?&](page|p|pn|pageno|page_no)=\d+)|(/page/\d+)|(_\d+\.s?html?$)|(/list_?\d+)", re.I
)


def parse_feed(body: bytes) -> list[dict[str, str]]:
    """Entries of an RSS 2.0 / RSS 1.0 / Atom feed: ``[{"link", "published", "title"}]``; ValueError if not a feed."""
    try:
        root = etree.fromstring(
            body, parser=etree.XMLParser(recover=True, resolve_entities=False, no_network=True)
        )
    except etree.XMLSyntaxError as exc:
        raise ValueError(str(exc)) from exc
    if root is None:
        raise ValueError("不是 XML 文档")
    tag = etree.QName(root).localname.lower()
    if tag not in ("rss", "feed", "rdf"):
        raise ValueError(f"根元素不是 rss/feed: {tag}")
    entries: list[dict[str, str]] = []
    for node in root.iter():
        if not isinstance(node.tag, str):
            continue
        local = etree.QName(node).localname
        if local not in ("item", "entry"):
            continue
        link = published = title = ""
        for child in node:
            if not isinstance(child.tag, str):
                continue
            name = etree.QName(child).localname
            text = (child.text or "").strip()
            if name == "link":
                href = child.get("href")
                rel = child.get("rel", "alternate")
                if href and rel == "alternate":
                    link = link or href.strip()
                elif text:
                    link = link or text
            elif name in ("pubDate", "published", "date") or (name == "updated" and not published):
                published = text
            elif name == "title":
                title = text
            elif (
                name == "guid"
                and not link
                and text.startswith("http")
                and child.get("isPermaLink") != "false"
            ):
                link = text
        if link:
            entries.append({"link": link, "published": published, "title": title})
    return entries


class NewsSpider(SourceSpider):
    source_type = "news"
    name = "news"

    async def start(self) -> AsyncIterator[Any]:
        for url in self.source.feeds:
            yield self.make_request(url, self.parse_feed, depth=0, kind="feed")
        for url in self.source.start_urls:
            yield self.make_request(url, self.parse_list, depth=0)
        for url in self.source.sitemaps:
            yield self.make_request(url, self.parse_sitemap, depth=0, kind="sitemap")

    def parse_feed(self, response: Response) -> Iterator[Any]:
        if response.status != 200:
            yield self.page_item(response)
            return
        try:
            entries = parse_feed(response.body)
        except ValueError as exc:
            item = self.page_item(response)
            item.error_kind, item.error_detail = "parse_error", f"订阅源无法解析: {exc}"
            self.crawler.stats.inc_value("yijian/fetch_error/parse_error")
            yield item
            return
        self.crawler.stats.inc_value("yijian/discovery/feed")
        depth = int(response.meta.get("depth", 0)) + 1
        for entry in entries:
            url = response.urljoin(entry["link"])
            if not self.allowed_url(url):
                continue
            meta = {
                "feed_url": response.url,
                "feed_published": entry["published"],
                "feed_title": entry["title"],
            }
            yield self.make_request(url, self.parse_article, depth=depth, meta=meta, leaf=True)

    def parse_article(self, response: Response) -> Iterator[Any]:
        item = self.page_item(response)
        if response.meta.get("feed_url"):
            item.headers["x-feed-url"] = response.meta["feed_url"]
            if response.meta.get("feed_published"):
                item.headers["x-feed-published"] = response.meta["feed_published"]
            if response.meta.get("feed_title"):
                item.headers["x-feed-title"] = response.meta["feed_title"]
        yield item

    def pagination_links(self, response: Response) -> list[str]:
        """Links to other pages of the same list: ``rel=next``, 下一页-style text, page-number links, or URLs that
        differ from this list page's URL only in their numbers (``/list/1.html`` → ``/list/2.html``)."""
        urls: list[str] = []
        own_pattern = url_pattern(response.url)
        for a in response.xpath("//a[@href]"):
            href = a.attrib.get("href", "")
            text = " ".join(a.xpath(".//text()").getall()).strip()
            rel = (a.attrib.get("rel") or "").lower()
            url = response.urljoin(href).split("#", 1)[0]
            is_page = (
                "next" in rel.split()
                or bool(_NEXT_TEXT.match(text))
                or (text.isdigit() and bool(_PAGE_PARAM.search(href)))
                or (own_pattern is not None and url_pattern(url) == own_pattern)
            )
            if is_page and self.allowed_url(url) and url not in urls and url != response.url:
                urls.append(url)
        for href in response.xpath("//link[@rel='next']/@href").getall():
            url = response.urljoin(href)
            if self.allowed_url(url) and url not in urls:
                urls.append(url)
        return urls

    def parse_list(self, response: Response) -> Iterator[Any]:
        yield self.page_item(response)
        if not self.ok_for_links(response):
            return
        yield from self.safely(response, lambda: self._list_children(response))

    def _list_children(self, response: Response) -> Iterator[Any]:
        depth = int(response.meta.get("depth", 0))
        pages = self.pagination_links(response)
        for url in pages:
            yield self.make_request(url, self.parse_list, depth=depth)
        for url in self.extract_links(response):
            if url not in pages:
                yield self.make_request(url, self.parse_article, depth=depth + 1, leaf=True)
