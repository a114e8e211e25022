"""The classifier interface every implementation (rules, model, model + rules) provides."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

from domain import LABELS, ClassifyResult

__all__ = ["LABELS", "Classifier", "ClassifyResult"]


@runtime_checkable
class Classifier(Protocol):
    name: str
    version: str

    def classify(self, texts: Sequence[str]) -> list[ClassifyResult]:
        """One result per text: document labels (subset of LABELS), a score per label in 0..1, findings."""
        ...
