"""A JSON-lines item pipeline: one line per PageItem (tests, debugging, ``yijian crawl`` dumps).

Enabled by adding ``crawlers.export.JsonLinesPipeline`` to ``ITEM_PIPELINES`` and naming the file in
``YIJIAN_JSONL_PATH``. ``YIJIAN_JSONL_BODY`` (bytes, default 0) includes up to that many bytes of the body,
decoded as UTF-8 with replacement, under ``"body"``.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

from scrapy.exceptions import NotConfigured

from crawlers.items import item_to_json
from domain import PageItem

if TYPE_CHECKING:
    from scrapy.crawler import Crawler


class JsonLinesPipeline:
    _lock = threading.Lock()  # several crawlers in one process may share the file

    def __init__(self, path: Path, body_bytes: int) -> None:
        self.path = path
        self.body_bytes = body_bytes

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> JsonLinesPipeline:
        path = crawler.settings.get("YIJIAN_JSONL_PATH")
        if not path:
            raise NotConfigured
        return cls(Path(path), crawler.settings.getint("YIJIAN_JSONL_BODY", 0))

    def process_item(self, item: Any) -> Any:
        if isinstance(item, PageItem):
            data = item_to_json(item)
            if self.body_bytes:
                data["body"] = item.body[: self.body_bytes].decode("utf-8", errors="replace")
            line = json.dumps(data, ensure_ascii=False) + "\n"
            with self._lock, self.path.open("a", encoding="utf-8") as fh:
                fh.write(line)
        return item
