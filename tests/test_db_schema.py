"""``--db-schema``: an install in a PostgreSQL schema of its own, reached whatever the connecting role's
``search_path`` is; two schemas in one database are two independent installs; SQLite refuses it.

The loader here is a role of its own whose ``search_path`` is ``public`` and which may create in
``public``: a statement or object that is not qualified would land there (or fail), and the tests
look for that in the catalog rather than trusting the code to qualify."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from sqlalchemy import Engine, create_engine, delete, text, update
from sqlalchemy.engine import make_url

from etl.cli.commands import main
from etl.errors import LockedError
from etl.run.locks import scope_locks
from etl.simulator import Faults, SimServer
from etl.warehouse import db, schema
from tests.conftest import clean_env
from tests.support import API_KEY, rows
from tests.test_cli import sync_args
from tests.test_storage import _assert_stats_current

SCHEMA = "analytics_classify"
OTHER = "staging_classify"


@dataclass(frozen=True)
class Loader:
    """A login role of the test database, and the URL it connects with."""

    role: str
    url: str
    admin: Engine  # the test database as its superuser

    def engine(self, schema_name: str) -> Engine:
        return db.make_engine(self.url, schema=schema_name)


def _admin(url: str) -> Engine:
    return create_engine(url, isolation_level="AUTOCOMMIT")


@pytest.fixture
def loader(pg_url: str) -> Iterator[Loader]:
    """A role with ``search_path = public``, CREATE on the database (to create its schema) and on
    ``public`` (so that anything unqualified could land there). Dropped afterwards: roles belong to
    the whole server, not to the test's database."""
    role = f"etl_loader_{uuid.uuid4().hex[:10]}"
    admin = _admin(pg_url)
    database = make_url(pg_url).database
    with admin.connect() as conn:
        conn.execute(text(f"CREATE ROLE {role} LOGIN PASSWORD 'loader-pw'"))
        conn.execute(text(f"ALTER ROLE {role} SET search_path = public"))
        conn.execute(text(f'GRANT CREATE ON DATABASE "{database}" TO {role}'))
        conn.execute(text(f"GRANT CREATE ON SCHEMA public TO {role}"))
    url = make_url(pg_url).set(username=role, password="loader-pw").render_as_string(hide_password=False)
    try:
        yield Loader(role=role, url=url, admin=admin)
    finally:
        with admin.connect() as conn:
            conn.execute(
                text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = :r"), {"r": role}
            )
            conn.execute(text(f"DROP OWNED BY {role}"))
            conn.execute(text(f"DROP ROLE {role}"))
        admin.dispose()


