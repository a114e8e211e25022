"""Extract the article from an HTML page: title, main text, publish time, author, WeChat account, images.

Main text comes from two extractors that fail differently on Chinese pages:

* trafilatura (``favor_recall``), precise on modern article markup;
* our own density scorer (readability-style: paragraphs score their ancestors by length and Chinese
  punctuation, penalised by link density and boilerplate class names), which copes with table layouts,
  ``<br>``-separated text and pages where trafilatura returns little or nothing.

``bench/extraction_eval.py`` measures both on real pages; the combination rule below is what won there.
"""

from __future__ import annotations

import copy
import math
import re
from pathlib import Path
from typing import Any
from urllib.parse import urljoin, urlsplit

from lxml import etree
from lxml import html as lxml_html

from domain import Extracted, ImageRef
from pipelines.dates import find_publish_time
from pipelines.decode import DecodeError, decode_body
from pipelines.wechat import deleted_reason, is_wechat, parse_wechat, wechat_content_node

__all__ = [
    "density_text",
    "extract_bytes",
    "extract_file",
    "extract_html",
    "find_author",
    "find_title",
]

_MIN_TEXT = 10  # characters (whitespace removed) below which a page counts as having no text

_REMOVE_TAGS = (
    "script",
    "style",
    "noscript",
    "iframe",
    "select",
    "option",
    "button",
    "input",
    "textarea",
    "svg",
    "template",
    "head",
    "nav",
    "aside",
    "footer",
    "object",
    "embed",
    "canvas",
)
_BLOCK_TAGS = frozenset(
    {
        "p",
        "div",
        "section",
        "article",
        "main",
        "td",
        "th",
        "tr",
        "table",
        "tbody",
        "thead",
        "ul",
        "ol",
        "li",
        "dl",
        "dt",
        "dd",
        "h1",
        "h2",
        "h3",
        "h4",
        "h5",
        "h6",
        "blockquote",
        "pre",
        "center",
        "header",
        "form",
        "figure",
        "figcaption",
        "body",
        "br",
        "hr",
    }
)
_PARA_TAGS = frozenset(
    {"p", "td", "pre", "div", "section", "li", "dd", "blockquote", "font", "span", "center"}
)
_CANDIDATE_TAGS = frozenset(
    {"div", "article", "section", "main", "td", "body", "form", "center", "blockquote", "font", "dd"}
)

_NEGATIVE = re.compile(
    r"comment|footer|foot|sidebar|side-|side_|sidenav|\bside\b|nav|menu|share|social|related|recommend|"
    r"\bad\b|ads|advert|banner|sponsor|copyright|breadcrumb|crumb|hot|rank|toolbar|pagination|pager|login|"
    r"widget|popup|modal|cookie|subscribe|qrcode|erweima|tuijian|xiangguan|paihang|remen|links|friend|"
    r"tags?\b|keyword|bottom|top-?bar|header|masthead|logo",
    re.I,
)
_POSITIVE = re.compile(
    r"article|body|content|entry|main|post|text|story|detail|zhengwen|\bzw\b|news_?txt|con_?txt|artic|"
    r"wenzhang|neirong|cont\b|read",
    re.I,
)
_PUNCT = re.compile(r"[，。！？；：、“”‘’（）,.!?;]")
_SENTENCE_PUNCT = re.compile(r"[，。！？；,.!?;]")
_WS = re.compile(r"\s+")
_CJK = re.compile(r"[\u4e00-\u9fff]")

_TITLE_SEPARATORS = re.compile(
    r"\s*(?:_|\||｜|--|–|::|»)\s*|\s+[-—]\s+|(?<=[\u4e00-\u9fff！？。）」》”])-(?=[\u4e00-\u9fff])"
)


# --------------------------------------------------------------------------------------------- parsing


def _parse(html: str) -> Any:
    # lxml refuses str input that still carries an XML encoding declaration.
    cleaned = re.sub(r"^\s*<\?xml[^>]*\?>", "", html, count=1)
    parser = lxml_html.HTMLParser(remove_comments=True, remove_pis=True, recover=True, huge_tree=True)
    return lxml_html.document_fromstring(cleaned, parser=parser)


def _clean_text(s: str) -> str:
    return _WS.sub(" ", s.replace("\u3000", " ").replace("\xa0", " ")).strip()


