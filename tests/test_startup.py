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
