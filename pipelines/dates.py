"""Publish times on Chinese pages: absolute, relative (昨天, 3小时前) and structured (meta, JSON-LD, WeChat ``ct``).

Naive times are read as Asia/Shanghai; every function returns a timezone-aware UTC datetime or None.
"""

from __future__ import annotations

import json
import math
import re
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from lxml import html as lxml_html

__all__ = [
    "SHANGHAI",
    "find_publish_time",
    "find_dates_in_text",
    "from_unix",
    "parse_chinese_datetime",
]

SHANGHAI = ZoneInfo("Asia/Shanghai")
_MIN_YEAR = 1990

_CN_NUM = {
    "〇": 0,
    "零": 0,
    "一": 1,
    "二": 2,
    "两": 2,
    "三": 3,
    "四": 4,
    "五": 5,
    "六": 6,
    "七": 7,
    "八": 8,
    "九": 9,
}

_TIME = r"(?:\s*(?:[T\s]|日)?\s*(?P<ampm>上午|下午|晚上|凌晨|早上|中午)?\s*(?P<H>\d{1,2})\s*[:：时点]\s*(?P<M>\d{1,2})(?:\s*[:：分]\s*(?P<S>\d{1,2})(?:\.\d+)?)?(?:\s*秒)?)?"
_TZ = r"(?P<tz>Z|[+-]\d{2}:?\d{2}|\s*(?:UTC|GMT)[+-]?\d{0,2})?"
# Year-month-day in any of the common spellings.
_YMD = re.compile(
    r"(?<!\d)(?P<y>(?:19|20)\d{2})\s*(?:年|[-/.])\s*(?P<m>\d{1,2})\s*(?:月|[-/.])\s*(?P<d>\d{1,2})(?!\d)\s*日?"
    + _TIME
    + _TZ
)
# Compact 20240305 or 20240305 1430 (URLs, ids) – used only when nothing else matches.
_YMD_COMPACT = re.compile(r"(?<!\d)(?P<y>(?:19|20)\d{2})(?P<m>[01]\d)(?P<d>[0-3]\d)(?!\d)")
# Month-day without year: 3月5日, 03-05 14:30 (the latter only with a time to avoid matching scores).
_MD_CN = re.compile(r"(?<![\d年])(?P<m>\d{1,2})\s*月\s*(?P<d>\d{1,2})\s*日" + _TIME)
_MD_DASH = re.compile(r"(?<![\d/.-])(?P<m>[01]?\d)[-/](?P<d>[0-3]?\d)\s+(?P<H>\d{1,2}):(?P<M>\d{2})(?![\d:])")
_CN_YEAR = re.compile(
    r"(?P<y>[〇零一二三四五六七八九]{4})年(?P<m>[一二三四五六七八九十]{1,3})月(?P<d>[一二三四五六七八九十]{1,3})日"
)
_RELATIVE_DAY = re.compile(r"(?P<word>今天|今日|昨天|昨日|前天|大前天)" + _TIME)
_AGO = re.compile(
    r"(?P<n>\d+|[半两]|[一二三四五六七八九十]{1,3})\s*(?P<unit>秒|分钟|分|小时|个小时|天|日|周|星期|个月|月|年)\s*(?:之)?前"
)
_AGO_SECONDS = {
    "秒": 1,
    "分钟": 60,
    "分": 60,
    "小时": 3600,
    "个小时": 3600,
    "天": 86400,
    "日": 86400,
    "周": 7 * 86400,
    "星期": 7 * 86400,
    "个月": 30 * 86400,
    "月": 30 * 86400,
    "年": 365 * 86400,
}
_JUST_NOW = re.compile(r"刚刚|刚才|片刻之前")
_UNIX = re.compile(r"^\s*(\d{10})(?:\d{3})?\s*$")

# Labels that introduce a publish time; used to prefer the right date over sidebar dates.
PUBLISH_LABELS = re.compile(
    r"(?:发布时间|发布日期|发表时间|发表日期|发稿时间|更新时间|时间|日期|发布于|发表于|来源时间|publish(?:ed)?(?:\s*(?:on|at|date|time))?)\s*[:：]?\s*",
    re.I,
)
_LABEL_THEN_DATE = re.compile(
    r"(?:发布时间|发布日期|发表时间|发表日期|发稿时间|发布于|发表于|日期|时间)\s*[:：]?\s*(?:</?[^>]*>\s*)*",
)

