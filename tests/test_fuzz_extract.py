"""Property tests (hypothesis): no input makes the date parser or the extractor raise.

Crawled content is hostile, so both are fuzzed on generated input: date strings built from the pieces real pages use
(年月日, 上午/下午, 昨天, N小时前, Chinese numerals, zones, labels) mixed with arbitrary text, and HTML built from real
page furniture (bylines, date labels, WeChat variables, tables, scripts) mixed with arbitrary bytes and encodings.
The properties: the date functions return None or a timezone-aware UTC datetime; extraction always returns an
``Extracted`` with a known status, JSON-serialisable, with one-line author and source.

Bounded for ``make test`` (a few seconds). A longer run, e.g. before a release:
``YIJIAN_FUZZ_EXAMPLES=20000 PYTHONPATH=. python -m pytest -q -p no:cacheprovider --timeout=0 tests/test_fuzz_extract.py``
(``--timeout=0`` lifts the per-test limit of ``make test``).
"""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from domain import ERROR_KINDS, Extracted
from pipelines.dates import find_dates_in_text, find_publish_time, parse_chinese_datetime
from pipelines.extract import extract_bytes, extract_html

EXAMPLES = int(os.environ.get("YIJIAN_FUZZ_EXAMPLES", "0"))
FUZZ = settings(
    max_examples=EXAMPLES or 200,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
    derandomize=not EXAMPLES,  # the bounded run is the same on every machine; a long run explores
    database=None,  # nothing written into the checkout
)
FUZZ_PAGES = settings(FUZZ, max_examples=EXAMPLES or 40)

_DATE_PIECES = [
    "年", "月", "日", "号", "时", "分", "秒", "点", "上午", "下午", "凌晨", "中午", "晚上", "早上", "昨天", "今天",
    "前天", "大前天", "刚刚", "前", "之前", "小时", "个小时", "分钟", "天", "周", "星期", "个月", "半", "两",
    "二〇二四", "〇", "一", "二", "十", "三十一", "十二", "-", "/", ".", ":", "：", "T", "Z", "+08:00", "+0800",
    "-0530", "UTC", "GMT", "UTC+8", " ", "\u3000", "发布时间：", "发表于", "日期：", "更新时间", "\n",
]  # fmt: skip
_date_piece = st.one_of(
    st.sampled_from(_DATE_PIECES),
    st.integers(0, 99).map(str),
    st.integers(1900, 2100).map(str),
    st.integers(0, 10**14).map(str),
    st.text(max_size=4),
)
date_strings = st.one_of(st.lists(_date_piece, max_size=16).map("".join), st.text(max_size=60))
anchors = st.one_of(
    st.none(),
    st.datetimes(min_value=datetime(1991, 1, 1), max_value=datetime(2099, 1, 1)),
    st.datetimes(min_value=datetime(1991, 1, 1), max_value=datetime(2099, 1, 1), timezones=st.just(UTC)),
)


def _is_utc(dt: datetime | None) -> bool:
    return dt is None or (dt.tzinfo is not None and dt.utcoffset() == timedelta(0))


@pytest.mark.parametrize(
    "text",
    [
        "03-05 14:30",  # month-day with a time: its pattern has no seconds group (IndexError: no such group)
        "发表于 03-05 14:30",
        "回复于 12-31 23:59 楼主",
        "二〇二四年一二三月五日",  # not a Chinese numeral month (KeyError)
        "二〇二四年十十月五日",
        "99999999999999999999年前",  # before year 1 (OverflowError)
        "2024-03-05 10:00 UTC+99",
    ],
)
def test_date_shapes_that_raised(text: str) -> None:
    assert _is_utc(parse_chinese_datetime(text, datetime(2024, 6, 10, tzinfo=UTC)))


@FUZZ
@given(date_strings, anchors)
def test_date_parser_never_raises(text: str, now: datetime | None) -> None:
    assert _is_utc(parse_chinese_datetime(text, now))
    for _, dt in find_dates_in_text(text, now):
        assert _is_utc(dt)
    assert _is_utc(find_publish_time(text, now=now, title=text[:6]))


