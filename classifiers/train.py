"""Seeded, reproducible fine-tuning of the 3-label classifier on CPU.

Base: any local Hugging Face encoder directory (``--base-model``), default the multilingual-e5-small rebuild
(``classifiers.encoder_build``), cached under ``<data_dir>/encoder/e5-small-zh``. The fine-tuned transformer
keeps the first ``layers`` transformer layers of the base and a vocabulary pruned to the CJK pieces plus the
short / corpus-used ASCII pieces, stored in fp16, initialised from the pretrained weights. The student
(``classifiers.student``, the fast network and the shipped default) is then distilled from it.

Thresholds are tuned per label on the dev split (maximum F1), never on test.
"""

from __future__ import annotations

import hashlib
import json
import math
import random
import shutil
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from classifiers.model import HEAD_FILE, ModelMeta, build_network
from domain import LABELS

DATA_DIR = Path(__file__).resolve().parent / "training_data"


# splits stored outside ``<split>.jsonl``: the real-web corpus (real/README.md). "real" is its test split, never
# used for training or tuning; "real-train" joins the training set, "real-dev" the dev set used for thresholds.
SPLIT_FILES: dict[str, str] = {
    "real": "real/test.jsonl",
    "real-train": "real/train.jsonl",
    "real-dev": "real/dev.jsonl",
}
# The real corpus is small next to the templated sets (hundreds of items against thousands): in fine-tuning
# each real item is seen REAL_TRAIN_COPIES times, and in threshold tuning each real dev item counts
# REAL_DEV_WEIGHT times, so that the decisions are made for the register the product meets.
REAL_TRAIN_COPIES = 3
REAL_DEV_WEIGHT = 4
# A reviewer's time goes to what is flagged: on the real dev split at most this share of the texts without a label
# may be flagged by the product's decision (model + rules); ``limit_neutral_flags`` raises thresholds until it holds.
MAX_NEUTRAL_FLAG_RATE = 0.05


def load_split(split: str, data_dir: Path = DATA_DIR) -> list[dict]:
    path = Path(data_dir) / SPLIT_FILES.get(split, f"{split}.jsonl")
    rows = []
    with path.open(encoding="utf-8") as fh:
        for n, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                r = json.loads(line)
            except json.JSONDecodeError as exc:
                raise ValueError(f"{path}:{n}: 不是合法的 JSON: {exc}") from exc
            bad = [lab for lab in r.get("labels", []) if lab not in LABELS]
            if not isinstance(r.get("text"), str) or bad:
                raise ValueError(f"{path}:{n}: 缺少 text 或含未知标签 {bad}")
            rows.append(r)
    return rows


def load_optional(split: str, data_dir: Path = DATA_DIR) -> list[dict]:
    """``load_split`` for a split a data directory may lack (a test's tiny data set has no real corpus)."""
    path = Path(data_dir) / SPLIT_FILES.get(split, f"{split}.jsonl")
    return load_split(split, data_dir) if path.is_file() else []


def training_rows(data_dir: Path = DATA_DIR) -> tuple[list[dict], list[dict]]:
    """The templated and natural training split and the real corpus's training split, the real items tagged
    ``source: real:<site>`` (the student augments them like the natural ones)."""
    real = [dict(r, source=f"real:{r.get('site', '')}") for r in load_optional("real-train", data_dir)]
    return load_split("train", data_dir), real


def tuning_rows(data_dir: Path = DATA_DIR) -> list[dict]:
    """Rows thresholds are tuned on: the dev split plus the real corpus's dev split (tagged ``source:
    real:<site>``), weighted."""
    real = [dict(r, source=f"real:{r.get('site', '')}") for r in load_optional("real-dev", data_dir)]
    return load_split("dev", data_dir) + real * REAL_DEV_WEIGHT


def default_base_model(data_dir: Path) -> Path:
    from classifiers.encoder_build import build_encoder

    path = Path(data_dir) / "encoder" / "e5-small-zh"
    if not (path / "model.safetensors").is_file():
        build_encoder(path)
    return path


