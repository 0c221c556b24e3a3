"""Hostile API responses, end to end: the real client over HTTP, the simulator, both databases.

Whatever the API answers, a run never loops, never tombstones on a page it cannot trust, never
stores a body under the wrong id and never lets one bad job block the walk; once the API behaves
again, a rerun converges to the ground truth. Each test runs on a fresh SQLite file and a fresh
PostgreSQL database (the ``engine`` fixture), and with both list sources where that applies.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from sqlalchemy import Connection, Engine, text

from etl.change.normalize import RAW_CUT, restore_raw
from etl.run.sync import MASS_DELETE_SHARE, SyncResult
from etl.simulator import SimServer, SimState
from etl.simulator.hostile import HOSTILE_KINDS, ODD_IDS, UNKNOWN_ID, HostileKind, Where
from etl.source.client import MAX_BODY_BYTES, _loads, quote_id
from etl.source.models import UNSTORABLE
from etl.warehouse import payloads
from tests.support import API_KEY, _exact, assert_tables_equal_truth, rows, sync

N_JOBS = 100
PAGE = 20  # v1: 5 pages; v2 full walk: 4 created_at windows of ~25 jobs, 2 pages each
SOURCES = ["v1", "v2"]
#: v2 always walks everything (a full walk marks deletions; an incremental run never does).
OPTIONS: dict[str, dict[str, Any]] = {
    "v1": {"source": "v1", "page_size": PAGE},
    "v2": {"source": "v2", "page_size": PAGE, "full_walk": True, "list_concurrency": 2},
}
FINISHED = ("completed", "partial", "failed", "cancelled")


pytestmark = pytest.mark.sim_data(n_jobs=N_JOBS, seed=53)


# -- helpers -------------------------------------------------------------------------------------


def run(engine: Engine, sim: SimServer, source: str, **kw: Any) -> SyncResult:
    return sync(engine, sim.url, **{**OPTIONS[source], "max_retries": 1, **kw})


def clean_first(engine: Engine, sim: SimServer, source: str) -> None:
    """A database that already holds every job, as a clean sync leaves it."""
    result = run(engine, sim, source)
    assert result.outcome == "success", result.scopes[0].error
    assert_tables_equal_truth(engine, sim.state, source=source)


def deleted_ids(engine: Engine) -> set[str]:
    return {r["id"] for r in rows(engine, "classify_jobs", ["id", "deleted_at"]) if r["deleted_at"]}


def open_quarantine(engine: Engine) -> list[dict[str, Any]]:
    return [r for r in rows(engine, "etl_quarantine") if r["resolved_at"] is None]


def converge(engine: Engine, sim: SimServer, source: str) -> SyncResult:
    """The API behaves again: one rerun gives exactly the tables of a clean sync."""
    sim.state.clear_hostile()
    result = run(engine, sim, source)
    assert result.outcome == "success", (result.scopes[0].error, result.scopes[0].guard)
    assert_tables_equal_truth(engine, sim.state, source=source)
    assert not open_quarantine(engine)
    assert deleted_ids(engine) == set(sim.state.deleted_job_ids()) & {
        r["id"] for r in rows(engine, "classify_jobs", ["id"])
    }
    return result


def v2_finished_ids(state: SimState) -> list[str]:
    """Live jobs both lists show whose status is final: both sources send them to the v2 get."""
    with state.lock:
        return [
            state.id_of(i)
            for i in state.live_indexes()
            if state.v2_known(i) and state.status_at(i) in FINISHED
        ]


def assert_truth_except(engine: Engine, state: SimState, source: str, exclude: set[str]) -> None:
    """Every data table equals the ground truth for every job outside ``exclude``."""
    expected = state.expected_rows(source=source)
    deleted = deleted_ids(engine)
    for name, want in expected.items():
        key_col = "id" if name == "classify_jobs" else "job_id"
        columns = list(want[0]) if want else None
        got = [
            r
            for r in rows(engine, name)
            if r[key_col] not in exclude
            and r[key_col] not in deleted
            and (name != "classify_jobs" or r["deleted_at"] is None)
        ]
        got = [{c: r[c] for c in (columns or r)} for r in got]
        want = [r for r in want if r[key_col] not in exclude]

        def canon(data: list[dict[str, Any]]) -> list[str]:
            return sorted(json.dumps(_exact(r), sort_keys=True, default=str) for r in data)

        assert canon(got) == canon(want), f"{name} differs from the truth outside {sorted(exclude)}"


def checkpoint_kept(engine: Engine, source: str) -> None:
    """The failed walk left a resumable checkpoint at a committed page."""
    if source == "v1":
        (cp,) = [r for r in rows(engine, "etl_checkpoints") if r["source"] == "v1"]
        assert cp["pages_done"] >= 1 and cp["next_page_token"] is not None
    else:
        windows = rows(engine, "etl_walk_windows")
        assert windows and not all(w["done"] for w in windows)
        assert any(w["pages_done"] >= 1 and w["next_page_token"] for w in windows)


def untrusted_walk(engine: Engine, sim: SimServer, source: str, setup: Any) -> tuple[SyncResult, set[str]]:
    """A database holding every job; three jobs really deleted; then the hostile switch and a run.

    Returns the run's result and the three deleted ids (a complete walk would tombstone them)."""
    clean_first(engine, sim, source)
    gone = set(sim.state.delete_jobs(3))
    setup(sim.state)
    sim.state.reset_counts()
    result = run(engine, sim, source)
    return result, gone


