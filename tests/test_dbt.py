"""classify-etl dbt-scaffold: the package follows the metadata, keeps the user's edits, and dbt itself
builds and tests it against a synced PostgreSQL database, on the default schema and another one.

dbt runs from a venv of its own (``.venv-dbt`` at the repository root, made once with exactly
``etl.ops.dbt.DBT_PINS`` and reused), as a user who installs the ``dbt`` extra beside classify-etl
would run it; classify-etl's own environment never imports dbt.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from filelock import FileLock
from sqlalchemy import (
    Column,
    Engine,
    ForeignKey,
    Integer,
    MetaData,
    String,
    Table,
    create_engine,
    inspect,
    text,
)
from sqlalchemy.engine import make_url

from etl.cli.commands import main
from etl.ops import dbt
from etl.simulator import SimServer
from etl.warehouse import schema
from tests.conftest import clean_env
from tests.support import API_KEY

REPO = Path(__file__).resolve().parent.parent
DBT_VENV = REPO / ".venv-dbt"
DOCS = REPO / "docs" / "analysts.md"
FENCE = re.compile(r"^```([\w-]*)[ \t]*\n(.*?)^```[ \t]*$", re.S | re.M)
OTHER_SCHEMA = "analytics_classify"
DBT_SCHEMA = "analytics"

pytestmark = pytest.mark.sim_data(n_jobs=120, seed=34)


def invoke(*args: str) -> Any:
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def relations() -> dict[str, Table]:
    return {**schema.metadata.tables, **schema.views.tables}


# -- without dbt: the generator itself ---------------------------------------------------------------


def test_every_table_and_column_of_the_metadata_is_declared() -> None:
    files = dbt.render()
    sources = files["models/src_classify_etl.yml"]
    blocks = dict(re.findall(r"^      - name: (\w+)\n(.*?)(?=^      - name: |\Z)", sources, re.S | re.M))
    assert set(blocks) == set(relations()) | set(dbt.BI_VIEWS)
    for name, table in relations().items():
        declared = re.findall(r"^          - name: (\w+)$", blocks[name], re.M)
        assert declared == [c.name for c in table.columns], name
    staged = files["models/staging/stg_classify_etl__jobs.sql"]
    for column in schema.classify_jobs.columns:
        if column.name not in dbt.STAGED_JOBS_DROP:
            assert re.search(rf"^    {column.name}\b", staged, re.M), column.name


def test_a_new_column_or_table_reaches_the_package(monkeypatch: pytest.MonkeyPatch) -> None:
    """A revision that adds a column or a table changes the package with no edit here, except the
    new table's description, which the scaffold asks for by name instead of leaving it out."""
    copy = MetaData(naming_convention=schema.NAMING_CONVENTION)
    for table in schema.metadata.sorted_tables:
        table.to_metadata(copy)
    jobs = copy.tables["classify_jobs"]
    jobs.append_column(Column("priority", Integer))
    Table(
        "classify_job_notes",
        copy,
        Column("job_id", String, ForeignKey("classify_jobs.id"), primary_key=True),
        Column("note", String, nullable=False),
    )
    monkeypatch.setattr(schema, "metadata", copy)
    monkeypatch.setattr(schema, "classify_jobs", jobs)
    with pytest.raises(RuntimeError, match="classify_job_notes"):
        dbt.render()
    monkeypatch.setitem(dbt.TABLE_DESCRIPTIONS, "classify_job_notes", "Notes on a job.")
    files = dbt.render()
    sources = files["models/src_classify_etl.yml"]
    notes = sources.split("- name: classify_job_notes\n", 1)[1].split("\n      - name: ", 1)[0]
    assert "- name: note\n" in notes
    assert "to: \"source('classify_etl', 'classify_jobs')\"" in notes and "field: id" in notes
    assert "          - name: priority\n            data_type: integer\n" in sources
    assert "    priority,\n" in files["models/staging/stg_classify_etl__jobs.sql"]


def test_the_dbt_extra_pins_what_the_tests_run() -> None:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    assert tuple(project["optional-dependencies"]["dbt"]) == dbt.DBT_PINS
    assert not any(d.startswith("dbt") for d in project["dependencies"])


