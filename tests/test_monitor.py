"""Pings, notifications and metrics against real HTTP receivers on loopback and real databases."""

from __future__ import annotations

import json
import logging
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import Engine, insert

from etl.ops import monitor
from etl.ops.monitor import Pinger, RunMonitor, TailHandler, headline, notify, should_notify, truncate_tail
from etl.warehouse.schema import classify_jobs, etl_checkpoints, etl_sync_runs

API_KEY = "llx-SECRET-api-key-1234567890"
CHECK = "5f0c3f8e-1111-4a2b-9c3d-c0ffee000001"  # a healthchecks ping URL's secret part
TIMEOUT = 0.5


# -- receivers -------------------------------------------------------------------------------------


@dataclass
class Hit:
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes

    @property
    def action(self) -> str:
        return self.path.rstrip("/").rsplit("/", 1)[-1]


@dataclass
class Receiver:
    """A real HTTP server in a thread: records every POST, answers ``statuses`` in turn, then 200."""

    statuses: list[int] = field(default_factory=list)
    headers: dict[str, str] = field(default_factory=dict)
    hits: list[Hit] = field(default_factory=list)
    url: str = ""

    def handler(self) -> type[BaseHTTPRequestHandler]:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                parts = urlsplit(self.path)
                receiver.hits.append(Hit(parts.path, parse_qs(parts.query), dict(self.headers), body))
                status = receiver.statuses.pop(0) if receiver.statuses else 200
                self.send_response(status)
                for k, v in receiver.headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"OK")

            def log_message(self, format: str, *args: Any) -> None:
                pass

        return Handler


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    rec = Receiver()
    server = ThreadingHTTPServer(("127.0.0.1", 0), rec.handler())
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    rec.url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        yield rec
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


@pytest.fixture
def closed_port_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}"


