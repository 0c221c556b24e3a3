"""Make the usage credits exact decimals: NUMERIC(18, 6) instead of double precision.

PostgreSQL refuses to change the type of a column a view reads, so the 0005 views are dropped
first and recreated (from revision 0005's own definitions) afterwards. Existing values are cast
through their shortest decimal text, so 12.34 stored as a double becomes exactly 12.34.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-24 01:00:00.000000
"""

import importlib.util
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType

import sqlalchemy as sa
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


def _retype(new: sa.types.TypeEngine, old: sa.types.TypeEngine, using: str) -> None:
    views = landed_views()
    bind = op.get_bind()
    pg = bind.dialect.name == "postgresql"
    if pg:
        views.downgrade()
    with op.batch_alter_table("classify_jobs") as batch:
        for column in COLUMNS:
            kw = {"postgresql_using": using.format(column=column)} if pg else {}
            batch.alter_column(column, type_=new, existing_type=old, **kw)
    if pg:
        views.upgrade()


def upgrade() -> None:
    # ::text first: the shortest text that reads back as the same double (12.34, not 12.3399999).
    _retype(sa.Numeric(18, 6), sa.Float(), "CAST(CAST({column} AS TEXT) AS NUMERIC(18, 6))")


def downgrade() -> None:
    _retype(sa.Float(), sa.Numeric(18, 6), "CAST({column} AS DOUBLE PRECISION)")
