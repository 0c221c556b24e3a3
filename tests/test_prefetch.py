"""The start-up prefetch (``etl.prefetch``): the run's first list page, asked for before the heavy
imports, is used only when it is exactly the run's first request, and never changes the data."""

from __future__ import annotations

import signal
import socket
import time
from typing import Any

import httpx
import pytest
from click.testing import CliRunner
from sqlalchemy import Engine

from etl import cli, load, prefetch, scopes
from etl.config import SecretStr, Settings
from etl.runs import utcnow
from etl.simulator import Faults, SimServer, SimState
from tests.support import API_KEY, assert_tables_equal_truth, sync
from tests.test_cli import sync_args
from tests.test_process import EARLY, INTERRUPTED_LINE, start_sync


def _settings(base_url: str, database_url: str, **values: Any) -> Settings:
    return Settings(
        api_key=SecretStr(API_KEY),
        base_url=base_url,
        database_url=SecretStr(database_url),
        page_size=50,
        request_timeout=10.0,
        **values,
    )


def _v1_lists(state: SimState, *, token: str | None = None) -> int:
    """v1 list requests the simulator answered for the page after ``token`` (None: page 1)."""
    return sum(
        1 for r in state.request_log if r.endpoint == "v1_list" and r.params.get("page_token") == token
    )


def _started(settings: Settings) -> prefetch.Prefetch:
    sent = prefetch.start(settings, monitored=False)
    assert sent is not None, "the first request of a v1 walk at head is predicted"
    sent.future.result(timeout=10)  # answered before the run starts: the counts below are settled
    return sent


def test_the_prefetched_first_page_is_used_not_asked_again(
    engine: Engine, db_url: str, sim: SimServer
) -> None:
    sent = _started(_settings(sim.url, db_url))
    assert _v1_lists(sim.state) == 1
    result = sync(engine, sim.url, prefetched=sent)
    assert sent.used
    assert _v1_lists(sim.state) == 1, "page 1 was asked for once: by the prefetch"
    assert result.requests["v1_list"] == sim.state.counts["v1_list"] == 3  # 150 jobs, 50 a page
    assert result.retries == 0
    assert_tables_equal_truth(engine, sim.state)


def _prefetch_after_stored_token(
    engine: Engine, db_url: str, sim: SimServer, client: httpx.Client
) -> tuple[str, prefetch.Prefetch]:
    """A v1 checkpoint after page 1, as a run killed there leaves it, and the prefetch that predicts
    the page after it (the request log then holds the prefetch's request only)."""
    token = client.get("/api/v1/classifier/jobs", params={"page_size": 50}).json()["next_page_token"]
    assert isinstance(token, str)
    with engine.begin() as conn:
        load.write_checkpoint(conn, load.Checkpoint("default", "v1", token, 1, utcnow(), None), utcnow())
    sim.state.request_log.clear()
    sent = _started(_settings(sim.url, db_url))
    assert _v1_lists(sim.state, token=token) == 1
    return token, sent


def test_a_resumed_walk_prefetches_the_stored_token(
    engine: Engine, db_url: str, sim: SimServer, client: httpx.Client
) -> None:
    token, sent = _prefetch_after_stored_token(engine, db_url, sim, client)
    sim.state.request_log.clear()
    result = sync(engine, sim.url, prefetched=sent)
    assert sent.used
    assert _v1_lists(sim.state) == 0 and _v1_lists(sim.state, token=token) == 0, "asked once, by the prefetch"
    assert result.scopes[0].resumed_from_page == 1


def test_a_prefetch_of_another_request_is_dropped_and_the_data_is_right(
    engine: Engine, db_url: str, sim: SimServer, client: httpx.Client
) -> None:
    _, sent = _prefetch_after_stored_token(engine, db_url, sim, client)
    with engine.begin() as conn:  # the checkpoint is gone before the run reads it: it walks from page 1
        scopes.reset(conn, "default")
    sim.state.request_log.clear()
    sync(engine, sim.url, prefetched=sent)
    assert not sent.used
    assert _v1_lists(sim.state) == 1, "page 1 was asked for by the run itself"
    assert_tables_equal_truth(engine, sim.state)