_META_NAMES = (
    "article:published_time",
    "og:article:published_time",
    "og:published_time",
    "og:release_date",
    "article:published",
    "pubdate",
    "publishdate",
    "publish_date",
    "publish-date",
    "publishtime",
    "publish_time",
    "published_time",
    "published-date",
    "datepublished",
    "dc.date.issued",
    "dc.date",
    "dcterms.created",
    "dcterms.issued",
    "dc.date.created",
    "sailthru.date",
    "parsely-pub-date",
    "weibo:article:create_at",
    "bytedance:published_time",
    "date",
    "created",
    "ptime",
    "firstpublishedtime",
    "releasedate",
    "article:modified_time",  # last resort among metas: better than a sidebar date
    "og:updated_time",
    "lastmodified",
)


_CN_SMALL = re.compile(
    r"^(?:(?P<tens>[一二三四五六七八九]?)(?P<ten>十))?(?P<ones>[一二三四五六七八九〇零]?)$"
)


def _cn_small(s: str) -> int | None:
    """A Chinese numeral below 100 (五, 十, 十二, 二十, 三十一) as an int; None for anything else (一二三, 十十)."""
    m = _CN_SMALL.match(s)
    if not s or m is None:
        return None
    tens = (_CN_NUM[m.group("tens")] if m.group("tens") else 1) if m.group("ten") else 0
    ones = _CN_NUM[m.group("ones")] if m.group("ones") else 0
    return tens * 10 + ones


def _to_utc(dt: datetime) -> datetime:
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=SHANGHAI)
    return dt.astimezone(UTC)


def from_unix(value: str | int | float) -> datetime | None:
    """A unix timestamp (seconds, or milliseconds) as UTC; None when implausible."""
    try:
        ts = float(value)
    except (TypeError, ValueError):
        return None
    if ts > 1e12:
        ts /= 1000
    if not (631152000 <= ts <= 4102444800):  # 1990 .. 2100
        return None
    return datetime.fromtimestamp(ts, tz=UTC)


def _hour(h: int, ampm: str | None) -> int:
    if ampm in {"下午", "晚上"} and h < 12:
        return h + 12
    if ampm == "中午" and h < 11:
        return h + 12
    if ampm == "凌晨" and h == 12:
        return 0
    return h


def _group(m: re.Match[str] | None, name: str) -> str | None:
    """A named group's text, or None when the group did not take part or the pattern has no such group.

    The patterns share :func:`_build` but not their groups (``_MD_DASH`` has hours and minutes but no seconds,
    am/pm or zone; ``_CN_YEAR`` has no time at all), so groups are always read through this, never ``m.group``.
    """
    if m is None:
        return None
    return m.groupdict().get(name)


def _build(y: int, mo: int, d: int, m: re.Match[str] | None, now: datetime) -> datetime | None:
    """The UTC datetime for a calendar date plus the time and zone groups of ``m`` (when any); None when
    the parts do not make a real date (30 February, 25:61, an offset pushing it out of range)."""
    H = M = S = 0
    hour = _group(m, "H")
    if hour:
        H = _hour(int(hour), _group(m, "ampm"))
        M = int(_group(m, "M") or 0)
        S = int(_group(m, "S") or 0)
    try:
        dt = datetime(y, mo, d, H, M, S)
        tz = _group(m, "tz")
        if tz:
            dt = _apply_zone(dt, tz)
    except (ValueError, OverflowError):
        return None
    if dt.year < _MIN_YEAR:
        return None
    return _to_utc(dt)


def _apply_zone(dt: datetime, tz: str) -> datetime:
    """``dt`` (wall time in zone ``tz``: ``Z``, ``+08:00``, ``+0800``, ``UTC+8``, ``GMT``) as an aware UTC time."""
    tz = tz.strip().upper()
    if tz == "Z":
        return dt.replace(tzinfo=UTC)
    if tz[:1] in {"+", "-"} and len(tz) >= 5:
        sign = 1 if tz[0] == "+" else -1
        hh, mm = int(tz[1:3]), int(tz[-2:])
        return dt.replace(tzinfo=UTC) - sign * timedelta(hours=hh, minutes=mm)
    if tz.startswith(("UTC", "GMT")):
        rest = tz[3:]
        off = int(rest) if rest.strip("+-") else 0
        return dt.replace(tzinfo=UTC) - timedelta(hours=off)
    return dt


def _local_now(now: datetime | None) -> datetime:
    if now is None:
        return datetime.now(SHANGHAI)
    if now.tzinfo is None:
        return now.replace(tzinfo=SHANGHAI)
    return now.astimezone(SHANGHAI)


