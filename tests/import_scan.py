"""Absolute imports of a Python file, every one counted (also those inside functions): what the layer and
packaging tests check."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path


def top_level_imports(path: Path) -> Iterator[tuple[int, str]]:
    """(line, top-level package) of each absolute import in ``path``."""
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        else:
            continue
        for name in names:
            yield node.lineno, name.split(".")[0]
