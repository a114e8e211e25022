"""The domain core: the labels, severities and error kinds, the records every part passes around (PageItem,
Extracted, Finding, ClassifyResult), the source and institution records, and the URL identity. It imports
nothing else of the project; every other package takes these types from here."""

from __future__ import annotations

from domain.errors import ERROR_KINDS
from domain.labels import LABELS, SEVERITIES
from domain.records import ClassifyResult, Extracted, ExtractStatus, Finding, ImageRef, PageItem
from domain.urls import canonical_url, doc_id_for

__all__ = [
    "ERROR_KINDS",
    "LABELS",
    "SEVERITIES",
    "ClassifyResult",
    "ExtractStatus",
    "Extracted",
    "Finding",
    "ImageRef",
    "PageItem",
    "canonical_url",
    "doc_id_for",
]
