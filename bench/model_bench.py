"""Throughput of the classifier encoder on this machine: docs/s at 128 and 256 tokens.

Measures the shipped default model (classifiers/model_default) and the full 12-layer multilingual-e5-small
rebuild (built on the fly into data/encoder/e5-small-zh if absent), with bf16 weights (the inference path;
faster than autocast, which re-casts fp32 weights per call) and fp32. Each document is exactly N tokens (a Chinese medical-ad text repeated), batch 32.

    .venv/bin/python bench/model_bench.py [--docs 96] [--threads 2] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

TEXT = "本院采用国际领先技术治疗糖尿病，一个疗程见效，患者满意度高，欢迎来电咨询预约专家号。"


def bench_encoder(model_dir: Path, tokens: int, docs: int, batch: int, bf16: bool) -> float:
    import torch
    from transformers import AutoModel, AutoTokenizer
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    tok = AutoTokenizer.from_pretrained(str(model_dir))
    dtype = torch.bfloat16 if bf16 else torch.float32
    enc = AutoModel.from_pretrained(str(model_dir), dtype=dtype, add_pooling_layer=False).eval()
    ids = tok(TEXT * 20, add_special_tokens=True, truncation=True, max_length=tokens)["input_ids"]
    x = torch.tensor([ids] * batch)
    mask = torch.ones_like(x)
    with torch.inference_mode():
        enc(input_ids=x[:2], attention_mask=mask[:2])  # warm-up
        t0 = time.perf_counter()
        done = 0
        while done < docs:
            enc(input_ids=x, attention_mask=mask)
            done += batch
        dt = time.perf_counter() - t0
    return done / dt


REALDATA = ROOT.parent / "shared" / "realdata" / "sentiment" / "ChnSentiCorp_htl_all.csv"


def realdata_check(limit: int) -> dict | None:
    """Out-of-domain check on ChnSentiCorp hotel reviews (shared/realdata, read only when present): negative
    reviews of hotels are not about a medical institution, so every label is a false positive there. Also
    reports the shipped classifier's throughput on these real texts (variable length, tokenisation included)."""
    if not REALDATA.is_file():
        return None
    import csv

    from classifiers.model import ModelClassifier

    with REALDATA.open(encoding="utf-8") as fh:
        rows = [(r["label"], r["review"]) for r in csv.DictReader(fh) if r.get("review")]
    rows = rows[:: max(1, -(-len(rows) // limit))]  # the file is sorted by label: sample across it
    clf = ModelClassifier()
    t0 = time.perf_counter()
    res = clf.classify([t for _lab, t in rows])
    dt = time.perf_counter() - t0
    out: dict = {"texts": len(rows), "docs_per_s": round(len(rows) / dt, 1), "flagged_share": {}}
    for sentiment in ("0", "1"):
        sel = [r for (lab, _t), r in zip(rows, res, strict=True) if lab == sentiment]
        name = "negative_reviews" if sentiment == "0" else "positive_reviews"
        out[f"n_{name}"] = len(sel)
        out["flagged_share"][name] = {
            lab: round(sum(1 for r in sel if lab in r.labels) / max(1, len(sel)), 4) for lab in clf.labels
        }
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--docs", type=int, default=96)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--skip-full", action="store_true", help="only the shipped model")
    ap.add_argument(
        "--realdata",
        type=int,
        default=0,
        metavar="N",
        help="also run the out-of-domain check on N ChnSentiCorp reviews (skipped if absent)",
    )
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)

    import torch

    torch.set_num_threads(args.threads)
    from classifiers.model import DEFAULT_MODEL_DIR

    models = {"shipped": DEFAULT_MODEL_DIR}
    if not args.skip_full:
        from classifiers.encoder_build import build_encoder

        full = ROOT / "data" / "encoder" / "e5-small-zh"
        if not (full / "model.safetensors").is_file():
            build_encoder(full)
        models["full-e5-small-12l"] = full
    results = []
    for name, path in models.items():
        for tokens in (128, 256):
            for bf16 in (True, False):
                dps = bench_encoder(path, tokens, args.docs, args.batch, bf16)
                results.append(
                    {
                        "model": name,
                        "tokens": tokens,
                        "dtype": "bf16" if bf16 else "fp32",
                        "docs_per_s": round(dps, 1),
                    }
                )
                if not args.json:
                    print(
                        f"{name:<20} {tokens:>4} tokens {'bf16' if bf16 else 'fp32'}: {dps:8.1f} docs/s",
                        flush=True,
                    )
    real = realdata_check(args.realdata) if args.realdata else None
    if args.realdata and not args.json:
        print(
            "realdata: "
            + (json.dumps(real, ensure_ascii=False) if real else "shared/realdata absent, skipped")
        )
    if args.json:
        print(
            json.dumps(
                {"threads": args.threads, "batch": args.batch, "results": results, "realdata": real}, indent=2
            )
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
