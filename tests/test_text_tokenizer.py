"""domain.text's own cache of jieba's dictionary: the tokenizer it loads segments exactly as jieba's own start
does, a damaged or foreign cache is never trusted, and a missing one is written for the next process."""

from __future__ import annotations

import os

import jieba
import pytest

from domain import text

SAMPLES = [
    "干细胞治疗一次根治慢性病，治愈率99%",
    "本院位于市中心，交通便利，欢迎广大患者前来就诊咨询",
    "记者从市卫健委获悉，该诊所因超范围执业被罚款三万元",
]


@pytest.fixture
def fresh(tmp_path, monkeypatch):
    """domain.text with no tokenizer yet and its cache under tmp_path."""
    monkeypatch.setattr(text.tempfile, "tempdir", str(tmp_path))
    monkeypatch.setattr(text, "_tokenizer", None)
    return tmp_path


def _reference() -> jieba.Tokenizer:
    tok = jieba.Tokenizer()
    tok.initialize()  # jieba's own way
    return tok


def test_cached_dictionary_segments_as_jieba_does(fresh) -> None:
    first = text.tokenizer()  # no cache yet: jieba's way, and the cache is written
    cache = text._cache_path()
    assert cache.parent == fresh and cache.is_file()
    text._tokenizer = None
    second = text.tokenizer()  # from the cache
    assert second is not first
    ref = _reference()
    base = text._base_tokenizer()
    assert base.FREQ == ref.FREQ and base.total == ref.total
    for s in SAMPLES:
        assert second.lcut(s) == first.lcut(s)
        assert second.lcut_for_search(s) == first.lcut_for_search(s)
    # the medical user dictionary is loaded either way
    assert "干细胞治疗" in second.lcut(SAMPLES[0])


@pytest.mark.parametrize("damage", [b"", b"\x00garbage", b"not marshal at all"])
def test_damaged_cache_falls_back_and_is_rewritten(fresh, damage) -> None:
    cache = text._cache_path()
    cache.write_bytes(damage)
    os.chmod(cache, 0o600)
    tok = text._base_tokenizer()
    assert tok.FREQ == _reference().FREQ
    assert cache.stat().st_size > 1_000_000  # rewritten whole


def test_cache_others_can_write_is_not_trusted(fresh) -> None:
    cache = text._cache_path()
    import marshal

    cache.write_bytes(marshal.dumps(({"YJ伪造词条": 1}, 1)))  # a planted, well-formed state
    os.chmod(cache, 0o666)
    tok = text._base_tokenizer()
    assert "YJ伪造词条" not in tok.FREQ and tok.FREQ == _reference().FREQ
