"""Processing stages: decode → extract → dedupe/version → analyze → store → index.

Each stage is a plain function or class; ``pipelines.scrapy_adapter`` wraps them for Scrapy and
``yijian analyze FILE`` runs the same stages without a crawler.
"""
