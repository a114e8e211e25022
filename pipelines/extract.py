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
    "find_source",
    "find_title",
    "is_outlet",
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

# A name after a label: one token, or a two/three-character Han name padded with spaces to align (赵  培).
_NAME = r"([\u4e00-\u9fff](?:[ \u3000]{1,3}[\u4e00-\u9fff]){1,2}(?![\u4e00-\u9fff])|[^\s|｜,，;；:：()（）\[\]【】<>/／]{2,20})"
# One to four reporters' names (记者 张三 李四); words that follow a byline are not names.
_NOT_A_NAME_AHEAD = r"(?!报道|通讯员|实习生|摄影|摄|综合|编辑|记者|文/)"
_CJK_NAMES = r"([\u4e00-\u9fff]{2,4}?(?:[、，, \u3000]" + _NOT_A_NAME_AHEAD + r"[\u4e00-\u9fff]{2,4}?){0,3})"
# What may stand right before 记者/通讯员: a line start, a separator or bracket, or the outlet or rank the reporter
# writes for (本报记者, 新华社记者, 健康时报记者, 特约记者, 本报驻京记者).
_REPORTER_BEFORE = (
    r"(?:^|(?<=[\s（(【\[：:□■●▲◆|｜])|(?<=[报台网社刊站讯])|(?<=特约|见习|首席|实习|驻站|融媒|全媒)"
    r"|(?<=驻[\u4e00-\u9fff])|(?<=驻[\u4e00-\u9fff]{2}))"
)
_REPORTER_AFTER = r"(?=[\s,，。、)）】\]|｜/]|$|报道|通讯员|实习生|摄影|综合)(?!\s*摄)"
# Bylines, best first: the writer (作者, 撰文, 文/), a personal <meta name=author> (rank 1), the reporter, the
# correspondent, the poster of a forum or CMS page, the editors, an organisation as <meta name=author> (rank 7).
# The outlet (来源) is never the author: it goes to ``Extracted.source``.
_BYLINE_PATTERNS: tuple[tuple[int, re.Pattern[str]], ...] = (
    (0, re.compile(r"(?:作\s*者|撰\s*文|撰\s*稿|原\s*创)\s*[:：|｜]\s*" + _NAME)),
    (0, re.compile(r"(?:^|\s)文\s*[/／|｜:：]\s*" + _NAME, re.M)),
    (2, re.compile(_REPORTER_BEFORE + r"记者\s*[:：]?\s*" + _CJK_NAMES + _REPORTER_AFTER, re.M)),
    (3, re.compile(_REPORTER_BEFORE + r"通讯员\s*[:：]?\s*" + _CJK_NAMES + _REPORTER_AFTER, re.M)),
    (5, re.compile(r"责\s*任\s*编\s*辑\s*[:：|｜]?\s*[\[【（(]?\s*" + _NAME)),
    (6, re.compile(r"(?<!责任)编\s*辑\s*[:：|｜]\s*" + _NAME)),
)
# Who posted a forum thread, blog entry or CMS page: looked for above the article only (below it, the same words
# head readers' comments).
_POSTER_PATTERNS: tuple[tuple[int, re.Pattern[str]], ...] = (
    (
        4,
        re.compile(
            r"(?:发\s*布\s*[人者]|发\s*帖\s*人|发\s*表\s*[人者]|楼\s*主|投\s*稿\s*人)\s*[:：]\s*" + _NAME
        ),
    ),
    (4, re.compile(r"posted\s+by\s+([^\s,，|]{2,30})", re.I)),
    (
        4,
        re.compile(
            r"posted\s*(?:@|on)\s*\d{4}-\d{1,2}-\d{1,2}\s+\d{1,2}:\d{2}(?::\d{2})?\s+([^\s,，|]{2,30})", re.I
        ),
    ),
)
_META_PERSON_RANK, _META_ORG_RANK = 1, 7
_SOURCE_PATTERN = re.compile(
    r"(?:来\s*源|稿\s*源|出\s*处|转\s*自|来\s*自)\s*[:：]\s*([^\s|｜,，;；:：()（）\[\]【】<>]{2,30})"
)
_NOT_NAMES = re.compile(
    r"^(?:本站|本网|本报|未知|佚名|不详|admin|匿名|网络|互联网|原创|点击|发布|责任编辑|编辑|作者|来源|记者|时间|日期"
    r"|网友|游客|管理员|小编)|\d{4}",
    re.I,
)
# Page furniture that sits where a byline would: notices, copyright lines, comment-form placeholders, widgets.
_FURNITURE = re.compile(
    r"声明|转载|注明|版权|免责|所有权|copyright|©|\(c\)|all rights|reserved|本文|原文|出处|链接|点击|登录|注册|评论|"
    r"留言|发表|回复|分享|收藏|打印|关闭|字号|浏览|阅读|首页|返回|订阅|关注|扫码|二维码|下载|email|e-mail|邮箱|"
    r"邮件|姓名|昵称|名字|\bname\b|必填|placeholder|请输入|http|www\.|://|@|"
    r"有限公司|科技|建站|网站建设|网站制作|技术支持|powered|designed|\bcms\b|dedecms|phpcms|discuz|wordpress",
    re.I,
)
# Outlets (newspapers, stations, sites, accounts): a 来源, not a person.
_OUTLET = re.compile(
    r"(?:网|报|社|台|站|刊|杂志|频道|新闻|资讯|日报|晚报|早报|周刊|周报|出版社|网站|客户端|APP|公众号|编辑部|"
    r"融媒体中心|媒体中心|电视台|广播电台)$|新闻网|新华社|中新社|人民网|央视|\.(?:com|cn|net|org)\b|"
    r"^(?:网易|新浪|搜狐|腾讯|凤凰|百度|今日头条|头条|澎湃|界面|财新|新华|人民|央广|中新|环球|光明|南方|东方)"
    r"(?:新闻|财经|科技|健康|网|号)?$",
    re.I,
)
_REPORTER_RANKS = (2, 3)
_NOT_REPORTER_NAME = re.compile(
    r"了解|获悉|看到|见到|发现|注意|采访|调查|走访|来到|随机|日前|近日|昨|今|表示|得知|询问|咨询|致电|联系|前往|实地|"
    r"暗访|现场|第一|一行|们|[从在的也还又就将曾已对向与和跟同等问说看到赶被把是]"
)
_SPACED_NAME = re.compile(r"^[\u4e00-\u9fff](?:[ \u3000]+[\u4e00-\u9fff])+$")


