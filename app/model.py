"""Use-cases of the classifier model: fine-tune it (optionally on reviewers' decisions from the store) and evaluate
rules / model / model + rules side by side on a labelled split."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from classifiers.evaluate import evaluate as run_evaluation
from classifiers.evaluate import format_report
from classifiers.factory import resolve_model_dir
from classifiers.feedback import training_examples
from classifiers.train import train as run_training
from config import Settings
from store.db import Store

__all__ = ["evaluate_model", "feedback_examples", "format_report", "train_model"]


def feedback_examples(settings: Settings) -> list[dict[str, Any]]:
    """Reviewers' decisions turned into training examples ``{"text", "labels"}``."""
    with Store.from_settings(settings) as store:
        records = store.feedback_records()
    return [{"text": e["text"], "labels": list(e["labels"])} for e in training_examples(records)]


def train_model(
    settings: Settings,
    *,
    output: Path | None = None,
    include_feedback: bool = False,
    log: Callable[[str], None] = lambda m: None,
    **options: Any,
) -> dict[str, Any]:
    """Fine-tune the transformer (and distil the student) into ``output`` (default: data_dir/models/model-s<seed>).
    ``options`` are classifiers.train.train's: base_model, seed, epochs, layers, batch_size, max_length,
    precision, student, network."""
    extra = feedback_examples(settings) if include_feedback else []
    if include_feedback:
        log(f"反馈样本 {len(extra)} 条")
    out_dir = output or (settings.data_dir / "models" / f"model-s{options.get('seed', 13)}")
    return run_training(out_dir, extra_examples=extra, work_dir=settings.data_dir, log=log, **options)


def evaluate_model(
    settings: Settings, *, model_dir: Path | None = None, split: str = "test", network: str | None = None
) -> dict[str, Any]:
    """Rules only / model only / model + rules on ``split`` (train, dev, test, challenge or real)."""
    return run_evaluation(model_dir or resolve_model_dir(settings), split=split, network=network)