# -- 1. malformed page tokens ----------------------------------------------------------------------


@pytest.mark.parametrize("source", SOURCES)
@pytest.mark.parametrize("kind", ["number", "object"])
def test_a_malformed_page_token_fails_the_walk_and_deletes_nothing(
    engine: Engine, sim: SimServer, source: str, kind: str
) -> None:
    result, gone = untrusted_walk(engine, sim, source, lambda s: s.bad_page_token(2, kind, f"{source}_list"))
    assert result.outcome == "failed"
    error = result.scopes[0].error or ""
    assert "next_page_token" in error and "nothing is marked deleted" in error
    assert not result.scopes[0].complete
    assert not deleted_ids(engine)  # not even the three that really went
    checkpoint_kept(engine, source)
    converge(engine, sim, source)
    assert deleted_ids(engine) == gone  # the clean walk after it does mark them


# -- 2. page-token loops -------------------------------------------------------------------------


@pytest.mark.parametrize("source", SOURCES)
@pytest.mark.parametrize(("kind", "after_page"), [("repeat_self", 1), ("repeat_self", 2), ("cycle2", 1)])
def test_a_page_token_loop_stops_in_bounded_requests(
    engine: Engine, sim: SimServer, source: str, kind: str, after_page: int
) -> None:
    t0 = time.monotonic()
    result, gone = untrusted_walk(
        engine, sim, source, lambda s: s.bad_page_token(after_page, kind, f"{source}_list")
    )
    assert result.outcome == "failed"
    assert "loop" in (result.scopes[0].error or "")
    # One walk (v1) or four windows (v2) of a few pages each, not a request more than a few
    # pages past the repeat: the loop was seen at the first repeated token.
    windows = 1 if source == "v1" else 4
    assert sim.state.counts[f"{source}_list"] <= windows * (after_page + 4)
    assert time.monotonic() - t0 < 60
    assert not deleted_ids(engine)
    checkpoint_kept(engine, source)
    converge(engine, sim, source)
    assert deleted_ids(engine) == gone