def _clean_name(value: str) -> str:
    """A byline value as a name, or "" when it is page furniture (a notice, copyright line, form placeholder)."""
    name = _clean_text(value).strip(" 。.，,；;：:、|｜-—_·")
    if _SPACED_NAME.match(name):
        name = re.sub(r"[ \u3000]+", "", name)  # "赵  培": a two-character name padded to align with others
    if not (2 <= len(name) <= 40) or _NOT_NAMES.search(name) or _FURNITURE.search(name):
        return ""
    if not re.search(r"[^\W\d_]", name):  # digits and punctuation only
        return ""
    return name


def is_outlet(name: str) -> bool:
    """Whether a byline value names an outlet (人民网, 健康时报, XX电视台, a WeChat account) rather than a person."""
    return bool(_OUTLET.search(name))


def find_source(tree: Any, text_top: str, text_tail: str = "") -> str:
    """The outlet the page names as its origin: ``来源：…`` (also 稿源, 出处, 转自) near the top or the end of
    the article, else ``<meta name=source>``."""
    for blob in (text_top, text_tail):
        for m in _SOURCE_PATTERN.finditer(blob):
            name = _clean_name(m.group(1))
            if name and not _looks_personal(name):
                return name
    for value in tree.xpath(
        '//meta[translate(@name,"SOURCE","source")="source" or translate(@name,"SOURCE","source")="contentsource"'
        ' or @property="article:source"]/@content'
    ):
        name = _clean_name(value)
        if name:
            return name
    return ""


def find_author(tree: Any, text_top: str, text_tail: str = "") -> str:
    """Author: a person named in a byline (作者/文/ near the top, ``<meta name=author>``, JSON-LD author, 记者,
    通讯员, then the responsible editor 责任编辑/编辑). Page furniture (声明, 转载请注明, a comment form's
    placeholder, copyright lines) is never an author, and neither is an outlet: see :func:`find_source`."""
    return _author_and_outlet(tree, text_top, text_tail)[0]


