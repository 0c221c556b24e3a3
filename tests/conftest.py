"""Fixtures: a real SQLite file and a real PostgreSQL database per test, never a mock.

PostgreSQL comes from ``CLASSIFY_ETL_TEST_PG_URL`` (an admin URL; each test gets its own fresh
database on that server, dropped afterwards). Without it, pytest-postgresql starts a throwaway
server from the local PostgreSQL binaries. Postgres tests are never skipped: if neither works,
they fail.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url

from etl.simulator import SimServer, SimState
from etl.warehouse import db
from tests.support import API_KEY

PG_ENV = "CLASSIFY_ETL_TEST_PG_URL"


def clean_env(**extra: str) -> dict[str, str]:
    """This process's environment without any classify-etl or LlamaCloud setting, plus ``extra``: what a
    subprocess of a test sees, so that the developer's own settings never leak into a test."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CLASSIFY_ETL", "LLAMA_CLOUD"))}
    env.update(extra)
    return env


@pytest.fixture(autouse=True, scope="session")
def own_cache_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The session's own cache directory: the start hints of the syncs it runs (``etl.prefetch``) are
    written there, never in the developer's, and none from outside is read."""
    patch = pytest.MonkeyPatch()
    cache = tmp_path_factory.mktemp("cache")
    patch.setenv("XDG_CACHE_HOME", str(cache))
    try:
        yield cache
    finally:
        patch.undo()


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


def _new_pg_database(admin_url: str) -> tuple[str, Engine]:
    name = f"etl_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    return make_url(admin_url).set(database=name).render_as_string(hide_password=False), admin


def _drop_pg_database(admin: Engine, url: str) -> None:
    name = make_url(url).database
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture
def pg_url(pg_admin_url: str) -> Iterator[str]:
    """A fresh, empty PostgreSQL database for this test."""
    url, admin = _new_pg_database(pg_admin_url)
    try:
        yield url
    finally:
        _drop_pg_database(admin, url)


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'classify_etl.db'}"


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
    """An engine on a fresh database already migrated to head."""
    with migrated(db_url) as eng:
        yield eng


@pytest.fixture
def pg_engine(pg_url: str) -> Iterator[Engine]:
    """The same on PostgreSQL only, for what only PostgreSQL does (the start hint, ``etl.prefetch``)."""
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