def _nospace_len(s: str) -> int:
    return len(_WS.sub("", s))


# ----------------------------------------------------------------------------------------------- title


def _strip_site(title: str) -> str:
    """Drop the site/channel suffix of a ``<title>``: ``标题_频道_网站`` → ``标题``."""
    parts = [p.strip() for p in _TITLE_SEPARATORS.split(title) if p and p.strip()]
    if len(parts) <= 1:
        return title.strip()
    return parts[0] if len(parts[0]) >= 2 else max(parts, key=len)


def find_title(tree: Any) -> str:
    """The article headline: an ``<h1>``/title-classed element that appears in ``<title>``, else og:title,
    else ``<title>`` without its site-name suffix, else the first ``<h1>``."""
    title_el = tree.find(".//title")
    page_title = _clean_text(title_el.text_content()) if title_el is not None else ""
    og = tree.xpath('//meta[@property="og:title" or @name="og:title"]/@content')
    og_title = _clean_text(og[0]) if og else ""

    candidates: list[str] = []
    for xp in (
        "//h1",
        "//*[self::h2 or self::h3 or self::div or self::p or self::span or self::td or self::strong]"
        "[contains(translate(@class,'TITLE','title'),'title') or contains(translate(@id,'TITLE','title'),'title')]",
        "//h2",
    ):
        for node in tree.xpath(xp)[:20]:
            text = _clean_text(node.text_content())
            if 4 <= len(text) <= 120:
                candidates.append(text)
    if page_title:
        inside = [c for c in candidates if c in page_title]
        if inside:
            best = max(inside, key=len)
            return _strip_site(best) if best == page_title else best
    if og_title:
        return _strip_site(og_title) if og_title == page_title else og_title
    if page_title:
        return _strip_site(page_title)
    return candidates[0] if candidates else ""


# ---------------------------------------------------------------------------------------------- author

_NAME = r"([^\s|｜,，;；:：()（）\[\]【】<>/／]{2,20})"
_BYLINE_PATTERNS: tuple[tuple[int, re.Pattern[str]], ...] = (
    (0, re.compile(r"(?:作\s*者|撰\s*文|撰\s*稿)\s*[:：]\s*" + _NAME)),
    (0, re.compile(r"(?:^|\s)文\s*[/／]\s*" + _NAME)),
    (
        2,
        re.compile(
            r"(?:^|(?<=[\s（(【\[])|(?<=本报|本台|本网)|(?<=新华社|中新社|中新网))记者\s*[:：]?\s*([\u4e00-\u9fff]{2,4}(?:[、\s][\u4e00-\u9fff]{2,4}){0,3})"
            r"(?=[\s,，。、)）]|$|报道|通讯员)(?!\s*摄)",
            re.M,
        ),
    ),
    (3, re.compile(r"责\s*任\s*编\s*辑\s*[:：]?\s*[\[【（(]?\s*" + _NAME)),
    (4, re.compile(r"(?<!责任)编\s*辑\s*[:：]\s*" + _NAME)),
    (5, re.compile(r"来\s*源\s*[:：]\s*" + _NAME)),
)
_NOT_NAMES = re.compile(
    r"^(?:本站|本网|未知|佚名|admin|匿名|网络|互联网|原创|点击|发布|责任编辑|编辑|作者|来源|记者|时间|日期)|\d{4}"
)


def find_author(tree: Any, text_top: str, text_tail: str = "") -> str:
    """Author: a byline (作者/记者/文/) near the top, ``<meta name=author>``, JSON-LD author, then the
    responsible editor (责任编辑) and finally the stated source (来源)."""
    found: dict[int, str] = {}
    for rank, rx in _BYLINE_PATTERNS:
        for blob in (text_top, text_tail):
            if rank in found:
                break
            m: re.Match[str] | None
            for m in rx.finditer(blob):
                name = m.group(1).strip().rstrip("。.")
                if name and not _NOT_NAMES.search(name):
                    found[rank] = name
                    break
    meta = tree.xpath(
        '//meta[translate(@name,"AUTHOR","author")="author" or @property="article:author" '
        'or @property="og:article:author" or translate(@name,"AUTHOR","author")="dc.creator"]/@content'
    )
    for value in meta:
        value = _clean_text(value)
        if value and not value.startswith("http") and not _NOT_NAMES.search(value) and len(value) <= 40:
            found[1] = value
            break
    if 1 not in found:
        m = re.search(r'"author"\s*:\s*(?:\[\s*)?\{[^}]*?"name"\s*:\s*"([^"]{2,40})"', _jsonld_blob(tree))
        if m:
            found[1] = m.group(1).strip()
    return found[min(found)] if found else ""


