"""The commands as a user runs them, against the simulator over HTTP and real databases."""

from __future__ import annotations

import json
import os
import pty
import re
import select as selectmod
import subprocess
import sys
from pathlib import Path

import click
import pytest
from click.testing import CliRunner, Result

from etl.cli.commands import error_exit, main
from etl.simulator import EndpointFaults, Faults, SimServer
from etl.warehouse import db, schema
from tests.conftest import SIM_JOBS, clean_env
from tests.support import API_KEY, assert_tables_equal_truth, checksum, rows

N_JOBS = SIM_JOBS


def invoke(*args: str, env: dict[str, str] | None = None) -> Result:
    return CliRunner().invoke(main, list(args), env=env, catch_exceptions=False)


def sync_args(db_url: str, sim: SimServer, *extra: str) -> list[str]:
    return [
        "sync",
        "--api-key",
        API_KEY,
        "--base-url",
        sim.url,
        "--database-url",
        db_url,
        "--page-size",
        "50",
        *extra,
    ]


def test_every_command_has_help() -> None:
    assert isinstance(main, click.Group)
    for name, command in main.commands.items():
        result = invoke(name, "--help")
        assert result.exit_code == 0, name
        assert command.help and len(command.help) > 20, f"{name} has no help text"


def test_sync_then_status(db_url: str, sim: SimServer) -> None:
    result = invoke(*sync_args(db_url, sim))
    assert result.exit_code == 0, result.output
    assert re.search(r"sync run 1: success", result.stdout)
    assert f"jobs listed {N_JOBS}" in result.stdout
    status = invoke("status", "--database-url", db_url)
    assert status.exit_code == 0
    assert "default [v1]: idle" in status.stdout and "#1" in status.stdout
    data = json.loads(invoke("status", "--database-url", db_url, "--json").stdout)
    assert data["rows"]["classify_jobs"] == N_JOBS
    assert data["runs"][0]["outcome"] == "success" and data["checkpoints"][0]["walk_in_progress"] is False
    assert data["quarantine"]["open"] == 0 and data["hydration"]["not_found"] > 0
    assert data["checkpoints"][0]["last_run"]["outcome"] == "success"
    assert data["checkpoints"][0]["last_run"]["jobs_listed"] == N_JOBS
    assert "last run #1 success" in status.stdout


def test_demo_in_a_fresh_directory(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "etl", "demo", "--jobs", "120"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        env=clean_env(),
    )
    assert proc.returncode == 0, proc.stderr
    assert (
        "success" in proc.stdout and "mean_confidence" in proc.stdout and "(no rule matched)" in proc.stdout
    )
    assert (tmp_path / "classify_etl.db").exists()


def test_exit_code_3_when_records_are_quarantined(db_url: str, sim: SimServer) -> None:
    sim.state.faults = Faults(invalid_items={sim.state.live_job_ids()[3]: "unknown_status"})
    result = invoke(*sync_args(db_url, sim))
    assert result.exit_code == 3
    assert "quarantined 1" in result.stdout


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (
            ["--database-url", "postgresql+psycopg://nobody:pw@127.0.0.1:1/none"],
            "cannot connect to the database",
        ),
        (["--database-url", "not a url"], "not a valid SQLAlchemy URL"),
        (["--api-key", ""], "no API key"),
        (["--base-url", "api.cloud.llamaindex.ai"], "not an http(s) URL"),
    ],
)
def test_configuration_errors_are_one_line_exit_2(tmp_path: Path, args: list[str], needle: str) -> None:
    base = ["sync", "--api-key", "k", "--database-url", f"sqlite:///{tmp_path}/x.db"]
    result = invoke(*base, *args)
    assert result.exit_code == 2
    assert needle in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_wrong_key_and_unreachable_api(tmp_path: Path, sim: SimServer) -> None:
    url = f"sqlite:///{tmp_path}/x.db"
    wrong = invoke("sync", "--api-key", "nope", "--base-url", sim.url, "--database-url", url)
    assert wrong.exit_code == 2 and "rejected the key" in wrong.stderr and "region" in wrong.stderr
    dead = invoke(
        "sync",
        "--api-key",
        "k",
        "--base-url",
        "http://127.0.0.1:1",
        "--database-url",
        url,
        "--max-retries",
        "1",
    )
    assert dead.exit_code == 1 and "--base-url" in (dead.stderr + dead.stdout)


def test_dry_run_writes_nothing(db_url: str, sim: SimServer) -> None:
    assert invoke(*sync_args(db_url, sim)).exit_code == 0
    sim.state.change_jobs(5)
    sim.state.add_jobs(3)
    engine = db.make_engine(db_url)
    everything = list(schema.metadata.sorted_tables)
    before = checksum(engine, everything)
    sim.state.reset_counts()
    result = invoke(*sync_args(db_url, sim, "--dry-run", "--json"))
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["dry_run"] is True and (summary["changed"], summary["new"]) == (5, 3)
    assert checksum(engine, everything) == before
    assert sim.state.counts["v2_get"] == 0
    engine.dispose()


