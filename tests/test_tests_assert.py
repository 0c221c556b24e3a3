"""A test that asserts nothing passes whatever the code does: every test function must contain an
``assert``, a ``pytest.raises`` / ``pytest.fail``, or a call to a helper named ``assert_*`` / ``check_*``
(or ``check``, as Alembic's ``command.check``, which raises on drift)."""

from __future__ import annotations

import ast
from pathlib import Path

TESTS = Path(__file__).resolve().parent


def _checks(func: ast.FunctionDef | ast.AsyncFunctionDef) -> bool:
    for node in ast.walk(func):
        if isinstance(node, ast.Assert):
            return True
        if isinstance(node, ast.Call):
            target = node.func
            name = target.attr if isinstance(target, ast.Attribute) else getattr(target, "id", "")
            if name in ("raises", "fail", "check") or name.startswith(("assert_", "check_")):
                return True
    return False


def test_every_test_checks_something() -> None:
    empty = []
    for path in sorted(TESTS.glob("test_*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name.startswith("test_"):
                if not _checks(node):
                    empty.append(f"{path.name}:{node.lineno} {node.name}")
    assert not empty, "tests that check nothing: " + ", ".join(empty)
