"""Website spider: start URLs, links within the allowed domains (depth, include/exclude), sitemaps
(explicit ones, robots.txt ``Sitemap:`` lines, sitemap index files)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

from scrapy.http import Response

from crawlers.spiders.base import SourceSpider


class SiteSpider(SourceSpider):
    source_type = "site"
    name = "site"

    async def start(self) -> AsyncIterator[Any]:
        for url in self.source.start_urls:
            yield self.make_request(url, self.parse_page, depth=0)
        for url in self.source.sitemaps:
            yield self.make_request(url, self.parse_sitemap, depth=0, kind="sitemap")

    def parse_page(self, response: Response) -> Iterator[Any]:
        yield self.page_item(response)
        if not self.ok_for_links(response):
            return
        yield from self.safely(response, lambda: self.robots_sitemap_requests(response))
        depth = int(response.meta.get("depth", 0)) + 1
        yield from self.safely(
            response,
            lambda: (
                self.make_request(u, self.parse_page, depth=depth) for u in self.extract_links(response)
            ),
        )
