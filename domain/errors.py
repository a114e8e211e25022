"""The kinds of failure recorded for a page that could not be fetched, decoded or parsed."""

from __future__ import annotations

# Error kinds recorded for pages that could not be fetched, decoded or parsed. A crawl run counts them.
ERROR_KINDS: tuple[str, ...] = (
    "http_404",  # any 4xx is recorded as http_<code>
    "http_500",  # any 5xx likewise
    "redirect_loop",
    "too_many_redirects",
    "too_large",
    "timeout",
    "dns_error",
    "connection_error",
    "not_html",  # binary or non-text body (also when served as text/html)
    "decode_error",
    "empty_page",
    "parse_error",
    "trap",  # crawler trap guard: depth, repeating URL pattern, per-source page cap
    "robots_disallowed",
    "render_error",  # Playwright failed
    "deleted",  # WeChat deleted/expired article
)
