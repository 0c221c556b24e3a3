"""The start-up prefetch (``etl.prefetch``): the run's first list page, asked for before the heavy
imports, is used only when it is exactly the run's first request, and never changes the data."""

from __future__ import annotations

import os
import pwd
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import CliRunner
from sqlalchemy import Engine

from etl import cli, db, load, prefetch, scopes
from etl.config import SecretStr, Settings
from etl.revisions import head_from_files
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
        **{"page_size": 50, "request_timeout": 10.0, **values},
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


def _chain_done(sent: prefetch.Prefetch) -> None:
    """Wait for the prefetch thread to end its chain (it is a daemon: nothing else joins it)."""
    for thread in threading.enumerate():
        if thread.name == "classify-etl-prefetch":
            thread.join(timeout=30)
    assert sent.future.done()


def test_the_prefetch_walks_on_and_the_run_takes_every_page_once(
    engine: Engine, db_url: str, sim: SimServer
) -> None:
    """While the run starts, the prefetch follows the tokens; the run takes those pages in order and
    asks for none of them again (150 jobs, 50 a page: all 3 pages come from the prefetch)."""
    sent = _started(_settings(sim.url, db_url))
    _chain_done(sent)
    assert sent.pages == 3 and sim.state.counts["v1_list"] == 3
    result = sync(engine, sim.url, prefetched=sent)
    assert sent.used
    assert sim.state.counts["v1_list"] == 3, "no page asked for twice"
    assert result.requests["v1_list"] == 3
    assert_tables_equal_truth(engine, sim.state)


def test_the_prefetch_chain_is_bounded_and_the_run_goes_on_from_its_end(
    engine: Engine, db_url: str, sim: SimServer
) -> None:
    """150 jobs at 2 a page are 75 pages: the prefetch sends ``PREFETCH_PAGES`` (64) of them and
    stops there; the run takes those and asks for the rest itself, each page once."""
    sent = _started(_settings(sim.url, db_url, page_size=2))
    _chain_done(sent)
    assert sent.pages == prefetch.PREFETCH_PAGES == sim.state.counts["v1_list"] == 64
    result = sync(engine, sim.url, prefetched=sent, page_size=2)
    assert sent.used
    assert sim.state.counts["v1_list"] == result.requests["v1_list"] == 75
    assert_tables_equal_truth(engine, sim.state)


@pytest.mark.parametrize(
    ("status", "body", "followed"),
    [
        (200, {"items": [{"id": "a"}], "next_page_token": "t2"}, "t2"),
        (200, {"items": [{"id": "a"}], "next_page_token": None}, None),
        (200, {"items": [{"id": "a"}], "next_page_token": ""}, None),
        (200, {"items": [{"id": "a"}], "next_page_token": 7}, None),
        (200, {"items": [], "next_page_token": "t2"}, None),
        (200, {"items": "x", "next_page_token": "t2"}, None),
        (200, ["t2"], None),
        (500, {"items": [{"id": "a"}], "next_page_token": "t2"}, None),
    ],
)
def test_the_prefetch_follows_only_a_page_the_run_would_follow(status: int, body: Any, followed: Any) -> None:
    import json

    answer = prefetch.Answer(status, [(b"content-type", b"application/json")], json.dumps(body).encode(), {})
    assert prefetch._next_token(answer) == followed


def test_the_prefetch_reads_a_gzipped_page_for_its_token() -> None:
    import gzip
    import json

    raw = gzip.compress(json.dumps({"items": [{"id": "a"}], "next_page_token": "t2"}).encode())
    answer = prefetch.Answer(200, [(b"content-encoding", b"gzip")], raw, {})
    assert prefetch._next_token(answer) == "t2"
    assert prefetch._next_token(prefetch.Answer(200, [(b"content-encoding", b"gzip")], b"{", {})) is None


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