def _jsonld_blob(tree: Any) -> str:
    return "\n".join(n.text or "" for n in tree.xpath('//script[@type="application/ld+json"]'))


# ------------------------------------------------------------------------------------ density extractor


_UNLIKELY = re.compile(
    r"comment|disqus|reply|sidebar|side-?bar|footer|breadcrumb|crumb|share|social|related|recommend|copyright|"
    r"pagination|pager|\bnav|menu|popup|modal|cookie|tuijian|xiangguan|paihang|remen|hot_?news|rank|"
    r"login|subscribe|toolbar|friend_?link",
    re.I,
)
_UNLIKELY_KEEP = re.compile(r"article|body|content|main|detail|text|story|zhengwen|post-?content", re.I)


def _drop_unlikely(root: Any) -> None:
    """Remove blocks whose class/id names them as comments, sidebars, footers, menus (readability's
    "unlikely candidates"); kept when they also look like content."""
    for el in list(root.iter("div", "section", "ul", "ol", "table", "td", "dl", "span", "p", "header")):
        attrs = _attrs(el).strip()
        if not attrs or el.getparent() is None:
            continue
        if _UNLIKELY.search(attrs) and not _UNLIKELY_KEEP.search(attrs):
            el.drop_tree()


def _strip_boilerplate(root: Any) -> None:
    etree.strip_elements(root, *_REMOVE_TAGS, with_tail=False)
    for el in list(root.iter(etree.Comment, etree.ProcessingInstruction)):
        parent = el.getparent()
        if parent is not None:
            el.drop_tree() if hasattr(el, "drop_tree") else parent.remove(el)
    # hidden elements (display:none) are not part of the visible article
    for el in root.xpath('//*[contains(translate(@style," ",""),"display:none")]'):
        if el.getparent() is not None:
            el.drop_tree()


def _attrs(el: Any) -> str:
    return f"{el.get('class', '')} {el.get('id', '')}"


def _class_weight(el: Any) -> float:
    attrs = _attrs(el).strip()
    if not attrs:
        return 0.0
    w = 0.0
    if _NEGATIVE.search(attrs):
        w -= 25
    if _POSITIVE.search(attrs):
        w += 25
    return w


def _own_text(el: Any) -> str:
    """Text of an element excluding its block-level children (inline children included)."""
    parts = [el.text or ""]
    for child in el:
        tag = child.tag if isinstance(child.tag, str) else ""
        if tag and tag not in _BLOCK_TAGS:
            parts.append(child.text_content())
        parts.append(child.tail or "")
    return "".join(parts)


def _link_text_len(el: Any) -> int:
    return sum(_nospace_len(a.text_content()) for a in el.iter("a"))


def _score_paragraph(text: str) -> float:
    n = _nospace_len(text)
    cjk = len(_CJK.findall(text))
    punct = len(_PUNCT.findall(text))
    # Chinese packs more meaning per character: a CJK character counts like ~2 Latin ones.
    eff = n + cjk
    return 1 + punct + min(eff / 80, 5)


def _top_candidate(root: Any) -> tuple[Any | None, dict[Any, float]]:
    scores: dict[Any, float] = {}
    link_cache: dict[Any, float] = {}

    def link_density(el: Any) -> float:
        if el not in link_cache:
            total = _nospace_len(el.text_content()) or 1
            link_cache[el] = _link_text_len(el) / total
        return link_cache[el]

    def init(el: Any) -> None:
        if el not in scores:
            base = {"article": 10, "main": 10, "div": 5, "section": 3, "td": 3, "blockquote": 3}.get(
                el.tag, 0
            )
            scores[el] = base + _class_weight(el)

    for el in root.iter():
        if not isinstance(el.tag, str) or el.tag not in _PARA_TAGS:
            continue
        text = _own_text(el)
        n = _nospace_len(text)
        if n < 12:
            continue
        # text inside links is navigation, not prose
        if el.tag != "p" and link_density(el) > 0.5:
            continue
        s = _score_paragraph(text)
        parent = el.getparent()
        if el.tag in _CANDIDATE_TAGS and n >= 60:
            # a container holding prose directly (text separated by <br>) is a candidate itself
            init(el)
            scores[el] += s
        level = 0
        node = parent
        while node is not None and level < 3:
            if isinstance(node.tag, str):
                init(node)
                scores[node] += s / (1 if level == 0 else level * 2)
            node = node.getparent()
            level += 1

    best = None
    best_key = (-math.inf, 0)
    for el, s in scores.items():
        if el.tag not in _CANDIDATE_TAGS and el.tag not in {"article", "main", "section"}:
            continue
        final = s * (1 - link_density(el))
        scores[el] = final
        depth = sum(1 for _ in el.iterancestors())
        key = (final, depth)
        if key > best_key:
            best_key, best = key, el
    return best, scores