# -- 3. "" while more items come -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("source", "after_page", "windows"),
    [("v1", 1, 0), ("v1", 4, 0), ("v2", 1, 1), ("v2", 1, 2)],
    ids=["v1-page1", "v1-page4", "v2-2windows-page1", "v2-4windows-page1"],
)
def test_an_empty_token_mid_list_ends_the_walk_and_the_guard_bounds_the_damage(
    engine: Engine, sim: SimServer, source: str, after_page: int, windows: int
) -> None:
    """``""`` is a documented end marker (the service ends walks with null, "" or no key): the
    client cannot tell it from a real end, so the walk ends there as complete. What keeps a
    database that holds every job is the delete guard: it tombstones nothing when most of the
    scope went unlisted, and at most half of it otherwise; the next clean walk brings every
    wrongly tombstoned job back (``deleted_at`` cleared), and the tables equal the truth again."""
    extra = {"list_concurrency": windows} if windows else {}
    clean_first(engine, sim, source)
    live = len(rows(engine, "classify_jobs"))
    sim.state.bad_page_token(after_page, "empty", f"{source}_list")
    result = run(engine, sim, source, **extra)
    report = result.scopes[0]
    assert report.error is None and report.complete  # taken for the end, as documented
    tombstoned = deleted_ids(engine)
    assert len(tombstoned) <= MASS_DELETE_SHARE * live
    if report.guard is not None:
        assert not tombstoned and result.outcome == "partial"
    else:
        # The jobs after the early end, and only those (bounded by the guard's share).
        assert tombstoned and result.outcome == "success"
        assert len(tombstoned) == result.totals.deleted
    converge(engine, sim, source)
    assert not deleted_ids(engine)  # every wrongly tombstoned job came back


# -- 4. a v2 body for another id ---------------------------------------------------------------------


