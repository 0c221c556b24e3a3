"""Start-up stays short: ``import etl.cli`` loads click and the settings, not what only some commands need."""

from __future__ import annotations

import json
import subprocess
import sys

HEAVY = ("alembic", "rich", "aiohttp", "httpx", "sqlalchemy", "etl.simulator", "etl.sync")


def loaded_after(code: str) -> set[str]:
    probe = f"import sys\n{code}\nimport json; print(json.dumps(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout
    return set(json.loads(out))


def test_import_cli_loads_nothing_heavy() -> None:
    modules = loaded_after("import etl.cli")
    assert not {m for m in modules if m.split(".")[0] in HEAVY or m in HEAVY}


def test_status_path_needs_no_http_or_alembic() -> None:
    modules = loaded_after("import etl.cli, etl.db, etl.report, etl.scopes")
    assert "sqlalchemy" in modules
    assert not {m for m in modules if m.split(".")[0] in ("alembic", "rich", "aiohttp", "httpx")}


def test_sync_path_does_not_load_the_simulator_or_rich() -> None:
    code = "import etl.cli; etl.cli.lean_http(); import etl.db, etl.logs, etl.report, etl.sync"
    modules = loaded_after(code)
    assert not {m for m in modules if m.startswith(("etl.simulator", "rich", "alembic"))}


def test_help_loads_no_pydantic() -> None:
    """``--help`` needs the declared settings, not pydantic (``etl.config`` keeps its own SecretStr)."""
    modules = loaded_after("import etl.cli")
    assert not {m for m in modules if m.split(".")[0] in ("pydantic", "pydantic_core", "tomllib")}


def test_the_first_request_goes_out_before_the_heavy_imports() -> None:
    """What the sync command loads up to sending its first list page (``etl.prefetch.send``): httpx,
    and none of SQLAlchemy, aiohttp, pydantic, asyncio, tenacity, Alembic or the simulator."""
    code = (
        "import etl.cli; etl.cli.lean_http(); import etl.prefetch, httpx\n"
        "etl.prefetch.send('http://127.0.0.1:9/x', [], api_key='k', timeout=1, connect_timeout=1,"
        " verify=False)"
    )
    modules = loaded_after(code)
    heavy = ("sqlalchemy", "aiohttp", "pydantic", "asyncio", "tenacity", "alembic", "rich", "psycopg")
    assert not {m for m in modules if m.split(".")[0] in heavy or m.startswith("etl.simulator")}
    assert "httpx" in modules


def test_migrate_and_status_load_no_aiohttp() -> None:
    code = "import etl.cli, etl.db, etl.report, etl.scopes, etl.logs, etl.locks"
    modules = loaded_after(code)
    assert not {m for m in modules if m.split(".")[0] in ("aiohttp", "httpx_aiohttp", "alembic")}
