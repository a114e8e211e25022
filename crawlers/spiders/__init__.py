"""One spider class per source type; a crawl runs one spider instance per source."""

from __future__ import annotations

from crawlers.spiders.base import SourceSpider
from crawlers.spiders.news import NewsSpider
from crawlers.spiders.site import SiteSpider
from crawlers.spiders.wechat import WechatSpider

SPIDERS: dict[str, type[SourceSpider]] = {"site": SiteSpider, "wechat": WechatSpider, "news": NewsSpider}


def spider_for(source_type: str) -> type[SourceSpider]:
    return SPIDERS[source_type]


__all__ = ["SPIDERS", "NewsSpider", "SiteSpider", "SourceSpider", "WechatSpider", "spider_for"]
