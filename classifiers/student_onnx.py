"""Runs the student's exported int8 graph (``student.onnx``, ``classifiers.student.export_onnx``) with ONNX
Runtime and numpy: the product's default network without importing torch, which cost a crawl's analysis
worker ~2.5 s of CPU and ~250 MB at every start; the graph also runs ~1.25x torch's int8 student per window
(bench/model_bench.py).

The embedding lookup happens here, in numpy, over the transformer's embedding matrix (read from
``model.safetensors``, shared with the transformer), so the graph file holds the student's own weights only.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

EMBEDDING_KEY = "embeddings.word_embeddings.weight"


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


class StaleGraph(ValueError):
    """``student.onnx`` was exported from other weights than the directory's ``student.safetensors``."""


def available(model_dir: Path, entry: Any) -> bool:
    """Whether the student config's ``onnx`` entry names a graph present in ``model_dir`` and ONNX Runtime is
    installed (a core dependency; without it the student runs on torch)."""
    if not isinstance(entry, dict) or not (Path(model_dir) / str(entry.get("file", ""))).is_file():
        return False
    try:
        import onnxruntime  # noqa: F401
    except ImportError:
        return False
    return True


class OnnxStudent:
    """``(input_ids, attention_mask)`` as int arrays (batch × tokens) → logits (batch × labels), float32."""

    def __init__(self, model_dir: Path, entry: dict[str, Any], threads: int | None = None) -> None:
        import numpy as np
        import onnxruntime as ort
        from safetensors import safe_open

        model_dir = Path(model_dir)
        graph = model_dir / str(entry["file"])
        weights = model_dir / "student.safetensors"
        if entry.get("weights_sha256") != sha256_file(weights):
            raise StaleGraph(f"{graph} 与 {weights} 不对应（请重新导出：yijian train 会导出）")
        if entry.get("sha256") != sha256_file(graph):
            raise StaleGraph(f"{graph} 的校验值与 yijian_model.json 不符")
        with safe_open(str(model_dir / "model.safetensors"), "np") as fh:
            self.embedding = fh.get_tensor(EMBEDDING_KEY).astype(np.float32)
        opts = ort.SessionOptions()
        # ``threads``, else OMP_NUM_THREADS (a crawl's workers run one thread each: pipelines.workers sets it to 1),
        # else ONNX Runtime's default (one per core)
        opts.intra_op_num_threads = threads or int(os.environ.get("OMP_NUM_THREADS", "0") or 0)
        opts.inter_op_num_threads = 1
        opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self.session = ort.InferenceSession(str(graph), opts, providers=["CPUExecutionProvider"])

    def __call__(self, input_ids: Any, attention_mask: Any) -> Any:
        import numpy as np

        x = self.embedding[np.asarray(input_ids)]
        mask = np.asarray(attention_mask, dtype=np.float32)
        return self.session.run(None, {"embeddings": x, "mask": mask})[0]