@pytest.mark.parametrize("source", SOURCES)
@pytest.mark.parametrize("kind", ["other", "unknown", "case"])
def test_a_body_for_another_id_is_quarantined_never_stored_under_it(
    engine: Engine, sim: SimServer, source: str, kind: str
) -> None:
    state = sim.state
    clean_first(engine, sim, source)
    finished = v2_finished_ids(state)
    target = finished[len(finished) // 2]
    with state.lock:
        # The job changes (so both sources ask the get again) and stays finished.
        while True:
            state.change_job(target)
            if state.status_at(state.index_of(target) or 0) in FINISHED:
                break
    before = {name: rows(engine, name) for name in ("classify_jobs", "classify_results", "classify_rules")}
    state.wrong_body_id(target, kind)  # type: ignore[arg-type]
    result = run(engine, sim, source)
    assert result.outcome == "partial" and result.scopes[0].error is None
    (q,) = open_quarantine(engine)
    assert q["endpoint"] == "v2_get" and q["job_id"] == target
    served_id = q["raw"]["id"]
    assert served_id != target and repr(target) in q["reason"] and repr(served_id) in q["reason"]
    if kind == "unknown":
        assert served_id == UNKNOWN_ID
    elif kind == "case":
        assert served_id.lower() == target.lower()
    # Nothing was stored under the id the body named: that job's rows (if it is one) are untouched.
    ids = {r["id"] for r in rows(engine, "classify_jobs", ["id"])}
    assert served_id not in ids or kind == "other"
    for name, old in before.items():
        key = "id" if name == "classify_jobs" else "job_id"
        now = [r for r in rows(engine, name) if r[key] == served_id]
        assert now == [r for r in old if r[key] == served_id], name
    # Every other job is exact; the requested one keeps a row under its own id.
    assert_truth_except(engine, state, source, {target})
    assert target in ids
    converge(engine, sim, source)


# -- 5. odd ids ----------------------------------------------------------------------------------

#: Each odd id as one opaque path segment: every byte outside [A-Za-z0-9-_~] percent-encoded.
ENCODED = {
    "..": "%2E%2E",
    ".": "%2E",
    "a;b": "a%3Bb",
    "a/b": "a%2Fb",
    "a%2Fb": "a%252Fb",
    "a b": "a%20b",
    "é": "%C3%A9",
    "a?b": "a%3Fb",
    "a#b": "a%23b",
    "a+b": "a%2Bb",
    "a&b=c": "a%26b%3Dc",
    "~x": "~x",
}


def test_the_encoding_table_covers_every_odd_id() -> None:
    assert set(ENCODED) == set(ODD_IDS)
    assert all(quote_id(k) == v for k, v in ENCODED.items())


@pytest.mark.parametrize("source", SOURCES)
def test_odd_ids_load_exactly_and_go_on_the_wire_percent_encoded(
    engine: Engine, sim: SimServer, source: str
) -> None:
    state = sim.state
    clean_first(engine, sim, source)
    for job_id in ODD_IDS:
        state.add_job_with_id(job_id)
    state.reset_counts()
    result = run(engine, sim, source)
    assert result.outcome == "success"
    assert_tables_equal_truth(engine, state, source=source)
    stored = {r["id"]: r for r in rows(engine, "classify_jobs")}
    assert set(ODD_IDS) <= set(stored)
    gets = [r for r in state.request_log if r.endpoint == "v2_get"]
    targets = {r.path.removeprefix("/api/v2/classify/"): r.target for r in gets}
    # v1 hydrates every new job; v2 fetches the finished ones for their credits.
    want = {j for j in ODD_IDS if source == "v1" or stored[j]["status"] in FINISHED}
    assert want and set(targets) == want
    for job_id in want:
        assert targets[job_id] == f"/api/v2/classify/{ENCODED[job_id]}?expand=usage", job_id
        assert stored[job_id]["hydration_status"] == "ok"
    assert all(r.status == 200 for r in gets)
    again = sync(engine, sim.url, **OPTIONS[source]).totals
    assert again.new == again.changed == again.failed == 0  # unchanged, under their exact ids


# -- 6. hostile values ---------------------------------------------------------------------------

SMALL_JOBS = 30
SMALL_OPTIONS: dict[str, dict[str, Any]] = {
    "v1": {"source": "v1", "page_size": 10},
    "v2": {"source": "v2", "page_size": 10, "full_walk": True, "list_concurrency": 1},
}
#: (kind, where): duplicate_malformed is a list page's fault only.
KIND_WHERE = [
    (k, w)
    for k in HOSTILE_KINDS
    for w in ("list", "get", "both")
    if k != "duplicate_malformed" or w == "list"
]


@pytest.fixture
def small() -> Iterator[SimServer]:
    with SimServer(SimState.generate(n_jobs=SMALL_JOBS, seed=59, api_key=API_KEY)) as server:
        yield server


def served(sim: SimServer, source: str, job_id: str, where: str) -> list[Any] | None:
    """The payloads the API serves for ``job_id`` on the list or the get, as json.loads reads them
    (None: a body json.loads cannot read)."""
    with sim.state.lock:  # read past any page-token switch: it is the payloads that matter here
        tokens, sim.state.hostile.tokens = sim.state.hostile.tokens, []
    try:
        return _served(sim, source, job_id, where)
    finally:
        with sim.state.lock:
            sim.state.hostile.tokens = tokens


def _served(sim: SimServer, source: str, job_id: str, where: str) -> list[Any] | None:
    with httpx.Client(base_url=sim.url, headers={"Authorization": f"Bearer {API_KEY}"}) as client:
        if where == "get":
            response = client.get(f"/api/v2/classify/{quote_id(job_id)}", params={"expand": "usage"})
            try:
                return [json.loads(response.content)]
            except RecursionError:
                return None
        path = "/api/v1/classifier/jobs" if source == "v1" else "/api/v2/classify"
        found: list[Any] = []
        token = None
        while True:
            params = {"page_size": "100", **({"page_token": token} if token else {})}
            # As the client reads it: another item of the page may be nested too deeply.
            body = _loads(client.get(path, params=params).content)
            if not isinstance(body, dict):
                return [body]
            found += [i for i in body["items"] if isinstance(i, dict) and i.get("id") == job_id]
            token = body.get("next_page_token")
            if not token:
                return found


def same(a: Any, b: Any) -> bool:
    # NaN != NaN: compare the JSON texts (json writes NaN and Infinity as tokens).
    return bool(json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True))


def _not_json(token: str) -> Any:
    raise ValueError(f"{token} is not JSON")


