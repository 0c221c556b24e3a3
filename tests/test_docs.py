"""The README and docs/operations.md as a user follows them: the TOML file, the environment file and the
cron line run as printed (only paths, URLs and the key swapped for test ones), the configuration table
matches the declared settings, every exit code of the table happens, and the systemd unit says what the
text says about exit codes."""

from __future__ import annotations

import json
import re
import subprocess
from datetime import timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner

from etl.cli.commands import main
from etl.config import declared, format_duration
from etl.run.locks import scope_locks
from etl.simulator import EndpointFaults, Faults, SimServer
from etl.warehouse import db
from tests.conftest import clean_env
from tests.support import API_KEY

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")
OPERATIONS = (ROOT / "docs" / "operations.md").read_text(encoding="utf-8")
FENCE = re.compile(r"^```(\w*)\n(.*?)^```$", re.S | re.M)
INSTALLED = "/var/lib/classify-etl/.local/bin/classify-etl"
BIN = ROOT / ".venv" / "bin" / "classify-etl"


def block(text: str, language: str, first_line: str | None = None) -> str:
    found = [
        body
        for lang, body in FENCE.findall(text)
        if lang == language and (first_line is None or body.splitlines()[0] == first_line)
    ]
    assert len(found) == 1, (language, first_line, len(found))
    return found[0]


def cron_command(text: str) -> str:
    (line,) = [x for x in block(text, "cron").splitlines() if x and not x.startswith("#")]
    fields = line.split(None, 6)
    assert fields[5] == "etl"
    return fields[6]


def test_the_cron_lines_agree() -> None:
    assert cron_command(README) == cron_command(OPERATIONS)
    assert INSTALLED in cron_command(README)


@pytest.fixture
def deployment(tmp_path: Path, sim: SimServer) -> dict[str, Path]:
    """/etc and /var/log of a host, in tmp_path, from the documented files."""
    toml = block(OPERATIONS, "toml", "# /etc/classify-etl.toml")
    url = f"sqlite:///{tmp_path}/warehouse.db"
    toml = toml.replace("postgresql+psycopg://etl@db.internal/warehouse", url)
    env = block(OPERATIONS, "sh", "# /etc/classify-etl.env")
    env = env.replace("llx-your-key", API_KEY).replace("https://api.cloud.llamaindex.ai", sim.url)
    env = env.replace("/etc/classify-etl.toml", str(tmp_path / "classify-etl.toml"))
    (tmp_path / "classify-etl.toml").write_text(toml)
    (tmp_path / "classify-etl.env").write_text(env)
    return {"root": tmp_path, "url": Path(url)}


def run_cron(tmp_path: Path, command: str) -> subprocess.CompletedProcess[str]:
    command = (
        command.replace("/etc/classify-etl.env", str(tmp_path / "classify-etl.env"))
        .replace("/var/log/classify-etl.log", str(tmp_path / "classify-etl.log"))
        .replace(INSTALLED, str(BIN))
    )
    # cron: an empty environment but for a minimal PATH, the command run by /bin/sh.
    return subprocess.run(
        ["env", "-i", "PATH=/usr/bin:/bin", "sh", "-c", command], capture_output=True, text=True, timeout=120
    )


def test_cron_line_with_env_file_and_toml_as_printed(deployment: dict[str, Path], sim: SimServer) -> None:
    tmp = deployment["root"]
    proc = run_cron(tmp, cron_command(OPERATIONS))
    assert proc.returncode == 0 and proc.stdout == proc.stderr == "", proc
    lines = (tmp / "classify-etl.log").read_text().splitlines()
    events = [json.loads(line) for line in lines]  # pure JSON lines, stdout and stderr alike
    assert events[-1]["event"] == "summary" and events[-1]["outcome"] == "success"
    # The TOML's two projects are scopes (the simulator has no jobs in them); the env file gave key and URL.
    assert {s["scope"] for s in events[-1]["scopes"]} == {
        "project:3fa85f64-5717-4562-b3fc-2c963f66afa6",
        "project:9b2c4c1e-8d0f-4a3e-9f57-0c1d2e3f4a5b",
    }
    assert sim.state.counts["v1_list"] >= 2


def test_errors_before_the_run_are_json_lines_too(deployment: dict[str, Path]) -> None:
    tmp = deployment["root"]
    env = (
        (tmp / "classify-etl.env")
        .read_text()
        .replace(f"LLAMA_CLOUD_API_KEY={API_KEY}", "LLAMA_CLOUD_API_KEY=")
    )
    (tmp / "classify-etl.env").write_text(env)
    proc = run_cron(tmp, cron_command(OPERATIONS).split("; rc=")[0])
    assert proc.returncode == 2
    (line,) = (tmp / "classify-etl.log").read_text().splitlines()
    error = json.loads(line)
    assert error["event"] == "error" and error["exit_code"] == 2 and "no API key" in error["message"]


def test_a_plain_dot_of_the_env_file_exports_nothing(deployment: dict[str, Path]) -> None:
    """Why the documented line says `set -a`: the file has no `export`, as systemd wants it."""
    env_file = deployment["root"] / "classify-etl.env"
    proc = run_cron(deployment["root"], f". {env_file}; env")
    assert "LLAMA_CLOUD_API_KEY" not in proc.stdout
    proc = run_cron(deployment["root"], f"set -a; . {env_file}; set +a; env")
    assert f"LLAMA_CLOUD_API_KEY={API_KEY}" in proc.stdout


