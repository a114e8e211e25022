"""jieba segmentation with the medical user dictionary (domain/data/medical_dict.txt).

One process-wide tokenizer, initialised once. jieba's own start (``Tokenizer.initialize``) reads its prefix
dictionary from a marshal cache with ``marshal.load(file)``, ~0.8 s here; the same bytes read whole and decoded
with ``marshal.loads`` take ~0.3 s, and every crawl starts two processes that segment (the prepare and the
analysis worker). So :func:`tokenizer` keeps its own cache of jieba's base dictionary state (``FREQ``, ``total``)
next to jieba's, keyed by jieba's version and its dictionary file, and falls back to jieba's way when that cache
is missing or unreadable. The user dictionary is added by jieba's own ``load_userdict`` either way (~10 ms).
"""

from __future__ import annotations

import logging
import marshal
import os
import tempfile
import threading
from importlib import resources
from pathlib import Path

import jieba

_lock = threading.Lock()
_tokenizer: jieba.Tokenizer | None = None

jieba.setLogLevel(logging.WARNING)
log = logging.getLogger(__name__)


def _cache_path() -> Path:
    dict_path = Path(jieba.DEFAULT_DICT or Path(jieba.__file__).parent / jieba.DEFAULT_DICT_NAME)
    st = dict_path.stat()
    key = f"{jieba.__version__}-{st.st_size}-{int(st.st_mtime)}"
    return Path(tempfile.gettempdir()) / f"yijian-jieba-{key}.marshal"


def _base_tokenizer() -> jieba.Tokenizer:
    """jieba's default dictionary, loaded from our whole-file marshal cache when it is there (written here)."""
    tok = jieba.Tokenizer()
    try:
        cache = _cache_path()
    except OSError:
        tok.initialize()
        return tok
    try:
        st = cache.stat()
        # marshal is not safe against crafted data: only a file this user wrote and nobody else can change
        if hasattr(os, "getuid") and (st.st_uid != os.getuid() or st.st_mode & 0o022):
            raise ValueError(f"{cache} is not this user's own file")
        freq, total = marshal.loads(cache.read_bytes())
        if not isinstance(freq, dict) or not isinstance(total, int) or not freq:
            raise ValueError("not a jieba dictionary state")
    except (OSError, ValueError, EOFError, TypeError):
        tok.initialize()
        tmp = None
        try:  # atomically: another process may read it meanwhile
            fd, tmp = tempfile.mkstemp(dir=cache.parent, prefix=cache.name, suffix=".tmp")
            with os.fdopen(fd, "wb") as fh:
                fh.write(marshal.dumps((tok.FREQ, tok.total)))
            os.replace(tmp, cache)
        except OSError as exc:
            log.info("jieba cache not written (%s); the next start loads the slower way", exc)
            if tmp is not None:
                Path(tmp).unlink(missing_ok=True)
        return tok
    tok.FREQ, tok.total = freq, total
    tok.initialized = True
    return tok


def tokenizer() -> jieba.Tokenizer:
    global _tokenizer
    if _tokenizer is None:
        with _lock:
            if _tokenizer is None:
                tok = _base_tokenizer()
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