def assert_valid_raw_json(conn: Connection, job_id: str) -> None:
    """The job's stored raw JSON is JSON by the strictest reading: the database's own check
    (SQLite's json_valid; jsonb refuses anything else), no NaN or Infinity, no NUL, no lone
    surrogate."""
    stored = conn.execute(
        text("SELECT CAST(raw AS TEXT) FROM classify_job_payloads WHERE job_id = :j"), {"j": job_id}
    ).scalar()
    if stored is None:
        return
    if conn.dialect.name == "sqlite":
        assert conn.execute(text("SELECT json_valid(:t)"), {"t": stored}).scalar_one() == 1
    todo = [json.loads(stored, parse_constant=_not_json)]
    while todo:
        value = todo.pop()
        texts = [value] if isinstance(value, str) else list(value) if isinstance(value, dict) else []
        todo += value.values() if isinstance(value, dict) else value if isinstance(value, list) else []
        for t in texts:
            assert not UNSTORABLE.search(t), t  # NUL or a lone surrogate: escaped, never stored


def check_hostile_job(engine: Engine, sim: SimServer, source: str, target: str, where: Where) -> bool:
    """The hostile job, on each side that served it hostile, is quarantined with its raw payload
    (as served, or a bounded excerpt of a payload beyond the limits) and the reason, or stored
    faithfully: text made storable, the raw payload round-tripping to what was served. Returns
    whether anything of it was stored rather than quarantined."""
    quarantined = [q for q in open_quarantine(engine) if q["job_id"] == target]
    job = {r["id"]: r for r in rows(engine, "classify_jobs")}.get(target)
    with engine.connect() as conn:  # the payloads live beside the job (classify_job_payloads)
        v1_raw, v2_raw = payloads.stored_payloads(conn, [target]).get(target, (None, None))
        assert_valid_raw_json(conn, target)
    stored_raws = [restore_raw(r) for r in (v1_raw, v2_raw) if job is not None and r is not None]
    accepted = False
    for side in ["list", "get"] if where == "both" else [where]:
        endpoint = "v2_get" if side == "get" else f"{source}_list"
        served_payloads = served(sim, source, target, side)
        mine = [q for q in quarantined if q["endpoint"] == endpoint]
        for q in mine:
            assert q["reason"] and q["raw"] is not None, q
            raw = restore_raw(q["raw"])
            if RAW_CUT not in raw and "unparsed" not in raw:  # a payload within the limits: whole
                assert served_payloads is not None and any(same(raw, p) for p in served_payloads), (
                    side,
                    q["reason"],
                )
        if mine:
            if side == "list":
                break  # a refused list item is not hydrated: its get is never asked
            continue
        # Accepted: what was served is stored (on v2 a successful get supersedes the list item).
        assert job is not None and served_payloads is not None, side
        if side == "list" and job["hydration_status"] == "failed":
            # A stored job whose get failed or was quarantined keeps its previous rows (documented:
            # "the job keeps its previous data and is fetched again next run"), its list item too.
            accepted = True
            continue
        superseded = source == "v2" and side == "list" and v2_raw is not None
        others = served(sim, source, target, "get") if superseded else []
        assert any(same(r, p) for r in stored_raws for p in served_payloads + (others or [])), side
        accepted = True
    return accepted