def _parse_one(s: str, now: datetime) -> tuple[datetime | None, int]:
    """Parse the first date expression in ``s``; returns (datetime, match start) or (None, -1)."""
    best: tuple[datetime | None, int] = (None, -1)

    def consider(dt: datetime | None, pos: int) -> None:
        nonlocal best
        if dt is not None and (best[0] is None or pos < best[1]):
            best = (dt, pos)

    m: re.Match[str] | None
    for m in _YMD.finditer(s):
        dt = _build(int(m.group("y")), int(m.group("m")), int(m.group("d")), m, now)
        if dt is not None:
            consider(dt, m.start())
            break
    m = _CN_YEAR.search(s)
    if m:
        y = int("".join(str(_CN_NUM[c]) for c in m.group("y")))
        mo_cn, d_cn = _cn_small(m.group("m")), _cn_small(m.group("d"))
        if mo_cn is not None and d_cn is not None:
            consider(_build(y, mo_cn, d_cn, None, now), m.start())
    if best[0] is not None and best[1] == 0:
        return best
    for rx in (_MD_CN, _MD_DASH):
        for m in rx.finditer(s):
            if best[0] is not None and m.start() > best[1]:
                break
            # skip a month-day that is part of a full date already matched
            mo, d = int(m.group("m")), int(m.group("d"))
            dt = _build(now.year, mo, d, m, now)
            if dt is not None and dt > now.astimezone(UTC) + timedelta(days=1):
                dt = _build(now.year - 1, mo, d, m, now)
            if dt is not None:
                consider(dt, m.start())
                break
    m = _RELATIVE_DAY.search(s)
    if m:
        back = {"今天": 0, "今日": 0, "昨天": 1, "昨日": 1, "前天": 2, "大前天": 3}[m.group("word")]
        day = (now - timedelta(days=back)).date()
        if m.group("H"):
            dt = _build(day.year, day.month, day.day, m, now)
        else:
            dt = _build(day.year, day.month, day.day, None, now)
        consider(dt, m.start())
    m = _AGO.search(s)
    if m:
        n_raw = m.group("n")
        n = {"半": 0.5, "两": 2}.get(n_raw) or (int(n_raw) if n_raw.isdigit() else _cn_small(n_raw))
        seconds = n * _AGO_SECONDS[m.group("unit")] if n is not None else math.inf
        # "一二三年前" is no number; "99999年前" reaches back before any publish time: neither is a date.
        if seconds < (now - datetime(_MIN_YEAR, 1, 1, tzinfo=SHANGHAI)).total_seconds():
            consider((now - timedelta(seconds=seconds)).astimezone(UTC), m.start())
    m = _JUST_NOW.search(s)
    if m:
        consider(now.astimezone(UTC), m.start())
    return best


def parse_chinese_datetime(s: str, now: datetime | None = None) -> datetime | None:
    """Parse one date/time written the Chinese way (or ISO 8601 / unix seconds) into an aware UTC datetime.

    Understands ``2024年3月5日 14:30``, ``2024-03-05``, ``2024/3/5 14:30:00``, ``2024-03-05T14:30:00+08:00``,
    ``二〇二四年三月五日``, ``3月5日`` (current year, never in the future), ``昨天 10:20``, ``前天``,
    ``3小时前``, ``刚刚`` and 10/13-digit unix timestamps. Naive times are Asia/Shanghai.
    ``now`` anchors relative expressions (default: the current time).
    """
    if not s:
        return None
    s = s.strip()
    local_now = _local_now(now)
    m = _UNIX.match(s)
    if m:
        return from_unix(s)
    dt, _ = _parse_one(s, local_now)
    if dt is None:
        m2 = _YMD_COMPACT.search(s)
        if m2:
            dt = _build(int(m2.group("y")), int(m2.group("m")), int(m2.group("d")), None, local_now)
    # A publish time in the future (beyond clock skew) is not a publish time.
    if dt is not None and dt > local_now.astimezone(UTC) + timedelta(days=2):
        return None
    return dt


def find_dates_in_text(text: str, now: datetime | None = None) -> list[tuple[int, datetime]]:
    """All absolute dates (with optional time) in a text, as (offset, UTC datetime), in order."""
    local_now = _local_now(now)
    out: list[tuple[int, datetime]] = []
    for m in _YMD.finditer(text):
        dt = _build(int(m.group("y")), int(m.group("m")), int(m.group("d")), m, local_now)
        if dt is not None and dt <= local_now.astimezone(UTC) + timedelta(days=2):
            out.append((m.start(), dt))
    return out