# -- the start hint (PostgreSQL): the state the last run left, so that psycopg waits ------------------


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """This test's own cache directory (``$XDG_CACHE_HOME``), empty."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.delenv(prefetch.NO_HINT_ENV, raising=False)
    return tmp_path / "cache"


def _hint_file(database_url: str, base_url: str, scope: str = "default") -> Path:
    path = prefetch.hint_path(database_url, base_url, scope)
    assert path is not None
    return path


def _files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file()) if root.exists() else []


def _with_database(url: str, name: str) -> str:
    return url.rpartition("/")[0] + "/" + name


def test_a_postgres_run_leaves_a_hint_and_the_next_prefetch_reads_no_database(
    pg_engine: Engine, pg_url: str, sim: SimServer, cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    done = CliRunner().invoke(cli.main, sync_args(pg_url, sim), env={"CLASSIFY_ETL_CONFIG": None})
    assert done.exit_code == 0, done.output
    hint = _hint_file(pg_url, sim.url)
    assert _files(cache) == [hint] and hint.stat().st_mode & 0o777 == 0o600
    assert prefetch.read_hint(hint) == prefetch.State(head_from_files(), None, None)
    # Another process, as cron's next run: the request goes out and psycopg is not imported for it.
    probe = (
        "import sys\nfrom etl import prefetch\nfrom etl.config import SecretStr, Settings\n"
        f"s = Settings(api_key=SecretStr({API_KEY!r}), base_url={sim.url!r}, "
        f"database_url=SecretStr({pg_url!r}), page_size=50)\n"
        "sent = prefetch.start(s, monitored=False)\nsent.future.result(timeout=10)\n"
        "print(sent is not None, 'psycopg' in sys.modules)"
    )
    sim.state.request_log.clear()
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60)
    assert out.stdout.split() == ["True", "False"], out.stderr
    assert _v1_lists(sim.state) == 1
    # In this process: the database is not read for the prediction, and the run takes the answer.
    reads: list[str] = []
    monkeypatch.setattr(prefetch, "read_state", lambda *args: reads.append("read"))
    sim.state.request_log.clear()
    sent = _started(_settings(sim.url, pg_url))
    assert reads == []
    sync(pg_engine, sim.url, prefetched=sent)
    assert sent.used
    assert _v1_lists(sim.state) == 1, "page 1 was asked for once: by the prefetch"
    assert_tables_equal_truth(pg_engine, sim.state)


def test_a_stale_hint_costs_one_get_and_the_data_is_right(
    pg_engine: Engine, pg_url: str, sim: SimServer, cache: Path
) -> None:
    hint = _hint_file(pg_url, sim.url)
    prefetch.write_hint(hint, prefetch.State(head_from_files(), None, "stale-token"))
    sent = _started(_settings(sim.url, pg_url))
    assert _v1_lists(sim.state, token="stale-token") == 1, "the hint's request went out"
    sync(pg_engine, sim.url, prefetched=sent)
    assert not sent.used
    assert _v1_lists(sim.state) == 1, "page 1 (the database's checkpoint: none) asked for by the run"
    assert_tables_equal_truth(pg_engine, sim.state)
    prefetch.remember(_settings(sim.url, pg_url), monitored=False)
    assert prefetch.read_hint(hint) == prefetch.State(head_from_files(), None, None), "put right"


def test_a_hint_left_before_a_migration_is_not_used(
    pg_engine: Engine, pg_url: str, sim: SimServer, cache: Path
) -> None:
    prefetch.write_hint(_hint_file(pg_url, sim.url), prefetch.State("0001", None, "before-0002"))
    sent = _started(_settings(sim.url, pg_url))  # the database (at head) is read instead
    assert _v1_lists(sim.state) == 1 and _v1_lists(sim.state, token="before-0002") == 0
    sync(pg_engine, sim.url, prefetched=sent)
    assert sent.used


def test_a_hint_for_another_database_api_or_scope_is_not_used(
    pg_engine: Engine, pg_url: str, sim: SimServer, cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ours = _hint_file(pg_url, sim.url)
    others = [
        _hint_file(_with_database(pg_url, "another_db"), sim.url),
        _hint_file(pg_url, "http://127.0.0.1:9"),
        _hint_file(pg_url, sim.url, "project:p1"),
    ]
    monkeypatch.setenv("PGOPTIONS", "-c search_path=elsewhere")  # libpq reads PG* variables too
    others.append(_hint_file(pg_url, sim.url))
    monkeypatch.delenv("PGOPTIONS")
    assert ours not in others and len(set(others)) == len(others)
    for i, path in enumerate(others):
        prefetch.write_hint(path, prefetch.State(head_from_files(), None, f"other-{i}"))
    sent = _started(_settings(sim.url, pg_url))
    assert _v1_lists(sim.state) == 1, "page 1, from the database: no other hint was read"
    sync(pg_engine, sim.url, prefetched=sent)
    assert sent.used
    assert not [r for r in sim.state.request_log if str(r.params.get("page_token")).startswith("other-")]


def test_the_hint_holds_no_key_and_no_password(
    pg_engine: Engine, pg_url: str, sim: SimServer, cache: Path
) -> None:
    user, at, host = pg_url.partition("://")[2].partition("@")
    assert at and ":" not in user  # the test server trusts its clients: a password is accepted, unused
    with_password = f"{pg_url.partition('://')[0]}://{user}:hint-s3cret@{host}"
    done = CliRunner().invoke(cli.main, sync_args(with_password, sim), env={"CLASSIFY_ETL_CONFIG": None})
    assert done.exit_code == 0, done.output
    [hint] = _files(cache)
    assert hint == _hint_file(pg_url, sim.url), "keyed by the URL without its password"
    text = hint.read_text()
    assert API_KEY not in text and "hint-s3cret" not in text and host not in text, text


def check_no_hint_run(
    database_url: str, sim: SimServer, env: dict[str, str | None], *, cache_files: list[Path]
) -> None:
    """A run in ``env`` works, says nothing about the cache, and leaves ``cache_files`` as they were."""
    before = {p: p.read_bytes() for p in cache_files}
    home = Path(pwd.getpwuid(os.getuid()).pw_dir, ".cache", "classify-etl")
    home_before = _files(home)
    done = CliRunner().invoke(
        cli.main, [*sync_args(database_url, sim), "-v"], env={"CLASSIFY_ETL_CONFIG": None, **env}
    )
    assert done.exit_code == 0, done.output
    assert "hint" not in done.output.lower() and "cache" not in done.output.lower(), done.output
    assert {p: p.read_bytes() for p in cache_files if p.exists()} == before
    assert _files(home) == home_before


def test_without_home_or_a_writable_cache_a_run_works_and_writes_no_hint(
    pg_engine: Engine, pg_url: str, sim: SimServer, tmp_path: Path
) -> None:
    with_no_home: dict[str, str | None] = {"HOME": None, "XDG_CACHE_HOME": None}  # cron's bare environment
    check_no_hint_run(pg_url, sim, with_no_home, cache_files=[])
    blocked = tmp_path / "not-a-directory"
    blocked.write_text("x")
    check_no_hint_run(pg_url, sim, {"XDG_CACHE_HOME": str(blocked)}, cache_files=[blocked])
    assert blocked.read_text() == "x" and _files(tmp_path) == [blocked]


def test_classify_etl_no_start_hint_1_neither_reads_nor_writes_it(
    pg_engine: Engine, pg_url: str, sim: SimServer, cache: Path
) -> None:
    """As documented (docs/operations.md): ``CLASSIFY_ETL_NO_START_HINT=1``."""
    hint = _hint_file(pg_url, sim.url)
    prefetch.write_hint(hint, prefetch.State(head_from_files(), None, "from-the-hint"))
    check_no_hint_run(pg_url, sim, {"CLASSIFY_ETL_NO_START_HINT": "1"}, cache_files=[hint])
    assert _v1_lists(sim.state, token="from-the-hint") == 0 and _v1_lists(sim.state) == 1
    assert _files(cache) == [hint]


def test_sqlite_runs_leave_no_hint(engine: Engine, sqlite_url: str, sim: SimServer, cache: Path) -> None:
    done = CliRunner().invoke(cli.main, sync_args(sqlite_url, sim), env={"CLASSIFY_ETL_CONFIG": None})
    assert done.exit_code == 0, done.output
    assert prefetch.hint_path(sqlite_url, sim.url, "default") is None
    assert _files(cache) == []
