"""Search-highlight fragments made safe for their two readers: the web console (every piece of text escaped,
only balanced <em> re-allowed, then nh3's allow-list sanitiser) and the terminal (text pieces with an emphasis
flag). The backends wrap matches in <em> over crawled text, which is hostile."""

from __future__ import annotations

import html
import re

from markupsafe import Markup, escape

_EM = re.compile(r"(</?em>)")


def safe_highlight(fragment: str) -> Markup:
    """A search-highlight fragment as safe HTML: every piece of text escaped, only balanced <em> kept, and the
    result passed through nh3 with <em> as the only allowed tag."""
    out: list[str] = []
    open_em = False
    for piece in _EM.split(fragment or ""):
        if piece == "<em>":
            if not open_em:
                out.append("<em>")
                open_em = True
        elif piece == "</em>":
            if open_em:
                out.append("</em>")
                open_em = False
        else:
            out.append(str(escape(html.unescape(piece))))
    if open_em:
        out.append("</em>")
    import nh3

    return Markup(nh3.clean("".join(out), tags={"em"}, attributes={}, url_schemes=set()))


def plain_highlight(fragment: str) -> list[tuple[str, bool]]:
    """A highlight fragment as (text, emphasised) pieces, tags removed and entities decoded (the terminal)."""
    pieces: list[tuple[str, bool]] = []
    em = False
    for piece in _EM.split(fragment or ""):
        if piece == "<em>":
            em = True
        elif piece == "</em>":
            em = False
        elif piece:
            pieces.append((html.unescape(piece), em))
    return pieces
