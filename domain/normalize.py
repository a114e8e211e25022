"""Text normalisation before rules, model and search index, with an offset map back to the original text.

Real pages evade keyword checks with tricks a reader does not see: zero-width and other invisible characters,
soft hyphens, bidi controls (an RTL override), spaces between the characters, compatibility forms (full-width
letters, Kangxi radicals), traditional characters, pinyin or homophones for a key term (gen治, 根制).
:func:`normalize_text` undoes them, in this order:

1. text under a right-to-left override put in reading order; invisible characters removed (format characters, variation selectors, fillers, C0/C1 controls but \\t \\n \\r);
2. NFKC compatibility folding per character (full-width letters/digits, Kangxi radicals, CJK compatibility
   ideographs, mathematical alphanumerics), except full-width CJK punctuation, "…" and enclosed numbers (①),
   which NFKC would turn into ASCII and which readers and the model expect as they are;
3. horizontal whitespace removed between two CJK characters, and in letter-spaced runs ("一 次 根 治 9 9 %");
   a single line break removed where it splits what reads as one sentence (a claim cut across blocks, "一次\n根治，"):
   between two Han characters (or Han and a digit), no punctuation at the break, and a fragment of at most
   :data:`FRAGMENT` characters on one side before the nearest punctuation or line edge;
4. traditional → simplified with OpenCC (``hk2s``: standard traditional plus Hong Kong variants);
5. the homophone / pinyin table :data:`SUBSTITUTIONS` for the lexicon's key terms.

The result keeps, for every character of the normalised text, the span of the original it came from, so a hit
found in the normalised text maps back with :meth:`Normalized.span` to the original characters a reviewer reads.
Nothing here imports our own packages (domain rule).
"""

from __future__ import annotations

import re
import threading
import unicodedata
from array import array
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache

# ------------------------------------------------------------------------------------------- character classes

# Characters that render as nothing (or are not text): removed. Soft hyphen, combining grapheme joiner, Arabic
# letter mark, Hangul fillers, Khmer inherent vowels, Mongolian variation selectors and vowel separator,
# ZWSP/ZWNJ/ZWJ/LRM/RLM, bidi embeddings and overrides (LRE RLE PDF LRO RLO), word joiner and invisible operators,
# bidi isolates and deprecated format characters, variation selectors, BOM/ZWNBSP, interlinear annotation,
# musical invisible formatting, tag characters, C0/C1 controls except tab, newline and carriage return.
INVISIBLE_CLASS = (
    "\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f"
    "\u00ad\u034f\u061c\u115f\u1160\u17b4\u17b5\u180b-\u180f"
    "\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u206f\u3164"
    "\ufe00-\ufe0f\ufeff\uffa0\ufff9-\ufffb"
    "\U0001d173-\U0001d17a\U000e0000-\U000e007f\U000e0100-\U000e01ef"
)
INVISIBLE = re.compile(f"[{INVISIBLE_CLASS}]+")

# A right-to-left override and the text it governs: up to its PDF, the next bidi control or the line end.
_RLO = re.compile("\u202e([^\u202a-\u202e\u2066-\u2069\n\u2029]*)\u202c?")

# Horizontal whitespace (not newlines: those end lines and sentences).
_HSPACE_CLASS = " \t\u00a0\u1680\u2000-\u200a\u202f\u205f\u3000"
_HSPACE = re.compile(f"[{_HSPACE_CLASS}]+")

# CJK characters for the whitespace rule: ideographs, CJK symbols and punctuation, kana, full-width forms.
_CJK_RE = re.compile(
    "[\u2e80-\u2fdf\u3000-\u303f\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\ufe30-\ufe4f"
    "\uff00-\uffef\U00020000-\U0003134f]"
)