def keep_piece_ids(tokenizer_json: dict, corpus: list[str], tokenizer) -> list[int]:
    """Pieces the cut transformer keeps: specials, every piece with a non-ASCII character (CJK, punctuation), ASCII
    pieces of at most 2 characters, and ASCII pieces the corpus uses."""
    vocab = tokenizer_json["model"]["vocab"]
    special = {t["id"] for t in tokenizer_json.get("added_tokens", [])}
    used: set[int] = set()
    for i in range(0, len(corpus), 512):
        for ids in tokenizer(corpus[i : i + 512], add_special_tokens=False)["input_ids"]:
            used.update(ids)
    keep = []
    for i, (piece, _s) in enumerate(vocab):
        body = piece.replace("\u2581", "")
        if i in special or i in used or len(body) <= 2 or any(ord(c) > 127 for c in body):
            keep.append(i)
    return keep


def make_cut_encoder(base_dir: Path, out_dir: Path, layers: int | None, corpus: list[str]) -> Path:
    """Copy of the base encoder with the first ``layers`` layers and (for Unigram tokenizers) a pruned
    vocabulary; other tokenizer types keep their vocabulary."""
    import torch
    from transformers import AutoModel, AutoTokenizer

    from classifiers.encoder_build import prune_tokenizer_json, write_tokenizer

    tok = AutoTokenizer.from_pretrained(str(base_dir))
    model = AutoModel.from_pretrained(str(base_dir), add_pooling_layer=False)
    if layers and layers < model.config.num_hidden_layers:
        model.encoder.layer = model.encoder.layer[:layers]
        model.config.num_hidden_layers = layers
    tj_path = Path(base_dir) / "tokenizer.json"
    tj = json.loads(tj_path.read_text(encoding="utf-8")) if tj_path.is_file() else None
    out_dir.mkdir(parents=True, exist_ok=True)
    if tj and tj.get("model", {}).get("type") == "Unigram":
        keep = keep_piece_ids(tj, corpus, tok)
        emb = model.get_input_embeddings().weight.data[torch.tensor(keep)]
        new = torch.nn.Embedding(len(keep), emb.shape[1])
        new.weight.data.copy_(emb)
        model.set_input_embeddings(new)
        model.config.vocab_size = len(keep)
        pad = tj["model"]["vocab"].index(["<pad>", 0.0]) if ["<pad>", 0.0] in tj["model"]["vocab"] else 1
        model.config.pad_token_id = keep.index(pad) if pad in keep else 0
        write_tokenizer(out_dir, prune_tokenizer_json(tj, keep))
        model.save_pretrained(out_dir, safe_serialization=True)
    else:
        model.save_pretrained(out_dir, safe_serialization=True)
        tok.save_pretrained(out_dir)
    return out_dir


def length_buckets(lens: list[int], batch_size: int, rng: random.Random) -> list[list[int]]:
    """One epoch's batches of indices: shuffled, sorted by length within chunks of 20 batches (little
    padding), the batches shuffled again (still random)."""
    idx = list(range(len(lens)))
    rng.shuffle(idx)
    chunks = [
        sorted(idx[i : i + batch_size * 20], key=lambda k: lens[k])
        for i in range(0, len(idx), batch_size * 20)
    ]
    batches = [c[i : i + batch_size] for c in chunks for i in range(0, len(c), batch_size)]
    rng.shuffle(batches)
    return batches


def native_bf16(torch) -> bool:
    """Whether this CPU computes bfloat16 natively (AVX-512 BF16 or AMX). Autocast pays only then: emulated on an
    AVX2-only CPU (e.g. an AMD EPYC VM) a training step took ~20x longer than in float32."""
    cpu = getattr(torch, "cpu", None)
    checks = ("_is_avx512_bf16_supported", "_is_amx_tile_supported")
    return any(bool(getattr(cpu, name, lambda: False)()) for name in checks)


def _f1(pred: list[bool], gold: list[int]) -> float:
    tp = sum(1 for x, g in zip(pred, gold, strict=True) if x and g)
    fp = sum(1 for x, g in zip(pred, gold, strict=True) if x and not g)
    fn = sum(1 for x, g in zip(pred, gold, strict=True) if not x and g)
    return 2 * tp / (2 * tp + fp + fn) if tp else 0.0


