"""The fine-tuned transformer classifier: a BERT-style encoder, mean pooling, a 3-label sigmoid head.

A model directory holds a Hugging Face encoder (``config.json``, ``model.safetensors``, tokenizer files),
``head.safetensors`` (the linear head) and ``yijian_model.json`` (labels, dev-tuned thresholds, version,
max length, training provenance and scores). Loading needs nothing else: not the training data, not the
teacher, no network.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from domain import LABELS, ClassifyResult, Finding
from domain.normalize import normalize

META_FILE = "yijian_model.json"
HEAD_FILE = "head.safetensors"
DEFAULT_MODEL_DIR = Path(__file__).resolve().parent / "model_default"

LABEL_ZH = {
    "exaggerated_efficacy": "夸大/违规疗效宣传",
    "unapproved_service": "非法/未经批准的医疗服务",
    "negative_sentiment": "负面舆情",
}
# Severity shown for a model-only finding (rules carry the precise S1–S4 / P1–P3 per category).
LABEL_SEVERITY = {"exaggerated_efficacy": "S2", "unapproved_service": "S1", "negative_sentiment": "P2"}


class ModelError(RuntimeError):
    """A model directory is missing, incomplete or unreadable (the message says which file and why)."""


@dataclass
class ModelMeta:
    version: str
    labels: list[str]
    thresholds: dict[str, float]
    max_length: int = 128
    base_model: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def read(cls, model_dir: Path) -> ModelMeta:
        path = Path(model_dir) / META_FILE
        if not path.is_file():
            raise ModelError(f"模型目录缺少 {META_FILE}: {model_dir}")
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            raise ModelError(f"无法读取 {path}: {exc}") from exc
        known = {"version", "labels", "thresholds", "max_length", "base_model"}
        try:
            return cls(
                version=str(data["version"]),
                labels=list(data["labels"]),
                thresholds={k: float(v) for k, v in data["thresholds"].items()},
                max_length=int(data.get("max_length", 128)),
                base_model=str(data.get("base_model", "")),
                extra={k: v for k, v in data.items() if k not in known},
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ModelError(f"{path} 字段不完整或格式错误: {exc}") from exc

    def write(self, model_dir: Path) -> None:
        data = {
            "version": self.version,
            "labels": self.labels,
            "thresholds": self.thresholds,
            "max_length": self.max_length,
            "base_model": self.base_model,
            **self.extra,
        }
        (Path(model_dir) / META_FILE).write_text(
            json.dumps(data, ensure_ascii=False, indent=2, sort_keys=False) + "\n", encoding="utf-8"
        )


def model_available(model_dir: Path | None = None) -> bool:
    d = Path(model_dir) if model_dir else DEFAULT_MODEL_DIR
    return (d / META_FILE).is_file() and (d / HEAD_FILE).is_file() and (d / "config.json").is_file()


def _torch():
    import torch

    return torch


def build_network(encoder, n_labels: int):
    """Encoder + mean pooling + dropout + linear head, as a torch module."""
    torch = _torch()
    nn = torch.nn

    class Net(nn.Module):  # type: ignore[name-defined]  # torch is imported lazily
        def __init__(self) -> None:
            super().__init__()
            self.encoder = encoder
            self.dropout = nn.Dropout(0.1)
            self.head = nn.Linear(encoder.config.hidden_size, n_labels)

        def forward(self, input_ids, attention_mask):
            hidden = self.encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
            mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1)
            return self.head(self.dropout(pooled))

    return Net()


PRECISIONS = ("int8", "bfloat16", "float32")


def load_network(model_dir: Path, dtype: str | None = "float32"):
    """(network in eval mode, tokenizer, meta) from a model directory.

    ``dtype``: ``float32``; ``bfloat16`` (weights cast); ``int8`` (dynamic quantisation of the encoder's linear
    layers: int8 weights, activations quantised per batch, integer GEMM; ~2x bf16 on CPUs with VNNI, see
    docs/decisions.md); ``None``: the precision the model's thresholds were tuned with (``precision`` in
    yijian_model.json; directories without it ran bf16). The head stays fp32 in every case."""
    torch = _torch()
    from safetensors.torch import load_file
    from transformers import AutoModel, AutoTokenizer
    from transformers.utils import logging as hf_logging

    model_dir = Path(model_dir)
    if not model_available(model_dir):
        raise ModelError(f"不是完整的模型目录（需要 config.json、{HEAD_FILE}、{META_FILE}）: {model_dir}")
    meta = ModelMeta.read(model_dir)
    dtype = dtype or str(meta.extra.get("precision", "bfloat16"))
    if dtype not in PRECISIONS:
        raise ModelError(f"未知的推理精度 {dtype!r}（可选：{', '.join(PRECISIONS)}）")
    hf_logging.set_verbosity_error()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    tok = AutoTokenizer.from_pretrained(str(model_dir))
    encoder = AutoModel.from_pretrained(str(model_dir), dtype=torch.float32, add_pooling_layer=False)
    net = build_network(encoder, len(meta.labels))
    head = load_file(str(model_dir / HEAD_FILE))
    net.head.load_state_dict({k: v.float() for k, v in head.items()})
    return apply_precision(net.eval(), dtype), tok, meta


def apply_precision(net, dtype: str):
    """``net`` (encoder + head, fp32) at ``dtype`` (see load_network); the head stays fp32 for int8."""
    torch = _torch()
    if dtype == "bfloat16":
        net.to(torch.bfloat16)
    elif dtype == "int8":
        import warnings

        # torch 2.13 points eager-mode quantisation users at torchao; the API still works
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            q = torch.ao.quantization
            # per-output-channel weight scales: per-tensor scales cost ~0.03 macro-F1 on the test split
            net.encoder = q.quantize_dynamic(net.encoder, {torch.nn.Linear: q.per_channel_dynamic_qconfig})
    return net


def prepare_text(text: object) -> str:
    """The model's input: the text as ``domain.normalize`` normalises it for rules and search too (invisible
    characters, compatibility forms, spaced-out characters, traditional characters, the homophone table), so an
    evasive spelling reads to the model as the wording it was trained on. Training should use the same step."""
    return normalize(text) if isinstance(text, str) else ""


def split_windows(text: str, max_chars: int, max_windows: int) -> list[str]:
    """Long texts are scored as windows of ``max_chars`` characters (a document's score per label is the
    maximum over its windows), at most ``max_windows`` of them; empty text yields one empty window."""
    text = text.strip()
    if len(text) <= max_chars:
        return [text]
    step = max_chars - max_chars // 8  # small overlap so a claim cut at a boundary is seen whole once
    wins = [text[i : i + max_chars] for i in range(0, len(text), step)]
    return wins[:max_windows]


_infer_lock = threading.Lock()


class BatchEncoder:
    """A model directory's ``tokenizer.json`` through the ``tokenizers`` library, set up as transformers' fast
    XLM-R tokenizer sets it up (transformers ≥ 5 rebuilds the pipeline from the class: the precompiled normalizer
    alone, whitespace split + Metaspace pre-tokenizer): the same ids and masks for ``(texts, padding=True,
    truncation=True, max_length=n, return_tensors="pt")`` — right padding to the longest, ``longest_first``
    truncation, special tokens added — without importing transformers (~3 s of a crawl's start-up).
    tests/test_model.py checks the equality against AutoTokenizer. Only that call is supported."""

    TOKENIZER_CLASSES = ("XLMRobertaTokenizerFast", "XLMRobertaTokenizer")

    def __init__(self, model_dir: Path, pad_token: str = "<pad>") -> None:
        from tokenizers import Tokenizer

        spec = json.loads((model_dir / "tokenizer.json").read_text(encoding="utf-8"))
        norm = spec.get("normalizer") or {}
        if norm.get("type") == "Sequence":
            precompiled = [n for n in norm.get("normalizers", []) if n.get("type") == "Precompiled"]
            spec["normalizer"] = precompiled[0] if precompiled else None
        meta = spec.get("pre_tokenizer") or {}
        replacement = meta.get("replacement", "▁")
        spec["pre_tokenizer"] = {
            "type": "Sequence",
            "pretokenizers": [
                {"type": "WhitespaceSplit"},
                {"type": "Metaspace", "replacement": replacement, "prepend_scheme": "always", "split": True},
            ],
        }
        self._tok = Tokenizer.from_str(json.dumps(spec))
        pad_id = self._tok.token_to_id(pad_token)
        if pad_id is None:
            raise ModelError(f"{model_dir / 'tokenizer.json'} 没有填充符 {pad_token}")
        self.pad_token_id = pad_id
        self._tok.enable_padding(pad_id=pad_id, pad_token=pad_token)
        self._max_length: int | None = None

    @classmethod
    def supports(cls, model_dir: Path) -> bool:
        try:
            config = json.loads((model_dir / "tokenizer_config.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return False
        known = config.get("tokenizer_class") in cls.TOKENIZER_CLASSES
        return known and (model_dir / "tokenizer.json").is_file()

    def __call__(
        self,
        texts: Sequence[str],
        *,
        padding: bool = True,
        truncation: bool = True,
        max_length: int,
        return_tensors: str = "pt",
    ) -> dict[str, Any]:
        if not (padding and truncation and return_tensors in ("pt", "np")):
            raise ValueError(
                "BatchEncoder supports padding=True, truncation=True, return_tensors='pt'|'np' only"
            )
        if max_length != self._max_length:
            self._tok.enable_truncation(max_length=max_length, strategy="longest_first")
            self._max_length = max_length
        encs = self._tok.encode_batch(list(texts), add_special_tokens=True)
        ids, mask = [e.ids for e in encs], [e.attention_mask for e in encs]
        if return_tensors == "np":  # the ONNX student's input: no torch
            import numpy as np

            return {
                "input_ids": np.array(ids, dtype=np.int64),
                "attention_mask": np.array(mask, dtype=np.int64),
            }
        torch = _torch()
        return {
            "input_ids": torch.tensor(ids, dtype=torch.long),
            "attention_mask": torch.tensor(mask, dtype=torch.long),
        }


NETWORKS = ("student", "transformer")


class ModelClassifier:
    """Batched inference with a fine-tuned model directory; implements ``classifiers.base.Classifier``.

    A model directory holds the fine-tuned transformer and, usually, the student distilled from it
    (``classifiers.student``); ``network`` picks which one scores (default: ``network`` in yijian_model.json,
    else the transformer). Each network has its own dev-tuned label and rule-assist thresholds."""

    name = "model"

    def __init__(
        self,
        model_dir: Path | str | None = None,
        batch_size: int = 32,
        max_windows: int = 8,
        threads: int | None = None,
        precision: str | None = None,
        network: str | None = None,
        runtime: str | None = None,
    ) -> None:
        self.model_dir = Path(model_dir) if model_dir else DEFAULT_MODEL_DIR
        meta = ModelMeta.read(self.model_dir)
        student_cfg = meta.extra.get("student")
        self.network = network or str(meta.extra.get("network", "transformer"))
        # the student's exported graph on ONNX Runtime ("onnx", classifiers.student_onnx) where the directory has
        # one at the precision asked for, else torch; runtime="torch" insists on torch (comparisons, research)
        if runtime not in (None, "onnx", "torch"):
            raise ModelError(f"未知的运行时 {runtime!r}（可选：onnx、torch）")
        self._allow_onnx = runtime != "torch"
        self.runtime = "torch"
        self._threads = threads
        if self.network not in NETWORKS:
            raise ModelError(f"未知的模型网络 {self.network!r}（可选：{', '.join(NETWORKS)}）")
        if self.network == "student":
            if not isinstance(student_cfg, dict):
                raise ModelError(f"模型目录没有学生模型: {self.model_dir}")
            self.precision = precision or str(student_cfg.get("precision", "float32"))
            self.net, self.encoder = self._load_student(student_cfg, self.precision)
            self._tokenizer = None  # transformers' tokenizer: loaded only if asked for (``tokenizer``)
            self.meta = meta
            self.version = f"{self.meta.version}/student"
            self.thresholds = {k: float(v) for k, v in student_cfg.get("thresholds", {}).items()}
            self.assist_thresholds = dict(student_cfg.get("rule_assist_thresholds", {}))
            standalone = student_cfg.get("rule_standalone")
        else:
            # default precision: the one the thresholds were tuned with (see load_network)
            self.net, self._tokenizer, self.meta = load_network(self.model_dir, dtype=precision)
            self.encoder = self._tokenizer
            self.precision = precision or str(self.meta.extra.get("precision", "bfloat16"))
            self.version = self.meta.version
            self.thresholds = dict(self.meta.thresholds)
            self.assist_thresholds = dict(self.meta.extra.get("rule_assist_thresholds", {}))
            standalone = self.meta.extra.get("rule_standalone")
        # labels whose surviving rule hit may stand without the model's assent (chosen on dev, see
        # classifiers.train.limit_neutral_flags); None: the rule engine's own choice for every label
        self.rule_standalone: frozenset[str] | None = None if standalone is None else frozenset(standalone)
        self.labels = list(self.meta.labels)
        self.batch_size = batch_size
        self.max_windows = max_windows
        # ~1 token per Chinese character with this vocabulary; windows keep most texts in one pass.
        self.max_chars = max(32, self.meta.max_length - 8)
        if threads and self.runtime == "torch":
            _torch().set_num_threads(threads)

    @property
    def tokenizer(self) -> Any:
        """transformers' tokenizer of the model directory (benchmarks and training use its full API)."""
        if self._tokenizer is None:
            from transformers import AutoTokenizer

            os.environ.setdefault("HF_HUB_OFFLINE", "1")
            self._tokenizer = AutoTokenizer.from_pretrained(str(self.model_dir))
        return self._tokenizer

    def _load_student(self, cfg: dict, precision: str):
        from classifiers import student_onnx
        from classifiers.student import STUDENT_FILE

        if not (self.model_dir / STUDENT_FILE).is_file():
            raise ModelError(f"模型目录缺少 {STUDENT_FILE}: {self.model_dir}")
        tok: Any
        if BatchEncoder.supports(self.model_dir):
            try:
                tok = BatchEncoder(self.model_dir)
            except Exception as exc:  # tokenizers raises its own Exception type for unreadable files
                raise ModelError(f"分词器无法加载: {exc}") from exc
        else:  # another tokenizer class: transformers' own
            tok = self.tokenizer
        pad = tok.pad_token_id if tok.pad_token_id is not None else 1
        # the exported graph on ONNX Runtime (no torch) when the directory has one at this precision (int8 for
        # the shipped model) and the tokenizer is ours; otherwise the torch network
        onnx = cfg.get("onnx")
        try:
            if (
                self._allow_onnx
                and isinstance(onnx, dict)
                and onnx.get("precision") == precision
                and isinstance(tok, BatchEncoder)
                and student_onnx.available(self.model_dir, onnx)
            ):
                self.runtime = "onnx"
                return student_onnx.OnnxStudent(self.model_dir, onnx, self._threads), tok
            from classifiers.student import load_student

            return load_student(self.model_dir, cfg, pad, precision), tok
        except (OSError, ValueError, RuntimeError, KeyError) as exc:
            raise ModelError(f"学生模型无法加载: {exc}") from exc

    def predict_proba(self, texts: Sequence[str]) -> list[dict[str, float]]:
        """Per-text score per label (sigmoid, 0..1), max over a long text's windows."""
        windows: list[str] = []
        owner: list[int] = []
        for i, t in enumerate(texts):
            for w in split_windows(prepare_text(t), self.max_chars, self.max_windows):
                windows.append(w)
                owner.append(i)
        probs = [[0.0] * len(self.labels) for _ in texts]
        order = sorted(range(len(windows)), key=lambda k: len(windows[k]))  # a batch pads little
        with _infer_lock:
            for b in range(0, len(order), self.batch_size):
                idx = order[b : b + self.batch_size]
                for k, row in zip(idx, self._scores([windows[k] for k in idx]), strict=True):
                    dst = probs[owner[k]]
                    for j, v in enumerate(row):
                        if v > dst[j]:
                            dst[j] = v
        return [dict(zip(self.labels, row, strict=True)) for row in probs]

    def _scores(self, batch: list[str]) -> list[list[float]]:
        """Sigmoid scores of one batch of windows, on the network's runtime."""
        kind = "np" if self.runtime == "onnx" else "pt"
        enc = self.encoder(
            batch, padding=True, truncation=True, max_length=self.meta.max_length, return_tensors=kind
        )
        if self.runtime == "onnx":
            import numpy as np

            logits = self.net(enc["input_ids"], enc["attention_mask"])
            return (1.0 / (1.0 + np.exp(-logits.astype(np.float64)))).tolist()
        torch = _torch()
        with torch.inference_mode():
            return torch.sigmoid(self.net(enc["input_ids"], enc["attention_mask"]).float()).tolist()

    def classify(self, texts: Sequence[str]) -> list[ClassifyResult]:
        results = []
        for text, scores in zip(texts, self.predict_proba(texts), strict=True):
            scores = {lab: round(float(scores.get(lab, 0.0)), 4) for lab in LABELS}
            labels = [lab for lab in LABELS if lab in self.thresholds and scores[lab] >= self.thresholds[lab]]
            findings = [
                self._finding(lab, scores[lab], text if isinstance(text, str) else "") for lab in labels
            ]
            results.append(ClassifyResult(labels=labels, scores=scores, findings=findings))
        return results

    def _finding(self, label: str, score: float, text: str) -> Finding:
        thr = self.thresholds[label]
        return Finding(
            category=label,
            label=label,
            start=0,
            end=len(text),
            text=text[:80],
            legal_basis="",
            severity=LABEL_SEVERITY.get(label, "S3"),
            source=f"model:{self.version}",
            score=score,
            reason=f"模型判定为“{LABEL_ZH.get(label, label)}”（得分 {score:.2f}，阈值 {thr:.2f}，模型版本 {self.version}）",
        )
