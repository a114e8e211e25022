"""Default Scrapy settings for Yijian crawls (loaded with ``Settings.setmodule``; the runner and per-source
values override them). Every knob the crawler components read is listed here with its default."""

from __future__ import annotations

import config as _config  # lower-case: Scrapy's setmodule takes only upper-case names as settings

BOT_NAME = "yijian"
LOG_LEVEL = "WARNING"
REMOTE_CONTROL_ENABLED = False
TELNETCONSOLE_ENABLED = False
# USER_AGENT comes from config.Settings.user_agent (set by the runner).

# --- robots.txt (incl. Crawl-delay, see crawlers/downloadermiddlewares/robotstxt.py) ---------------------------
ROBOTSTXT_OBEY = True
ROBOTSTXT_PARSER = "scrapy.robotstxt.ProtegoRobotParser"
ROBOTSTXT_MAX_CRAWL_DELAY = 30.0  # seconds; a larger Crawl-delay is capped

# --- politeness: download slots are keyed by host; a source's delay/concurrency override these ---------------
DOWNLOAD_DELAY = 0.0
# No random jitter: the delay is exactly max(Crawl-delay, source delay), which keeps crawls reproducible and
# the politeness test deterministic (RANDOMIZE_DOWNLOAD_DELAY is deprecated in Scrapy 2.19 for this setting).
DOWNLOAD_DELAY_JITTER = 0.0
CONCURRENT_REQUESTS = 16
CONCURRENT_REQUESTS_PER_DOMAIN = 2
AUTOTHROTTLE_ENABLED = False

# --- caps ---------------------------------------------------------------------------------------------------
DOWNLOAD_TIMEOUT = 15
DOWNLOAD_MAXSIZE = 5 * 1024 * 1024  # bigger bodies are cancelled → error_kind "too_large"
DOWNLOAD_WARNSIZE = 2 * 1024 * 1024  # logged as a warning
RETRY_ENABLED = True
RETRY_TIMES = 2
RETRY_HTTP_CODES = [500, 502, 503, 504, 522, 524, 408, 429]
RETRY_EXCEPTIONS = [
    "scrapy.exceptions.DownloadConnectionRefusedError",
    "scrapy.exceptions.DownloadFailedError",
    "scrapy.exceptions.DownloadTimeoutError",
    "scrapy.exceptions.ResponseDataLossError",
    "twisted.internet.error.ConnectionDone",
    "twisted.internet.error.ConnectError",
    "twisted.internet.error.ConnectionLost",
]
REDIRECT_MAX_TIMES = 5
HTTPERROR_ALLOW_ALL = True  # 4xx/5xx/304 reach the spider and become PageItems (http_<code>, unchanged)
DEPTH_LIMIT = 0  # depth is a trap guard (TrapGuardMiddleware), recorded instead of silently dropped
URLLENGTH_LIMIT = 0  # likewise (TRAP_URL_MAX_LENGTH)
COOKIES_ENABLED = True

DOWNLOADER_MIDDLEWARES = {
    "scrapy.downloadermiddlewares.offsite.OffsiteMiddleware": None,  # spiders filter hosts; redirects may leave
    "scrapy.downloadermiddlewares.robotstxt.RobotsTxtMiddleware": None,
    "crawlers.downloadermiddlewares.robotstxt.RobotsCrawlDelayMiddleware": 100,
    "crawlers.downloadermiddlewares.conditional.ConditionalGetMiddleware": 560,
    "scrapy.downloadermiddlewares.redirect.MetaRefreshMiddleware": None,
    "crawlers.downloadermiddlewares.redirect.LoopAwareMetaRefreshMiddleware": 580,
    "scrapy.downloadermiddlewares.redirect.RedirectMiddleware": None,
    "crawlers.downloadermiddlewares.redirect.LoopAwareRedirectMiddleware": 600,
}
SPIDER_MIDDLEWARES = {
    "scrapy.spidermiddlewares.depth.DepthMiddleware": None,
    "scrapy.spidermiddlewares.urllength.UrlLengthMiddleware": None,
    "crawlers.spidermiddlewares.traps.TrapGuardMiddleware": 800,
}

# --- trap guards (crawlers/spidermiddlewares/traps.py) -----------------------------------------------------------
TRAP_ENABLED = True
TRAP_URL_MAX_LENGTH = 2083
TRAP_MAX_SEGMENT_REPEATS = 2
TRAP_PATTERN_MAX = 20
TRAP_MAX_DISCOVERY = 50

# --- incremental recrawl (crawlers/downloadermiddlewares/conditional.py) -----------------------------------------
YIJIAN_CONDITIONAL_GET = True
YIJIAN_VALIDATORS_FACTORY = "crawlers.validators.store_validators"

# --- JS rendering, only for `render: js` sources (the spider switches the http(s) handler per crawler) -----------
YIJIAN_PLAYWRIGHT_HANDLER = "scrapy_playwright.handler.ScrapyPlaywrightDownloadHandler"
YIJIAN_RENDER_WAIT_UNTIL = "networkidle"  # or "load"
YIJIAN_RENDER_TIMEOUT = 15.0  # seconds for navigation + wait
PLAYWRIGHT_BROWSER_TYPE = "chromium"
PLAYWRIGHT_LAUNCH_OPTIONS = {
    "executable_path": _config.CHROMIUM_EXECUTABLE,
    "headless": True,
    "args": list(_config.CHROMIUM_ARGS),
}
PLAYWRIGHT_MAX_CONTEXTS = 1
PLAYWRIGHT_MAX_PAGES_PER_CONTEXT = 4
PLAYWRIGHT_DEFAULT_NAVIGATION_TIMEOUT = 15_000  # ms
PLAYWRIGHT_ABORT_REQUEST = "crawlers.render.abort_heavy_request"

# --- distributed mode (scrapy-redis), switched on by the runner when config.Settings.redis_url is set ------------
YIJIAN_REDIS_SCHEDULER = "scrapy_redis.scheduler.Scheduler"
YIJIAN_REDIS_DUPEFILTER = "scrapy_redis.dupefilter.RFPDupeFilter"
