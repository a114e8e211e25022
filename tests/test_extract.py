from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from lxml import html as lxml_html

from pipelines.extract import (
    extract_bytes,
    extract_file,
    extract_html,
    find_author,
    find_source,
    trim_furniture,
)

FIX = Path(__file__).parent / "fixtures" / "extract"
URL = "https://www.example.cn/news/2024/0305/a.html"


def load(name: str) -> bytes:
    return (FIX / name).read_bytes()


def test_news_article_with_sidebar():
    ex = extract_bytes(load("news_sidebar.html"), {"Content-Type": "text/html; charset=utf-8"}, URL)
    assert ex.status == "ok"
    assert ex.title == "某民营医院发布“包治不孕”广告被罚30万元"
    assert ex.published_at == datetime(2024, 3, 5, 6, 30, tzinfo=UTC)  # 14:30 Shanghai
    assert ex.author == "李明"
    assert ex.text.startswith("3月4日，市市场监督管理局公布了一起违法医疗广告案件。")
    assert "处罚款30万元。" in ex.text
    assert "遇到违法广告可拨打12345热线举报。" in ex.text
    # sidebar, navigation, footer and scripts stay out
    for junk in ("市三院开展义诊活动", "关于我们", "沪ICP备", "广告脚本不应进入正文", "热门新闻"):
        assert junk not in ex.text
    # relative and lazy (data-src) images become absolute; placeholders and sidebar ads are skipped
    assert [(i.src, i.alt) for i in ex.images] == [
        ("https://www.example.cn/uploads/2024/03/penalty.jpg", "行政处罚决定书（局部）"),
        ("https://img.example.cn/ad/flyer.png", "涉案宣传单"),
    ]
    assert ex.encoding == "utf-8"


def test_gbk_page_with_lying_header_and_table_layout():
    ex = extract_bytes(load("gbk_notice.html"), {"Content-Type": "text/html; charset=utf-8"}, URL)
    assert ex.status == "ok"
    assert ex.encoding == "gb18030"
    assert ex.title == "关于规范医疗美容服务的通知"
    assert ex.published_at == datetime(2023, 9, 17, 16, 0, tzinfo=UTC)
    # 来源 is the only byline on the page: it names the outlet, not an author.
    assert ex.author == ""
    assert ex.source == "市卫生健康委员会"
    assert "未取得《医疗机构执业许可证》的机构，一律不得开展医疗美容服务" in ex.text
    assert "首页" not in ex.text
    assert "|" not in ex.text


def test_wechat_article():
    url = "https://mp.weixin.qq.com/s?__biz=MzA5NjY3MDQ0MA==&mid=1"
    ex = extract_bytes(load("wechat_article.html"), {}, url)
    assert ex.status == "ok"
    assert ex.title == "春季过敏高发，专家教你科学应对"
    assert ex.account == "健康江城"
    assert ex.author == "张医生"
    assert ex.published_at == datetime.fromtimestamp(1710000000, tz=UTC)
    assert ex.text.splitlines() == [
        "春天到了，花粉、柳絮增多，过敏性鼻炎和哮喘患者明显增加。",
        "市中心医院变态反应科主任提醒：出门佩戴口罩，回家及时清洗鼻腔，症状明显时应到正规医院就诊，遵医嘱用药。",
    ]
    assert [(i.src, i.alt) for i in ex.images] == [
        ("https://mmbiz.qpic.cn/mmbiz_jpg/abc123/640?wx_fmt=jpeg", "花粉过敏示意图"),
        ("https://mmbiz.qpic.cn/mmbiz_png/def456/640?wx_fmt=png", ""),
    ]


def test_wechat_structure_recognised_without_wechat_url(tmp_path):
    path = tmp_path / "saved.html"
    path.write_bytes(load("wechat_article.html"))
    ex = extract_file(path)
    assert ex.account == "健康江城"
    assert ex.published_at == datetime.fromtimestamp(1710000000, tz=UTC)