def test_a_prefetch_answered_500_is_dropped_and_the_run_asks_as_usual(
    engine: Engine, db_url: str, sim: SimServer
) -> None:
    sim.state.faults = Faults(endpoints={"v1_list": {"error_rates": {500: 1.0}}})
    sent = _started(_settings(sim.url, db_url))
    sim.state.faults = Faults()
    result = sync(engine, sim.url, prefetched=sent)
    assert not sent.used
    assert sim.state.counts_by_status[("v1_list", 500)] == 1
    assert _v1_lists(sim.state) == 2  # the failed prefetch, then the run's own first attempt
    assert result.retries == 0, "the run's first request was its first attempt"
    assert_tables_equal_truth(engine, sim.state)


def test_a_refused_prefetch_falls_back_to_the_run_s_request(
    engine: Engine, db_url: str, state: SimState
) -> None:
    with socket.create_server(("127.0.0.1", 0)) as probe:
        port = probe.getsockname()[1]  # nothing listens there once closed
    url = f"http://127.0.0.1:{port}"
    sent = _started(_settings(url, db_url))
    assert sent.future.result() is None
    with SimServer(state, port=port) as sim:
        sync(engine, sim.url, prefetched=sent)
    assert not sent.used
    assert _v1_lists(state) == 1
    assert_tables_equal_truth(engine, state)


def test_the_sync_command_sends_its_first_page_once(engine: Engine, db_url: str, sim: SimServer) -> None:
    done = CliRunner().invoke(cli.main, sync_args(db_url, sim), env={"CLASSIFY_ETL_CONFIG": None})
    assert done.exit_code == 0, done.output
    assert _v1_lists(sim.state) == 1
    assert_tables_equal_truth(engine, sim.state)


def test_no_prediction_where_the_first_request_is_not_known(
    engine: Engine, sqlite_url: str, tmp_path: Any
) -> None:
    url = "http://127.0.0.1:9"
    no = [
        _settings(url, sqlite_url, project_ids=("a", "b")),
        _settings(url, sqlite_url, list_source="v2"),
        _settings(url, sqlite_url, created_after="2025-01-01"),
        _settings(url, f"sqlite:///{tmp_path / 'none.db'}"),  # no database yet: it gets migrated
    ]
    for settings in no:
        assert prefetch.start(settings, monitored=False) is None
    assert prefetch.start(_settings(url, sqlite_url), monitored=True) is None  # the start ping goes first
    with engine.begin() as conn:
        load.choose_source(conn, "default", "v2", "test", utcnow())
    assert prefetch.start(_settings(url, sqlite_url), monitored=False) is None


def test_behind_head_nothing_is_predicted(sqlite_url: str) -> None:
    from etl import db

    engine = db.make_engine(sqlite_url)
    try:
        db.upgrade(engine, "0001")
    finally:
        engine.dispose()
    assert prefetch.read_state(sqlite_url, "default", "head-of-the-files") is not None
    assert prefetch.start(_settings("http://127.0.0.1:9", sqlite_url), monitored=False) is None


@pytest.mark.parametrize("delay", [0.0, 0.3, 1.5])
def test_a_signal_while_the_prefetch_is_in_flight_is_a_clean_interrupt(
    engine: Engine, db_url: str, delay: float
) -> None:
    """SIGINT / SIGTERM while the prefetched request hangs (during the imports after it, or while the
    run waits for its answer): the one-line message and exit 1, never a traceback."""
    for sig in (signal.SIGINT, signal.SIGTERM):
        with socket.create_server(("127.0.0.1", 0)) as hanging:  # accepts, never answers
            proc = start_sync(db_url, f"http://127.0.0.1:{hanging.getsockname()[1]}")
            hanging.settimeout(30)
            conn, _ = hanging.accept()  # the prefetch is on the wire
            time.sleep(delay)
            proc.send_signal(sig)
            try:
                _out, err = proc.communicate(timeout=10)  # at once, not when the request times out
            finally:
                proc.kill()
                conn.close()
        assert "Traceback" not in err, err
        assert proc.returncode == 1 and err.strip() in (INTERRUPTED_LINE, EARLY), err
