"""Yijian downloader middlewares (one component per module, Scrapy style)."""
