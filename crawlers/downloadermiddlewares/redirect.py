"""Redirects that end as data: a cycle is a ``redirect_loop``, a long chain ``too_many_redirects``.

Replaces Scrapy's ``RedirectMiddleware`` and ``MetaRefreshMiddleware``. Two changes:

* a redirect to a URL already in the chain (``redirect_urls`` + the current URL) raises
  :class:`~crawlers.items.RedirectLoop`, and an over-long chain :class:`~crawlers.items.TooManyRedirects`, so the
  spider's errback records the attempt with the right error kind;
* the redirected request bypasses the dupefilter (``dont_filter``): otherwise a redirect to an already-seen URL
  would be dropped silently and the original URL would never get its PageItem;
* an unusable target (``javascript:`` in a meta refresh, a garbage ``Location``) leaves the response as it is
  instead of failing the page.
"""

from __future__ import annotations

import logging
from typing import Any

from scrapy import Request
from scrapy.downloadermiddlewares.redirect import MetaRefreshMiddleware, RedirectMiddleware
from scrapy.exceptions import IgnoreRequest
from scrapy.http import Response
from w3lib.url import canonicalize_url

from crawlers.items import RedirectLoop, TooManyRedirects

log = logging.getLogger(__name__)


def _loop_aware_redirect(base: Any, self: Any, redirected: Request, request: Request, reason: Any) -> Request:
    chain = [*request.meta.get("redirect_urls", []), request.url]
    seen = {canonicalize_url(u) for u in chain}
    if canonicalize_url(redirected.url) in seen:
        self.crawler.stats.inc_value("yijian/redirect_loop")
        raise RedirectLoop("重定向循环: " + " → ".join([*chain, redirected.url]))
    try:
        out = base._redirect(self, redirected, request, reason)
    except IgnoreRequest as exc:
        raise TooManyRedirects(
            f"重定向次数超过上限 {self.max_redirect_times}: " + " → ".join([*chain, redirected.url])
        ) from exc
    out.dont_filter = True
    return out


def _guarded(base: Any, self: Any, request: Request, response: Response) -> Request | Response:
    try:
        return base.process_response(self, request, response)
    except ValueError as exc:  # an unusable target (javascript:, garbage): keep the page as it is
        self.crawler.stats.inc_value("yijian/bad_redirect_target")
        log.info("ignoring unusable redirect target on %s: %s", request.url, exc)
        return response


class LoopAwareRedirectMiddleware(RedirectMiddleware):
    """HTTP 3xx redirects with loop detection."""

    def process_response(self, request: Request, response: Response) -> Request | Response:  # type: ignore[override]
        return _guarded(RedirectMiddleware, self, request, response)

    def _redirect(self, redirected: Request, request: Request, reason: Any) -> Request:
        return _loop_aware_redirect(RedirectMiddleware, self, redirected, request, reason)


class LoopAwareMetaRefreshMiddleware(MetaRefreshMiddleware):
    """``<meta http-equiv="refresh">`` redirects with loop detection."""

    def process_response(self, request: Request, response: Response) -> Request | Response:  # type: ignore[override]
        return _guarded(MetaRefreshMiddleware, self, request, response)

    def _redirect(self, redirected: Request, request: Request, reason: Any) -> Request:
        return _loop_aware_redirect(MetaRefreshMiddleware, self, redirected, request, reason)
