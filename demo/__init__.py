"""The bundled demo web: a small offline "internet" served on loopback addresses.

Every demo site listens on the same port on its own loopback address (all of 127.0.0.0/8 reaches the
local machine on Linux), so each site is its own host: its own robots.txt, politeness slot and domain.
"""

from __future__ import annotations

# site key -> loopback address
SITES: dict[str, str] = {
    "index": "127.0.0.1",  # / links to every demo site
    "public_hospital": "127.0.0.11",  # 公立医院: lawful content only, valid 医疗广告审查证明 number
    "private_hospital": "127.0.0.12",  # 民营专科医院 (男科/不孕/皮肤): exaggerated ads, JS-injected ad page
    "beauty_clinic": "127.0.0.13",  # 医疗美容诊所 advertising outside its licensed 诊疗科目
    "beauty_salon": "127.0.0.14",  # 美容院/养生馆: injections, stem-cell 回输, fetal sex tests
    "wechat": "127.0.0.15",  # mp.weixin.qq.com-style articles and account article lists
    "news": "127.0.0.16",  # news site: RSS, list pages, negative news, regulator notices (hard negatives)
    "gbk_clinic": "127.0.0.17",  # GBK legacy site: lying/missing charset, robots Crawl-delay, sitemap, image-only ad
    "messy": "127.0.0.18",  # calendar trap, redirect loop, 404/500, huge page, binary as text/html, malformed
}

DEFAULT_PORT = 8765


def site_url(site: str, port: int, path: str = "/") -> str:
    return f"http://{SITES[site]}:{port}{path}"