def test_json_log_lines(db_url: str, sim: SimServer) -> None:
    result = invoke(*sync_args(db_url, sim, "--log-format", "json"))
    assert result.exit_code == 0
    lines = [json.loads(line) for line in result.stderr.strip().splitlines()]
    pages = [x for x in lines if x["event"] == "page"]
    assert len(pages) >= 3 and sum(p["jobs_listed"] for p in pages) == N_JOBS
    for field in (
        "ts",
        "level",
        "scope",
        "source",
        "page",
        "jobs_listed",
        "new",
        "changed",
        "hydrated",
        "failed",
        "quarantined",
        "run_jobs_per_s",
    ):
        assert all(field in p for p in pages), field
    assert [p["page"] for p in pages] == list(range(1, len(pages) + 1))
    summary = lines[-1]
    assert summary["event"] == "summary" and summary["outcome"] == "success"
    assert summary["jobs_listed"] == N_JOBS and summary["run_id"] == 1


def test_two_projects_one_failing_the_other_completes(db_url: str, sim: SimServer) -> None:
    truth = sim.state.expected_rows()["classify_jobs"]
    projects = sorted({r["project_id"] for r in truth})[:2]
    first_count = sum(1 for r in truth if r["project_id"] == projects[0])
    pages_first = -(-first_count // 50)
    down = Faults(endpoints={"v1_list": EndpointFaults(error_rates={503: 1.0})})
    sim.state.after_list_page(pages_first, lambda s: setattr(s, "faults", down))
    args = sync_args(
        db_url, sim, "--project-id", projects[0], "--project-id", projects[1], "--max-retries", "1"
    )
    result = invoke(*args)
    assert result.exit_code == 1
    assert f"scope project:{projects[0]} (v1): {pages_first} pages, complete" in result.stdout
    assert f"scope project:{projects[1]} (v1): 0 pages, FAILED" in result.stdout
    engine = db.make_engine(db_url)
    assert {r["project_id"] for r in rows(engine, "classify_jobs")} == {projects[0]}
    sim.state.faults = Faults()
    assert invoke(*args).exit_code == 0
    got = {r["project_id"] for r in rows(engine, "classify_jobs")}
    assert got == set(projects)
    engine.dispose()


def test_toml_config_with_flags_overriding(tmp_path: Path, sim: SimServer) -> None:
    projects = sorted({r["project_id"] for r in sim.state.expected_rows()["classify_jobs"]})
    config = tmp_path / "etl.toml"
    config.write_text(
        f'database_url = "sqlite:///{tmp_path}/from_config.db"\n'
        f"project_ids = {json.dumps(projects)}\n"
        "page_size = 40\n"
    )
    result = invoke("sync", "--config", str(config), "--api-key", API_KEY, "--base-url", sim.url)
    assert result.exit_code == 0, result.output
    engine = db.make_engine(f"sqlite:///{tmp_path}/from_config.db")
    assert {r["scope"] for r in rows(engine, "etl_checkpoints")} == {f"project:{p}" for p in projects}
    assert_tables_equal_truth(engine, sim.state)
    engine.dispose()
    # A flag beats the file.
    other = tmp_path / "flag.db"
    result = invoke(
        "sync",
        "--config",
        str(config),
        "--api-key",
        API_KEY,
        "--base-url",
        sim.url,
        "--database-url",
        f"sqlite:///{other}",
    )
    assert result.exit_code == 0 and other.exists()
    bad = tmp_path / "bad.toml"
    bad.write_text('colour = "blue"\n')
    result = invoke("sync", "--config", str(bad))
    assert result.exit_code == 2 and "unknown setting 'colour'" in result.stderr


def test_progress_bar_renders_on_a_terminal_and_ends_cleanly(tmp_path: Path, sim: SimServer) -> None:
    sim.state.faults = Faults(latency_ms=20)  # long enough for the bar to draw
    master, slave = pty.openpty()
    env = clean_env(TERM="xterm-256color", COLUMNS="120", LINES="40")
    proc = subprocess.Popen(
        [sys.executable, "-m", "etl", *sync_args(f"sqlite:///{tmp_path}/p.db", sim)],
        stdin=slave,
        stdout=slave,
        stderr=slave,
        env=env,
        close_fds=True,
    )
    os.close(slave)
    chunks = []
    while True:
        ready, _, _ = selectmod.select([master], [], [], 60)
        if not ready:
            break
        try:
            data = os.read(master, 65536)
        except OSError:
            break
        if not data:
            break
        chunks.append(data)
    proc.wait(timeout=60)
    os.close(master)
    screen = b"".join(chunks).decode(errors="replace")
    assert proc.returncode == 0, screen
    assert "jobs/s" in screen and "pages" in screen  # the bar was drawn
    assert "\x1b[?25l" in screen and "\x1b[?25h" in screen  # cursor hidden while drawing, shown again
    summary_at = screen.rindex("sync run 1: success")
    assert "jobs/s" not in screen[summary_at:]  # the bar is gone before the summary


def test_no_progress_bar_when_not_a_terminal(db_url: str, sim: SimServer) -> None:
    result = invoke(*sync_args(db_url, sim))
    assert "jobs/s" not in result.output and "\x1b[" not in result.output


def test_migrate_and_its_sql(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/m.db"
    sql = invoke("migrate", "--database-url", url, "--sql")
    assert sql.exit_code == 0 and "CREATE TABLE classify_jobs" in sql.stdout
    assert not (tmp_path / "m.db").exists() or db.current_revision(db.make_engine(url)) is None
    done = invoke("migrate", "--database-url", url)
    assert done.exit_code == 0 and db.head_revision() in done.stdout
    assert "up to date" in invoke("migrate", "--database-url", url).stdout


def test_status_and_migrate_sql_never_create_a_database(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/typo.db"
    for args in (["status"], ["scopes", "list"], ["migrate", "--sql"]):
        result = invoke(*args, "--database-url", url)
        if args[0] == "migrate":
            assert result.exit_code == 0 and "CREATE TABLE classify_jobs" in result.stdout
        else:
            assert result.exit_code == 2 and "no database at" in result.stderr
    assert not (tmp_path / "typo.db").exists()


def test_migrate_sql_starts_from_the_database_revision(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/m.db"
    assert invoke("migrate", "--database-url", url).exit_code == 0
    sql = invoke("migrate", "--database-url", url, "--sql")
    assert sql.exit_code == 0 and "CREATE TABLE" not in sql.stdout and "CREATE VIEW" not in sql.stdout


@pytest.mark.parametrize("url", ["mysql://u@h/db", "postgresql+psycopg2://u@h/db"])
def test_unsupported_databases_are_one_line_exit_2(url: str) -> None:
    result = invoke("status", "--database-url", url)
    assert result.exit_code == 2 and len(result.stderr.strip().splitlines()) == 1
    assert "not supported" in result.stderr and "psycopg 3" in result.stderr


def test_scopes_list_reset_forget(db_url: str, sim: SimServer) -> None:
    assert invoke(*sync_args(db_url, sim, "--list-source", "v2")).exit_code == 0
    listed = json.loads(invoke("scopes", "list", "--database-url", db_url, "--json").stdout)
    assert [s["scope"] for s in listed["scopes"]] == ["default"]
    assert listed["scopes"][0]["checkpoints"][0]["source"] == "v2"
    reset = invoke("scopes", "reset", "default", "--database-url", db_url)
    assert reset.exit_code == 0 and "page 1" in reset.stdout
    engine = db.make_engine(db_url)
    assert rows(engine, "etl_checkpoints") == [] and rows(engine, "etl_job_seen") != []
    assert invoke("scopes", "forget", "default", "--database-url", db_url).exit_code == 0
    assert rows(engine, "etl_job_seen") == [] and rows(engine, "etl_scope_sources") == []
    engine.dispose()
    missing = invoke("scopes", "reset", "nope", "--database-url", db_url)
    assert missing.exit_code == 2 and "no scope 'nope'" in missing.stderr


def test_an_error_an_interrupt_caused_is_an_interrupt() -> None:
    """Python 3.11 wraps an exception raised in a class's ``__set_name__`` (a signal landing while
    a dataclass is created during a lazy import) in a RuntimeError: still the one-line interrupt."""

    def wrapped() -> BaseException:
        try:
            try:
                raise KeyboardInterrupt
            except KeyboardInterrupt as ki:
                raise RuntimeError("Error calling __set_name__") from ki
        except RuntimeError as exc:
            return exc

    assert error_exit(wrapped()) == (1, "interrupted; the last page was rolled back and the checkpoint kept")
    assert error_exit(RuntimeError("a bug")) is None


def test_a_library_logging_an_interrupt_prints_no_traceback() -> None:
    """A signal landing while SQLAlchemy's pool closes a connection: the pool logs the exception
    with its traceback, then re-raises. The log handler leaves that record out (the CLI reports
    the interrupt in one line); any other error keeps its record."""
    import logging

    from etl.ops.logs import drop_interrupt_tracebacks, setup_logging

    def record(exc: BaseException) -> logging.LogRecord:
        return logging.LogRecord(
            "sqlalchemy.pool.impl.QueuePool",
            logging.ERROR,
            __file__,
            1,
            "Exception closing connection",
            None,
            (type(exc), exc, None),
        )

    assert not drop_interrupt_tracebacks(record(KeyboardInterrupt()))
    assert drop_interrupt_tracebacks(record(OSError("disk full")))
    setup_logging(0, 0, "text")
    (handler,) = logging.getLogger().handlers
    assert drop_interrupt_tracebacks in handler.filters