def best_thresholds(
    probs: list[list[float]], gold: list[list[int]], lo: float = 0.2, hi: float = 0.8
) -> dict[str, float]:
    """Per label, the threshold in [lo, hi] maximising dev F1 minus a small pull towards 0.5: the dev split
    is small and drawn from few phrasings, and an extreme cut (0.05, 0.95) tuned on it generalises badly."""
    out = {}
    for j, lab in enumerate(LABELS):
        col = [g[j] for g in gold]
        best, best_t = -1.0, 0.5
        for k in range(int(lo * 100), int(hi * 100) + 1):
            t = k / 100
            obj = _f1([p[j] >= t for p in probs], col) - 0.05 * abs(t - 0.5)
            if obj > best + 1e-9:
                best, best_t = obj, t
        out[lab] = best_t
    return out


Evidence = tuple[list[set[str]], list[set[str]], list[set[str]]]


def rule_evidence(texts: list[str]) -> Evidence | None:
    """Per text: the labels a rule fired for, the labels a context guard argues against, and the labels whose
    rule evidence stands alone (see ``classifiers.hybrid``); None when the rule engine is absent."""
    try:
        from classifiers.rules import RuleClassifier
    except ImportError:
        return None
    from classifiers.hybrid import guarded_labels, standalone_labels

    rules = RuleClassifier()
    fired = [set(r.labels) | {f.label for f in r.findings if f.label} for r in rules.classify(texts)]
    return fired, [guarded_labels(rules, t) for t in texts], [standalone_labels(rules, t) for t in texts]


def hybrid_predictions(
    probs: list[list[float]],
    evidence: Evidence,
    thresholds: dict[str, float],
    assist: dict[str, float],
    standalone_ok: frozenset[str] = frozenset(LABELS),
) -> list[set[str]]:
    """The hybrid decision (``classifiers.hybrid.decide``) for every text, at the given thresholds, rule hits
    standing alone only for the labels in ``standalone_ok``."""
    from classifiers.hybrid import decide

    out = []
    for p, f, g, s in zip(probs, *evidence, strict=True):
        out.append(
            {
                lab
                for j, lab in enumerate(LABELS)
                if decide(
                    lab,
                    p[j],
                    p[j] >= thresholds[lab],
                    assist.get(lab, thresholds[lab]),
                    lab in f,
                    lab in g,
                    lab in f and lab in s and lab in standalone_ok,
                )
            }
        )
    return out


def limit_neutral_flags(
    probs: list[list[float]],
    gold: list[list[int]],
    evidence: Evidence,
    thresholds: dict[str, float],
    assist: dict[str, float],
    watch: list[bool],
    max_rate: float = MAX_NEUTRAL_FLAG_RATE,
    ceiling: float = 0.9,
) -> tuple[dict[str, float], dict[str, float], frozenset[str]]:
    """Raise label thresholds and rule-assist thresholds, and withdraw a label's standalone rule evidence (the
    model may then veto its rule hits), until at most ``max_rate`` of the watched texts without a gold label
    (the real dev split's neutral texts) are flagged by the hybrid decision. Each step takes, among the moves
    "raise one threshold just enough to drop one more label from a watched text" and "withdraw one label's standalone
    evidence", the one that keeps dev macro-F1 highest; it stops when no move unflags anything (a confident
    model score above ``ceiling``). Returns thresholds, assist thresholds and the labels still standalone."""
    thr, ast, alone = dict(thresholds), dict(assist) or dict(thresholds), frozenset(LABELS)
    neutral = [i for i, w in enumerate(watch) if w and not any(gold[i])]

    def state(t: dict[str, float], a: dict[str, float], s: frozenset[str]) -> tuple[int, float]:
        """Labels set on watched neutral texts (a text flagged twice needs two moves), dev macro-F1."""
        pred = hybrid_predictions(probs, evidence, t, a, s)
        flagged = sum(len(pred[i]) for i in neutral)
        f1 = sum(_f1([lab in q for q in pred], [g[j] for g in gold]) for j, lab in enumerate(LABELS))
        return flagged, f1 / len(LABELS)

    def texts_flagged(t: dict[str, float], a: dict[str, float], s: frozenset[str]) -> int:
        pred = hybrid_predictions(probs, evidence, t, a, s)
        return sum(1 for i in neutral if pred[i])

    flagged, _ = state(thr, ast, alone)
    while neutral and texts_flagged(thr, ast, alone) > max_rate * len(neutral):
        best: tuple[float, int, dict[str, float], dict[str, float], frozenset[str]] | None = None
        for lab in LABELS:
            if lab in alone:
                fl, f1 = state(thr, ast, alone - {lab})
                if fl < flagged and (best is None or f1 > best[0]):
                    best = (f1, fl, thr, ast, alone - {lab})
            for table in ("threshold", "assist"):
                t, a = dict(thr), dict(ast)
                cur = t if table == "threshold" else a
                while True:
                    cur[lab] = round(cur[lab] + 0.01, 2)
                    if cur[lab] > (ceiling if table == "threshold" else t[lab]):
                        break
                    fl, f1 = state(t, a, alone)
                    if fl < flagged:
                        if best is None or f1 > best[0]:
                            best = (f1, fl, dict(t), dict(a), alone)
                        break
        if best is None:
            break
        _, flagged, thr, ast, alone = best
    return thr, ast, alone