def test_a_rerun_keeps_the_users_changes_unless_force(tmp_path: Path) -> None:
    package = tmp_path / "pkg"
    first = invoke("dbt-scaffold", str(package))
    assert first.exit_code == 0, first.output
    files = dbt.render()
    assert {str(p.relative_to(package)) for p in package.rglob("*") if p.is_file()} == {*files, dbt.MANIFEST}
    assert "0 unchanged" in first.output

    again = invoke("dbt-scaffold", str(package), "--warn-after-hours", "3")
    assert again.exit_code == 0, again.output
    assert "1 file(s) written" in again.output  # the sources' freshness; everything else unchanged
    assert "count: 3" in (package / "models/src_classify_etl.yml").read_text()

    model = package / "models/staging/stg_classify_etl__jobs.sql"
    mine = model.read_text() + "-- my change\n"
    model.write_text(mine)
    own = package / "models/my_model.sql"
    own.write_text("select 1 as one\n")
    before = {p: p.read_bytes() for p in package.rglob("*") if p.is_file()}
    refused = invoke("dbt-scaffold", str(package), "--warn-after-hours", "4")
    assert refused.exit_code == 2
    assert "models/staging/stg_classify_etl__jobs.sql" in refused.output and "--force" in refused.output
    assert {p: p.read_bytes() for p in package.rglob("*") if p.is_file()} == before  # nothing written

    forced = invoke("dbt-scaffold", str(package), "--force")
    assert forced.exit_code == 0, forced.output
    assert model.read_text() == files["models/staging/stg_classify_etl__jobs.sql"]
    assert own.read_text() == "select 1 as one\n"  # not ours: left alone

    # A file that is in the way but was never written by the scaffold is not overwritten either.
    fresh = tmp_path / "fresh"
    (fresh / "models").mkdir(parents=True)
    (fresh / "models/src_classify_etl.yml").write_text("version: 2\n")
    blocked = invoke("dbt-scaffold", str(fresh))
    assert blocked.exit_code == 2 and "models/src_classify_etl.yml" in blocked.output

    # A generated file that a newer scaffold no longer writes goes, unless it was changed.
    fewer = {k: v for k, v in files.items() if not k.startswith("tests/")}
    result = dbt.write_package(package, fewer)
    assert sorted(result.removed) == sorted(k for k in files if k.startswith("tests/"))
    assert not list((package / "tests").glob("*.sql"))


def test_declared_views_are_the_databases(pg_engine: Engine) -> None:
    """The views are not in the metadata: what the package declares of them is compared with a
    migrated database, names and columns, and so are the tables."""
    insp = inspect(pg_engine)
    assert set(insp.get_table_names()) - {"alembic_version"} == set(schema.metadata.tables)
    assert set(insp.get_view_names()) == set(schema.views.tables) | set(dbt.BI_VIEWS)
    for name, (_, columns) in dbt.BI_VIEWS.items():
        assert [c["name"] for c in insp.get_columns(name)] == list(columns), name
    for name, table in schema.views.tables.items():
        assert [c["name"] for c in insp.get_columns(name)] == [c.name for c in table.columns], name


# -- with dbt, on PostgreSQL ---------------------------------------------------------------------------


@pytest.fixture(scope="session")
def dbt_bin() -> Path:
    """The bin directory of a venv with exactly the pinned dbt, made on first use and kept."""
    stamp = DBT_VENV / "classify-etl-pins.txt"
    wanted = "\n".join(dbt.DBT_PINS) + "\n"
    with FileLock(str(REPO / ".venv-dbt.lock")):
        if not (stamp.is_file() and stamp.read_text() == wanted and (DBT_VENV / "bin" / "dbt").is_file()):
            shutil.rmtree(DBT_VENV, ignore_errors=True)
            subprocess.run([sys.executable, "-m", "venv", str(DBT_VENV)], check=True, timeout=300)
            pip = [str(DBT_VENV / "bin" / "pip"), "install", "--quiet", "--disable-pip-version-check"]
            installed = subprocess.run([*pip, *dbt.DBT_PINS], capture_output=True, text=True, timeout=900)
            assert installed.returncode == 0, installed.stdout + installed.stderr
            stamp.write_text(wanted)
    return DBT_VENV / "bin"


def sync(db_url: str, sim: SimServer, db_schema: str) -> None:
    args = ["sync", "--api-key", API_KEY, "--base-url", sim.url, "--database-url", db_url]
    result = invoke(*args, "--page-size", "50", "--db-schema", db_schema)
    assert result.exit_code == 0, result.output


def load(pg_url: str, sim: SimServer, db_schema: str) -> None:
    """Two syncs from the simulator into ``db_schema`` (the second sees some jobs changed and some
    deleted)."""
    sync(pg_url, sim, db_schema)
    sim.state.change_jobs(15)
    sim.state.delete_jobs(5)
    sync(pg_url, sim, db_schema)


def docs_blocks() -> list[tuple[str, str]]:
    text_ = DOCS.read_text()
    section = text_.split("<!-- dbt:start -->", 1)[1].split("<!-- dbt:end -->", 1)[0]
    return [(m.group(1), m.group(2)) for m in FENCE.finditer(section)]


