"""Fixtures: a real SQLite file and a real PostgreSQL database per test, never a mock.

PostgreSQL comes from ``CLASSIFY_ETL_TEST_PG_URL`` (an admin URL; each test gets its own fresh
database on that server, dropped afterwards). Without it, pytest-postgresql starts a throwaway
server from the local PostgreSQL binaries. Postgres tests are never skipped: if neither works,
they fail.

The schema is migrated once per session, into a template of each kind (a PostgreSQL database, a
SQLite file); a test that takes ``engine`` or ``pg_engine`` gets its own fresh copy of it
(``CREATE DATABASE ... TEMPLATE``, a copied file). A test that takes only ``db_url``, ``pg_url`` or
``sqlite_url`` gets an empty database: ``tests/test_migrations.py`` migrates its own that way.

Hypothesis runs the profile named by ``HYPOTHESIS_PROFILE``: ``default`` (``make test``: few
examples) or ``nightly`` (``make test-nightly``: many more).
"""

from __future__ import annotations

import os
import queue
import shutil
import sqlite3
import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from hypothesis import settings
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url

from etl.simulator import SimServer, SimState
from etl.warehouse import db
from tests.support import API_KEY

PG_ENV = "CLASSIFY_ETL_TEST_PG_URL"

# An example of the hostile-response property syncs two databases several times (seconds each):
# the everyday run draws a handful, the nightly one many, each a scenario the other may not draw.
settings.register_profile("default", max_examples=6)
settings.register_profile("nightly", max_examples=60)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))


def clean_env(**extra: str) -> dict[str, str]:
    """This process's environment without any classify-etl or LlamaCloud setting, plus ``extra``: what a
    subprocess of a test sees, so that the developer's own settings never leak into a test."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CLASSIFY_ETL", "LLAMA_CLOUD"))}
    env.update(extra)
    return env


@pytest.fixture(scope="session")
def pg_admin_url(request: pytest.FixtureRequest) -> str:
    """A URL with the right to CREATE DATABASE."""
    url = os.environ.get(PG_ENV)
    if url:
        return db.normalize_url(url)
    if os.geteuid() == 0:
        pytest.fail(
            f"set {PG_ENV} (e.g. postgresql+psycopg://postgres@127.0.0.1:5432/postgres): PostgreSQL "
            "refuses to start a throwaway server as root"
        )
    proc = request.getfixturevalue("postgresql_proc")
    return f"postgresql+psycopg://{proc.user}@{proc.host}:{proc.port}/postgres"


@pytest.fixture(scope="session")
def pg_admin(pg_admin_url: str) -> Iterator[Engine]:
    """The session's connection to the server's maintenance database, for CREATE / DROP DATABASE."""
    admin = create_engine(pg_admin_url, isolation_level="AUTOCOMMIT")
    try:
        yield admin
    finally:
        admin.dispose()


def new_pg_database(admin: Engine, template: str | None = None, prefix: str = "etl_test_") -> str:
    """A new database on the admin's server, empty or a copy of ``template``; its URL."""
    name = f"{prefix}{uuid.uuid4().hex[:12]}"
    copy = f' TEMPLATE "{template}"' if template else ""
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"{copy}'))
    return make_url(admin.url).set(database=name).render_as_string(hide_password=False)


def drop_pg_database(admin: Engine, url: str) -> None:
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{make_url(url).database}" WITH (FORCE)'))


class PgDatabases:
    """Fresh PostgreSQL databases for the tests, empty or copies of a template: the next one is made
    in the background while a test runs, and a used one is dropped in the background after it, so
    that a test waits for neither (a DROP DATABASE takes longer than most tests). Each database
    serves one test only."""

    def __init__(self, admin: Engine) -> None:
        self.admin = admin
        self.lock = threading.Lock()
        self.ready: dict[str | None, list[str]] = {}  # template (None: empty) -> made ahead
        self.pending: set[str | None] = set()  # templates with one being made ahead
        self.errors: list[BaseException] = []
        self.tasks: queue.Queue[Callable[[], None]] = queue.Queue()
        self.worker = threading.Thread(target=self._work, name="pg-databases", daemon=True)
        self.worker.start()

    def _work(self) -> None:
        while True:
            task = self.tasks.get()
            try:
                task()
            except BaseException as exc:  # reported by close(), at the end of the session
                self.errors.append(exc)
            finally:
                self.tasks.task_done()

    def take(self, template: str | None = None) -> str:
        """A database of its own for one test: the one made ahead, else a new one."""
        with self.lock:
            ahead = self.ready.get(template)
            url = ahead.pop() if ahead else None
            make_ahead = template not in self.pending
            self.pending.add(template)
        if make_ahead:
            self.tasks.put(lambda: self._make_ahead(template))
        return url or new_pg_database(self.admin, template)

    def _make_ahead(self, template: str | None) -> None:
        try:
            url = new_pg_database(self.admin, template)
            with self.lock:
                self.ready.setdefault(template, []).append(url)
        finally:
            with self.lock:
                self.pending.discard(template)

    def give_back(self, url: str) -> None:
        self.tasks.put(lambda: drop_pg_database(self.admin, url))

    def forget(self, template: str | None) -> None:
        """Wait for the background work, then drop what was made ahead from ``template``."""
        self.tasks.join()
        with self.lock:
            urls = self.ready.pop(template, [])
        for url in urls:
            drop_pg_database(self.admin, url)

    def close(self) -> None:
        self.tasks.join()  # every drop done
        for template in list(self.ready):
            self.forget(template)
        if self.errors:
            raise self.errors[0]