def _jsonld_dates(tree: Any) -> list[str]:
    found: list[str] = []

    def walk(obj: Any) -> None:
        if isinstance(obj, dict):
            for key in ("datePublished", "dateCreated", "uploadDate"):
                v = obj.get(key)
                if isinstance(v, str):
                    found.append(v)
            for v in obj.values():
                if isinstance(v, dict | list):
                    walk(v)
        elif isinstance(obj, list):
            for v in obj:
                walk(v)

    for node in tree.xpath('//script[@type="application/ld+json"]'):
        raw = (node.text or "").strip()
        if not raw:
            continue
        try:
            walk(json.loads(raw))
        except ValueError:
            m = re.search(r'"datePublished"\s*:\s*"([^"]+)"', raw)
            if m:
                found.append(m.group(1))
    return found


def _meta_dates(tree: Any) -> list[str]:
    by_name: dict[str, str] = {}
    for meta in tree.xpath("//meta[@content]"):
        key = meta.get("property") or meta.get("name") or meta.get("itemprop") or meta.get("http-equiv") or ""
        key = key.strip().lower()
        if key and key not in by_name:
            by_name[key] = meta.get("content") or ""
    return [by_name[n] for n in _META_NAMES if by_name.get(n)]


_WECHAT_CT = re.compile(r"""\bvar\s+ct\s*=\s*["']?(\d{10})["']?""")
_JS_PUBLISH = re.compile(
    r"""\b(?:publish_time|pubtime|pubDate|publishTime|publish_date)\s*[:=]\s*["'](\d{4}[-/]\d{1,2}[-/]\d{1,2}[^"']{0,12})["']"""
)


def find_publish_time(
    html_tree_or_text: Any,
    *,
    title: str = "",
    raw_html: str = "",
    now: datetime | None = None,
    article_text: str = "",
) -> datetime | None:
    """Find the publish time of a page.

    ``html_tree_or_text`` is an lxml tree (preferred) or an HTML/plain string. Order of evidence:
    WeChat ``var ct``; ``<meta>`` tags (``article:published_time``, ``pubdate``, …); JSON-LD
    ``datePublished``; ``<time datetime>``; a date next to a label such as 发布时间/发表于; the first date
    after the title; the first date in the page. ``raw_html`` (the page source) lets script variables be
    read when a tree is given. ``article_text`` (the extracted main text, when known) tells the article from the
    comments below it, whose 发表时间 labels are not the article's.
    """
    local_now = _local_now(now)
    tree = html_tree_or_text
    source = raw_html
    if isinstance(html_tree_or_text, str):
        source = source or html_tree_or_text
        if "<" in html_tree_or_text:
            try:
                tree = lxml_html.fromstring(_strip_xml_decl(html_tree_or_text))
            except Exception:
                tree = None
        else:
            tree = None
            text = html_tree_or_text
            return _from_text(text, title, local_now, article_text)
    if source:
        m = _WECHAT_CT.search(source)
        if m and (dt := from_unix(m.group(1))):
            return dt
    if tree is None:
        return _from_text(source, title, local_now, article_text)

    for value in _meta_dates(tree) + _jsonld_dates(tree):
        dt = parse_chinese_datetime(value, local_now)
        if dt is not None:
            return dt
    for node in tree.xpath("//time[@datetime] | //*[@itemprop='datePublished']"):
        value = node.get("datetime") or node.get("content") or node.text_content()
        dt = parse_chinese_datetime(value or "", local_now)
        if dt is not None:
            return dt
    if source:
        m = _JS_PUBLISH.search(source)
        if m and (dt := parse_chinese_datetime(m.group(1), local_now)):
            return dt
    # Elements whose class/id says "time"/"date": the byline's date element, unless the page has a list of them
    # (related articles, comments, a news list), where the first is as likely a sidebar's as the article's.
    limit = local_now.astimezone(UTC) + timedelta(days=2)
    classed: list[datetime] = []
    for node in tree.xpath(
        "//*[self::span or self::em or self::div or self::p or self::time or self::small or self::i or self::font]"
        "[contains(translate(@class,'TIMEDAPUBS','timedapubs'),'time') or "
        "contains(translate(@class,'TIMEDAPUBS','timedapubs'),'date') or "
        "contains(translate(@id,'TIMEDAPUBS','timedapubs'),'time') or "
        "contains(translate(@id,'TIMEDAPUBS','timedapubs'),'date') or "
        "contains(translate(@class,'TIMEDAPUBS','timedapubs'),'pub')]"
    ):
        value = node.text_content()
        if len(value) > 80:
            continue
        dt, _ = _parse_one(value, local_now)
        if dt is not None and dt <= limit:
            classed.append(dt)
            if len(classed) >= CLASSED_LIST:
                break
    if classed and (len(classed) < CLASSED_LIST or len({d.date() for d in classed}) == 1):
        return classed[0]
    body = tree.find("body")
    text = _visible_text(body if body is not None else tree)
    return _from_text(text, title, local_now, article_text) or (classed[0] if classed else None)