def _render(el: Any, out: list[str], buf: list[str], top: Any) -> None:
    """Append the visible text of ``el`` to ``out`` as lines, dropping link-heavy and boilerplate blocks."""
    tag = el.tag if isinstance(el.tag, str) else ""
    is_block = tag in _BLOCK_TAGS
    if is_block and tag not in {"br", "hr"} and el is not top:
        text_len = _nospace_len(el.text_content())
        if text_len == 0:
            if el.tail:
                buf.append(el.tail)
            return
        links = _link_text_len(el)
        negative = bool(_NEGATIVE.search(_attrs(el))) and not _POSITIVE.search(_attrs(el))
        if links / text_len > 0.5 or (negative and text_len < 400):
            _flush(out, buf)
            if el.tail:
                buf.append(el.tail)
            return
    if is_block:
        _flush(out, buf)
    if tag and el.text:
        buf.append(el.text)
    for child in el:
        _render(child, out, buf, top)
    if is_block:
        _flush(out, buf)
    if el is not top and el.tail:
        buf.append(el.tail)


def _flush(out: list[str], buf: list[str]) -> None:
    if buf:
        line = _clean_text("".join(buf))
        if line:
            out.append(line)
        buf.clear()


def _node_text(node: Any) -> str:
    out: list[str] = []
    buf: list[str] = []
    _render(node, out, buf, node)
    _flush(out, buf)
    return "\n".join(out)


def _density_node(root: Any) -> Any | None:
    best, scores = _top_candidate(root)
    if best is None:
        return None
    # Climb while the parent holds much more prose (article split across sibling blocks).
    best_score = scores.get(best, 0)
    node = best
    while True:
        parent = node.getparent()
        if parent is None or not isinstance(parent.tag, str):
            break
        ps = scores.get(parent, -math.inf)
        if ps >= best_score * 0.9 and ps > 0:
            node, best_score = parent, max(best_score, ps)
            continue
        break
    return node


def _siblings(node: Any, scores: dict[Any, float]) -> list[Any]:
    """The top node plus siblings that continue the article (lead paragraph, following table rows …)."""
    parent = node.getparent()
    if parent is None:
        return [node]
    top = scores.get(node, 0)
    threshold = max(10.0, top * 0.2)
    keep: list[Any] = []
    for sib in parent:
        if not isinstance(sib.tag, str):
            continue
        if sib is node:
            keep.append(sib)
            continue
        if _NEGATIVE.search(_attrs(sib)) and not _POSITIVE.search(_attrs(sib)):
            continue
        text = sib.text_content()
        n = _nospace_len(text)
        if n == 0:
            continue
        ld = _link_text_len(sib) / n
        if n < 80 and not _SENTENCE_PUNCT.search(text):
            continue  # a short line without sentences: byline, date, navigation
        well_scored = scores.get(sib, 0) >= threshold and ld < 0.3
        prose = n >= 40 and ld < 0.1 and len(_SENTENCE_PUNCT.findall(text)) >= 2
        if well_scored or prose:
            keep.append(sib)
    return keep


