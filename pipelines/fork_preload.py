"""What every crawl worker needs, loaded once by the workers' fork server (``pipelines.workers``) before any worker
is forked, so that each shares the one copy: the processing code, jieba's dictionary and the rule engine. First of
all, the server dies with the crawl process that started it (``PR_SET_PDEATHSIG``): its workers hold the write end of
its "alive" pipe, so it would not see the crawl process go, and they die with it.

Imported for these side effects only; nothing else imports it.
"""

from __future__ import annotations

import os

from pipelines.workers import die_with_parent

die_with_parent(os.getppid())

from classifiers.rules import default_engine  # noqa: E402
from domain.text import tokenizer  # noqa: E402
from pipelines import process  # noqa: E402, F401  (the processing code itself)

tokenizer()
default_engine()