# A line break with optional horizontal space around it (one break: a blank line is a paragraph break).
_LINEBREAK = re.compile(f"[{_HSPACE_CLASS}]*\r?\n[{_HSPACE_CLASS}]*")
# Longest piece of a sentence (up to the nearest punctuation or line edge) that a break may cut off and still be
# joined: the split claims are short ("一次\n根治", "治愈率\n99%", "无效\n退款"); a longer line without
# punctuation is a heading or a list item and keeps its break.
FRAGMENT = 4
_HAN = re.compile("[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_NUMERALS = frozenset("0123456789一二三四五六七八九十")
_LIST_MARKER = re.compile("[0-9一二三四五六七八九十]{1,3}[.．、)）]")
_FRAGMENT_STOP = frozenset("，。！？；：、,.!?;:（）()【】[]“”‘’\"'《》…—\n")

# Kept as they are although NFKC has a compatibility mapping for them.
_NFKC_KEEP = re.compile(
    "[\uff01-\uff0f\uff1a-\uff20\uff3b-\uff40\uff5b-\uff65"  # full-width punctuation: ，！？（）：；【】…
    "\u2026\u2460-\u24ff\u3200-\u32ff]"  # … (NFKC: "..."), ①⑴⒈ⓐ, ㈠㊀ (NFKC: "(一)")
)

_fold_lock = threading.Lock()
_fold_re: re.Pattern[str] | None = None


def _fold_pattern() -> re.Pattern[str]:
    """Characters NFKC changes (and we fold), computed once: the BMP plus the supplementary blocks with
    compatibility forms used on the web (mathematical alphanumerics, enclosed Latin, CJK compatibility)."""
    global _fold_re
    if _fold_re is None:
        with _fold_lock:
            if _fold_re is None:
                ranges = [(0xA0, 0xFFFF), (0x1D400, 0x1D7FF), (0x1F100, 0x1F1FF), (0x2F800, 0x2FA1F)]
                chars: list[str] = []
                for lo, hi in ranges:
                    for cp in range(lo, hi + 1):
                        c = chr(cp)
                        if 0xD800 <= cp <= 0xDFFF or _NFKC_KEEP.match(c):
                            continue
                        n = unicodedata.normalize("NFKC", c)
                        # skip mappings that introduce a space (¨ → " ̈") or nothing at all
                        if n != c and n and not any(ch.isspace() for ch in n):
                            chars.append(c)
                # as ranges of consecutive code points: a class of thousands of single characters is slow
                parts: list[str] = []
                i = 0
                while i < len(chars):
                    j = i
                    while j + 1 < len(chars) and ord(chars[j + 1]) == ord(chars[j]) + 1:
                        j += 1
                    parts.append(re.escape(chars[i]) + ("-" + re.escape(chars[j]) if j > i else ""))
                    i = j + 1
                _fold_re = re.compile("[" + "".join(parts) + "]")
    return _fold_re


# -------------------------------------------------------------------------------- homophone / pinyin table

# This is a TABLE of observed evasive spellings of the lexicon's key terms, not a guess at what a writer meant:
# each entry is a pinyin spelling or a homophone / look-alike character that advertisers put in place of a key
# term so keyword checks miss it. Keep it to the key terms (efficacy guarantees, cure rates, refund promises,
# cell therapy, surrogacy, fetal sex testing): a broader table would rewrite innocent text. Patterns are
# case-insensitive regexes over text already folded and converted to simplified characters; a Latin spelling
# must not continue a longer Latin word.
SUBSTITUTIONS: tuple[tuple[str, str], ...] = (
    (r"(?<![a-z])gen\s*(?:zhi(?![a-z])|治)|根\s*zhi(?![a-z])|根制|根冶", "根治"),
    (r"治愈律|治玉率|治欲率|治遇率|冶愈率|(?:治|zhi)\s*yu\s*(?:率|lv(?![a-z]))", "治愈率"),
    (r"(?<![a-z])zhi\s*愈|治\s*yu(?![a-z])|冶愈", "治愈"),
    (r"有效律|有xiao率", "有效率"),
    (r"全愈|痊yu(?![a-z])|(?<![a-z])quan\s*愈", "痊愈"),
    (
        r"无效\s*(?:tui(?![a-z])\s*(?:款|kuan(?![a-z]))|退\s*kuan(?![a-z]))|(?<![a-z])wu\s*xiao\s*退款",
        "无效退款",
    ),
    (r"药到病徐|药到并除|要到病除|(?<![a-z])yao\s*到病除", "药到病除"),
    (r"(?<![a-z])bao\s*治|包\s*zhi(?![a-z])", "包治"),
    (r"(?<![a-z])gan\s*细胞|干\s*xi\s*胞", "干细胞"),
    (r"(?<![a-z])dai\s*(?:孕|yun(?![a-z]))|代\s*yun(?![a-z])", "代孕"),
    (r"香港\s*yan\s*血", "香港验血"),
    (r"(?<![a-z])yan\s*血", "验血"),
    (r"(?<![a-z])xing\s*别|性\s*bie(?![a-z])", "性别"),
)
_SUBST_RE = re.compile("|".join(f"({p})" for p, _ in SUBSTITUTIONS), re.IGNORECASE)
_SUBST_OUT = tuple(out for _, out in SUBSTITUTIONS)

# --------------------------------------------------------------------------------------------- OpenCC


_cc_lock = threading.Lock()
_cc: Callable[[str], str] | None = None


def _t2s() -> Callable[[str], str]:
    """OpenCC's traditional → simplified converter (``hk2s``: OpenCC standard + Hong Kong variants)."""
    global _cc
    if _cc is None:
        with _cc_lock:
            if _cc is None:
                import opencc

                _cc = opencc.OpenCC("hk2s").convert
    return _cc


# Runs of Han characters: OpenCC converts phrase by phrase inside them; a run whose length changes maps evenly.
_HAN_RUN = re.compile("[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0003134f]+")

# ------------------------------------------------------------------------------------------------ the map


@dataclass(frozen=True, slots=True)
class Normalized:
    """Normalised text and, per character, the ``[start, end)`` span of the original it came from.

    ``starts``/``ends`` are ``None`` when nothing changed (the identity map)."""

    original: str
    text: str
    starts: array[int] | None = None  # 32-bit ints: 8 bytes per character for both maps
    ends: array[int] | None = None

    @property
    def changed(self) -> bool:
        return self.starts is not None

    def span(self, start: int, end: int) -> tuple[int, int]:
        """The span of the original text that ``text[start:end]`` came from (it covers every original
        character that was folded into it, invisible characters between them included)."""
        if self.starts is None or self.ends is None:
            return start, end
        n = len(self.text)
        start, end = max(0, min(start, n)), max(0, min(end, n))
        if end <= start:
            pos = self.starts[start] if start < n else len(self.original)
            return pos, pos
        # min/max, not the ends of the slice: text under an RTL override maps in reverse order
        return min(self.starts[start:end]), max(self.ends[start:end])

    def original_text(self, start: int, end: int) -> str:
        a, b = self.span(start, end)
        return self.original[a:b]


class _Builder:
    """The text being normalised with its map; each step rewrites matches and carries the map along."""

    def __init__(self, text: str) -> None:
        self.original = text
        self.text = text
        self.starts: list[int] | None = None
        self.ends: list[int] | None = None

    def sub(self, pattern: re.Pattern[str], repl: Callable[[re.Match[str]], str]) -> None:
        """Replace every match of ``pattern`` by ``repl(match)`` (entries of the table have no capturing
        groups of their own, so ``match.lastindex`` names the table entry)."""
        text = self.text
        pieces: list[str] = []
        starts: list[int] = []
        ends: list[int] = []
        old_s = self.starts if self.starts is not None else range(len(text))
        old_e = self.ends if self.ends is not None else range(1, len(text) + 1)
        pos = 0
        changed = False
        for m in pattern.finditer(text):
            ms, me = m.span()
            new = repl(m)
            if new == m.group(0):
                continue
            changed = True
            pieces.append(text[pos:ms])
            starts.extend(old_s[pos:ms])
            ends.extend(old_e[pos:ms])
            _map_replacement(ms, me, len(new), old_s, old_e, starts, ends)
            pieces.append(new)
            pos = me
        if not changed:
            return
        pieces.append(text[pos:])
        starts.extend(old_s[pos:])
        ends.extend(old_e[pos:])
        self.text = "".join(pieces)
        self.starts, self.ends = starts, ends

    def reverse_overrides(self) -> None:
        """Text under a right-to-left override (RLO … PDF, or to the line end) is displayed in reverse order:
        put it in the order a reader sees (the advertiser stored "款退效无" to show 无效退款)."""
        if "\u202e" not in self.text:
            return
        text = self.text
        old_s = self.starts if self.starts is not None else range(len(text))
        old_e = self.ends if self.ends is not None else range(1, len(text) + 1)
        pieces: list[str] = []
        starts: list[int] = []
        ends: list[int] = []
        pos = 0
        for m in _RLO.finditer(text):
            ms, me = m.span()
            cs, ce = m.span(1)
            pieces.append(text[pos:ms])
            starts.extend(old_s[pos:ms])
            ends.extend(old_e[pos:ms])
            pieces.append(m.group(1)[::-1])
            for k in range(ce - 1, cs - 1, -1):
                starts.append(old_s[k])
                ends.append(old_e[k])
            pos = me
        pieces.append(text[pos:])
        starts.extend(old_s[pos:])
        ends.extend(old_e[pos:])
        self.text = "".join(pieces)
        self.starts, self.ends = starts, ends

    def result(self) -> Normalized:
        if self.starts is None or self.ends is None:
            return Normalized(self.original, self.text)
        return Normalized(self.original, self.text, array("i", self.starts), array("i", self.ends))


def _map_replacement(
    ms: int, me: int, r: int, old_s: Sequence[int], old_e: Sequence[int], starts: list[int], ends: list[int]
) -> None:
    """Map ``r`` new characters onto the old span [ms, me): one to one when the lengths agree, else evenly
    (the first starts at ms, the last ends at me, so the whole old span stays covered)."""
    length = me - ms
    if r == length:
        starts.extend(old_s[ms:me])
        ends.extend(old_e[ms:me])
        return
    for k in range(r):
        lo = ms + (k * length) // r
        hi = ms + ((k + 1) * length) // r
        if k == r - 1:
            hi = me
        hi = max(hi, lo + 1)
        starts.append(old_s[lo])
        ends.append(old_e[min(hi, me) - 1])


def _is_cjk(c: str) -> bool:
    return bool(_CJK_RE.match(c))


def _spaces(m: re.Match[str]) -> str:
    """Drop a whitespace run whose neighbours both stand alone: a CJK character, or a single character with
    space, CJK or the line edge on its far side ("根 治", "率 9 9 %", "第 1 名"); keep it between words."""
    text = m.string
    s, e = m.span()
    if s == 0 or e >= len(text):
        return m.group(0)

    def lone(i: int, far: int) -> bool:
        c = text[i]
        if c == "\n":
            return False
        if _is_cjk(c):
            return True
        return far < 0 or far >= len(text) or text[far].isspace() or _is_cjk(text[far])

    return "" if lone(s - 1, s - 2) and lone(e, e + 1) else m.group(0)


def _piece(text: str, start: int, step: int) -> tuple[int, bool]:
    """Walk from ``start`` (inclusive) by ``step`` to the nearest punctuation, line edge or end of text: the
    piece's length (counted to at most FRAGMENT + 1) and whether punctuation ended it (a sentence that goes on)."""
    n = 0
    i = start
    while 0 <= i < len(text) and n <= FRAGMENT:
        c = text[i]
        if c in _FRAGMENT_STOP:
            # a list marker's punctuation ("1、操作规范", "(二)") starts a heading, not a sentence going on
            marker = step < 0 and c in "、.．)）" and i > 0 and text[i - 1] in _NUMERALS
            return n, c != "\n" and not marker
        n += 1
        i += step
    return n, n <= FRAGMENT and 0 <= i < len(text)


def _linebreak(m: re.Match[str]) -> str:
    """Drop a line break that cuts one sentence: Han (or a digit/%) on both sides, at least one side Han, and
    either a line of one character ("一\n次\n根\n治") or a short fragment on one side while the sentence goes
    on to punctuation on one side ("一次\n根治，", "。治愈率\n99%"); two short lines ("第一行\n第二行"), a
    heading over a paragraph and a break after punctuation keep their break."""
    text = m.string
    s, e = m.span()
    if s == 0 or e >= len(text):
        return m.group(0)
    left, right = text[s - 1], text[e]

    def part(c: str) -> bool:
        return bool(_HAN.match(c)) or c.isdigit() or c == "%"

    if not (part(left) and part(right) and (_HAN.match(left) or _HAN.match(right))):
        return m.group(0)
    if _LIST_MARKER.match(text, e):
        return m.group(0)  # the next line is a list item ("2. 获批项目…")
    left_len, left_goes_on = _piece(text, s - 1, -1)
    right_len, right_goes_on = _piece(text, e, 1)
    single = (s < 2 or text[s - 2] == "\n") or (e + 1 >= len(text) or text[e + 1] in "\r\n")
    if single or (min(left_len, right_len) <= FRAGMENT and (left_goes_on or right_goes_on)):
        return ""
    return m.group(0)


def _t2s_runs(b: _Builder) -> None:
    convert = _t2s()
    text = b.text
    out = convert(text)
    if out == text:
        return
    if len(out) == len(text):
        # the usual case: OpenCC's tables are character for character here; the map is unchanged
        b.text = out
        if b.starts is None:
            b.starts, b.ends = list(range(len(text))), list(range(1, len(text) + 1))
        return
    b.sub(_HAN_RUN, lambda m: convert(m.group(0)))


def _subst(m: re.Match[str]) -> str:
    return _SUBST_OUT[(m.lastindex or 1) - 1]


@lru_cache(maxsize=64)  # rules, guards and model read the same batch of texts one after another
def normalize_text(text: str) -> Normalized:
    """Normalise ``text`` (see the module docstring); the result maps back to ``text``."""
    if not text:
        return Normalized(text, text)
    b = _Builder(text)
    b.reverse_overrides()
    b.sub(INVISIBLE, lambda m: "")
    b.sub(_fold_pattern(), lambda m: unicodedata.normalize("NFKC", m.group(0)))
    b.sub(_HSPACE, _spaces)
    if "\n" in b.text:
        b.sub(_LINEBREAK, _linebreak)
    _t2s_runs(b)
    b.sub(_SUBST_RE, _subst)
    return b.result()


def normalize(text: str) -> str:
    """Only the normalised text of :func:`normalize_text`."""
    return normalize_text(text).text if text else ""


def strip_invisible(text: str) -> str:
    """``text`` without invisible characters (for display: a bidi override would reorder what a reviewer sees)."""
    return INVISIBLE.sub("", text) if text else text