@pytest.fixture
def hanging_url() -> Iterator[str]:
    """Listens (the kernel completes the handshake) but never accepts, reads or answers."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(16)
        yield f"http://127.0.0.1:{s.getsockname()[1]}"


def warnings_of(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        r.getMessage() for r in caplog.records if r.name == "etl.monitor" and r.levelno >= logging.WARNING
    ]


# -- pings -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("code", [0, 1, 2, 3, 4])
def test_start_then_finish_share_the_rid_and_name_the_exit_code(receiver: Receiver, code: int) -> None:
    mon = RunMonitor(ping_url=f"{receiver.url}/{CHECK}", secrets=[API_KEY], timeout=TIMEOUT, host="db1")
    mon.start()
    logging.getLogger("etl.api").warning("request failed with key %s, retrying", API_KEY)
    mon.finish(code, summary={"run_id": 7, "jobs_listed": 3400, "quarantined": 12} if code != 2 else None)

    start, end = receiver.hits
    assert start.path == f"/{CHECK}/start"
    assert end.path == f"/{CHECK}/{'log' if code == 4 else code}"
    assert start.query["rid"] == end.query["rid"] == [mon.pinger.rid if mon.pinger else ""]
    body = end.body.decode()
    assert API_KEY not in body and "***" in body
    assert body.rstrip().splitlines()[-1].startswith("classify-etl sync on db1: ")
    assert f"(exit {code})" in body
    assert len(end.body) <= monitor.DEFAULT_BODY_LIMIT


def test_the_url_may_have_a_trailing_slash_and_a_query(receiver: Receiver) -> None:
    pinger = Pinger(f"{receiver.url}/ping/project-key/nightly/?create=1", timeout=TIMEOUT, rid="r1")
    assert pinger.start()
    assert pinger.finish(0, "done")
    assert [h.path for h in receiver.hits] == [
        "/ping/project-key/nightly/start",
        "/ping/project-key/nightly/0",
    ]
    assert all(h.query == {"create": ["1"], "rid": ["r1"]} for h in receiver.hits)


def test_the_body_is_cut_to_the_announced_limit_keeping_the_end(receiver: Receiver) -> None:
    receiver.headers["Ping-Body-Limit"] = "300"
    handler = TailHandler(secrets=[API_KEY])
    logger = logging.getLogger("etl.test_monitor")
    logger.addHandler(handler)
    try:
        for i in range(200):
            logger.warning("page %d: ünïcödé — key %s", i, API_KEY)
    finally:
        logger.removeHandler(handler)
    pinger = Pinger(f"{receiver.url}/{CHECK}", timeout=TIMEOUT)
    pinger.start()
    assert pinger.body_limit == 300
    pinger.finish(1, handler.text() + "\nthe summary line")
    body = receiver.hits[-1].body
    assert len(body) <= 300
    text = body.decode()  # still valid UTF-8 after the cut
    assert text.endswith("the summary line") and "page 199" in text and "page 0:" not in text
    assert API_KEY not in text


def test_without_a_limit_header_the_body_is_cut_to_10000_bytes(receiver: Receiver) -> None:
    pinger = Pinger(f"{receiver.url}/{CHECK}", timeout=TIMEOUT)
    pinger.start()
    assert pinger.body_limit is None
    pinger.finish(0, "€" * 20_000 + "\nEND")
    body = receiver.hits[-1].body
    assert len(body) <= 10_000 and body.decode().endswith("END")


@pytest.mark.parametrize("limit", [1, 5, 40, 41, 100])
def test_truncate_tail_never_exceeds_the_limit_nor_splits_a_character(limit: int) -> None:
    text = "".join(f"line {i} ☃€\n" for i in range(50)) + "last"
    cut = truncate_tail(text, limit)
    assert len(cut.encode()) <= limit
    assert text.endswith(cut.split("]\n", 1)[-1])
    assert truncate_tail("short", 100) == "short"


SENDERS = {
    "start": lambda url: Pinger(f"{url}/{CHECK}", timeout=TIMEOUT).start(),
    "finish": lambda url: Pinger(f"{url}/{CHECK}", timeout=TIMEOUT).finish(1, "boom"),
    "notify": lambda url: notify(f"{url}/services/T0/B0/{CHECK}", text="t", data={}, timeout=TIMEOUT),
}


@pytest.mark.parametrize("send", SENDERS.values(), ids=SENDERS.keys())
@pytest.mark.parametrize("kind", ["down", "500", "hangs"])
def test_a_broken_receiver_costs_a_bounded_time_and_one_warning(
    kind: str,
    send: Any,
    receiver: Receiver,
    closed_port_url: str,
    hanging_url: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    url = {"down": closed_port_url, "500": receiver.url, "hangs": hanging_url}[kind]
    receiver.statuses = [500, 500, 500]
    started = time.monotonic()
    assert send(url) is False
    assert time.monotonic() - started < 5
    if kind == "500":
        assert len(receiver.hits) == 2  # one retry, no more
    (warning,) = warnings_of(caplog)
    assert CHECK not in warning and "127.0.0.1" in warning
    assert not [r for r in caplog.records if r.exc_info]


def test_a_client_error_is_not_retried(receiver: Receiver, caplog: pytest.LogCaptureFixture) -> None:
    receiver.statuses = [404]
    assert not Pinger(f"{receiver.url}/{CHECK}", timeout=TIMEOUT).start()
    assert len(receiver.hits) == 1
    assert warnings_of(caplog) == [f"ping start to {receiver.url}/… failed: HTTP 404"]


def test_a_server_error_then_success_is_one_retry_and_no_warning(
    receiver: Receiver, caplog: pytest.LogCaptureFixture
) -> None:
    receiver.statuses = [503]
    assert Pinger(f"{receiver.url}/{CHECK}", timeout=TIMEOUT).start()
    assert len(receiver.hits) == 2 and warnings_of(caplog) == []


def test_mask_url_keeps_only_scheme_and_host() -> None:
    assert monitor.mask_url(f"https://hc-ping.com/{CHECK}?create=1") == "https://hc-ping.com/…"
    assert monitor.mask_url("http://user:pw@[::1]:8080/x") == "http://[::1]:8080/…"
    assert monitor.mask_url("https://hooks.example.com") == "https://hooks.example.com"
    assert monitor.mask_url(f"hc-ping.com/{CHECK}") == "<invalid URL>"


def test_an_invalid_ping_url_is_one_warning(caplog: pytest.LogCaptureFixture) -> None:
    assert not Pinger(f"hc-ping.com/{CHECK}", timeout=TIMEOUT).start()
    (warning,) = warnings_of(caplog)
    assert CHECK not in warning


# -- notifications ---------------------------------------------------------------------------------


def test_notify_posts_slack_shaped_json(receiver: Receiver) -> None:
    assert notify(f"{receiver.url}/hook", text="one line", data={"run_id": 3, "requests": {"v1_list": 2}})
    (hit,) = receiver.hits
    assert hit.headers["Content-Type"] == "application/json"
    assert json.loads(hit.body) == {"text": "one line", "data": {"run_id": 3, "requests": {"v1_list": 2}}}


@pytest.mark.parametrize(
    ("code", "on", "expected"),
    [(0, "failure", False), (1, "failure", True), (2, "failure", True), (3, "failure", True)]
    + [(4, "failure", False), (0, "always", True), (3, "always", True), (4, "always", True)],
)
def test_should_notify(code: int, on: monitor.NotifyOn, expected: bool) -> None:
    assert should_notify(code, on) is expected


def test_headline_is_one_line() -> None:
    summary = {"run_id": 17, "jobs_listed": 3400, "quarantined": 12, "failed": 0, "hydrated": 0}
    assert (
        headline(3, summary, host="db1")
        == "classify-etl sync on db1: partial (exit 3) — 12 quarantined, 3,400 listed, run 17"
    )
    line = headline(2, None, error="no API key:\n pass --api-key", host="db1")
    assert line == "classify-etl sync on db1: config error (exit 2) — no API key: pass --api-key"


@pytest.mark.parametrize(
    ("code", "on", "sent"), [(0, "failure", False), (0, "always", True), (1, "failure", True)]
)
def test_the_run_monitor_notifies_per_notify_on(receiver: Receiver, code: int, on: Any, sent: bool) -> None:
    mon = RunMonitor(notify_url=f"{receiver.url}/hook", notify_on=on, timeout=TIMEOUT, host="h")
    mon.start()
    mon.finish(
        code, summary={"run_id": 1, "jobs_listed": 5, "outcome": "x"}, error="it broke" if code else None
    )
    assert len(receiver.hits) == int(sent)
    if sent:
        payload = json.loads(receiver.hits[0].body)
        assert "\n" not in payload["text"] and f"(exit {code})" in payload["text"]
        assert payload["data"]["run_id"] == 1 and payload["data"]["exit_code"] == code


def test_a_config_error_before_any_run_pings_2_and_notifies(receiver: Receiver) -> None:
    mon = RunMonitor(ping_url=f"{receiver.url}/{CHECK}", notify_url=f"{receiver.url}/hook", timeout=TIMEOUT)
    mon.finish(2, error="no API key: pass --api-key or set LLAMA_CLOUD_API_KEY")
    assert [h.path for h in receiver.hits] == [f"/{CHECK}/2", "/hook"]
    assert b"no API key" in receiver.hits[0].body
    assert json.loads(receiver.hits[1].body)["data"]["error"].startswith("no API key")


# -- log capture -----------------------------------------------------------------------------------


def test_tail_handler_keeps_the_last_lines_and_redacts_every_form_of_a_secret() -> None:
    password = "p@ss/w0rd!"
    handler = TailHandler(max_bytes=400, secrets=[API_KEY, password, "", None, "db"])
    logger = logging.getLogger("etl.test_tail")
    logger.addHandler(handler)
    try:
        for i in range(100):
            logger.warning(
                "line %03d key=%s url=postgresql://u:p%%40ss%%2Fw0rd%%21@h/db pw=%s", i, API_KEY, password
            )
    finally:
        logger.removeHandler(handler)
    text = handler.text()
    assert len(text.encode()) <= 400
    assert "line 099" in text and "line 000" not in text
    assert API_KEY not in text and password not in text and "p%40ss%2Fw0rd%21" not in text
    assert "@h/db" in text  # "db" is too short to be redacted without garbling every line


def test_the_run_monitor_redacts_its_own_urls_from_the_body(receiver: Receiver) -> None:
    ping = f"{receiver.url}/{CHECK}"
    mon = RunMonitor(ping_url=ping, timeout=TIMEOUT)
    mon.start()
    logging.getLogger("etl").warning("configured ping %s", ping)
    mon.finish(0, summary={"run_id": 1, "jobs_listed": 0})
    assert CHECK.encode() not in receiver.hits[-1].body
    assert mon.log_handler not in logging.getLogger("etl").handlers


# -- metrics ---------------------------------------------------------------------------------------

T0 = datetime(2025, 1, 1, 12, 0, tzinfo=UTC)


def add_run(engine: Engine, outcome: str, started: datetime, minutes: float, scopes: list[str]) -> int:
    with engine.begin() as conn:
        result = conn.execute(
            insert(etl_sync_runs)
            .values(
                started_at=started,
                finished_at=started + timedelta(minutes=minutes),
                outcome=outcome,
                scopes=scopes,
                jobs_listed=100,
                jobs_new=4,
                jobs_changed=6,
                jobs_hydrated=10,
                jobs_quarantined=2 if outcome == "partial" else 0,
                jobs_deleted=1,
            )
            .returning(etl_sync_runs.c.id)
        )
        return int(result.scalar_one())


def seed(engine: Engine) -> None:
    # Every row names every column: an executemany takes its columns from the first row.
    job = {"project_id": "p1", "first_seen_at": T0, "hydration_status": "ok", "deleted_at": None}
    with engine.begin() as conn:
        conn.execute(
            insert(classify_jobs),
            [
                {**job, "id": "j1", "status": "completed"},
                {**job, "id": "j2", "status": "completed"},
                {**job, "id": "j3", "status": "failed"},
                {**job, "id": "j4", "status": "completed", "deleted_at": T0},
            ],
        )
        conn.execute(
            insert(etl_checkpoints),
            [
                {"scope": "default", "source": "v1", "updated_at": datetime.now(UTC) - timedelta(seconds=90)},
                {"scope": "project:p2", "source": "v2", "updated_at": datetime.now(UTC) - timedelta(hours=1)},
            ],
        )


def parse(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def sample(metrics: dict[Any, float], name: str, **labels: str) -> float:
    return metrics[(name, tuple(sorted(labels.items())))]


def test_metrics_after_a_success_then_a_failed_run(engine: Engine, tmp_path: Path) -> None:
    seed(engine)
    textfiles = tmp_path / "textfile"  # node_exporter's directory: nothing else may appear in it
    textfiles.mkdir()
    path = textfiles / "classify_etl.prom"
    ok_id = add_run(engine, "success", T0, 2, ["default"])
    summary = {"run_id": ok_id, "requests": {"v1_list": 3, "v2_get": 10}, "scopes": [{"scope": "default"}]}
    with engine.connect() as conn:
        assert monitor.write_metrics(path, conn, run=summary, exit_code=0)
    first = parse(path.read_text())
    success_ts = (T0 + timedelta(minutes=2)).timestamp()
    assert sample(first, "classify_etl_last_success_timestamp_seconds", scope="default") == success_ts
    assert sample(first, "classify_etl_last_run_timestamp_seconds", scope="default") == success_ts
    assert sample(first, "classify_etl_last_run_duration_seconds", scope="default") == 120
    assert sample(first, "classify_etl_last_exit_code", scope="default") == 0
    assert sample(first, "classify_etl_last_run_jobs", scope="default", outcome="changed") == 10
    assert sample(first, "classify_etl_last_run_jobs", scope="default", outcome="deleted") == 1
    assert sample(first, "classify_etl_last_run_api_requests", scope="default", endpoint="v2_get") == 10
    assert sample(first, "classify_etl_jobs", status="completed") == 2  # the deleted one is not counted
    assert sample(first, "classify_etl_jobs", status="failed") == 1
    assert sample(first, "classify_etl_jobs", status="running") == 0
    assert 89 <= sample(first, "classify_etl_checkpoint_age_seconds", scope="default", source="v1") < 200
    assert sample(first, "classify_etl_checkpoint_age_seconds", scope="project:p2", source="v2") >= 3600

    failed_id = add_run(engine, "failed", T0 + timedelta(hours=1), 1, ["default"])
    with engine.connect() as conn:
        assert monitor.write_metrics(path, conn, run={"run_id": failed_id, "requests": {}}, exit_code=1)
    second = parse(path.read_text())
    assert sample(second, "classify_etl_last_success_timestamp_seconds", scope="default") == success_ts
    assert (
        sample(second, "classify_etl_last_run_timestamp_seconds", scope="default")
        == (T0 + timedelta(hours=1, minutes=1)).timestamp()
    )
    assert sample(second, "classify_etl_last_exit_code", scope="default") == 1
    assert not any(name == "classify_etl_last_run_api_requests" for name, _ in second)
    assert [p.name for p in textfiles.iterdir()] == ["classify_etl.prom"]

    with engine.connect() as conn:
        from_db = parse(monitor.metrics_text(conn))
    assert sample(from_db, "classify_etl_last_exit_code", scope="default") == 1  # from the outcome
    assert sample(from_db, "classify_etl_last_success_timestamp_seconds", scope="default") == success_ts
    assert ("classify_etl_last_exit_code", (("scope", "project:p2"),)) not in from_db  # never ran


def test_metrics_from_the_database_alone_derive_exit_codes_per_scope(engine: Engine) -> None:
    add_run(engine, "success", T0, 1, ["project:a"])
    add_run(engine, "partial", T0 + timedelta(hours=1), 1, ["project:a", "project:b"])
    add_run(engine, "abandoned", T0 + timedelta(hours=2), 1, ["project:c"])
    with engine.connect() as conn:
        metrics = parse(monitor.metrics_text(conn))
    assert sample(metrics, "classify_etl_last_exit_code", scope="project:a") == 3
    assert sample(metrics, "classify_etl_last_exit_code", scope="project:b") == 3
    assert sample(metrics, "classify_etl_last_exit_code", scope="project:c") == 1
    partial_end = (T0 + timedelta(hours=1, minutes=1)).timestamp()
    assert sample(metrics, "classify_etl_last_success_timestamp_seconds", scope="project:b") == partial_end
    assert ("classify_etl_last_success_timestamp_seconds", (("scope", "project:c"),)) not in metrics


def test_without_the_database_the_metrics_keep_what_they_knew(engine: Engine, tmp_path: Path) -> None:
    seed(engine)
    add_run(engine, "success", T0, 2, ["default"])
    path = tmp_path / "m.prom"
    with engine.connect() as conn:
        monitor.write_metrics(path, conn, exit_code=0, scopes=["default"])
    assert monitor.write_metrics(path, None, exit_code=2)
    metrics = parse(path.read_text())
    success_ts = (T0 + timedelta(minutes=2)).timestamp()
    assert sample(metrics, "classify_etl_last_success_timestamp_seconds", scope="default") == success_ts
    assert sample(metrics, "classify_etl_last_exit_code", scope="default") == 2
    assert sample(metrics, "classify_etl_last_exit_code", scope="project:p2") == 2
    assert not any(name == "classify_etl_checkpoint_age_seconds" for name, _ in metrics)


def test_a_failed_metrics_write_is_one_warning(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "missing" / "m.prom"
    assert monitor.write_metrics(path, None, exit_code=1) is False
    (warning,) = warnings_of(caplog)
    assert "m.prom" in warning
    mon = RunMonitor(metrics_file=path)
    mon.finish(1)  # never raises
    assert not (tmp_path / "missing").exists()


def test_the_run_monitor_writes_metrics_even_when_the_database_is_gone(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from etl.warehouse import db

    path = tmp_path / "m.prom"
    gone = db.make_engine(f"sqlite:///{tmp_path / 'no' / 'such' / 'dir.db'}")
    try:
        RunMonitor(metrics_file=path).finish(2, engine=gone, scopes=["default"])
    finally:
        gone.dispose()
    assert sample(parse(path.read_text()), "classify_etl_last_exit_code", scope="default") == 2
    (warning,) = warnings_of(caplog)
    assert "database" in warning


def test_a_locked_run_writes_no_metrics(tmp_path: Path) -> None:
    RunMonitor(metrics_file=tmp_path / "m.prom").finish(4)
    assert list(tmp_path.iterdir()) == []