@pytest.mark.parametrize("url", ["https://mp.weixin.qq.com/s/AbCdEf", "file:///tmp/x.html"])
def test_wechat_deleted_page(url):
    ex = extract_bytes(load("wechat_deleted.html"), {}, url)
    assert ex.status == "deleted"
    assert "该内容已被发布者删除" in ex.error_detail
    assert ex.title == "" and ex.text == ""


@pytest.mark.parametrize(
    "notice", ["此内容因违规无法查看", "该内容已被发布者删除", "此内容被多人投诉，相关的内容无法进行查看"]
)
def test_wechat_deleted_variants(notice):
    html = f'<html><body><div class="weui-msg"><h2 class="weui-msg__title">{notice}</h2></div></body></html>'
    ex = extract_html(html, "https://mp.weixin.qq.com/s/xyz")
    assert ex.status == "deleted"


def test_malformed_html_is_recovered():
    ex = extract_bytes(load("malformed.html"), {}, "http://yy.example.cn/jk/1.html")
    assert ex.status == "ok"
    assert ex.title == "糖尿病饮食指导"
    assert ex.published_at == datetime(2023, 11, 1, 16, 0, tzinfo=UTC)
    assert "糖尿病患者应当控制总热量摄入，少食多餐，主食定量，粗细搭配。" in ex.text
    assert "杂粮饭、清蒸鱼、青菜" in ex.text


@pytest.mark.parametrize(
    ("body", "status"),
    [
        (b"", "empty_page"),
        (b"<html><head><title>x</title></head><body>  </body></html>", "empty_page"),
        (b"<html><body><script>var a = 1;</script></body></html>", "empty_page"),
        (b"\x89PNG\r\n\x1a\n" + bytes(64), "not_html"),
        (b"\x1f\x8b\x08\x00" + bytes(64), "not_html"),
    ],
)
def test_bad_bodies_become_statuses_not_exceptions(body, status):
    ex = extract_bytes(body, {"Content-Type": "text/html"}, URL)
    assert ex.status == status
    assert ex.error_detail
    assert ex.to_json()["status"] == status


def test_deeply_nested_html_does_not_crash():
    html = (
        "<html><body>"
        + "<div>" * 3000
        + "某医院声称根治糖尿病，已被立案调查。" * 3
        + "</div>" * 3000
        + "</body></html>"
    )
    ex = extract_html(html, URL)
    assert ex.status in {"ok", "parse_error"}
    if ex.status == "ok":
        assert "已被立案调查" in ex.text


def test_missing_file_is_recorded(tmp_path):
    ex = extract_file(tmp_path / "nope.html")
    assert ex.status == "parse_error"
    assert "无法读取文件" in ex.error_detail


def test_to_json_shape():
    ex = extract_bytes(load("news_sidebar.html"), {}, URL)
    data = ex.to_json()
    assert data["published_at"] == "2024-03-05T06:30:00+00:00"
    assert data["images"][0] == {
        "src": "https://www.example.cn/uploads/2024/03/penalty.jpg",
        "alt": "行政处罚决定书（局部）",
        "ocr_text": "",
    }


def test_link_density_tells_hub_pages_from_content() -> None:
    hub = (
        "<html><body><ul><li><a href='/'>首页</a></li><li><a href='/a'>科室介绍</a></li></ul>"
        "<h1>健康科普</h1><ul><li><a href='/1'>糖尿病患者如何做好长期管理</a></li>"
        "<li><a href='/2'>高血压：控制好血压是关键</a></li></ul><p>2026-03-01</p></body></html>"
    )
    article = (
        "<html><body><ul><li><a href='/'>首页</a></li></ul><h1>糖尿病患者如何做好长期管理</h1>"
        "<p>糖尿病是一种常见的慢性代谢性疾病，目前还不能根治，需要在医生指导下长期规范管理，包括饮食控制和规律运动。</p>"
        "<p>患者应定期监测血糖，按医嘱用药，不要轻信所谓根治糖尿病的广告宣传，发现异常及时就医。</p></body></html>"
    )
    assert extract_html(hub, "http://example.org/health/").link_density >= 0.8
    assert extract_html(article, "http://example.org/health/1.html").link_density < 0.3


# ------------------------------------------------------------------------------ author and source (来源)