def invoke(*args: str) -> Result:
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def sync_cli(url: str, sim: SimServer, schema_name: str, *extra: str) -> subprocess.Popen[str]:
    """``classify-etl sync`` in a process of its own, the schema from the environment."""
    return subprocess.Popen(
        [sys.executable, "-m", "etl", "sync", "--page-size", "50", "--max-retries", "2", *extra],
        env=clean_env(
            LLAMA_CLOUD_API_KEY=API_KEY,
            LLAMA_CLOUD_BASE_URL=sim.url,
            CLASSIFY_ETL_DATABASE_URL=url,
            CLASSIFY_ETL_DB_SCHEMA=schema_name,
            PYTHONWARNINGS="ignore",
        ),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _objects(admin: Engine, namespace: str) -> dict[str, set[str]]:
    """What the catalog holds in a schema, by kind."""
    with admin.connect() as conn:
        relations = conn.execute(
            text(
                "SELECT c.relkind, c.relname FROM pg_class AS c "
                "WHERE c.relnamespace = (SELECT oid FROM pg_namespace WHERE nspname = :n)"
            ),
            {"n": namespace},
        ).all()
        functions = conn.execute(
            text(
                "SELECT p.proname, array_to_string(p.proconfig, ';') FROM pg_proc AS p "
                "WHERE p.pronamespace = (SELECT oid FROM pg_namespace WHERE nspname = :n)"
            ),
            {"n": namespace},
        ).all()
        triggers = conn.execute(
            text(
                "SELECT t.tgname FROM pg_trigger AS t JOIN pg_class AS c ON c.oid = t.tgrelid "
                "WHERE NOT t.tgisinternal "
                "AND c.relnamespace = (SELECT oid FROM pg_namespace WHERE nspname = :n)"
            ),
            {"n": namespace},
        ).scalars()
        types = conn.execute(
            text(
                "SELECT t.typname FROM pg_type AS t "
                "WHERE t.typnamespace = (SELECT oid FROM pg_namespace WHERE nspname = :n)"
            ),
            {"n": namespace},
        ).scalars()
        out: dict[str, set[str]] = {
            "tables": {n for k, n in relations if k in ("r", "p")},
            "views": {n for k, n in relations if k in ("v", "m")},
            "sequences": {n for k, n in relations if k == "S"},
            "indexes": {n for k, n in relations if k == "i"},
            "other relations": {n for k, n in relations if k not in ("r", "p", "v", "m", "S", "i")},
            "functions": {name for name, _ in functions},
            "function settings": {config or "" for _, config in functions},
            "triggers": set(triggers),
            "types": set(types),
        }
    return out


def test_an_install_in_its_own_schema_for_a_role_that_does_not_search_it(
    loader: Loader, sim: SimServer
) -> None:
    result = invoke(*sync_args(loader.url, sim, "--db-schema", SCHEMA))
    assert result.exit_code == 0, result.output
    engine = loader.engine(SCHEMA)
    with engine.connect() as conn:
        assert conn.execute(text("SHOW search_path")).scalar_one() == "public", "the role's own"
    engine.dispose()
    got = _objects(loader.admin, SCHEMA)
    assert set(schema.metadata.tables) | {"alembic_version"} <= got["tables"]
    assert set(schema.views.tables) <= got["views"]
    assert got["sequences"] and got["indexes"] and got["triggers"] and got["functions"]
    assert got["function settings"] == {f"search_path={SCHEMA}, pg_temp"}, "every function pinned"
    assert got["other relations"] == set()
    assert all(v == set() for v in _objects(loader.admin, "public").values()), "nothing in public"
    with loader.admin.connect() as conn:
        namespaces = conn.execute(
            text(
                "SELECT DISTINCT n.nspname FROM pg_class AS c "
                "JOIN pg_namespace AS n ON n.oid = c.relnamespace "
                "WHERE c.relname LIKE 'classify%' OR c.relname LIKE 'etl%' OR c.relname = 'alembic_version'"
            )
        ).scalars()
        assert set(namespaces) == {SCHEMA}
        assert conn.execute(text(f"SELECT count(*) FROM {SCHEMA}.classify_jobs")).scalar_one() == len(
            sim.state.expected_rows()["classify_jobs"]
        )
    # The other commands find it there too, for the same role.
    for args in (["status", "--json"], ["scopes", "list"], ["metrics"], ["migrate"]):
        done = invoke(*args, "--database-url", loader.url, "--db-schema", SCHEMA)
        assert done.exit_code == 0, (args, done.output)
    assert (
        "classify_etl_jobs" in invoke("metrics", "--database-url", loader.url, "--db-schema", SCHEMA).stdout
    )
    reset = invoke("scopes", "reset", "default", "--database-url", loader.url, "--db-schema", SCHEMA)
    assert reset.exit_code == 0, reset.output
    empty = invoke("status", "--database-url", loader.url, "--db-schema", OTHER)
    assert empty.exit_code == 2 and f"no classify-etl schema yet in schema {OTHER}" in empty.stderr


def test_summaries_follow_writes_from_a_session_with_the_default_search_path(
    loader: Loader, sim: SimServer
) -> None:
    """The trigger functions find their summary tables although the writing session's search_path
    (the role's: public) does not name the schema: they are pinned to it."""
    assert invoke(*sync_args(loader.url, sim, "--db-schema", SCHEMA)).exit_code == 0
    # Reads of the summaries in test_storage are raw SQL with bare names: a session that searches the schema.
    reader = create_engine(
        loader.url,
        connect_args={"options": f"-c search_path={SCHEMA}"},
        execution_options={"schema_translate_map": {None: SCHEMA}},
    )
    writer = loader.engine(SCHEMA)
    try:
        _assert_stats_current(reader)
        jobs = [r["id"] for r in rows(reader, "classify_jobs", ["id"])]
        results = rows(reader, "classify_results")
        pages = rows(reader, "classify_target_pages")
        j, r, p = schema.classify_jobs.c, schema.classify_results.c, schema.classify_target_pages.c
        sets = {row["id"]: row["rule_set_id"] for row in rows(reader, "classify_jobs", ["id", "rule_set_id"])}
        other_set = next(s for s in sets.values() if s is not None and s != sets[jobs[4]])
        now = datetime(2025, 3, 4, 5, 6, 7, tzinfo=UTC)
        with writer.begin() as conn:
            assert conn.execute(text("SHOW search_path")).scalar_one() == "public"
            conn.execute(
                update(schema.classify_results).where(r.job_id == results[0]["job_id"]).values(type=None)
            )
            conn.execute(
                update(schema.classify_results).where(r.job_id == results[1]["job_id"]).values(confidence=0.5)
            )
            conn.execute(delete(schema.classify_results).where(r.job_id == results[2]["job_id"]))
            conn.execute(update(schema.classify_jobs).where(j.id == jobs[4]).values(rule_set_id=other_set))
            conn.execute(delete(schema.classify_jobs).where(j.id == jobs[5]))
            conn.execute(update(schema.classify_jobs).where(j.id.in_(jobs[6:9])).values(deleted_at=now))
            conn.execute(update(schema.classify_jobs).where(j.id == jobs[10]).values(status="cancelled"))
            conn.execute(update(schema.classify_jobs).where(j.id == jobs[11]).values(project_id="elsewhere"))
            conn.execute(update(schema.classify_jobs).where(j.id == jobs[12]).values(created_at=now))
            conn.execute(
                update(schema.classify_jobs).where(j.id == jobs[13]).values(v2_usage_credits=Decimal("1.25"))
            )
            conn.execute(
                delete(schema.classify_target_pages).where(
                    p.job_id == pages[0]["job_id"], p.page_number == pages[0]["page_number"]
                )
            )
            conn.execute(schema.classify_target_pages.insert().values(job_id=jobs[20], page_number=4321))
        _assert_stats_current(reader)
        with writer.begin() as conn:  # brought back
            conn.execute(update(schema.classify_jobs).where(j.id.in_(jobs[6:8])).values(deleted_at=None))
        _assert_stats_current(reader)
    finally:
        reader.dispose()
        writer.dispose()


def _run_interval(engine: Engine) -> tuple[datetime, datetime]:
    (run,) = rows(engine, "etl_sync_runs")
    assert run["outcome"] == "success" and run["finished_at"] is not None
    return run["started_at"], run["finished_at"]


def test_two_schemas_are_two_installs_syncing_at_once(loader: Loader, sim: SimServer) -> None:
    truth = sim.state.expected_rows()["classify_jobs"]
    projects = sorted({r["project_id"] for r in truth})[:2]
    # Slow answers and two GETs in flight: each run lasts seconds, so the second starts inside the first.
    sim.state.faults = Faults(latency_ms=200)
    first = sync_cli(loader.url, sim, SCHEMA, "--project-id", projects[0], "--concurrency", "2")
    a, b = loader.engine(SCHEMA), loader.engine(OTHER)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and first.poll() is None:  # until the first run has started
            if db.current_revision(a) is not None and rows(a, "etl_sync_runs"):
                break
            time.sleep(0.05)
        second = sync_cli(loader.url, sim, OTHER, "--project-id", projects[1], "--concurrency", "2")
        out_b, err_b = second.communicate(timeout=180)
        out_a, err_a = first.communicate(timeout=180)
        assert first.returncode == 0, err_a
        assert second.returncode == 0, err_b
        for engine, project in ((a, projects[0]), (b, projects[1])):
            assert {r["project_id"] for r in rows(engine, "classify_jobs")} == {project}
            assert len(rows(engine, "classify_jobs")) == sum(1 for r in truth if r["project_id"] == project)
            assert [r["scope"] for r in rows(engine, "etl_checkpoints")] == [f"project:{project}"]
            assert db.current_revision(engine) == db.head_revision()
        start_a, end_a = _run_interval(a)
        start_b, end_b = _run_interval(b)
        assert start_b < end_a and start_a < end_b, "the two runs overlapped"
    finally:
        a.dispose()
        b.dispose()


def test_scope_locks_are_per_schema(loader: Loader) -> None:
    """The same scope in two installs of one database: both lock it at once; a second run of the
    same install is refused, and can lock once the first has let go."""
    engines = [loader.engine(SCHEMA), loader.engine(OTHER), loader.engine(SCHEMA)]
    try:
        with scope_locks(engines[0], ["default"]), scope_locks(engines[1], ["default"]):
            with pytest.raises(LockedError, match=f"schema {SCHEMA}"), scope_locks(engines[2], ["default"]):
                pass
        with scope_locks(engines[2], ["default"]):
            pass
    finally:
        for engine in engines:
            engine.dispose()


def test_missing_privileges_name_the_grant(loader: Loader) -> None:
    database = make_url(loader.url).database
    with loader.admin.connect() as conn:
        conn.execute(text(f'REVOKE CREATE ON DATABASE "{database}" FROM {loader.role}'))
    created = invoke("migrate", "--database-url", loader.url, "--db-schema", SCHEMA)
    assert created.exit_code == 2
    assert f"GRANT CREATE ON DATABASE {database} TO {loader.role}" in created.stderr
    assert len(created.stderr.strip().splitlines()) == 1
    with loader.admin.connect() as conn:
        conn.execute(text(f"CREATE SCHEMA {SCHEMA}"))  # a DBA made it, owned by the admin
    used = invoke("migrate", "--database-url", loader.url, "--db-schema", SCHEMA)
    assert used.exit_code == 2 and len(used.stderr.strip().splitlines()) == 1
    assert f"GRANT USAGE, CREATE ON SCHEMA {SCHEMA} TO {loader.role}" in used.stderr
    read = invoke("status", "--database-url", loader.url, "--db-schema", SCHEMA)
    assert read.exit_code == 2 and f"GRANT USAGE ON SCHEMA {SCHEMA} TO {loader.role}" in read.stderr
    with loader.admin.connect() as conn:  # the grant it named is all it takes
        conn.execute(text(f"GRANT USAGE, CREATE ON SCHEMA {SCHEMA} TO {loader.role}"))
    done = invoke("migrate", "--database-url", loader.url, "--db-schema", SCHEMA)
    assert done.exit_code == 0, done.output
    assert "alembic_version" in _objects(loader.admin, SCHEMA)["tables"]


def test_migrate_sql_creates_everything_in_the_schema(pg_url: str) -> None:
    """The printed SQL, run as a DBA would run it, builds the same install: the schema, every object
    in it, the functions pinned, nothing in public; classify-etl then finds it up to date."""
    import psycopg

    printed = invoke("migrate", "--sql", "--database-url", pg_url, "--db-schema", SCHEMA)
    assert printed.exit_code == 0, printed.output
    admin = _admin(pg_url)
    try:
        assert _objects(admin, SCHEMA)["tables"] == set(), "--sql runs nothing"
        plain = make_url(pg_url).set(drivername="postgresql").render_as_string(hide_password=False)
        with psycopg.connect(plain, autocommit=True) as conn:
            conn.execute(printed.stdout.encode())  # a script: no parameters, several statements
        got = _objects(admin, SCHEMA)
        assert set(schema.metadata.tables) | {"alembic_version"} <= got["tables"]
        assert got["function settings"] == {f"search_path={SCHEMA}, pg_temp"}
        assert all(v == set() for v in _objects(admin, "public").values())
    finally:
        admin.dispose()
    again = invoke("migrate", "--database-url", pg_url, "--db-schema", SCHEMA)
    assert again.exit_code == 0 and "up to date" in again.stdout


def test_in_a_shared_public_only_its_own_functions_are_pinned(pg_url: str) -> None:
    """The default install shares ``public`` with whatever else the warehouse keeps there: the
    migration pins classify-etl's functions and leaves another source's alone."""
    admin = _admin(pg_url)
    try:
        with admin.connect() as conn:
            conn.execute(
                text("CREATE FUNCTION public.other_source_fn() RETURNS int LANGUAGE sql AS 'SELECT 1'")
            )
        assert invoke("migrate", "--database-url", pg_url).exit_code == 0
        with admin.connect() as conn:
            settings = dict(
                conn.execute(
                    text(
                        "SELECT proname, array_to_string(proconfig, ';') FROM pg_proc "
                        "WHERE pronamespace = 'public'::regnamespace"
                    )
                ).all()
            )
        assert settings.pop("other_source_fn") is None
        assert settings and set(settings.values()) == {"search_path=public, pg_temp"}
    finally:
        admin.dispose()


@pytest.mark.parametrize("command", [["sync", "--api-key", "k"], ["migrate"], ["status"], ["metrics"]])
def test_sqlite_refuses_a_schema(tmp_path: Path, command: list[str]) -> None:
    url = f"sqlite:///{tmp_path / 'x.db'}"
    result = CliRunner().invoke(
        main,
        [*command, "--database-url", url],
        env={"CLASSIFY_ETL_DB_SCHEMA": SCHEMA},
        catch_exceptions=False,
    )
    assert result.exit_code == 2
    assert "SQLite has no schemas" in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "x.db").exists()