@pytest.fixture(scope="session")
def pg_databases(pg_admin: Engine) -> Iterator[PgDatabases]:
    databases = PgDatabases(pg_admin)
    try:
        yield databases
    finally:
        databases.close()


@pytest.fixture(scope="session")
def pg_template(pg_admin: Engine, pg_databases: PgDatabases) -> Iterator[str]:
    """The name of a PostgreSQL database migrated to head once per session, dropped at its end.
    PostgreSQL copies a database only while nobody is connected to it: the engine that migrated
    it is disposed before the first copy, and nothing connects to it again."""
    url = new_pg_database(pg_admin, prefix="etl_template_")
    name = str(make_url(url).database)
    try:
        with migrated(url):
            pass
        yield name
    finally:
        pg_databases.forget(name)
        drop_pg_database(pg_admin, url)


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite file migrated to head once per session, copied for each test that wants one."""
    path = tmp_path_factory.mktemp("template") / "classify_etl.db"
    with migrated(f"sqlite:///{path}"):
        pass
    # One self-contained file to copy: the write-ahead log folded in and no longer used (each copy's
    # engine turns WAL on again when it connects).
    conn = sqlite3.connect(path)
    try:
        conn.execute("PRAGMA journal_mode=DELETE")
    finally:
        conn.close()
    assert not path.with_name(path.name + "-wal").exists()
    return path


def new_sqlite_database(template: Path, path: Path) -> str:
    """A copy of the migrated template at ``path``; its URL."""
    shutil.copyfile(template, path)
    return f"sqlite:///{path}"


def _wants_schema(request: pytest.FixtureRequest, *fixtures: str) -> bool:
    """Whether the test takes (itself or through another fixture) one of these engine fixtures."""
    return any(name in request.fixturenames for name in fixtures)


@pytest.fixture
def pg_url(request: pytest.FixtureRequest, pg_databases: PgDatabases) -> Iterator[str]:
    """A fresh PostgreSQL database for this test: empty, or a copy of the migrated template when
    the test takes ``engine`` or ``pg_engine``."""
    template = None
    if _wants_schema(request, "engine", "pg_engine"):
        template = request.getfixturevalue("pg_template")
    url = pg_databases.take(template)
    try:
        yield url
    finally:
        pg_databases.give_back(url)


@pytest.fixture
def sqlite_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh SQLite file for this test: none yet, or a copy of the migrated template when the test
    takes ``engine``."""
    path = tmp_path / "classify_etl.db"
    if _wants_schema(request, "engine"):
        return new_sqlite_database(request.getfixturevalue("sqlite_template"), path)
    return f"sqlite:///{path}"


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest) -> str:
    """Each test that takes this runs twice: on a SQLite file and on a PostgreSQL database."""
    name = "sqlite_url" if request.param == "sqlite" else "pg_url"
    return str(request.getfixturevalue(name))


@contextmanager
def migrated(url: str) -> Iterator[Engine]:
    eng = db.make_engine(url)
    db.upgrade(eng)
    try:
        yield eng
    finally:
        eng.dispose()


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    """An engine on a fresh database at head (a copy of the session's template: the upgrade finds
    nothing to do)."""
    with migrated(db_url) as eng:
        yield eng


@pytest.fixture
def pg_engine(pg_url: str) -> Iterator[Engine]:
    """The same on PostgreSQL only, for what only PostgreSQL does."""
    with migrated(pg_url) as eng:
        yield eng


# -- the simulator ---------------------------------------------------------------------------------
# ``state`` is the data set: 150 jobs, seed 31, key sim-key, unless the module or test is marked
# ``@pytest.mark.sim_data(n_jobs=..., seed=...)``; ``sim`` serves it over loopback and ``client`` talks
# to it with the state's key.

SIM_JOBS = 150


@pytest.fixture
def state(request: pytest.FixtureRequest) -> SimState:
    marker = request.node.get_closest_marker("sim_data")
    data = {"n_jobs": SIM_JOBS, "seed": 31, **(marker.kwargs if marker else {})}
    return SimState.generate(**data, api_key=API_KEY)


@pytest.fixture
def sim(state: SimState) -> Iterator[SimServer]:
    with SimServer(state) as server:
        yield server


@pytest.fixture
def client(sim: SimServer) -> Iterator[httpx.Client]:
    headers = {"Authorization": f"Bearer {sim.state.api_key}"}
    with httpx.Client(base_url=sim.url, headers=headers, timeout=10) as c:
        yield c
