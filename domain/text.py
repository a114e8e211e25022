"""jieba segmentation with the medical user dictionary (domain/data/medical_dict.txt).

One process-wide tokenizer, initialised once (jieba's dictionary load costs ~1 s).
"""

from __future__ import annotations

import logging
import threading
from importlib import resources

import jieba

_lock = threading.Lock()
_tokenizer: jieba.Tokenizer | None = None

jieba.setLogLevel(logging.WARNING)


def tokenizer() -> jieba.Tokenizer:
    global _tokenizer
    if _tokenizer is None:
        with _lock:
            if _tokenizer is None:
                tok = jieba.Tokenizer()
                tok.initialize()
                dict_file = resources.files("domain") / "data" / "medical_dict.txt"
                if dict_file.is_file():
                    with resources.as_file(dict_file) as path:
                        tok.load_userdict(str(path))
                _tokenizer = tok
    return _tokenizer


def cut(text: str) -> list[str]:
    """Words of ``text`` (precise mode), whitespace dropped."""
    return [w for w in tokenizer().lcut(text) if w.strip()]


def tokenize_for_index(text: str) -> str:
    """Search-mode segmentation joined by spaces, lower-cased: the pre-segmented text both search backends index
    with a whitespace tokenizer (FTS5 ``unicode61``-style, Elasticsearch ``whitespace``)."""
    return " ".join(w.lower() for w in tokenizer().lcut_for_search(text) if w.strip())