@pytest.mark.parametrize("name", ["Analytics", "1st", "a-b", "pg_mine", "information_schema", "x" * 64, ""])
def test_a_schema_name_is_checked(tmp_path: Path, name: str) -> None:
    result = invoke("migrate", "--database-url", f"sqlite:///{tmp_path / 'x.db'}", "--db-schema", name)
    assert result.exit_code == 2 and "--db-schema" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


# -- behind PgBouncer in transaction mode ------------------------------------------------------------

POOL_SIZE = 4


@pytest.fixture
def pgbouncer(pg_url: str) -> Iterator[str]:
    """A real PgBouncer in transaction mode in front of the test database, ``POOL_SIZE`` server
    connections; the URL of the database through it. Skipped where PgBouncer is not installed."""
    binary = shutil.which("pgbouncer") or next(
        (p for p in ("/usr/sbin/pgbouncer", "/usr/bin/pgbouncer") if os.path.exists(p)), None
    )
    if binary is None:
        pytest.fail("pgbouncer is not installed: apt-get install pgbouncer (.ci/run does)")
    server = make_url(pg_url)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    password = f" password={server.password}" if server.password else ""
    home = Path(tempfile.mkdtemp(prefix="pgbouncer-"))
    home.chmod(0o755)  # PgBouncer will not run as root: it drops to another user, who must read this
    ini = home / "pgbouncer.ini"
    ini.write_text(
        "[databases]\n"
        f"* = host={server.host} port={server.port or 5432} user={server.username}{password}\n"
        "[pgbouncer]\n"
        f"listen_addr = 127.0.0.1\nlisten_port = {port}\nunix_socket_dir =\n"
        "auth_type = any\npool_mode = transaction\n"
        f"default_pool_size = {POOL_SIZE}\nmin_pool_size = 0\nreserve_pool_size = 0\n"
    )
    ini.chmod(0o644)
    user = ["-u", "postgres"] if os.geteuid() == 0 else []
    log = home / "pgbouncer.log"
    with log.open("wb") as out:
        proc = subprocess.Popen([binary, *user, str(ini)], stdout=out, stderr=subprocess.STDOUT)
    url = server.set(port=port).render_as_string(hide_password=False)
    try:
        deadline = time.monotonic() + 15
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1):
                    break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"pgbouncer did not start: {log.read_text()}")
                time.sleep(0.05)
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=15)
        shutil.rmtree(home, ignore_errors=True)


