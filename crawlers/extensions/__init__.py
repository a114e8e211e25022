"""Yijian Scrapy extensions."""
