"""Property: whatever mix of hostile responses the API serves, a run keeps its promises.

Hypothesis draws a scenario (a few jobs each served with a hostile value in the list, the get or
both, plus perhaps a page-token fault), applies it to a small simulator over real HTTP and syncs
a database that already holds every job (and whose API has since deleted two), on a fresh SQLite
file and a fresh PostgreSQL database (copies of the session's migrated templates). Invariants: no
exception escapes, the outcome is one the docs name, every untouched job is exact, every touched
one is loaded faithfully or quarantined with its raw payload, a walk that did not complete deletes
nothing, and once the API behaves again a rerun equals the ground truth.
"""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine

from etl.run.sync import MASS_DELETE_SHARE
from etl.simulator import SimServer, SimState
from etl.simulator.hostile import HOSTILE_KINDS
from etl.warehouse import db
from tests.conftest import PgDatabases, new_sqlite_database
from tests.support import API_KEY, assert_tables_equal_truth, rows, sync
from tests.test_hostile import (
    assert_truth_except,
    check_hostile_job,
    deleted_ids,
    open_quarantine,
    v2_finished_ids,
)

N_JOBS = 60
OPTIONS: dict[str, dict[str, Any]] = {
    "v1": {"source": "v1", "page_size": 10, "max_retries": 1},
    "v2": {"source": "v2", "page_size": 10, "max_retries": 1, "full_walk": True, "list_concurrency": 1},
}
TOKEN_KINDS = ("number", "object", "empty", "repeat_self", "cycle2")

fault = st.tuples(
    st.integers(0, 200),  # which touched job (an index into the finished jobs, modulo their number)
    st.sampled_from(HOSTILE_KINDS),
    st.sampled_from(["list", "get", "both"]),
).map(lambda f: (f[0], f[1], "list" if f[1] == "duplicate_malformed" else f[2]))
scenario = st.fixed_dictionaries(
    {
        "source": st.sampled_from(["v1", "v2"]),
        "faults": st.lists(fault, max_size=4, unique_by=lambda f: f[0]),
        "token": st.none() | st.tuples(st.integers(1, 5), st.sampled_from(TOKEN_KINDS)),
    }
)
_serial = itertools.count()


def _fresh_engines(
    tmp_path: Path, pg_databases: PgDatabases, pg_template: str, sqlite_template: Path
) -> tuple[list[Engine], Any]:
    """A fresh SQLite file and PostgreSQL database for one example, copies of the session's
    migrated templates."""
    sqlite = new_sqlite_database(sqlite_template, tmp_path / f"example_{next(_serial)}.db")
    pg_url = pg_databases.take(pg_template)
    engines = [db.make_engine(sqlite), db.make_engine(pg_url)]
    for engine in engines:
        db.upgrade(engine)  # nothing to do: they are at head

    def drop() -> None:
        for engine in engines:
            engine.dispose()
        pg_databases.give_back(pg_url)

    return engines, drop


# How many examples: the profile's (tests/conftest.py: HYPOTHESIS_PROFILE, default or nightly).
@settings(
    phases=[Phase.explicit, Phase.reuse, Phase.generate],  # no shrinking: an example costs seconds
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(scenario)
def test_hostile_scenarios_keep_the_promises(
    tmp_path: Path,
    pg_databases: PgDatabases,
    pg_template: str,
    sqlite_template: Path,
    case: dict[str, Any],
) -> None:
    source: str = case["source"]
    opts = OPTIONS[source]
    state = SimState.generate(n_jobs=N_JOBS, seed=61, api_key=API_KEY)
    engines, drop = _fresh_engines(tmp_path, pg_databases, pg_template, sqlite_template)
    try:
        with SimServer(state) as sim:
            for engine in engines:  # a database that already holds every job
                assert sync(engine, sim.url, **opts).outcome == "success"
            gone = set(state.delete_jobs(2))  # a complete walk marks these deleted
            finished = v2_finished_ids(state)  # live ones only: a touched job is never gone
            touched: dict[str, tuple[Any, Any]] = {}
            for n, kind, where in case["faults"]:
                job_id = finished[n % len(finished)]
                if job_id in touched:
                    continue
                touched[job_id] = (kind, where)
                with state.lock:  # it changes (so the run asks for it again) and stays finished
                    for _ in range(20):
                        state.change_job(job_id)
                        if job_id in v2_finished_ids(state):
                            break
            for job_id, (kind, where) in touched.items():
                state.hostile_item(job_id, kind, where)
            if case["token"] is not None:
                state.bad_page_token(case["token"][0], case["token"][1], f"{source}_list")  # type: ignore[arg-type]
            for engine in engines:
                _check_hostile_run(engine, sim, source, touched, gone, case["token"])
            state.clear_hostile()
            for job_id in touched:  # the API's fix comes, as any change does, with a new updated_at
                state.change_job(job_id)
            for engine in engines:
                again = sync(engine, sim.url, **opts)
                assert again.outcome == "success", (again.scopes[0].error, again.scopes[0].guard)
                if again.scopes[0].resumed_from_page:
                    # It finished the walk the hostile run left; the windows that walk had
                    # already done saw the fixes after it: the next run reads them.
                    again = sync(engine, sim.url, **opts)
                    assert again.outcome == "success"
                assert_tables_equal_truth(engine, state, source=source)
                assert not open_quarantine(engine)
                assert deleted_ids(engine) == set(state.deleted_job_ids())
    finally:
        drop()


def _check_hostile_run(
    engine: Engine,
    sim: SimServer,
    source: str,
    touched: dict[str, tuple[Any, Any]],
    gone: set[str],
    token: tuple[int, str] | None,
) -> None:
    live_before = len([r for r in rows(engine, "classify_jobs") if r["deleted_at"] is None])
    result = sync(engine, sim.url, **OPTIONS[source])  # never raises: every failure is a result
    report = result.scopes[0]
    assert result.outcome in ("success", "partial", "failed")
    assert (result.outcome == "failed") == (report.error is not None)
    tombstoned = deleted_ids(engine)
    if not report.complete:
        assert result.outcome == "failed" and not tombstoned  # an untrusted walk deletes nothing
    elif token is not None and token[1] == "empty":
        assert len(tombstoned) <= MASS_DELETE_SHARE * live_before  # the guard bounds an early end
    else:
        assert tombstoned == gone or (report.guard is not None and not tombstoned)
    # Every job the scenario left alone is exact (what an unfinished walk did not reach is still
    # what the first sync stored, and the data did not change).
    assert_truth_except(engine, sim.state, source, set(touched) | gone | tombstoned)
    if report.complete and token is None:
        for job_id, (_kind, where) in touched.items():
            check_hostile_job(engine, sim, source, job_id, where)