def test_behind_pgbouncer_in_transaction_mode_the_scope_lock_holds(pgbouncer: str) -> None:
    """The lock is a transaction's, and the open transaction keeps its server connection: a second
    run through the same pool is refused. (A session-level lock would be taken on a server session
    that goes back to the pool after each statement: the next client handed that session would
    take the same lock again, since a session's advisory locks are re-entrant.)"""
    engines = [db.make_engine(pgbouncer, schema=SCHEMA) for _ in range(2)]
    try:
        with scope_locks(engines[0], ["default"]) as guard:
            for _ in range(3):  # statements on other connections of the pool in between
                with pytest.raises(LockedError), scope_locks(engines[1], ["default"]):
                    pass
                guard.check()
        with scope_locks(engines[1], ["default"]):
            pass
    finally:
        for engine in engines:
            engine.dispose()


def test_behind_pgbouncer_in_transaction_mode_prepared_statements_are_refused(
    pgbouncer: str, sim: SimServer
) -> None:
    """psycopg prepares a statement it runs often, by a name numbered per client connection
    (``_pg3_0``, ...); through a pooler in transaction mode the name meets a server session where it
    is already taken. Every server session of the pool is given the names first, so that it happens
    on the first one: the run stops with one line that says to use the session-mode port."""
    import psycopg

    holders = [psycopg.connect(make_url(pgbouncer).set(drivername="postgresql").render_as_string(False))]
    try:
        for _ in range(POOL_SIZE - 1):
            holders.append(psycopg.connect(holders[0].info.dsn, password=make_url(pgbouncer).password))
        for conn in holders:  # each in a transaction at once: each on a server session of its own
            for n in range(50):
                conn.execute(f"PREPARE _pg3_{n} AS SELECT {n}")
        for conn in holders:
            conn.commit()
    finally:
        for conn in holders:
            conn.close()
    result = invoke(
        "sync",
        "--api-key",
        API_KEY,
        "--base-url",
        sim.url,
        "--database-url",
        pgbouncer,
        "--db-schema",
        SCHEMA,
        "--page-size",
        "10",  # pages enough for psycopg to prepare what each page runs
    )
    assert result.exit_code == 2, result.output
    assert "session-mode port" in result.stderr and len(result.stderr.strip().splitlines()) == 1