def config_rows() -> list[list[str]]:
    section = OPERATIONS[OPERATIONS.index("## Configuration") : OPERATIONS.index("### The TOML file")]
    rows = [r.strip("|").split("|") for r in section.splitlines() if r.startswith("| `")]
    return [[c.strip() for c in r] for r in rows]


def test_configuration_table_is_the_declared_settings() -> None:
    every = declared()
    rows = config_rows()
    assert len(rows) >= 14
    for flag, env, key, default, _meaning in rows:
        name = re.findall(r"`([^`]+)`", key)[0]
        item = every[name]
        assert re.findall(r"`(--[^`]+)`", flag)[0] == item.flag.split("/")[0], name
        assert re.findall(r"`([^`]+)`", env)[0] == item.env, name
        shown = "—" if item.default in (None, ()) else str(item.default).lower()
        if isinstance(item.default, timedelta):
            shown = format_duration(item.default)
        if name not in ("database_url", "request_timeout", "progress"):
            assert default == shown, name
    # Every documented setting really does something on this branch: it is one sync passes on, or one the
    # CLI uses itself. (Settings declared for code still being written stay out of the table.)
    from dataclasses import fields

    from etl.run.sync import SyncOptions

    passed_on = {f.name for f in fields(SyncOptions)} | {"list_source"}
    used_by_cli = {"api_key", "base_url", "database_url", "db_schema", "project_ids", "organization_id"}
    used_by_cli |= {"max_retries"}
    used_by_cli |= {"request_timeout", "max_requests_per_minute", "insecure", "log_format", "progress"}
    used_by_cli |= {"ping_url", "notify_url", "notify_on", "metrics_file"}  # etl.monitor, around the run
    documented = {re.findall(r"`([^`]+)`", r[2])[0] for r in rows}
    assert documented <= passed_on | used_by_cli


def test_systemd_unit_matches_the_exit_code_text() -> None:
    unit = block(OPERATIONS, "ini", "# /etc/systemd/system/classify-etl.service")
    settings = dict(
        line.split("=", 1) for line in unit.splitlines() if "=" in line and not line.startswith("#")
    )
    assert settings["SuccessExitStatus"].split() == ["4"]  # 4 is success; 3 is reported, as cron does
    assert settings["EnvironmentFile"] == "/etc/classify-etl.env" and settings["User"] == "etl"
    assert settings["ExecStart"].startswith(INSTALLED + " sync --log-format json")
    text = OPERATIONS[OPERATIONS.index("## Exit codes") : OPERATIONS.index("## Running from systemd")]
    assert "Cron and systemd treat it as success" in text.split("\n| 4 |")[1].splitlines()[0]
    assert "Cron and systemd both report it" in text.split("\n| 3 |")[1].splitlines()[0]
    timer = block(OPERATIONS, "ini", "# /etc/systemd/system/classify-etl.timer")
    assert "OnCalendar=*:0/15" in timer and "WantedBy=timers.target" in timer
    assert "systemctl enable --now classify-etl.timer" in OPERATIONS


def exit_codes(text: str) -> set[int]:
    section = text[text.index("## Exit codes") :]
    return {int(m) for m in re.findall(r"^\| (\d) \|", section, re.M)}


def test_every_exit_code_of_the_table_happens(tmp_path: Path, sim: SimServer) -> None:
    assert exit_codes(README) == exit_codes(OPERATIONS) == {0, 1, 2, 3, 4}
    url = f"sqlite:///{tmp_path}/codes.db"
    args = ["sync", "--api-key", API_KEY, "--base-url", sim.url, "--database-url", url, "--max-retries", "0"]

    def code(*extra: str) -> int:
        return CliRunner().invoke(main, [*args, *extra], env=clean_env(), catch_exceptions=False).exit_code

    got = {0: code()}
    sim.state.faults = Faults(invalid_items={sim.state.live_job_ids()[3]: "unknown_status"})
    sim.state.change_jobs(5)
    got[3] = code()
    sim.state.faults = Faults(endpoints={"v1_list": EndpointFaults(error_rates={503: 1.0})})
    got[1] = code("--full-refresh")
    got[2] = code("--page-size", "0")
    sim.state.faults = Faults()
    engine = db.make_engine(url)
    with scope_locks(engine, ["default"]):
        got[4] = code()
    engine.dispose()
    assert got == {c: c for c in got}, got
    assert set(got) == exit_codes(OPERATIONS)


def test_the_architecture_page_names_every_module() -> None:
    """docs/architecture.md is how a newcomer finds the code: every module of etl/ has its row."""
    page = (ROOT / "docs" / "architecture.md").read_text()
    modules = sorted(
        p.relative_to(ROOT).as_posix()
        for p in (ROOT / "etl").rglob("*.py")
        if p.name not in ("__init__.py", "__main__.py")
    )
    assert modules, "no module found: the test looks in the wrong place"
    assert [m for m in modules if f"`{m}`" not in page] == []
