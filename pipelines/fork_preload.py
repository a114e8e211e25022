"""What every crawl worker needs, loaded once by the workers' fork server (``pipelines.workers``) before any worker
is forked, so that each shares the one copy: the processing code, jieba's dictionary and the rule engine.

Imported for these side effects only; nothing else imports it.
"""

from __future__ import annotations

from classifiers.rules import default_engine
from domain.text import tokenizer
from pipelines import process  # noqa: F401  (the processing code itself)

tokenizer()
default_engine()
