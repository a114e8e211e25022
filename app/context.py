"""The long-lived context of a shell that makes many calls (the web console): the settings, one open store and
one search backend, opened on first use and shared by every use-case call until ``close()``."""

from __future__ import annotations

import threading
from typing import Any

from config import Settings
from store.db import Store
from store.search.factory import get_search


class AppContext:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._store: Store | None = None
        self._search: Any = None
        self._lock = threading.Lock()

    @property
    def store(self) -> Store:
        with self._lock:
            if self._store is None:
                self._store = Store.from_settings(self.settings)
            return self._store

    @property
    def search_backend(self) -> Any:
        with self._lock:
            if self._search is None:
                self._search = get_search(self.settings)
            return self._search

    def close(self) -> None:
        with self._lock:
            if self._store is not None:
                self._store.close()
                self._store = None
            close = getattr(self._search, "close", None)
            if callable(close):
                close()
            self._search = None

    def __enter__(self) -> AppContext:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