def density_text(root: Any, *, _retry: bool = True) -> tuple[str, Any | None]:
    """Main text by our density scorer, and the chosen node (None when nothing qualifies).

    ``root`` is modified (unlikely blocks removed); pass a copy when the tree is needed afterwards.
    """
    backup = copy.deepcopy(root) if _retry else None
    _drop_unlikely(root)
    node = _density_node(root)
    text = ""
    if node is not None:
        _, scores = _top_candidate(root)
        parts = [_node_text(n) for n in _siblings(node, scores)]
        text = "\n".join(p for p in parts if p)
    if backup is not None and _nospace_len(text) < 100:
        # The article itself may carry an "unlikely" class name: try again without removing those.
        node2 = _density_node(backup)
        if node2 is not None:
            text2 = _node_text(node2)
            if _nospace_len(text2) > _nospace_len(text):
                return text2, node2
    return text, node


# ------------------------------------------------------------------------------------------ trafilatura


def trafilatura_text(html: str, url: str = "") -> str:
    import trafilatura

    try:
        text = trafilatura.extract(
            html,
            url=url or None,
            favor_recall=True,
            include_comments=False,
            include_tables=True,
            include_images=False,
            deduplicate=False,
            with_metadata=False,
        )
    except Exception:  # trafilatura is a best-effort helper; our own extractor is the fallback
        return ""
    return text or ""


def _untable(text: str) -> str:
    """trafilatura renders table cells as ``| a | b |``; reviewers want plain text."""
    out = []
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith("|") and stripped.endswith("|"):
            cells = [c.strip().replace("\\|", "|") for c in re.split(r"(?<!\\)\|", stripped[1:-1])]
            stripped = " ".join(c for c in cells if c and not set(c) <= {"-", ":"})
        out.append(stripped)
    return "\n".join(line for line in out if line)


def _choose_text(traf: str, dens: str) -> str:
    """Combination rule, chosen on bench/extraction_eval.py: the density text unless trafilatura found
    clearly more (density missed part of the article), or density found almost nothing."""
    lt, ld = _nospace_len(traf), _nospace_len(dens)
    if ld < 50 and lt > ld:
        return traf
    if lt > ld * CHOOSE_RATIO:
        return traf
    return dens


CHOOSE_RATIO = 1.5


# -------------------------------------------------------------------------------------------- images


def _images(node: Any, base: str) -> list[ImageRef]:
    out: list[ImageRef] = []
    seen: set[str] = set()
    for img in node.iter("img"):
        src = ""
        for attr in ("data-src", "data-original", "data-actualsrc", "data-lazy-src", "data-url", "src"):
            value = (img.get(attr) or "").strip()
            if value and not value.startswith("data:") and value not in {"#", "about:blank"}:
                src = value
                break
        if not src:
            continue
        w, h = img.get("width", ""), img.get("height", "")
        if (w.isdigit() and int(w) <= 2) or (h.isdigit() and int(h) <= 2):
            continue  # tracking pixel
        absolute = urljoin(base, src) if base else src
        if absolute.startswith("//"):
            absolute = "https:" + absolute
        if absolute in seen:
            continue
        seen.add(absolute)
        alt = _clean_text(img.get("alt") or img.get("title") or "")
        out.append(ImageRef(src=absolute, alt=alt))
    return out


def _base_url(tree: Any, url: str) -> str:
    base = tree.xpath("//base/@href")
    if base and base[0].strip():
        return urljoin(url, base[0].strip()) if url else base[0].strip()
    return url


# ------------------------------------------------------------------------------------------- public


