"""A digest rendered: HTML (charts by Content-ID for e-mail, or by file for the archive), Markdown (the archive,
and a short one for group robots), plain text, and the MIME e-mail: multipart/alternative of a text/plain part
and a multipart/related HTML part whose charts are inline images referenced by Content-ID."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import formatdate, make_msgid
from pathlib import Path
from typing import Any, cast

from jinja2 import Environment, FileSystemLoader, select_autoescape

TEMPLATES = Path(__file__).resolve().parent / "templates"
_env = Environment(
    loader=FileSystemLoader(TEMPLATES),
    autoescape=select_autoescape(["html", "j2"]),
    keep_trailing_newline=True,
)


@dataclass
class Message:
    """One message for every channel: each channel takes the form it can carry."""

    subject: str
    text: str  # plain text (e-mail text/plain part)
    markdown: str  # short Markdown for group robots
    html: str = ""  # HTML referencing images by cid:
    images: dict[str, bytes] = field(default_factory=dict)  # content-id (without <>) → PNG


def html(digest: dict[str, Any], img: Callable[[str], str]) -> str:
    """The digest as an HTML page; ``img(name)`` gives each chart's ``src``."""
    return _env.get_template("digest.html.j2").render(d=digest, img=img)


def _md_escape(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ").replace("[", "［").replace("]", "］")


def markdown(digest: dict[str, Any], chart_files: dict[str, str] | None = None) -> str:
    """The full digest as Markdown (tables), for the archive and the console."""
    d = digest
    t = d["totals"]
    lines = [
        f"# {d['title']}",
        "",
        f"统计范围：北京时间 {d['day']} 全天"
        + (f"，地区 {d['scope']}" if d["scope"] else "")
        + f"；生成于 {d['generated_at']}",
        "",
        f"- 抓取网页 {t['documents_fetched']} 篇，新增标记网页 {t['flagged_documents']} 篇，新增发现 {t['new_findings']} 条",
        f"- S1/S2 网页 {t['severe_documents']} 篇，负面舆情突增机构 {t['spikes']} 家",
        "",
        "## 一、新增标记",
        "",
        "| 标签 | 网页数 |",
        "|---|---:|",
        *[f"| {r['name']} | {r['count']} |" for r in d["by_label"]],
        "",
        "| 严重程度 | 发现数 |",
        "|---|---:|",
        *[f"| {r['name']} | {r['count']} |" for r in d["by_severity"]],
        "",
        "| 违法类别 | 发现数 |",
        "|---|---:|",
        *[f"| {_md_escape(r['name'])} | {r['count']} |" for r in d["by_category"]],
        "",
    ]
    if chart_files:
        lines += [f"![{name}]({path})" for name, path in chart_files.items()] + [""]
    lines += [
        "## 二、新增标记最多的机构",
        "",
        "| 机构 | 地区 | 新增标记网页 |",
        "|---|---|---:|",
        *[f"| {_md_escape(r['name'])} | {r['region']} | {r['count']} |" for r in d["top_institutions"]],
        "",
        "## 三、较前 7 天日均增幅最大",
        "",
        "| 类型 | 名称 | 当日 | 前 7 天日均 | 增加 |",
        "|---|---|---:|---:|---:|",
    ]
    for kind, label in (("categories", "违法类别"), ("institutions", "机构")):
        lines += [
            f"| {label} | {_md_escape(r['name'])} | {r['today']} | {r['baseline_mean']} | +{r['delta']} |"
            for r in d["increases"][kind]
        ]
    lines += [
        "",
        "## 四、负面舆情突增",
        "",
        d["spike_test"],
        "",
        "| 机构 | 当日 | 前 7 天合计 | λ | P(X≥k) |",
        "|---|---:|---:|---:|---:|",
        *[
            f"| {_md_escape(r['name'])} | {r['today']} | {r['previous_7_days']} | {r['lambda']} | {r['p_value']:.2g} |"
            for r in d["spikes"]
        ],
        "",
        "## 五、新增 S1/S2 线索",
        "",
    ]
    for r in d["severe_items"]:
        lines.append(
            f"- **{r['severity']}** [{_md_escape(r['title'])}]({r['link']}) — {_md_escape(r['institution'] or '未关联机构')}"
            f"；{'、'.join(r['categories'])}"
        )
    if not d["severe_items"]:
        lines.append("无")
    if d["severe_items_omitted"]:
        lines.append(f"\n另有 {d['severe_items_omitted']} 篇未列出，请在控制台查看。")
    return "\n".join(lines) + "\n"


def text(digest: dict[str, Any]) -> str:
    """Plain-text part of the e-mail."""
    d = digest
    t = d["totals"]
    out = [
        d["title"],
        "=" * 40,
        f"统计范围：北京时间 {d['day']} 全天" + (f"，地区 {d['scope']}" if d["scope"] else ""),
        f"抓取网页 {t['documents_fetched']} 篇；新增标记网页 {t['flagged_documents']} 篇；新增发现 {t['new_findings']} 条；"
        f"S1/S2 网页 {t['severe_documents']} 篇；负面舆情突增机构 {t['spikes']} 家。",
        "",
        "【按标签】" + ("；".join(f"{r['name']} {r['count']}" for r in d["by_label"]) or "无"),
        "【按严重程度】" + ("；".join(f"{r['name']} {r['count']}" for r in d["by_severity"]) or "无"),
        "【按违法类别】" + ("；".join(f"{r['name']} {r['count']}" for r in d["by_category"]) or "无"),
        "【新增标记最多的机构】"
        + ("；".join(f"{r['name']} {r['count']}" for r in d["top_institutions"]) or "无"),
        "【较前 7 天增幅】"
        + (
            "；".join(
                f"{r['name']} 当日 {r['today']}（前 7 天日均 {r['baseline_mean']}）"
                for k in ("categories", "institutions")
                for r in d["increases"][k]
            )
            or "无"
        ),
        "【负面舆情突增】" + ("；".join(f"{r['name']} 当日 {r['today']} 条" for r in d["spikes"]) or "无"),
        d["spike_test"],
        "",
        "【新增 S1/S2 线索】",
    ]
    for r in d["severe_items"]:
        out.append(
            f"- {r['severity']} {r['title']}（{r['institution'] or '未关联机构'}；{'、'.join(r['categories'])}）"
        )
        out.append(f"  {r['link']}")
    if not d["severe_items"]:
        out.append("无")
    out += ["", "本邮件由医鉴（Yijian）监测系统自动生成。线索需人工复核后方可作为执法依据。"]
    return "\n".join(out) + "\n"


def robot_markdown(digest: dict[str, Any], limit: int = 10) -> str:
    """A short Markdown digest for 企业微信/钉钉 group robots (no tables: neither renders them)."""
    d = digest
    t = d["totals"]
    lines = [
        f"### {d['title']}",
        f"> 新增标记网页 **{t['flagged_documents']}** 篇，新增发现 **{t['new_findings']}** 条，"
        f"S1/S2 **{t['severe_documents']}** 篇，舆情突增机构 **{t['spikes']}** 家",
        "",
        "**按标签**：" + ("；".join(f"{r['name']} {r['count']}" for r in d["by_label"]) or "无"),
        "",
        "**按严重程度**：" + ("；".join(f"{r['id']} {r['count']}" for r in d["by_severity"]) or "无"),
        "",
        "**机构前五**："
        + ("；".join(f"{r['name']} {r['count']}" for r in d["top_institutions"][:5]) or "无"),
    ]
    if d["spikes"]:
        lines += [
            "",
            "**负面舆情突增**：" + "；".join(f"{r['name']} 当日 {r['today']} 条" for r in d["spikes"]),
        ]
    if d["severe_items"]:
        lines += ["", "**新增 S1/S2 线索**："]
        for r in d["severe_items"][:limit]:
            lines.append(
                f"- {r['severity']} [{_md_escape(r['title'])}]({r['link']})（{r['institution'] or '未关联机构'}）"
            )
        more = len(d["severe_items"]) - limit + d["severe_items_omitted"]
        if more > 0:
            lines.append(f"- 另有 {more} 篇，详见邮件日报或控制台")
    return "\n".join(lines)


def digest_message(digest: dict[str, Any], charts: dict[str, bytes], domain: str = "yijian.local") -> Message:
    """The digest as a :class:`Message` whose HTML references its charts by Content-ID."""
    # Short ids, so the Content-ID header is never folded (some clients mishandle a folded one).
    cids = {name: f"{name}.{uuid.uuid4().hex[:16]}@{domain}" for name in charts}
    return Message(
        subject=digest["title"],
        text=text(digest),
        markdown=robot_markdown(digest),
        html=html(digest, lambda name: f"cid:{cids[name]}"),
        images={cids[name]: png for name, png in charts.items()},
    )


def email_message(message: Message, sender: str, recipients: list[str]) -> EmailMessage:
    """multipart/alternative: text/plain, then multipart/related (text/html + inline PNGs by Content-ID).
    The Chinese subject is RFC 2047-encoded by the SMTP policy."""
    msg = EmailMessage(policy=SMTP)
    msg["Subject"] = message.subject
    msg["From"] = sender
    msg["To"] = ", ".join(recipients)
    msg["Date"] = formatdate(localtime=True)
    msg["Message-ID"] = make_msgid(domain=sender.rsplit("@", 1)[-1].strip(">") or "yijian.local")
    msg.set_content(message.text, charset="utf-8")
    if message.html:
        msg.add_alternative(message.html, subtype="html", charset="utf-8")
        html_part = cast(EmailMessage, msg.get_payload()[1])  # type: ignore[index]
        for cid, png in message.images.items():
            html_part.add_related(
                png,
                maintype="image",
                subtype="png",
                cid=f"<{cid}>",
                disposition="inline",
                filename=f"{cid.split('.')[0]}.png",
            )
    return msg


def write_json(path: Path, obj: Any) -> None:
    path.write_text(json.dumps(obj, ensure_ascii=False, indent=2, default=str), encoding="utf-8")
