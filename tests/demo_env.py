"""How the end-to-end tests run the real `yijian` CLI against the bundled demo web."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import demo

DEMO_DIR = Path(demo.__file__).resolve().parent
YIJIAN = [sys.executable, "-m", "console.cli"]


def demo_env(data: Path, port: int, **extra: str) -> dict[str, str]:
    """Environment for a `yijian` subprocess: its own data dir, the demo registries, the demo web's port."""
    return {
        **os.environ,
        "YIJIAN_DATA_DIR": str(data),
        "YIJIAN_DEMO_PORT": str(port),
        "YIJIAN_SOURCES_FILE": str(DEMO_DIR / "sources.yaml"),
        "YIJIAN_INSTITUTIONS_FILE": str(DEMO_DIR / "institutions.yaml"),
        "HF_HUB_OFFLINE": "1",
        **extra,
    }
