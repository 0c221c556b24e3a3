"""Make the usage credits exact decimals: NUMERIC(18, 6) instead of double precision.

PostgreSQL refuses to change the type of a column a view reads (and SQLite to drop one), so the
0005 views are dropped first and recreated (from revision 0005's own definitions) afterwards.
Existing values are cast through their shortest decimal text, so 12.34 stored as a double becomes
exactly 12.34.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-24 01:00:00.000000
"""

import importlib.util
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType

from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

COLUMNS = ("v2_usage_credits", "v2_usage_parse_credits")


def landed_views() -> ModuleType:
    """Revision 0005's module (landed, so it never changes): its view definitions."""
    path = next(Path(__file__).parent.glob("*_0005_add_bi_views.py"))
    spec = importlib.util.spec_from_file_location("revision_0005", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _retype(new: str, using: str) -> None:
    views = landed_views()
    views.downgrade()
    for column in COLUMNS:
        if op.get_bind().dialect.name == "postgresql":
            op.execute(
                f"ALTER TABLE classify_jobs ALTER COLUMN {column} TYPE {new} "
                f"USING {using.format(column=column)}"
            )
        else:
            # Native ALTERs, not a batch rebuild: no reflection (so `migrate --sql` works) and no
            # DROP TABLE to cascade to child rows. The column moves to the end of the table.
            op.execute(f"ALTER TABLE classify_jobs ADD COLUMN {column}_retyped {new}")
            op.execute(f"UPDATE classify_jobs SET {column}_retyped = {column}")
            op.execute(f"ALTER TABLE classify_jobs DROP COLUMN {column}")
            op.execute(f"ALTER TABLE classify_jobs RENAME COLUMN {column}_retyped TO {column}")
    views.upgrade()


def upgrade() -> None:
    # ::text first: the shortest text that reads back as the same double (12.34, not 12.3399999).
    _retype("NUMERIC(18, 6)", "CAST(CAST({column} AS TEXT) AS NUMERIC(18, 6))")


def downgrade() -> None:
    _retype("FLOAT", "CAST({column} AS DOUBLE PRECISION)")
