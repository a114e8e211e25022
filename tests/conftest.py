from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

from tests.console_env import console_data, evidence_settings  # noqa: E402,F401  (session fixtures of the console tests)