@pytest.mark.parametrize(
    ("byline", "author"),
    [
        ("本报记者 张三 报道", "张三"),
        ("本报讯（记者 王五 通讯员 赵六）", "王五"),
        ("新华社北京3月5日电（记者 张三、李四）", "张三、李四"),
        ("健康时报记者 刘六 通讯员 孙七", "刘六"),
        ("本报驻京记者 周八", "周八"),
        ("通讯员 钱七", "钱七"),  # only a correspondent: still a person
        ("文/李雷", "李雷"),
        ("编辑｜韩梅梅", "韩梅梅"),
        ("作者：赵  培", "赵培"),  # a two-character name padded to align
        # an outlet in the author slot gives way to the reporter named below it
        ("作者：健康时报\n记者 李明", "李明"),
        ("来源：人民网 作者：张三", "张三"),
        # furniture and placeholders are never an author
        ("作者：转载请注明出处", ""),
        ("作者：name, email@example.com", ""),
        ("©2024 版权所有 作者：admin", ""),
        ("声明：本文仅代表作者观点", ""),
        ("记者了解到，这家医院没有执业许可", ""),  # the reporter as a sentence's subject
        ("记者江湖\n中国川剧\n指上谈兵", ""),  # a forum menu
        ("记者 欧阳明月 摄", ""),  # the photographer
        ("发布人：李四 发布时间：2024-01-01", "李四"),  # a CMS or forum page's poster
        ("posted @ 2004-12-27 12:40 李建忠", "李建忠"),
        ("Posted by kingname", "kingname"),
    ],
)
def test_author_is_a_person_from_a_byline(byline: str, author: str) -> None:
    tree = lxml_html.fromstring("<html><body><p>x</p></body></html>")
    assert find_author(tree, byline) == author


def test_outlet_goes_to_source_and_reporter_to_author() -> None:
    html = (
        "<html><head><title>某诊所违规注射致患者受伤_健康频道</title><meta name='author' content='健康时报'></head><body>"
        "<div class='nav'><a href='/'>首页</a> <a href='/j'>记者江湖</a></div>"
        "<h1>某诊所违规注射致患者受伤</h1><div class='info'>2024-03-05 14:30 来源：健康时报 作者：转载请注明出处</div>"
        "<div class='content'><p>本报讯（记者 王小明 通讯员 李华）3月4日，一名患者在某诊所接受注射后出现严重过敏反应，"
        "被送往医院抢救。卫生监督部门已介入调查，该诊所未取得相应执业许可。</p>"
        "<p>监督部门提醒，求美者应选择有资质的正规医疗机构，不要轻信低价宣传。</p></div>"
        "<div class='comment'><form><label>作者：</label><input placeholder='name, email@example.com'>"
        "<p>发表时间：2024-03-06 09:00 网友：这种诊所早该查了</p></form></div>"
        "<div class='copyright'>©2024 健康时报 版权所有 声明：转载请注明出处</div></body></html>"
    )
    ex = extract_html(html, URL)
    assert ex.author == "王小明"
    assert ex.source == "健康时报"
    assert ex.published_at == datetime(2024, 3, 5, 6, 30, tzinfo=UTC)
    assert ex.to_json()["source"] == "健康时报"


def test_a_bare_name_in_the_source_slot_is_the_author() -> None:
    html = (
        "<html><body><h1>社区义诊进校园</h1><div>2024-03-05 来源: 尹娟</div>"
        "<div class='content'><p>3月5日，市第一人民医院组织医生走进社区学校，为师生开展视力、口腔等健康检查，"
        "并讲解春季传染病预防知识，受到师生欢迎。</p></div></body></html>"
    )
    ex = extract_html(html, URL)
    assert ex.author == "尹娟"
    assert ex.source == ""


def test_an_organisation_as_page_author_yields_to_a_byline() -> None:
    tree = lxml_html.fromstring(
        '<html><head><meta name="author" content="北京某某医院"></head><body></body></html>'
    )
    assert find_author(tree, "记者 张三") == "张三"
    assert find_author(tree, "") == "北京某某医院"
    # below the article, 发布人 heads a reader's comment, not the page
    assert find_author(tree, "", "发布人：李四") == "北京某某医院"
    vendor = lxml_html.fromstring(
        '<html><head><meta name="author" content="某某网络科技有限公司"></head></html>'
    )
    assert find_author(vendor, "") == ""


