"""The schema's head revision, read from the revision files' headers: no Alembic, no SQLAlchemy.

``etl.db.head_revision`` asks Alembic only when this reading is ambiguous; the start-up prefetch
(``etl.prefetch``) uses it alone, and sends nothing when it is ambiguous.
"""

from __future__ import annotations

import re
from functools import cache
from importlib.util import find_spec
from pathlib import Path

_REVISION = re.compile(r"^revision(?:\s*:\s*str)?\s*=\s*['\"]([^'\"]+)['\"]", re.M)
_DOWN = re.compile(r"^down_revision(?:\s*:[^=]*)?=\s*(.+)$", re.M)


def migrations_dir() -> Path:
    """The Alembic script directory inside the installed package (a real directory: Alembic needs one)."""
    spec = find_spec("etl.migrations")
    for location in (spec.submodule_search_locations or []) if spec is not None else []:
        if Path(location, "versions").is_dir():
            return Path(location)
    from importlib.resources import as_file, files  # a package that is not plain files

    with as_file(files("etl.migrations")) as path:
        return Path(path)


@cache
def head_from_files() -> str | None:
    """The single head of the revision files, from their ``revision`` / ``down_revision`` lines;
    None if a file cannot be read that way or there is not exactly one head."""
    revisions: set[str] = set()
    parents: set[str] = set()
    for path in (migrations_dir() / "versions").glob("[!_]*.py"):
        source = path.read_text(encoding="utf-8")
        rev, down = _REVISION.search(source), _DOWN.search(source)
        if rev is None or down is None:
            return None
        revisions.add(rev.group(1))
        parents.update(re.findall(r"['\"]([^'\"]+)['\"]", down.group(1)))
    heads = revisions - parents
    return heads.pop() if len(heads) == 1 else None
