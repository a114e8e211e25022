from __future__ import annotations

from datetime import UTC, datetime

import pytest

from pipelines.dates import SHANGHAI, find_publish_time, parse_chinese_datetime

NOW = datetime(2024, 6, 10, 12, 0, tzinfo=SHANGHAI)  # 04:00 UTC


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2024年3月5日 14:30", utc(2024, 3, 5, 6, 30)),
        ("2024年03月05日14时30分", utc(2024, 3, 5, 6, 30)),
        ("2024-03-05", utc(2024, 3, 4, 16, 0)),
        ("2024/3/5 14:30:00", utc(2024, 3, 5, 6, 30)),
        ("2024.03.05", utc(2024, 3, 4, 16, 0)),
        ("2024-03-05T14:30:00+08:00", utc(2024, 3, 5, 6, 30)),
        ("2024-03-05T06:30:00Z", utc(2024, 3, 5, 6, 30)),
        ("发布时间：2024-03-05 下午2:30", utc(2024, 3, 5, 6, 30)),
        ("二〇二四年三月五日", utc(2024, 3, 4, 16, 0)),
        ("3月5日", utc(2024, 3, 4, 16, 0)),
        ("12月30日", utc(2023, 12, 29, 16, 0)),  # would be in the future this year → last year
        ("昨天 10:20", utc(2024, 6, 9, 2, 20)),
        ("前天", utc(2024, 6, 7, 16, 0)),
        ("3小时前", utc(2024, 6, 10, 1, 0)),
        ("5分钟前", utc(2024, 6, 10, 3, 55)),
        ("刚刚", utc(2024, 6, 10, 4, 0)),
        ("1581517074", utc(2020, 2, 12, 14, 17, 54)),
    ],
)
def test_parse_chinese_datetime(text, expected):
    got = parse_chinese_datetime(text, NOW)
    assert got == expected
    assert got.tzinfo is not None and got.utcoffset().total_seconds() == 0


@pytest.mark.parametrize("text", ["", "没有日期", "2099-01-01", "2024年13月5日", "第3页"])
def test_no_date(text):
    assert parse_chinese_datetime(text, NOW) is None


def test_meta_tag_wins():
    html = (
        '<html><head><meta property="article:published_time" content="2024-02-01T08:00:00+08:00"></head>'
        "<body><p>发布时间：2024-03-05</p></body></html>"
    )
    assert find_publish_time(html, now=NOW) == utc(2024, 2, 1, 0, 0)


def test_json_ld_date_published():
    html = (
        '<html><head><script type="application/ld+json">'
        '{"@type": "NewsArticle", "headline": "x", "datePublished": "2023-12-01 09:15"}'
        "</script></head><body><p>正文</p></body></html>"
    )
    assert find_publish_time(html, now=NOW) == utc(2023, 12, 1, 1, 15)


def test_wechat_ct():
    html = '<html><body><div id="js_content">正文</div><script>var ct = "1710000000";</script></body></html>'
    assert find_publish_time(html, now=NOW) == utc(2024, 3, 9, 16, 0)


def test_labelled_date_beats_sidebar_dates():
    html = """<html><body>
    <div class="side"><ul><li>2024-06-01 义诊活动</li><li>2024-05-28 防溺水</li></ul></div>
    <h1>某医院违法广告被查处</h1>
    <div>来源：本报　发布时间：2024年5月3日 09:00</div>
    <p>正文内容……</p></body></html>"""
    assert find_publish_time(html, title="某医院违法广告被查处", now=NOW) == utc(2024, 5, 3, 1, 0)


def test_date_after_title_beats_earlier_dates():
    text = "热点 2024-06-01 义诊活动\n某医院违法广告被查处\n2024-05-03 10:00 健康时报\n正文"
    assert find_publish_time(text, title="某医院违法广告被查处", now=NOW) == utc(2024, 5, 3, 2, 0)