def dbt_env(pg_url: str, dbt_bin: Path, db_schema: str) -> dict[str, str]:
    url = make_url(pg_url)
    env = {k: v for k, v in clean_env().items() if not k.startswith(("PG", "DBT_"))}
    return {
        **env,
        "PATH": os.pathsep.join([str(dbt_bin), str(Path(sys.executable).parent), env.get("PATH", "")]),
        "PGHOST": url.host or "127.0.0.1",
        "PGPORT": str(url.port or 5432),
        "PGUSER": url.username or "postgres",
        "PGPASSWORD": url.password or "",
        "PGDATABASE": url.database or "",
        "DBT_SCHEMA": DBT_SCHEMA,
        "CLASSIFY_ETL_DB_SCHEMA": db_schema,
        # No tracking calls from a test run (and none that could hang on a machine without the internet).
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
    }


def run(command: list[str] | str, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """A command (a bash script when a string), its output kept for the assertion messages."""
    args = ["bash", "-euo", "pipefail", "-c", command] if isinstance(command, str) else command
    return subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=280)


def results(package: Path, name: str) -> list[dict[str, Any]]:
    return list(json.loads((package / "target" / name).read_text())["results"])


@pytest.fixture(params=["public", OTHER_SCHEMA])
def db_schema(request: pytest.FixtureRequest) -> Iterator[str]:
    yield str(request.param)


@pytest.mark.postgres
@pytest.mark.slow
@pytest.mark.timeout(900)
def test_dbt_builds_tests_and_checks_freshness(
    pg_url: str, sim: SimServer, db_schema: str, dbt_bin: Path, tmp_path: Path
) -> None:
    load(pg_url, sim, db_schema)
    engine = create_engine(pg_url)
    env = dbt_env(pg_url, dbt_bin, db_schema)
    try:
        check_package(engine, env, db_schema, tmp_path)
    finally:
        engine.dispose()


