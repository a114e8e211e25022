"""``get_classifier(settings)``: model + rules when a model is available, else rules only."""

from __future__ import annotations

import logging
from pathlib import Path

from classifiers.base import Classifier
from classifiers.model import DEFAULT_MODEL_DIR, ModelError, model_available

log = logging.getLogger(__name__)


def resolve_model_dir(settings) -> Path | None:
    """The configured model directory, else the shipped default; None when neither is a complete model."""
    configured = getattr(settings, "model_dir", None)
    if configured:
        if model_available(Path(configured)):
            return Path(configured)
        log.warning("配置的模型目录不可用，改用内置模型或仅规则: %s", configured)
    return DEFAULT_MODEL_DIR if model_available(DEFAULT_MODEL_DIR) else None


def get_rules() -> Classifier:
    from classifiers.rules import RuleClassifier

    return RuleClassifier()


def get_model(settings) -> Classifier | None:
    model_dir = resolve_model_dir(settings)
    if model_dir is None:
        return None
    try:
        from classifiers.model import ModelClassifier

        return ModelClassifier(model_dir, network=getattr(settings, "model_network", None))
    except (ModelError, OSError, ImportError, ValueError) as exc:
        log.warning("模型加载失败（%s），仅使用规则: %s", model_dir, exc)
        return None


def get_classifier(settings) -> Classifier:
    """Hybrid (model + rules) when a model loads, else the rules; the model alone if rules are absent."""
    model = get_model(settings)
    try:
        rules = get_rules()
    except ImportError:
        rules = None
    if model is not None and rules is not None:
        from classifiers.hybrid import HybridClassifier

        return HybridClassifier(model, rules)
    if rules is not None:
        return rules
    if model is not None:
        return model
    raise RuntimeError("没有可用的分类器：规则模块缺失且未找到模型")