def test_furniture_around_the_article_is_trimmed() -> None:
    text = "\n".join(
        [
            "娱乐圈受黑社会控制？ 明星挨打事件回顾(图)",
            "2005-04-27 14:32更新 来源：千龙新闻网",
            "近日，某艺人在餐厅外被打，随即被送往医院救治。",
            "据悉，他的头部缝了9针，警方已介入调查，并调取了附近的监控录像。",
            "文章来源：千龙网",
            "相关报道：",
            "·某艺人遇袭事件回顾 (2005-04-27 14:32PM)",
            "·警方通报调查进展 (2005-04-20 17:03PM)",
        ]
    )
    assert trim_furniture(text, "娱乐圈受黑社会控制？ 明星挨打事件回顾(图)") == (
        "近日，某艺人在餐厅外被打，随即被送往医院救治。\n据悉，他的头部缝了9针，警方已介入调查，并调取了附近的监控录像。"
    )


def test_breadcrumbs_menus_and_post_footers_are_trimmed() -> None:
    text = "\n".join(
        [
            "首页|新闻中心|健康科普|就医指南|联系我们",
            "您的位置：主页>健康科普>慢病管理",
            "Copyright © 2000-2006 example.cn All rights reserved.",
            "糖尿病患者应在医生指导下长期规范管理，不要轻信所谓根治的广告。",
            "发表于 2004年12月27日 12:40 - (阅读:3727;评论:63)",
            "页面功能 【我来说两句】【推荐】【打印】【关闭】",
            "（ 责任编辑：魏喆 ）",
        ]
    )
    assert trim_furniture(text, "") == "糖尿病患者应在医生指导下长期规范管理，不要轻信所谓根治的广告。"


def test_trimming_keeps_prose() -> None:
    # a related heading in the first half, a sentence mentioning the source: prose, kept as it is
    text = "相关报道：\n来源：据市卫健委通报，该院违规开展医疗美容项目，已被责令停业整顿，罚款十万元。\n后续处理结果将另行公布。"
    assert trim_furniture(text, "") == text
    assert trim_furniture("编辑：张三", "") == "编辑：张三"  # nothing but furniture: keep rather than empty


def test_a_dated_list_before_the_article_is_not_its_date() -> None:
    sidebar = "".join(
        f"<li><a href='/n{d}'>医院动态第{d}期：义诊活动顺利开展</a><span class='time'>2024-01-0{d}</span></li>"
        for d in range(1, 6)
    )
    html = (
        f"<html><body><div class='left'><ul>{sidebar}</ul></div><div class='main'><h1>市卫健委通报三起违法医疗广告案件</h1>"
        "<p class='info'>2024-03-05 14:30 来源：市卫生健康委员会</p><div class='content'>"
        "<p>近日，市卫健委通报了三起违法发布医疗广告的案件，涉事机构在网络平台宣称“包治百病”“无效退款”。</p>"
        "<p>执法人员依法对涉事机构作出罚款并责令改正的处理，相关广告已全部下架。</p></div></div></body></html>"
    )
    ex = extract_html(html, URL)
    assert ex.published_at == datetime(2024, 3, 5, 6, 30, tzinfo=UTC)
    assert ex.source == "市卫生健康委员会"


@pytest.mark.parametrize(
    ("byline", "author", "source"),
    [
        ("来源：千龙新闻网", "", "千龙新闻网"),
        ("来源：健康界", "", "健康界"),  # an outlet without a newspaper-like suffix
        ("来源: 尹娟", "尹娟", ""),  # a reporter in the source slot
        ("文章来源：市卫生健康委员会 作者：李明", "李明", "市卫生健康委员会"),
        ("来源：转载请注明出处", "", ""),
    ],
)
def test_source_slot(byline: str, author: str, source: str) -> None:
    tree = lxml_html.fromstring("<html><body><p>x</p></body></html>")
    assert find_author(tree, byline) == author
    assert find_source(tree, byline) == source