def extract_html(html: str, url: str, *, encoding: str = "") -> Extracted:
    """Extract title, main text, publish time, author, account and images from a decoded page.

    Never raises for bad input: the returned :class:`Extracted` carries ``status`` ``ok``, ``deleted``
    (WeChat article removed/blocked), ``empty_page`` (no text) or ``parse_error`` with ``error_detail``.
    """
    result = Extracted(url=url, encoding=encoding)
    if not html or not html.strip():
        result.status, result.error_detail = "empty_page", "页面内容为空"
        return result
    try:
        tree = _parse(html)
    except (etree.ParserError, ValueError, TypeError) as exc:
        result.status, result.error_detail = "parse_error", f"HTML 无法解析：{exc}"
        return result
    if tree is None or not isinstance(tree.tag, str):
        result.status, result.error_detail = "parse_error", "HTML 无法解析：没有文档根元素"
        return result

    base = _base_url(tree, url)
    try:
        if _too_deep(tree):
            # Decided up front: a RecursionError raised inside lxml (its text_content() XPath) leaves that
            # XPath's lock held, and every later text_content() in the process would deadlock.
            raise RecursionError(f"nesting deeper than {_MAX_DEPTH}")
        if is_wechat(url, html):
            _extract_wechat(tree, html, url, base, result)
        else:
            _extract_generic(tree, html, url, base, result)
    except RecursionError:
        # Pathologically deep nesting: keep the visible text without structure rather than lose the page.
        etree.strip_elements(tree, "script", "style", "noscript", "template", with_tail=False)
        result.text = _clean_text("".join(tree.itertext()))  # iterative, no XPath lock
        title_el = tree.find(".//title")
        result.title = result.title or (
            _clean_text("".join(title_el.itertext())) if title_el is not None else ""
        )
        result.error_detail = "HTML 嵌套过深，正文按纯文本提取"

    if result.status == "deleted":
        # What is left is WeChat's notice, not an article: keep the notice in error_detail only.
        result.title, result.text, result.images = "", "", []
    if result.status == "ok" and _nospace_len(result.text) < _MIN_TEXT and not result.images:
        raw = _raw_text(html)
        if _nospace_len(raw) >= _MIN_TEXT and len(tree.xpath("//*")) >= 2000:
            # libxml2 gives up on pathologically deep nesting (more than a few thousand levels)
            # and drops the text: keep the visible text without structure rather than lose the page.
            result.text = raw
            result.error_detail = "HTML 嵌套过深，正文按纯文本提取"
        else:
            result.status = "empty_page"
            result.error_detail = "页面没有可提取的正文"
    return result


def _extract_wechat(tree: Any, html: str, url: str, base: str, result: Extracted) -> None:
    parse_wechat(tree, html, url, extracted=result)
    content = wechat_content_node(tree)
    if content is not None:
        work = _parse(etree.tostring(content, encoding="unicode"))
        _strip_boilerplate(work)
        body = work.find("body")
        node = body if body is not None else work
        result.text = _node_text(node)
        result.images = _images(content, base)
    if _nospace_len(result.text) < 200:
        body_el = tree.find("body")
        visible = _clean_text(body_el.text_content()) if body_el is not None else ""
        marker = deleted_reason(visible) if content is None or _nospace_len(result.text) < 20 else None
        if marker:
            result.status = "deleted"
            result.error_detail = f"微信文章已删除或无法查看：{marker}"
            return
    if content is None and not result.text:
        # An unusual WeChat page: fall back to the generic extractor for the body.
        title, account, author, published = result.title, result.account, result.author, result.published_at
        _extract_generic(tree, html, url, base, result)
        result.title = title or result.title
        result.account = account
        result.author = author or result.author
        result.published_at = published or result.published_at


def _extract_generic(tree: Any, html: str, url: str, base: str, result: Extracted) -> None:
    result.title = find_title(tree)
    work = _parse(html)
    _strip_boilerplate(work)
    body = work.find("body")
    root = body if body is not None else work
    dens, node = density_text(root)
    traf = _untable(trafilatura_text(html, url))
    result.text = _choose_text(traf, dens)
    if not result.text and node is None:
        result.text = _node_text(root)

    body_text = _node_text(root) if node is None else ""
    full_text = _clean_lines(tree)
    top = full_text[:3000]
    # Bylines sit under the headline; editor lines at the end of the article.
    if result.title and (idx := full_text.find(result.title[:10])) >= 0:
        top = full_text[idx : idx + 3000]
    tail_anchor = result.text[-30:] if result.text else ""
    tail_idx = full_text.find(tail_anchor) if tail_anchor else -1
    tail = full_text[tail_idx : tail_idx + 600] if tail_idx >= 0 else (body_text[-600:] if body_text else "")
    result.author = find_author(tree, top, tail)
    result.published_at = find_publish_time(tree, title=result.title, raw_html=html)
    result.images = _images(node if node is not None else root, base)

    if result.published_at is None:
        # Not an article (no publish time): a hospital home or service page spreads its claims over banners
        # and several sections, and the densest block alone would drop them. Keep every non-navigation block.
        page = _page_text(tree)
        if _nospace_len(result.text) < PAGE_TEXT_RATIO * _nospace_len(page):
            result.text = page
            result.images = _images(root, base)

    result.link_density = _link_line_share(tree, result.text)

    # A WeChat-style "deleted" notice served from an unknown URL.
    if _nospace_len(result.text) < 60 and (marker := deleted_reason(result.text or full_text[:500])):
        result.status = "deleted"
        result.error_detail = f"文章已删除或无法查看：{marker}"


