"""The dependency rules import-linter cannot check (config.py and scheduler.py are single modules, not packages):
the domain, the classifiers and the demo web read no settings, and only the shells import the scheduler. Every
import counts, including those inside functions."""

from __future__ import annotations

from pathlib import Path

from tests.import_scan import top_level_imports

ROOT = Path(__file__).resolve().parents[1]


def _imports(package: str) -> list[tuple[str, int, str]]:
    found = []
    for path in sorted((ROOT / package).rglob("*.py")):
        if "sites" in path.relative_to(ROOT).parts:
            continue
        found += [(str(path.relative_to(ROOT)), line, name) for line, name in top_level_imports(path)]
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