def _author_and_outlet(tree: Any, text_top: str, text_tail: str) -> tuple[str, str]:
    """(author, an outlet found in a byline slot: 作者：健康时报 or ``<meta name=author content=某某网>``)."""
    found: dict[int, str] = {}
    outlet = ""

    def offer(rank: int, value: str) -> bool:
        nonlocal outlet
        name = _clean_name(value)
        if not name:
            return False
        if is_outlet(name):
            outlet = outlet or name
            return False
        if rank in _REPORTER_RANKS and _NOT_REPORTER_NAME.match(name):
            return False  # 记者了解到 / 记者从…获悉: the reporter is the subject of a sentence, not a byline
        found.setdefault(rank, name)
        return True

    searches: list[tuple[int, re.Pattern[str], tuple[str, ...]]]
    searches = [(rank, rx, (text_top, text_tail)) for rank, rx in _BYLINE_PATTERNS]
    searches += [(rank, rx, (text_top,)) for rank, rx in _POSTER_PATTERNS]
    for rank, rx, blobs in searches:
        for blob in blobs:
            if rank in found:
                break
            for m in rx.finditer(blob):
                if rank in _REPORTER_RANKS and _bare_menu_item(blob, m):
                    continue
                if offer(rank, m.group(1)):
                    break
    meta = tree.xpath(
        '//meta[translate(@name,"AUTHOR","author")="author" or @property="article:author" '
        'or @property="og:article:author" or translate(@name,"AUTHOR","author")="dc.creator"]/@content'
    )
    jsonld = re.finditer(r'"author"\s*:\s*(?:\[\s*)?\{[^}]*?"name"\s*:\s*"([^"]{2,40})"', _jsonld_blob(tree))
    for value in [*meta, *(m.group(1) for m in jsonld)]:
        # A hospital's or bureau's name as the page author ranks below any person named in a byline.
        rank = _META_ORG_RANK if _ORG_SUFFIX.search(_clean_name(value)) else _META_PERSON_RANK
        if offer(rank, value):
            break
    if not found:
        # Some sites fill the 来源 slot with the reporter (来源: 尹娟): a bare personal name there is the author.
        for blob in (text_top, text_tail):
            personal = [m.group(1) for m in _SOURCE_PATTERN.finditer(blob) if _looks_personal(m.group(1))]
            if personal:
                return _clean_name(personal[0]), outlet
    return (found[min(found)] if found else ""), outlet


def _bare_menu_item(blob: str, m: re.Match[str]) -> bool:
    """A line that is only 记者XX, written without a space or colon: a menu item (记者江湖, 记者之家), not a
    byline, which separates the name (记者 张三, 记者：张三) or has an outlet before it (本报记者张三)."""
    line_start = m.start() == 0 or blob[m.start() - 1] == "\n"
    glued = m.start(1) > 0 and blob[m.start(1) - 1] in "者员"
    rest = blob[m.end(1) :].split("\n", 1)[0].strip()
    return line_start and glued and not rest


_ORG_SUFFIX = re.compile(
    r"(?:委员会|委|局|厅|部|院|中心|政府|办|会|所|站|队|处|科|司|集团|协会|学会|大学|学院|医院|门户|网|报"
    r"|园|界|圈|汇|堂|号|吧|苑|坊|社区)$"
)
# The common Chinese surnames (about nine in ten people carry one of them), and the compound ones.
_SURNAMES = frozenset(
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈姚卢姜崔钟谭"
    "陆汪范金石廖贾夏韦付傅方白邹孟熊秦邱江尹薛闫阎段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤常温康施文牛樊葛邢安齐"
    "易乔伍庞颜倪庄聂章鲁岳翟殷詹申欧耿关兰焦俞左柳甘祝包宁尚符舒阮柯纪梅童凌毕单季裴霍涂成苗谷盛曲翁冉骆蓝路游辛靳管"
    "柴蒙鲍华喻祁蒲房滕屈饶解牟艾尤阳时穆农司卓古吉缪简车项连芦麦褚娄窦戚岑景党宫费卜冷晏席卫米柏宗瞿桂全佟应臧闵苟邬"
    "边卞姬师和仇栾隋商刁沙荣巫寇桑郎甄丛仲虞敖巩明佘池查麻苑迟邝洪鄢"
)
_COMPOUND_SURNAME = re.compile(
    r"^(?:欧阳|司马|诸葛|上官|东方|皇甫|令狐|慕容|尉迟|公孙|长孙|宇文|司徒|夏侯|端木|西门|南宫)"
)