def tune_rule_assist(
    texts: list[str],
    probs: list[list[float]],
    gold: list[list[int]],
    thresholds: dict[str, float],
    evidence: Evidence | None = None,
) -> dict[str, float]:
    """Per label, the lowest model score at which a rule hit sets the label in the hybrid decision
    (``classifiers.hybrid.decide``, guard veto included), chosen on dev in [0.02, thr] (maximum hybrid F1;
    ties → the lowest: where dev cannot tell, the rule's concrete evidence decides, the model only vetoing
    texts it clearly reads as not-that-label, such as notices quoting forbidden words). Empty when rules
    are absent. ``evidence``: ``rule_evidence(texts)`` when the caller has it already."""
    from classifiers.hybrid import decide

    evidence = evidence or rule_evidence(texts)
    if evidence is None:
        return {}
    fired, guarded, standalone = evidence
    out = {}
    for j, lab in enumerate(LABELS):
        thr = thresholds[lab]
        best, best_a = -1.0, thr
        for k in range(2, int(thr * 100) + 1):
            a = k / 100
            pred = [
                decide(lab, p[j], p[j] >= thr, a, lab in f, lab in g, lab in f and lab in s)
                for p, f, g, s in zip(probs, fired, guarded, standalone, strict=True)
            ]
            f1 = _f1(pred, [g[j] for g in gold])
            if f1 > best + 1e-9:
                best, best_a = f1, a
        out[lab] = best_a
    return out


def retune(
    model_dir: Path,
    data_dir: Path = DATA_DIR,
    log: Callable[[str], None] = print,
    network: str = "transformer",
) -> dict:
    """Re-choose the label thresholds and rule-assist thresholds of a trained model's ``network`` (the
    transformer, at the model's precision, or the student) on the dev split, with the inference path itself,
    and write them into its metadata."""
    from classifiers.model import ModelClassifier

    dev_rows = tuning_rows(data_dir)
    clf = ModelClassifier(model_dir, network=network)
    scored = clf.predict_proba([r["text"] for r in dev_rows])
    probs = [[s[lab] for lab in LABELS] for s in scored]
    gold = [[1 if lab in r["labels"] else 0 for lab in LABELS] for r in dev_rows]
    thresholds = best_thresholds(probs, gold)
    dev_f1 = {
        lab: round(_f1([p[j] >= thresholds[lab] for p in probs], [g[j] for g in gold]), 4)
        for j, lab in enumerate(LABELS)
    }
    texts = [r["text"] for r in dev_rows]
    assist = tune_rule_assist(texts, probs, gold, thresholds)
    watch = [str(r.get("source", "")).startswith("real:") for r in dev_rows]
    evidence = rule_evidence(texts) or ([set()] * len(texts), [set()] * len(texts), [set()] * len(texts))
    thresholds, limited, standalone = limit_neutral_flags(probs, gold, evidence, thresholds, assist, watch)
    if assist:
        assist = limited
    pred = hybrid_predictions(probs, evidence, thresholds, assist or thresholds, standalone)
    neutral = [p for p, w, g in zip(pred, watch, gold, strict=True) if w and not any(g)]
    neutral_rate = round(sum(1 for p in neutral if p) / len(neutral), 4) if neutral else 0.0
    dev_f1 = {
        lab: round(_f1([p[j] >= thresholds[lab] for p in probs], [g[j] for g in gold]), 4)
        for j, lab in enumerate(LABELS)
    }
    meta = ModelMeta.read(model_dir)
    if network == "student":
        target = meta.extra["student"]
        target["thresholds"] = thresholds
    else:
        target = meta.extra
        meta.thresholds = thresholds
    target["dev_f1"] = dev_f1
    target["real_dev_neutral_flag_rate"] = neutral_rate
    if assist:
        target["rule_assist_thresholds"] = assist
        target["rule_standalone"] = sorted(standalone)
    meta.write(model_dir)
    log(
        f"[{network}] 验证集阈值 {thresholds}，F1 {dev_f1}，规则辅助阈值 {assist}，"
        f"规则可单独定标签 {sorted(standalone)}，"
        f"真实网页验证集无标签文本被标记 {neutral_rate:.1%}"
    )
    return {
        "thresholds": thresholds,
        "dev_f1": dev_f1,
        "rule_assist_thresholds": assist,
        "rule_standalone": sorted(standalone),
    }


