"""The system of record: ``Store``, one object over the store's parts (registries, crawl runs, documents and
versions, the search outbox, statistics, reviewer feedback), each in its own module.

One ``Store`` per process; it is safe to call from several threads (every call opens its own short-lived
Session). Engine, SQLite locking and sessions: store.engine. ``Store`` is the parts combined as mixins over
one ``store.engine.Database``, plus what spans parts (deleting a document queues it in the outbox).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from store.blobs import BlobStore
from store.documents import Documents, SaveOutcome
from store.feedback import DECISIONS, Feedback
from store.models import Document
from store.outbox import Outbox
from store.registries import Registries
from store.runs import Runs
from store.stats import Statistics

if TYPE_CHECKING:
    import config

__all__ = [
    "DECISIONS",
    "SaveOutcome",
    "Store",
]


class Store(Registries, Runs, Documents, Outbox, Statistics, Feedback):
    def __init__(self, url: str, blob_dir: Path) -> None:
        self.blobs = BlobStore(blob_dir)
        super().__init__(url)

    @classmethod
    def from_settings(cls, settings: config.Settings) -> Store:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        return cls(settings.db_url, settings.blob_dir)

    def delete_document(self, doc_id: str) -> bool:
        """Remove a document with its versions, findings and feedback; queues it for removal from the index."""
        with self._write() as s:
            doc = s.get(Document, doc_id)
            if doc is None:
                return False
            s.delete(doc)
        self.outbox_add([doc_id])
        return True