def _looks_personal(value: str) -> bool:
    """A bare Chinese personal name: two to four Han characters starting with a common surname, not an
    organisation or outlet (来源：健康界 is an outlet, 来源: 尹娟 a person)."""
    name = _clean_name(value)
    return (
        bool(re.fullmatch(r"[\u4e00-\u9fff]{2,4}", name))
        and (name[0] in _SURNAMES or bool(_COMPOUND_SURNAME.match(name)))
        and not _ORG_SUFFIX.search(name)
        and not is_outlet(name)
    )


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

    # fast=True: no readability/jusText fallback comparison. jusText has no Chinese stoplist, so on Chinese pages
    # it cost ~40 % of the extraction time and never changed the text we keep (bench/extraction_eval.py, real data
    # and the gate's fixtures: the same body F1 on every page; docs/decisions.md).
    try:
        text = trafilatura.extract(
            html,
            url=url or None,
            fast=True,
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


def find_description(tree: Any) -> str:
    """``<meta name="description">``, else ``og:description``: advertisers put claims there that the body
    does not repeat (the analysis reads it as page text, field ``meta_description``)."""
    for xpath in (
        '//meta[translate(@name,"DESCRIPTION","description")="description"]/@content',
        '//meta[@property="og:description" or @name="og:description"]/@content',
    ):
        for value in tree.xpath(xpath):
            text = _clean_text(str(value))
            if text:
                return text[:2000]
    return ""


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
    result.description = find_description(tree)
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
        result.title, result.text, result.images, result.description = "", "", [], ""
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
    top, tail = _byline_regions(full_text, result.title, result.text)
    if not tail and body_text:
        tail = body_text[-600:]
    result.author, outlet = _author_and_outlet(tree, top, tail)
    result.source = find_source(tree, top, tail) or outlet
    result.published_at = find_publish_time(tree, title=result.title, raw_html=html, article_text=result.text)
    result.images = _images(node if node is not None else root, base)

    if result.published_at is None:
        # Not an article (no publish time): a hospital home or service page spreads its claims over banners
        # and several sections, and the densest block alone would drop them. Keep every non-navigation block.
        page = _page_text(tree)
        if _nospace_len(result.text) < PAGE_TEXT_RATIO * _nospace_len(page):
            result.text = page
            result.images = _images(root, base)

    result.text = trim_furniture(result.text, result.title)
    result.link_density = _link_line_share(tree, result.text)

    # A WeChat-style "deleted" notice served from an unknown URL.
    if _nospace_len(result.text) < 60 and (marker := deleted_reason(result.text or full_text[:500])):
        result.status = "deleted"
        result.error_detail = f"文章已删除或无法查看：{marker}"


def _byline_regions(full_text: str, title: str, text: str) -> tuple[str, str]:
    """Where bylines are looked for: from the headline to a little into the article (本报讯（记者 张三）), and
    the end of the article (编辑：…). Navigation above the headline and comments below the article stay out:
    their 记者江湖 menu item or 作者：网友 comment header are no byline."""
    title_idx = full_text.find(title[:10]) if title else -1
    first = next((line for line in text.splitlines() if _nospace_len(line) >= 8), "")[:30]
    body_idx = full_text.find(first) if first else -1
    if body_idx >= 0:
        near = 0 <= title_idx <= body_idx and body_idx - title_idx <= BYLINE_BEFORE_BODY * 3
        start = title_idx if near else max(0, body_idx - BYLINE_BEFORE_BODY)
        top = full_text[start : body_idx + BYLINE_INTO_BODY]
    elif title_idx >= 0:
        top = full_text[title_idx : title_idx + 3000]
    else:
        top = full_text[:3000]
    anchor = text[-30:]
    tail_idx = full_text.find(anchor) if anchor else -1
    tail = full_text[tail_idx : tail_idx + 600] if tail_idx >= 0 else ""
    return top, tail


BYLINE_BEFORE_BODY = 500
BYLINE_INTO_BODY = 400
# A byline or date line above the article: a full date, or a labelled 来源/作者/编辑/发布时间/浏览 field.
_META_LINE = re.compile(
    r"\d{4}\s*[-/.年]\s*\d{1,2}|(?:来\s*源|作\s*者|编\s*辑|记\s*者|通讯员|发布(?:时间|日期|者|人)?|发表(?:时间|于)?|"
    r"更新(?:时间)?|时\s*间|日\s*期|字号|(?:浏览|阅读|点击)(?:次数|量)?)\s*[:：]|(?:浏览|阅读|点击)\s*[:：]?\s*\d+"
)
_RELATED_HEADING = re.compile(
    r"^[【\[]?(?:相关(?:报道|新闻|阅读|链接|文章|推荐|资讯|专题)|延伸阅读|推荐阅读|热点推荐|热门推荐|更多(?:阅读|新闻|精彩)"
    r"|猜你喜欢|你可能(?:还)?(?:感兴趣|喜欢))[】\]]?\s*[:：]?\s*$"
)
_BULLETS = r"[（(【\[■□●◆▲·•>\s]*"
_TRAILING_FURNITURE = re.compile(
    r"^"
    + _BULLETS
    + r"(?:(?:文章|本文|稿件|新闻|图片)?来\s*源|(?:责\s*任)?编\s*辑|审\s*核|校\s*对|监\s*制|转载请|声明|免责声明"
    r"|作\s*者\s*[:：]|记\s*者\s*[:：]|摄\s*影\s*[:：]|通讯员\s*[:：])"
    r"|^[【\[](?:打印|关闭|返回|收藏|分享|发表评论|推荐给朋友)|^(?:打印本页|关闭窗口|返回顶部|分享到|发表评论|发送给朋友)"
    r"|^(?:订阅|下载|扫码|扫描二维码|长按|关注我们|点击关注)|页面功能|(?:【[^】]{1,12}】\s*){3,}"
    r"|^(?:发表于|发布于|posted)[^。]*\d|[（(]\s*(?:阅读|浏览|点击|评论)\s*[:：]?\s*\d"
    r"|版权所有|copyright|©"
    r"|^\(?(?:完|全文完|本文完)\)?$",
    re.I,
)
# Furniture above the article: a breadcrumb, a menu line (首页|新闻|…), a copyright line.
_LEADING_FURNITURE = re.compile(
    r"^(?:您的位置|你的位置|当前位置|所在位置|位置)\s*[:：]|(?:[^|｜]{1,12}[|｜]){3,}|版权所有|copyright|©",
    re.I,
)
TRIM_LINE_MAX = 80  # characters: furniture lines are short; a long line is prose whatever it starts with


def trim_furniture(text: str, title: str = "") -> str:
    """Drop page furniture around the article that the extractors keep: the headline repeated at the top, byline
    and date lines above the first paragraph (来源：… 2024-03-05 14:30), a "related articles" list at the end
    (相关报道：…), and trailing source, editor, copyright and print/close lines. Prose is never dropped: only short
    lines without a full stop go, and a related list only when nothing but list lines follows its heading or it
    starts in the second half of the text."""
    lines = text.splitlines()
    head_title = _clean_text(title)
    # leading lines: the headline, then byline/meta lines
    while lines:
        line = lines[0].strip()
        short = len(line) <= TRIM_LINE_MAX and "。" not in line
        is_title = bool(head_title) and (
            line == head_title or (head_title in line and len(line) <= len(head_title) + 20)
        )
        is_meta = len(line) <= 60 and bool(_META_LINE.search(line)) and not _SENTENCE_END.search(line)
        if not (short and (is_title or is_meta or _LEADING_FURNITURE.search(line))):
            break
        lines.pop(0)
    # a related-articles list: a heading followed by list lines only, or starting in the second half
    total = sum(len(line) for line in lines)
    seen = 0
    for i, line in enumerate(lines):
        if seen and _RELATED_HEADING.match(line.strip()):
            rest = lines[i + 1 :]
            list_only = all(len(r) <= 60 and not _SENTENCE_END.search(r) for r in rest)
            if list_only or seen >= total / 2:
                lines = lines[:i]
                break
        seen += len(line)
    # trailing furniture lines
    while lines:
        line = lines[-1].strip()
        if not line or (len(line) <= TRIM_LINE_MAX and "。" not in line and _TRAILING_FURNITURE.search(line)):
            lines.pop()
        else:
            break
    trimmed = "\n".join(lines)
    # never trade an article for nothing: keep the original when trimming would leave (almost) no text
    return trimmed if _nospace_len(trimmed) >= min(_MIN_TEXT * 3, _nospace_len(text) // 2) else text


_SENTENCE_END = re.compile(r"[。！？!?；;]")
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
