"""Throughput of the classifier on this machine: docs/s at 128 and 256 tokens.

1. Network passes on synthetic documents of exactly N tokens (a Chinese medical-ad text repeated), batch 32:
   the shipped student (classifiers/student.py, the default network, at its shipped precision: int8), as the
   ONNX graph the product runs and, for comparison, on torch;
   the shipped transformer at int8 (dynamic quantisation), bf16 and fp32 (its shipped precision); the full
   12-layer multilingual-e5-small rebuild (built on the fly into data/encoder/e5-small-zh if absent) at the
   same precisions.
2. The shipped classifier end to end (tokenisation, windows, batching) on real documents cut to N tokens:
   the pages of the bundled demo web (hospital sites, a salon, news, WeChat) and, when ../shared/realdata is
   present, news articles from its extraction sets; student and transformer.

    .venv/bin/python bench/model_bench.py [--docs 96] [--threads 2] [--skip-full] [--realdata N] [--json]
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


def _timed(fn, x, mask, docs: int) -> float:
    import torch

    with torch.inference_mode():
        fn(x, mask)  # warm-up (allocations, one-time kernel set-up)
        t0 = time.perf_counter()
        done = 0
        while done < docs:
            fn(x, mask)
            done += len(x)
        return done / (time.perf_counter() - t0)


def bench_encoder(model_dir: Path, tokens: int, docs: int, batch: int, precision: str) -> float:
    """docs/s of the transformer (+ pooling and head) at ``precision`` on ``tokens``-token documents; a bare
    encoder directory (the full e5 rebuild) gets an untrained head, which costs the same."""
    import torch

    from classifiers.model import apply_precision, build_network, load_network, model_available

    if model_available(model_dir):
        net, tok, _meta = load_network(model_dir, precision)
    else:
        from transformers import AutoModel, AutoTokenizer

        tok = AutoTokenizer.from_pretrained(str(model_dir))
        encoder = AutoModel.from_pretrained(str(model_dir), dtype=torch.float32, add_pooling_layer=False)
        net = apply_precision(build_network(encoder, 3).eval(), precision)
    ids = tok(TEXT * 20, add_special_tokens=True, truncation=True, max_length=tokens)["input_ids"]
    x = torch.tensor([ids] * batch)
    return _timed(net, x, torch.ones_like(x), docs)


def bench_student(model_dir: Path, tokens: int, docs: int, batch: int, runtime: str) -> tuple[float, str]:
    """(docs/s, precision) of the student network at its shipped precision on ``runtime`` (``onnx``: the
    exported graph the product runs; ``torch``: the same weights on torch's int8)."""
    import torch

    from classifiers.model import ModelClassifier

    clf = ModelClassifier(model_dir, network="student", runtime=runtime)
    ids = clf.tokenizer(TEXT * 20, add_special_tokens=True, truncation=True, max_length=tokens)["input_ids"]
    x = torch.tensor([ids] * batch)
    if clf.runtime == "onnx":  # the graph takes numpy arrays
        return _timed(clf.net, x.numpy(), x.numpy() * 0 + 1, docs), clf.precision
    return _timed(clf.net, x, torch.ones_like(x), docs), clf.precision


def demo_texts() -> list[str]:
    from pipelines.extract import extract_file

    out = []
    for path in sorted((ROOT / "demo" / "sites").rglob("*.html")):
        ex = extract_file(path)
        text = "\n".join(t for t in (ex.title, ex.text) if t)
        if ex.status == "ok" and text.strip():
            out.append(text)
    return out


def realdata_news() -> list[str]:
    base = ROOT.parent / "shared" / "realdata" / "extraction"
    out = []
    for gt in sorted((base / "cwced" / "gt").glob("*.json")):
        out.append(json.loads(gt.read_text(encoding="utf-8")).get("content", ""))
    goose = base / "goose3_bbc_chinese" / "test_bbc_chinese.json"
    if goose.is_file():
        out.append(json.loads(goose.read_text(encoding="utf-8")).get("expected", {}).get("cleaned_text", ""))
    return [t for t in out if t.strip()]


def cut(texts: list[str], tokens: int, tokenizer) -> list[str]:
    """Consecutive pieces of each text of exactly ``tokens`` tokens (the tail shorter), as text."""
    out = []
    for t in texts:
        enc = tokenizer(t, add_special_tokens=False, return_offsets_mapping=True)
        offs = enc["offset_mapping"]
        for i in range(0, len(offs), tokens - 2):
            piece = offs[i : i + tokens - 2]
            out.append(t[piece[0][0] : piece[-1][1]])
    return [t for t in out if t.strip()]


def bench_real(name: str, texts: list[str], tokens: int, model_dir: Path | None = None) -> dict | None:
    """The shipped classifier end to end on ``texts`` cut to ``tokens`` tokens: student and transformer."""
    from classifiers.model import ModelClassifier

    if not texts:
        return None
    row: dict = {"set": name, "tokens": tokens}
    for network in ("student", "transformer"):
        clf = ModelClassifier(model_dir, network=network)
        docs = cut(texts, tokens, clf.tokenizer)
        row["docs"] = len(docs)
        clf.predict_proba(docs[:8])  # warm-up
        t0 = time.perf_counter()
        clf.predict_proba(docs)
        row[f"{network}_docs_per_s"] = round(len(docs) / (time.perf_counter() - t0), 1)
    return row


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
    out["network"] = clf.network
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

    def say(row: dict) -> None:
        if not args.json:
            print(json.dumps(row, ensure_ascii=False), flush=True)

    models = {"shipped-transformer": DEFAULT_MODEL_DIR}
    if not args.skip_full:
        from classifiers.encoder_build import build_encoder

        full = ROOT / "data" / "encoder" / "e5-small-zh"
        if not (full / "model.safetensors").is_file():
            build_encoder(full)
        models["full-e5-small-12l"] = full
    results = []
    for tokens in (128, 256):
        for runtime in ("onnx", "torch"):
            dps, precision = bench_student(DEFAULT_MODEL_DIR, tokens, args.docs * 4, args.batch, runtime)
            name = "shipped-student" + ("" if runtime == "onnx" else " (torch)")
            results.append({"model": name, "tokens": tokens, "dtype": precision, "docs_per_s": round(dps, 1)})
            say(results[-1])
    for name, path in models.items():
        for tokens in (128, 256):
            for precision in ("int8", "bfloat16", "float32"):
                dps = bench_encoder(path, tokens, args.docs, args.batch, precision)
                results.append(
                    {"model": name, "tokens": tokens, "dtype": precision, "docs_per_s": round(dps, 1)}
                )
                say(results[-1])
    end_to_end = []
    for set_name, texts in (("demo-web", demo_texts()), ("realdata-news", realdata_news())):
        for tokens in (128, 256):
            row = bench_real(set_name, texts, tokens)
            if row:
                end_to_end.append(row)
                say(row)
    real = realdata_check(args.realdata) if args.realdata else None
    if args.realdata and not args.json:
        print(
            "realdata: "
            + (json.dumps(real, ensure_ascii=False) if real else "shared/realdata absent, skipped")
        )
    if args.json:
        print(
            json.dumps(
                {
                    "threads": args.threads,
                    "batch": args.batch,
                    "results": results,
                    "end_to_end": end_to_end,
                    "realdata": real,
                },
                indent=2,
            )
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