def train(
    output: Path,
    base_model: Path | None = None,
    data_dir: Path = DATA_DIR,
    seed: int = 13,
    epochs: int = 3,
    layers: int | None = 4,
    batch_size: int = 16,
    lr: float = 8e-5,
    max_length: int = 128,
    precision: str = "float32",
    student: bool = True,
    network: str = "student",
    extra_examples: list[dict] | None = None,
    work_dir: Path = Path("data"),
    threads: int = 2,
    log: Callable[[str], None] = print,
) -> dict:
    """Fine-tune the transformer, tune its thresholds on dev (at ``precision``, its inference path), distil
    the student from it (``classifiers.student``) unless ``student`` is false, tune the student's thresholds on
    dev; write a self-contained model directory to ``output`` whose default network is ``network``."""
    import numpy as np
    import torch
    from safetensors.torch import save_file
    from transformers import AutoModel, AutoTokenizer
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    t0 = time.time()
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    torch.set_num_threads(threads)
    torch.use_deterministic_algorithms(True, warn_only=True)

    from classifiers.model import prepare_text

    train_rows, real_rows = training_rows(data_dir)
    dev_rows = tuning_rows(data_dir)
    extra = [r for r in (extra_examples or []) if isinstance(r.get("text"), str) and r["text"].strip()]
    for r in extra:
        r["labels"] = [lab for lab in r.get("labels", []) if lab in LABELS]
    # the student gets each text once (it augments the real ones itself); the transformer sees real ones more
    rows = train_rows + real_rows + extra
    fit_rows = train_rows + real_rows * REAL_TRAIN_COPIES + extra
    log(
        f"训练集 {len(train_rows)} 条、真实网页 {len(real_rows)} 条（×{REAL_TRAIN_COPIES}），"
        f"另含反馈 {len(extra)} 条；验证集 {len(dev_rows)} 条（含真实网页 ×{REAL_DEV_WEIGHT}）"
    )

    base = Path(base_model) if base_model else default_base_model(Path(work_dir))
    output = Path(output)
    tmp = output.with_name(output.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    # the model reads text as ``prepare_text`` normalises it at inference (simplified, invisible characters
    # gone, homophones mapped): it is trained on the same form
    fit_texts = [prepare_text(r["text"]) for r in fit_rows]
    make_cut_encoder(base, tmp, layers, fit_texts + [prepare_text(r["text"]) for r in dev_rows])
    tok = AutoTokenizer.from_pretrained(str(tmp))
    encoder = AutoModel.from_pretrained(str(tmp), add_pooling_layer=False, dtype=torch.float32)
    net = build_network(encoder, len(LABELS))
    log(f"基座 {base}，层数 {encoder.config.num_hidden_layers}，词表 {encoder.config.vocab_size}")

    def encode(texts: list[str]):
        return tok(texts, padding=True, truncation=True, max_length=max_length, return_tensors="pt")

    y = torch.tensor([[1.0 if lab in r["labels"] else 0.0 for lab in LABELS] for r in fit_rows])
    params = [
        {"params": net.encoder.parameters(), "lr": lr},
        {"params": net.head.parameters(), "lr": lr * 10},
    ]
    opt = torch.optim.AdamW(params, weight_decay=0.01)
    steps_per_epoch = math.ceil(len(fit_rows) / batch_size)
    total = steps_per_epoch * epochs
    warm = max(1, total // 10)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: min(1.0, (s + 1) / warm) * max(0.0, (total - s) / max(1, total - warm))
    )
    gen = random.Random(seed)
    lens = [len(t) for t in fit_texts]
    bf16 = native_bf16(torch)
    log(f"混合精度：{'bfloat16' if bf16 else '关闭（CPU 无原生 bfloat16，以 float32 训练）'}")
    step = 0
    for ep in range(epochs):
        net.train()
        batches = length_buckets(lens, batch_size, gen)
        run_loss = 0.0
        for bi, b in enumerate(batches):
            enc = encode([fit_texts[k] for k in b])
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
                logits = net(enc["input_ids"], enc["attention_mask"])
            loss = torch.nn.functional.binary_cross_entropy_with_logits(logits.float(), y[b])
            opt.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(net.parameters(), 1.0)
            opt.step()
            sched.step()
            step += 1
            run_loss += loss.item()
            if (bi + 1) % 50 == 0:
                log(
                    f"epoch {ep + 1} step {bi + 1}/{len(batches)} loss {run_loss / 50:.4f} ({time.time() - t0:.0f}s)"
                )
                run_loss = 0.0

    net.eval()
    # thresholds are chosen after saving, on dev, with the inference path itself (see retune)
    thresholds = dict.fromkeys(LABELS, 0.5)

    # save: encoder in fp16 (half the bytes; inference runs bf16), head in fp32
    net.encoder.half().save_pretrained(tmp, safe_serialization=True)
    save_file({k: v.float().contiguous() for k, v in net.head.state_dict().items()}, str(tmp / HEAD_FILE))
    digest = hashlib.sha256()
    for r in rows:
        digest.update((r["text"] + "\t" + ",".join(r["labels"]) + "\n").encode("utf-8"))
    stamp = datetime.now(UTC).strftime("%Y%m%d")
    meta = ModelMeta(
        # the data digest keeps two models of one day and seed apart (reviewers see the version on findings)
        version=f"e5s{encoder.config.num_hidden_layers}l-{stamp}-s{seed}-{digest.hexdigest()[:6]}",
        labels=list(LABELS),
        thresholds=thresholds,
        max_length=max_length,
        base_model=str(base),
        extra={
            "precision": precision,
            "train_autocast": "bfloat16" if bf16 else "float32",
            "layers": encoder.config.num_hidden_layers,
            "vocab_size": encoder.config.vocab_size,
            "seed": seed,
            "epochs": epochs,
            "batch_size": batch_size,
            "lr": lr,
            "train_examples": len(train_rows),
            "real_train_examples": len(real_rows),
            "real_train_copies": REAL_TRAIN_COPIES,
            "real_dev_weight": REAL_DEV_WEIGHT,
            "feedback_examples": len(extra),
            "train_data_sha256": digest.hexdigest(),
            "train_seconds": round(time.time() - t0, 1),
            "trained_at": datetime.now(UTC).isoformat(timespec="seconds"),
        },
    )
    meta.write(tmp)
    shutil.rmtree(output, ignore_errors=True)
    tmp.rename(output)
    # final thresholds from the inference path itself (at ``precision``), on dev
    tuned = retune(output, data_dir, log)
    if student:
        from classifiers.student import train_student

        held_out = {
            r["text"]
            for split in ("dev", "test", "challenge", "real-dev", "real")
            for r in load_optional(split, data_dir)
        }
        # the student exists for speed: always int8 (its thresholds are tuned at int8 below)
        train_student(output, rows, LABELS, seed=seed, exclude=held_out, precision="int8", log=log)
        retune(output, data_dir, log, network="student")
    meta = ModelMeta.read(output)
    meta.extra["network"] = network if student else "transformer"
    meta.write(output)
    thresholds, dev_f1 = tuned["thresholds"], tuned["dev_f1"]
    log(f"模型已写入 {output}（{time.time() - t0:.0f}s）")
    return {"output": str(output), "thresholds": thresholds, "dev_f1": dev_f1, "version": meta.version}
