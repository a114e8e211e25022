"""URL identity: the one canonical form of a page's address, used by the crawler (dedupe, trap guard,
redirect loops) and the store (document id) alike, so both agree on which page is which."""

from __future__ import annotations

import hashlib
import re
from contextlib import suppress
from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

_DEFAULT_PORTS = {"http": 80, "https": 443}
# Query parameters that only track the visitor or the share path; dropped everywhere.
_TRACKING_PARAMS = frozenset(
    {
        "spm",
        "from",
        "from_source",
        "gclid",
        "fbclid",
        "msclkid",
        "yclid",
        "igshid",
        "mc_cid",
        "mc_eid",
        "_hsenc",
        "_hsmi",
        "isappinstalled",
        "share_token",
        "share_source",
        "share_medium",
        "wxfrom",
    }
)
_TRACKING_PREFIXES = ("utm_",)
# Session ids a server puts in the URL when it cannot set a cookie: every visit gets a new one, so one page has
# endless addresses (a crawler trap that also fills the store with copies). Dropped from the query everywhere,
# and as path parameters (``/a.jsp;jsessionid=ABC``) and ASP.NET cookieless segments (``/(S(abc))/a.aspx``).
_SESSION_PARAMS = frozenset(
    {
        "jsessionid",
        "phpsessid",
        "sid",
        "sessid",
        "sessionid",
        "session_id",
        "aspsessionid",
        "cfid",
        "cftoken",
        "zenid",
        "oscsid",
    }
)
_SESSION_PATH_PARAM = re.compile(r";(?:jsessionid|phpsessid|sid|sessionid|sessid)=[^/?#;]*", re.I)
_ASPNET_COOKIELESS = re.compile(r"/\([A-Za-z]\([^)/]*\)\)(?=/)")
# WeChat article URLs carry session and share parameters; the article is __biz + mid + idx + sn.
_WECHAT_HOSTS = frozenset({"mp.weixin.qq.com"})
_WECHAT_DROP = frozenset(
    {
        "chksm",
        "scene",
        "subscene",
        "sessionid",
        "pass_ticket",
        "key",
        "ascene",
        "devicetype",
        "version",
        "lang",
        "exportkey",
        "clicktime",
        "enterid",
        "nettype",
        "abtest_cookie",
        "wx_header",
        "uin",
        "realreporttime",
        "poc_token",
        "mpshare",
        "srcid",
        "sharer_sharetime",
        "sharer_shareid",
        "sharer_shareinfo",
        "sharer_shareinfo_first",
        "sharer_username",
        "from_msgid",
        "from_itemidx",
        "countrycode",
        "fontscale",
        "wxtoken",
    }
)
_PCT_RE = re.compile(r"%[0-9a-fA-F]{2}")
_PATH_SAFE = "/%:@!$&'()*+,;=~-._"


def canonical_url(url: str) -> str:
    """Canonical form used as the document identity.

    Lower-case scheme and host, default port dropped, fragment dropped, tracking parameters (utm_*, spm,
    from, …; WeChat session/share parameters) and session ids (``;jsessionid=``, ``?sid=``, ``PHPSESSID``, …)
    dropped, remaining query parameters sorted and uniformly
    percent-encoded, empty path → "/". Anything that is not an http(s) URL comes back stripped, unchanged.
    """
    raw = (url or "").strip()
    try:
        parts = urlsplit(raw)
        port = parts.port
    except ValueError:
        return raw
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS or not parts.hostname:
        return raw
    host = parts.hostname.rstrip(".")  # .hostname is already lower-cased
    with suppress(UnicodeError):
        host = host.encode("idna").decode("ascii") if not host.isascii() else host
    if ":" in host:  # IPv6 literal
        host = f"[{host}]"
    netloc = host
    if port is not None and port != _DEFAULT_PORTS[scheme]:
        netloc = f"{host}:{port}"
    if parts.username is not None:
        userinfo = parts.username + (f":{parts.password}" if parts.password is not None else "")
        netloc = f"{userinfo}@{netloc}"

    raw_path = _ASPNET_COOKIELESS.sub("", _SESSION_PATH_PARAM.sub("", parts.path))
    path = quote(raw_path or "/", safe=_PATH_SAFE)
    path = _PCT_RE.sub(lambda m: m.group(0).upper(), path)

    drop_wechat = host in _WECHAT_HOSTS
    pairs = []
    for key, value in parse_qsl(parts.query, keep_blank_values=True):
        k = key.lower()
        if k in _TRACKING_PARAMS or k.startswith(_TRACKING_PREFIXES) or _is_session_param(k):
            continue
        if drop_wechat and k in _WECHAT_DROP:
            continue
        pairs.append((key, value))
    pairs.sort()
    query = urlencode(pairs)
    return urlunsplit((scheme, netloc, path, query, ""))


def _is_session_param(key: str) -> bool:
    # ASP classic appends the application id: ASPSESSIONIDQAQBSDTR
    return key in _SESSION_PARAMS or key.startswith("aspsessionid")


def doc_id_for(url: str) -> str:
    """Stable document id: SHA-1 of the canonical URL."""
    return hashlib.sha1(canonical_url(url).encode("utf-8")).hexdigest()
