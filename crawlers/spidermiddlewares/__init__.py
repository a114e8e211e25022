"""Yijian spider middlewares (one component per module, Scrapy style)."""