@FUZZ
@given(date_strings, date_strings, anchors)
def test_publish_time_in_markup_never_raises(value: str, text: str, now: datetime | None) -> None:
    attr = value.replace("'", "").replace("<", "")
    page = (
        f"<html><head><meta name='pubdate' content='{attr}'><script>var ct = \"{attr}\";</script></head>"
        f"<body><h1>标题</h1><span class='time'>{value}</span><time datetime='{attr}'>{text}</time>"
        f"<p>发布时间：{text}</p><div class='comment'>发表时间：{value}</div></body></html>"
    )
    assert _is_utc(find_publish_time(page, now=now, title="标题", article_text=text))


_TEXT_PIECES = [
    "某医院", "根治", "治愈率99%", "记者", "记者 张三", "本报记者李四 报道", "通讯员", "作者：", "文/", "编辑：",
    "责任编辑：", "来源：", "来源: 人民网", "声明：", "转载请注明出处", "name, email@example.com", "©2024 版权所有",
    "发布时间：", "2024-03-05 14:30", "03-05 14:30", "昨天 10:20", "3小时前", "二〇二四年三月五日", "。", "，",
    "\u200b", "\u202e", "\x00", "&nbsp;", "&#26681;", "<", ">", "&", "\n", " ",
]  # fmt: skip
_text = st.one_of(
    st.lists(st.one_of(st.sampled_from(_TEXT_PIECES), st.text(max_size=8)), max_size=12).map("".join),
    st.text(max_size=40),
)
_TAGS = [
    "div",
    "p",
    "span",
    "td",
    "table",
    "tr",
    "li",
    "ul",
    "h1",
    "title",
    "a",
    "em",
    "section",
    "article",
    "font",
]
_CLASSES = [
    "",
    "content",
    "article",
    "time",
    "date",
    "pub",
    "comment",
    "sidebar",
    "nav",
    "footer",
    "author",
    "info",
]


@st.composite
def html_pages(draw: st.DrawFn) -> str:
    def node(depth: int) -> str:
        tag = draw(st.sampled_from(_TAGS))
        cls = draw(st.sampled_from(_CLASSES))
        inner = draw(_text)
        if depth < 4:
            inner += "".join(node(depth + 1) for _ in range(draw(st.integers(0, 3))))
        if draw(st.booleans()):
            inner += "<br>" + draw(_text)
        close = draw(st.sampled_from([f"</{tag}>", "", f"</{draw(st.sampled_from(_TAGS))}>"]))
        return f'<{tag} class="{cls}">{inner}{close}'

    head = draw(st.sampled_from(["", "<title>", "<meta charset='gbk'>", "<meta name='author' content='"]))
    head += draw(_text)
    script = draw(st.sampled_from(["", '<script>var ct = "1710000000"; var nickname = "号";</script>']))
    body = "".join(node(0) for _ in range(draw(st.integers(0, 4))))
    img = draw(
        st.sampled_from(["", "<img src='a.png' alt='根治'>", "<img data-src='//x.cn/b.jpg' width='1'>"])
    )
    return f"<html><head>{head}</head>{script}<body id='js_content'>{body}{img}</body></html>"


_STATUSES = {"ok", "deleted", "empty_page", "parse_error", *ERROR_KINDS}


def _check(ex: Extracted) -> None:
    assert isinstance(ex, Extracted)
    assert ex.status in _STATUSES
    assert ex.status == "ok" or ex.error_detail
    json.dumps(ex.to_json(), ensure_ascii=False)
    assert _is_utc(ex.published_at)
    assert "\n" not in ex.author and "\n" not in ex.source


@FUZZ_PAGES
@given(
    html_pages(),
    st.sampled_from(["utf-8", "gb18030", "big5", "utf-16", "latin-1"]),
    st.sampled_from(
        ["", "text/html", "text/html; charset=utf-8", "text/html; charset=gbk", "application/pdf"]
    ),
    st.sampled_from(["https://www.example.cn/a.html", "https://mp.weixin.qq.com/s/x", ""]),
)
def test_extraction_of_generated_pages_never_raises(page: str, encoding: str, ctype: str, url: str) -> None:
    body = page.encode(encoding, errors="replace")
    _check(extract_bytes(body, {"Content-Type": ctype} if ctype else {}, url))
    _check(extract_html(page, url))


@FUZZ_PAGES
@given(
    st.binary(max_size=3000), st.sampled_from(["", "text/html; charset=utf-8", "text/html; charset=gb2312"])
)
def test_extraction_of_arbitrary_bytes_never_raises(body: bytes, ctype: str) -> None:
    _check(extract_bytes(body, {"Content-Type": ctype} if ctype else {}, "https://www.example.cn/a.html"))