def check_package(engine: Engine, env: dict[str, str], db_schema: str, tmp_path: Path) -> None:
    def sql(query: str) -> Any:
        with engine.begin() as conn:
            result = conn.execute(text(query))
            return result.all() if result.returns_rows else None

    if db_schema != "public":
        assert not inspect(engine).get_table_names(schema="public")  # only the other schema has them

    # The docs' commands, as printed: scaffold, build (every test passes), freshness.
    blocks = docs_blocks()
    assert [language for language, _ in blocks] == ["bash", "yaml", "bash", "sql", "bash"]
    (_, commands), (_, packages_yml), (_, install), (_, model_sql), (_, build_model) = blocks
    assert "dbt-scaffold classify_etl_dbt" in commands
    shown = run(commands, tmp_path, env)
    assert shown.returncode == 0, shown.stdout + shown.stderr
    package = tmp_path / "classify_etl_dbt"
    assert f"classify_etl_schema: {db_schema}\n" in (package / "dbt_project.yml").read_text()
    built = re.search(r"Done\. PASS=(\d+) WARN=(\d+) ERROR=(\d+) SKIP=(\d+)", shown.stdout)
    assert built, shown.stdout
    passed, warned, errors, skipped = map(int, built.groups())
    manifest = json.loads((package / "target" / "manifest.json").read_text())
    tests = [n for n in manifest["nodes"].values() if n["resource_type"] == "test"]
    models = [n for n in manifest["nodes"].values() if n["resource_type"] == "model"]
    assert (passed, warned, errors, skipped) == (len(tests) + len(models), 0, 0, 0)
    assert len(tests) > 100
    freshness = results(package, "sources.json")
    assert {r["status"] for r in freshness} == {"pass"} and len(freshness) == len(manifest["sources"])

    # The same package installed into a project of the user's, as the docs say.
    project = tmp_path / "my_project"
    project.mkdir()
    (project / "dbt_project.yml").write_text("name: my_project\nconfig-version: 2\nprofile: classify_etl\n")
    shutil.copy(package / "profiles.yml", project / "profiles.yml")
    (project / "packages.yml").write_text(packages_yml)
    installed = run(install, project, env)
    assert installed.returncode == 0, installed.stdout + installed.stderr
    assert f"Done. PASS={passed} WARN=0 ERROR=0 SKIP=0" in installed.stdout, installed.stdout

    # dbt read every table, column and reference of the metadata from the generated yml.
    sources = {s["name"]: s for s in manifest["sources"].values()}
    assert set(sources) == set(relations()) | set(dbt.BI_VIEWS)
    assert {s["schema"] for s in sources.values()} == {db_schema}
    for name, table in relations().items():
        assert list(sources[name]["columns"]) == [c.name for c in table.columns], name
    tested = {
        (
            n["test_metadata"]["name"],
            on_source.group(1),
            n["column_name"],
            n["test_metadata"]["kwargs"].get("to"),
        )
        for n in tests
        if n.get("test_metadata")
        and (
            on_source := re.search(
                r"source\('classify_etl', '(\w+)'\)", n["test_metadata"]["kwargs"]["model"]
            )
        )
    }
    for table in schema.metadata.tables.values():
        for fk in table.foreign_keys:
            to = f"source('classify_etl', '{fk.column.table.name}')"
            assert ("relationships", table.name, fk.parent.name, to) in tested
    jobs = "source('classify_etl', 'classify_jobs')"
    for child in ("classify_rules", "classify_parsing_configs", "classify_results", "classify_target_pages"):
        assert ("relationships", child, "job_id", jobs) in tested
    for name in ("classify_jobs", "classify_job_history", "classify_jobs_current"):
        assert ("accepted_values", name, "status", None) in tested
    assert ("accepted_values", "classify_jobs", "hydration_status", None) in tested
    assert ("unique", "classify_jobs", "id", None) in tested and (
        "not_null",
        "classify_jobs",
        "id",
        None,
    ) in tested

    # Staged jobs are the current ones, and the models on them see those only.
    live, deleted = sql(
        f"SELECT COUNT(*) FILTER (WHERE deleted_at IS NULL), COUNT(deleted_at) FROM {db_schema}.classify_jobs"
    )[0]
    assert deleted == 5
    assert sql(f"SELECT COUNT(*) FROM {DBT_SCHEMA}.stg_classify_etl__jobs")[0][0] == live
    assert sql(f"SELECT COUNT(*) FROM {DBT_SCHEMA}.stg_classify_etl__job_history WHERE version > 1")[0][0] > 0

    # The docs' model on a staging model, as printed.
    (package / "models" / "results_by_type.sql").write_text(model_sql)
    own = run(build_model, package, env)
    assert own.returncode == 0, own.stdout
    got = sql(f"SELECT project_id, result_type, jobs FROM {DBT_SCHEMA}.results_by_type ORDER BY 1, 2")
    want = sql(
        f"SELECT j.project_id, COALESCE(r.type, '(no match)'), COUNT(*) FROM {db_schema}.classify_results r "
        f"JOIN {db_schema}.classify_jobs j ON j.id = r.job_id "
        "WHERE j.status IN ('completed', 'partial') AND j.deleted_at IS NULL GROUP BY 1, 2 ORDER BY 1, 2"
    )
    assert got == want and sum(n for _, _, n in got) > 0

    # The documented var brings the tombstoned jobs back, into the models downstream too.
    with_deleted = run(
        [
            "dbt",
            "run",
            "--select",
            "stg_classify_etl__jobs+",
            "--vars",
            "{classify_etl_include_deleted: true}",
        ],
        package,
        env,
    )
    assert with_deleted.returncode == 0, with_deleted.stdout
    assert sql(f"SELECT COUNT(*) FROM {DBT_SCHEMA}.stg_classify_etl__jobs")[0][0] == live + deleted
    all_results = sql(
        f"SELECT COUNT(*) FROM {db_schema}.classify_results r WHERE r.job_id IN "
        f"(SELECT id FROM {db_schema}.classify_jobs)"
    )[0][0]
    assert sql(f"SELECT COUNT(*) FROM {DBT_SCHEMA}.stg_classify_etl__results")[0][0] == all_results

    # Freshness: the end of the newest loaded run, past the warning, then past the error threshold.
    for hours, status, exit_code in ((3, "warn", 0), (10, "error", 1)):
        sql(
            f"UPDATE {db_schema}.etl_sync_runs SET started_at = started_at - interval '{hours} hours', "
            f"finished_at = finished_at - interval '{hours} hours'"
        )
        checked = run(["dbt", "source", "freshness"], package, env)
        assert checked.returncode == exit_code, checked.stdout
        assert {r["status"] for r in results(package, "sources.json")} == {status}

    # A row the database accepts but the product never writes: a job's version with a status outside
    # the canonical ones, in force since long before the job's current one.
    sql(
        f"INSERT INTO {db_schema}.classify_job_history (job_id, valid_from, status, observed_at, version) "
        f"SELECT id, '2000-01-01 00:00:00+00', 'exploded', now(), 99 FROM {db_schema}.classify_jobs "
        "ORDER BY id LIMIT 1"
    )
    broken = run(["dbt", "test"], package, env)
    assert broken.returncode == 1, broken.stdout
    failed = sorted(
        r["unique_id"].split(".")[2] for r in results(package, "run_results.json") if r["status"] != "pass"
    )
    assert [re.sub(r"__pending.*", "", name) for name in failed] == [
        "accepted_values_stg_classify_etl__job_history_status",
        "classify_etl_history_versions_are_numbered_from_1",
        "classify_etl_history_versions_do_not_overlap",
        "source_accepted_values_classify_etl_classify_job_history_status",
    ]