PROSE_LINE_MIN = 20


def _link_line_share(tree: Any, text: str) -> float:
    """Share of the non-space characters of ``text`` that are not prose: lines that are the text of a link on the
    page, or short lines (headings, dates, "下一页"). Near 1 on hub and list pages."""
    link_texts = {_clean_text(a.text_content()) for a in tree.iter("a")}
    link_texts.discard("")
    total = prose = 0
    for line in text.splitlines():
        n = _nospace_len(line)
        total += n
        if n >= PROSE_LINE_MIN and line.strip() not in link_texts:
            prose += n
    return round(1 - prose / total, 3) if total else 0.0


PAGE_TEXT_RATIO = 0.6
_LINK_BLOCKS = ("nav", "ul", "ol", "dl", "div", "table", "tr", "td", "p", "li", "span", "header", "footer")


def _page_text(tree: Any) -> str:
    """All visible text of the page in reading order, without navigation: blocks made mostly of link text
    (menus, link lists, breadcrumbs) are dropped."""
    body = tree.find("body")
    node = body if body is not None else tree
    copy = _parse(etree.tostring(node, encoding="unicode"))
    _strip_boilerplate(copy)
    for el in list(copy.iter(*_LINK_BLOCKS)):
        if el.getparent() is None:
            continue
        size = _nospace_len(el.text_content())
        if size and _link_text_len(el) > 0.6 * size:
            el.drop_tree()
    out: list[str] = []
    buf: list[str] = []
    _render_all(copy, out, buf)
    _flush(out, buf)
    return "\n".join(line for line in out if line.strip())


def _clean_lines(tree: Any) -> str:
    body = tree.find("body")
    node = body if body is not None else tree
    copy = _parse(etree.tostring(node, encoding="unicode"))
    etree.strip_elements(copy, "script", "style", "noscript", "template", with_tail=False)
    out: list[str] = []
    buf: list[str] = []
    _render_all(copy, out, buf)
    _flush(out, buf)
    return "\n".join(out)


def _render_all(el: Any, out: list[str], buf: list[str]) -> None:
    tag = el.tag if isinstance(el.tag, str) else ""
    if tag in _BLOCK_TAGS:
        _flush(out, buf)
    if tag and el.text:
        buf.append(el.text)
    for child in el:
        _render_all(child, out, buf)
    if tag in _BLOCK_TAGS:
        _flush(out, buf)
    if el.tail:
        buf.append(el.tail)


_SCRIPTS = re.compile(r"<(script|style|noscript|template)\b.*?</\1\s*>", re.S | re.I)
_TAGS = re.compile(r"<[^>]*>")


def _raw_text(html: str) -> str:
    import html as html_lib

    text = _TAGS.sub(" ", _SCRIPTS.sub(" ", html))
    return _clean_text(html_lib.unescape(text))


_MAX_DEPTH = 200  # element nesting handled structurally; deeper pages are extracted as plain text


def _too_deep(tree: Any) -> bool:
    depth = 0
    for event, _el in etree.iterwalk(tree, events=("start", "end")):
        depth += 1 if event == "start" else -1
        if depth > _MAX_DEPTH:
            return True
    return False


def extract_bytes(body: bytes, headers: dict[str, str], url: str) -> Extracted:
    """Decode and extract a fetched body; a :class:`DecodeError` becomes an Extracted with that status."""
    try:
        decoded = decode_body(body, headers or {}, url)
    except DecodeError as exc:
        return Extracted(url=url, status=exc.kind, error_detail=exc.detail)
    return extract_html(decoded.text, url, encoding=decoded.encoding)


def extract_file(path: Path, url: str = "") -> Extracted:
    """Extract a saved page; the URL (for resolving relative links) defaults to the file's ``file://`` URL."""
    path = Path(path)
    try:
        body = path.read_bytes()
    except OSError as exc:
        return Extracted(url=url or str(path), status="parse_error", error_detail=f"无法读取文件：{exc}")
    return extract_bytes(body, {}, url or path.resolve().as_uri())


def _host(url: str) -> str:
    return urlsplit(url).hostname or ""
