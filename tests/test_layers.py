"""The dependency rules import-linter cannot check (config.py and scheduler.py are single modules, not packages):
the domain, the classifiers and the demo web read no settings, and only the shells import the scheduler. Every
import counts, including those inside functions."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _imports(package: str) -> list[tuple[str, int, str]]:
    found = []
    for path in sorted((ROOT / package).rglob("*.py")):
        if "sites" in path.relative_to(ROOT).parts:
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            found += [(str(path.relative_to(ROOT)), node.lineno, n.split(".")[0]) for n in names]
    return found


def test_domain_classifiers_and_demo_read_no_settings() -> None:
    offenders = [i for pkg in ("domain", "classifiers", "demo") for i in _imports(pkg) if i[2] == "config"]
    assert offenders == []


def test_only_the_shells_import_the_scheduler() -> None:
    below = (
        "domain",
        "app",
        "crawlers",
        "pipelines",
        "classifiers",
        "store",
        "index_config",
        "demo",
        "digests",
    )
    offenders = [i for pkg in below for i in _imports(pkg) if i[2] in ("scheduler", "console")]
    assert offenders == []