CLASSED_LIST = 3  # this many date-classed elements with different dates make a list, not a byline


def _from_text(text: str, title: str, now: datetime, article: str = "") -> datetime | None:
    """The publish date in a page's visible text, best evidence first. When the extracted ``article`` text
    can be located in ``text``:

    1. a date in the byline zone between the headline and the article (labelled first: 发布时间：…);
    2. a labelled date within the article (government pages put 发布日期 at its end);

    then, and always when the article is unknown: 3. a labelled date anywhere (comment headers below the article
    come last: a reader's 发表时间 is not the article's); 4. the first date after the headline, then in the page.
    """
    limit = now.astimezone(UTC) + timedelta(days=2)
    body_start, body_end = _body_span(text, article)
    head = 0
    key = title.strip()[:12]
    if key:
        # The headline right above the article (the same words may open the page's <title>-like banner too).
        idx = text.rfind(key, 0, body_start + len(key)) if body_start is not None else -1
        idx = idx if idx >= 0 else text.find(key)
        if idx >= 0:
            head = idx + len(key)

    def labelled(lo: int, hi: int) -> datetime | None:
        for m in _LABEL_THEN_DATE.finditer(text, lo):
            if m.start() > hi:
                break
            dt, pos = _parse_one(text[m.end() : m.end() + 40], now)
            if dt is not None and pos <= 2 and dt <= limit:
                return dt
        return None

    if body_start is not None and body_end is not None:
        if head:
            zone_end = min(body_start, head + BYLINE_ZONE) if body_start > head else head + BYLINE_ZONE
            dt = labelled(head, zone_end)
            if dt is not None:
                return dt
            dates = find_dates_in_text(text[head:zone_end], now)
            if dates:
                return dates[0][1]
        dt = labelled(min(head, body_start), body_end)
        if dt is not None:
            return dt
    dt = labelled(0, len(text))
    if dt is not None:
        return dt
    for begin in (head, 0) if head else (0,):
        window = text[begin : begin + 600] if begin else text
        dates = find_dates_in_text(window, now)
        if dates:
            return dates[0][1]
    return None


BYLINE_ZONE = 300  # characters after the headline searched for the byline


_SPACES = re.compile(r"\s+")


def _body_span(text: str, article: str) -> tuple[int | None, int | None]:
    """Offsets in ``text`` where the extracted ``article`` starts and ends (None when not found). The start is
    found by the article's first line long enough to be distinctive, the end by its last line."""
    lines = [_SPACES.sub(" ", line).strip() for line in article.splitlines()]
    lines = [line for line in lines if len(line) >= 8]
    if not lines:
        return None, None
    first = next((line for line in lines if len(line) >= 15), lines[0])[:20]
    last = lines[-1][-20:]
    start = text.find(first)
    end = text.find(last, max(start, 0))
    return (start if start >= 0 else None), (end + len(last) if end >= 0 else None)


_SKIP_TAGS = {"script", "style", "noscript", "template", "svg"}


def _visible_text(node: Any) -> str:
    parts: list[str] = []
    for el in node.iter():
        tag = el.tag if isinstance(el.tag, str) else ""
        if tag in _SKIP_TAGS:
            if el.tail:
                parts.append(el.tail)
            continue
        parent = el.getparent()
        if parent is not None and isinstance(parent.tag, str) and parent.tag in _SKIP_TAGS:
            continue
        if el.text and tag not in _SKIP_TAGS and tag:
            parts.append(el.text)
        if el.tail:
            parts.append(el.tail)
        if tag in {"p", "div", "br", "li", "tr", "h1", "h2", "h3", "h4"}:
            parts.append("\n")
    return re.sub(r"[ \t\u3000\xa0]+", " ", "".join(parts))


def _strip_xml_decl(s: str) -> str:
    return re.sub(r"^\s*<\?xml[^>]*\?>", "", s, count=1)