@pytest.mark.parametrize("source", SOURCES)
@pytest.mark.parametrize(("kind", "where"), KIND_WHERE)
def test_a_hostile_value_spoils_only_its_job(
    engine: Engine, small: SimServer, source: str, kind: HostileKind, where: Where
) -> None:
    state = small.state
    finished = v2_finished_ids(state)
    target = finished[len(finished) // 2]
    state.hostile_item(target, kind, where)
    stored = False
    result = sync(engine, small.url, **SMALL_OPTIONS[source], max_retries=1)
    report = result.scopes[0]
    if kind == "null_body" and where in ("list", "both"):
        # A page whose body is null proves nothing about where the walk goes: the walk stops
        # there (nothing deleted, the pages before it committed), and so does the run.
        assert result.outcome == "failed" and "items list" in (report.error or "")
        assert not deleted_ids(engine)
    else:
        assert result.outcome in ("success", "partial"), report.error
        assert report.error is None and report.complete
        assert_truth_except(engine, state, source, {target})
        stored = check_hostile_job(engine, small, source, target, where)
        # Nothing of the page was left out: every listed job has its row.
        ids = {r["id"] for r in rows(engine, "classify_jobs", ["id"])}
        listed = {r["id"] for r in state.expected_rows(source=source)["classify_jobs"]}
        assert listed - {target} <= ids
        if result.outcome == "success":
            assert not open_quarantine(engine)
    state.clear_hostile()
    if kind not in ("null_body",) and stored:
        # Stored as served: the job's data was what the API said it was, and nothing tells the
        # client it changed; the API's fix comes, as any change does, with a new updated_at.
        state.change_job(target)
    else:
        stored = False
    again = sync(engine, small.url, **SMALL_OPTIONS[source])
    assert again.outcome == "success"
    assert_tables_equal_truth(engine, state, source=source)
    assert not open_quarantine(engine)


# -- 7. huge and endless bodies ---------------------------------------------------------------------


@pytest.mark.parametrize("source", SOURCES)
@pytest.mark.parametrize("size_mb", [40.0, None], ids=["40MB", "endless"])
def test_a_huge_get_body_is_cut_at_the_cap_and_quarantined(
    engine: Engine, sim: SimServer, source: str, size_mb: float | None
) -> None:
    assert size_mb is None or size_mb * 2**20 > MAX_BODY_BYTES
    state = sim.state
    clean_first(engine, sim, source)
    targets = []
    with state.lock:
        for job_id in v2_finished_ids(state)[:6]:
            state.change_job(job_id)
            if state.status_at(state.index_of(job_id) or 0) in FINISHED:
                targets.append(job_id)
            if len(targets) == 2:
                break
    state.huge_body("v2_get", size_mb)
    t0 = time.monotonic()
    result = run(engine, sim, source)
    assert time.monotonic() - t0 < 60
    assert result.outcome == "partial" and result.scopes[0].complete
    q = open_quarantine(engine)
    assert {r["job_id"] for r in q} == set(targets)
    assert all(r["endpoint"] == "v2_get" and "over 32 MB" in r["reason"] for r in q)
    assert_truth_except(engine, state, source, set(targets))
    converge(engine, sim, source)


@pytest.mark.parametrize("source", SOURCES)
@pytest.mark.parametrize("size_mb", [40.0, None], ids=["40MB", "endless"])
def test_a_huge_list_body_fails_the_walk_cleanly(
    engine: Engine, sim: SimServer, source: str, size_mb: float | None
) -> None:
    t0 = time.monotonic()
    endpoint = f"{source}_list"
    result, gone = untrusted_walk(
        engine,
        sim,
        source,
        lambda s: s.after_list_page(1, lambda st: st.huge_body(endpoint, size_mb)),  # type: ignore[arg-type]
    )
    assert time.monotonic() - t0 < 90
    assert result.outcome == "failed"
    assert "over 32 MB" in (result.scopes[0].error or "")
    assert not deleted_ids(engine)
    converge(engine, sim, source)
    assert deleted_ids(engine) == gone


# -- the CLI ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("hostile", "code"),
    [("token", 1), ("item", 3)],
)
def test_the_cli_on_a_hostile_run_exits_cleanly(db_url: str, sim: SimServer, hostile: str, code: int) -> None:
    from tests.test_process import cli_env

    state = sim.state
    if hostile == "token":
        state.bad_page_token(2, "object")
    else:
        state.hostile_item(v2_finished_ids(state)[3], "deep_nesting", "get")
        state.hostile_item(v2_finished_ids(state)[5], "nan", "list")
    proc = subprocess.run(
        [sys.executable, "-m", "etl", "sync", "--page-size", "20", "--max-retries", "1"],
        env=cli_env(db_url, sim.url),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == code, proc.stderr
    assert "Traceback" not in proc.stderr and "Traceback" not in proc.stdout
