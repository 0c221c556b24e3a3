"""Watching cron runs from outside: cron-monitor pings, run notifications, Prometheus metrics.

Everything here is best effort: a monitor that is down, slow or misconfigured costs at most
about ``2 x timeout`` per HTTP call and one warning line on the ``etl.monitor`` logger (URLs
masked to ``scheme://host/…``: ping and webhook URLs embed their secret in the path), never
an exception, a traceback or a different exit code.

Pieces, each usable alone:

- ``Pinger``: the healthchecks.io ping protocol (``/start``, ``/<exit code>``, ``/log``, each
  with ``?rid=``), which Cronitor and Sentry Crons' healthchecks-style endpoints also accept.
- ``notify`` / ``should_notify`` / ``headline``: one JSON POST ``{"text": ..., "data": ...}``
  per run, the shape a Slack incoming webhook accepts.
- ``TailHandler``: a logging handler keeping the last lines of the run's log, secrets redacted,
  for the ping body.
- ``write_metrics`` / ``metrics_text``: Prometheus metrics for node_exporter's textfile collector.
- ``RunMonitor``: all of the above around one run; each part off when its setting is None.

How the CLI wraps ``sync`` (exit codes as in ``etl.cli``)::

    mon = RunMonitor(ping_url=..., notify_url=..., notify_on="failure", metrics_file=...,
                     secrets=[api_key, database_password])
    mon.start()          # after setup_logging(), before build_settings() and the first request
    code, summary, error, engine = 1, None, None, None
    try:
        ...                                   # build settings; engine = db.make_engine(url)
        result = do_sync(settings, ...)
        summary, code = summary_dict(result), exit_code(result)
    except BaseException as exc:
        code, error = <the exit code and one-line message handle_errors gives exc>
        raise
    finally:
        mon.finish(code, summary=summary, engine=engine, error=error)

``finish`` is also right for a failure before any run exists (a config error: exit 2, no
summary, perhaps no engine): the ping says 2, the notification goes out, the metrics file
says 2 and keeps what it knew. Click's own usage errors happen before the command body and
are not seen. Do not monitor ``--dry-run`` runs.

Decisions:

- Ping bodies keep the END of the log (the summary and the error are last), cut in UTF-8 bytes
  to the server's ``Ping-Body-Limit`` header from ``/start``, else 10,000 bytes.
- Exit 4 (another run holds the lock) pings ``/log``: the running sync reports the outcome.
  Caveat: healthchecks.io remembers only the latest ``/start``'s rid, so the skipped run's
  ``/start`` makes the running one's finish ping unmatched and the check may go "down" after its
  grace time. Until the lock is taken before ``start()`` can be called, set the grace time
  longer than the cron interval, or accept the alert as "runs overlap".
- A run "succeeded" (``classify_etl_last_success_timestamp_seconds``) when it loaded, i.e.
  outcome success or partial (exit 0 or 3): partial runs are alerted on by their exit code.
- ``classify_etl_last_run_jobs{outcome="changed"}`` is new + changed: what the run hydrated or
  tried to. A run over several scopes reports its run-wide counters under each scope label:
  do not sum them across scopes.
- Without a database (``conn=None``: it is down, or the config is broken) the metrics file keeps
  the previous file's series, except the checkpoint ages, which would freeze, and takes this
  invocation's exit code; so ``time() - last_success`` alerts keep working while the DB is down.
  Exit 4 writes no metrics: the running sync will.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import time
import uuid
from collections import deque
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any, Literal
from urllib.parse import quote, quote_plus

import httpx
from prometheus_client import CollectorRegistry, generate_latest, write_to_textfile
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.registry import Collector
from sqlalchemy import Connection, Engine, Row, func, select
from sqlalchemy.exc import SQLAlchemyError

from etl.errors import EXIT_LOCKED
from etl.warehouse.schema import CANONICAL_STATUSES, classify_jobs, etl_checkpoints, etl_sync_runs

log = logging.getLogger("etl.monitor")


#: Exit codes ``notify_on="failure"`` reports: failed, config error, partial.
FAILURE_CODES = frozenset({1, 2, 3})
DEFAULT_BODY_LIMIT = 10_000
USER_AGENT = "classify-etl-monitor"
NotifyOn = Literal["failure", "always"]

_OUTCOME_WORDS = {0: "success", 1: "failed", 2: "config error", 3: "partial", 4: "skipped (locked)"}


# -- HTTP -----------------------------------------------------------------------------------------


def mask_url(url: str | httpx.URL) -> str:
    """``scheme://host[:port]/…``: the path and query of a ping or webhook URL are its secret."""
    try:
        u = httpx.URL(str(url))
    except Exception:
        return "<invalid URL>"
    if not u.scheme or not u.host:
        return "<invalid URL>"
    host = f"[{u.host}]" if ":" in u.host else u.host
    port = f":{u.port}" if u.port else ""
    rest = "/…" if u.path not in ("", "/") or u.query else ""
    return f"{u.scheme}://{host}{port}{rest}"


def _post(
    url: str | httpx.URL, *, content: bytes, content_type: str, timeout: float, what: str
) -> httpx.Response | None:
    """POST with one retry on a transport error or 5xx; the 2xx response, or None and one warning."""
    reason = "not sent"
    for attempt in range(2):
        if attempt:
            time.sleep(min(1.0, timeout / 4))
        try:
            with httpx.Client(timeout=timeout, headers={"User-Agent": USER_AGENT}) as client:
                resp = client.post(url, content=content, headers={"Content-Type": content_type})
        except httpx.TransportError as exc:
            reason = f"{type(exc).__name__}: {str(exc).strip() or 'no detail'}".splitlines()[0]
            continue
        except Exception as exc:  # an invalid URL and the like: retrying will not help
            reason = type(exc).__name__
            break
        if resp.status_code < 300:
            return resp
        reason = f"HTTP {resp.status_code}"
        if resp.status_code < 500:
            break
    # httpx's messages do not quote the URL today; make sure a future one cannot leak its secret.
    reason = reason.replace(str(url), mask_url(url))
    log.warning("%s to %s failed: %s", what, mask_url(url), reason)
    return None


def truncate_tail(text: str, limit: int) -> str:
    """The end of ``text`` in at most ``limit`` UTF-8 bytes, cut at a line start when it can be."""
    data = text.encode()
    if len(data) <= limit:
        return text
    marker = f"[… {len(data) - limit:,}+ bytes cut]\n".encode()
    keep = limit - len(marker) if limit > 2 * len(marker) else limit
    tail = data[len(data) - keep :]
    newline = tail.find(b"\n")
    if 0 <= newline < len(tail) - 1:
        tail = tail[newline + 1 :]
    # errors="ignore" drops a character the cut split in half.
    body = tail.decode(errors="ignore")
    return (marker.decode() + body) if keep < limit else body


class Pinger:
    """healthchecks.io pings for one run: ``start()`` then ``finish(exit_code, body)``, same ``rid``."""

    def __init__(self, url: str, *, timeout: float = 10.0, rid: str | None = None) -> None:
        self.url = url
        self.timeout = timeout
        self.rid = rid or str(uuid.uuid4())
        #: The server's ``Ping-Body-Limit`` header, once ``start()`` has seen one.
        self.body_limit: int | None = None

    def url_for(self, action: str) -> httpx.URL:
        """``<url>/<action>?<url's query>&rid=<rid>``, with or without a trailing slash on ``url``."""
        u = httpx.URL(self.url)
        return u.copy_with(path=u.path.rstrip("/") + "/" + action).copy_merge_params({"rid": self.rid})

    def start(self, body: str = "") -> bool:
        """Say the run started; call it before the run's first API request."""
        resp = self._send("start", body)
        if resp is not None:
            limit = resp.headers.get("Ping-Body-Limit", "")
            self.body_limit = int(limit) if limit.strip().isdigit() and int(limit) > 0 else None
        return resp is not None

    def finish(self, exit_code: int, body: str) -> bool:
        """``/<exit code>`` (0 is success, others failure); ``/log`` for exit 4, whose run did nothing."""
        action = "log" if exit_code == EXIT_LOCKED else str(exit_code) if 0 <= exit_code <= 255 else "fail"
        return self._send(action, truncate_tail(body, self.body_limit or DEFAULT_BODY_LIMIT)) is not None

    def _send(self, action: str, body: str) -> httpx.Response | None:
        try:
            url = self.url_for(action)
        except Exception:
            log.warning("ping %s not sent: the ping URL %s is not a valid URL", action, mask_url(self.url))
            return None
        what = f"ping {action}"
        return _post(
            url,
            content=body.encode(),
            content_type="text/plain; charset=utf-8",
            timeout=self.timeout,
            what=what,
        )


# -- notifications --------------------------------------------------------------------------------


def should_notify(exit_code: int, notify_on: NotifyOn) -> bool:
    """``always``: every run; ``failure``: exit 1 (failed), 2 (config) and 3 (partial)."""
    return notify_on == "always" or exit_code in FAILURE_CODES


def headline(
    exit_code: int, summary: dict[str, Any] | None, *, error: str | None = None, host: str | None = None
) -> str:
    """One line for a chat message, e.g.
    ``classify-etl sync on db1: partial (exit 3) — 12 quarantined, 3,400 listed, run 17``."""
    word = _OUTCOME_WORDS.get(exit_code, "failed")
    details: list[str] = []
    if summary:
        for key in ("failed", "quarantined"):
            if summary.get(key):
                details.append(f"{summary[key]:,} {'not hydrated' if key == 'failed' else key}")
        details.append(f"{summary.get('jobs_listed', 0):,} listed")
        if summary.get("hydrated"):
            details.append(f"{summary['hydrated']:,} hydrated")
        if summary.get("run_id") is not None:
            details.append(f"run {summary['run_id']}")
    if error:
        details.append(" ".join(error.split())[:300])
    line = f"classify-etl sync on {host or socket.gethostname()}: {word} (exit {exit_code})"
    return line + (" — " + ", ".join(details) if details else "")


def notify(url: str, *, text: str, data: dict[str, Any], timeout: float = 10.0) -> bool:
    """POST ``{"text": text, "data": data}`` as JSON; True when the receiver took it (2xx)."""
    try:
        payload = json.dumps({"text": text, "data": data}, default=str).encode()
    except (TypeError, ValueError) as exc:
        log.warning("notification not sent: its data is not JSON (%s)", exc)
        return False
    return (
        _post(url, content=payload, content_type="application/json", timeout=timeout, what="notification")
        is not None
    )


# -- log capture ----------------------------------------------------------------------------------


class TailHandler(logging.Handler):
    """Keeps the last ``max_bytes`` of formatted log lines, every secret replaced by ``***``.

    Secrets shorter than 4 characters are ignored: replacing them would garble every line.
    URL-encoded forms of each secret are redacted too (passwords appear so in database URLs).
    """

    def __init__(
        self, max_bytes: int = 64_000, *, secrets: Iterable[str | None] = (), level: int = logging.NOTSET
    ) -> None:
        super().__init__(level)
        self.max_bytes = max_bytes
        self.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        self._lines: deque[str] = deque()
        self._size = 0
        self._secrets: list[str] = []
        for secret in secrets:
            self.add_secret(secret)

    def add_secret(self, secret: str | None) -> None:
        if not secret or len(secret) < 4:
            return
        forms = {secret, quote(secret, safe=""), quote_plus(secret, safe="")} - set(self._secrets)
        self._secrets = sorted([*self._secrets, *forms], key=len, reverse=True)

    def redact(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, "***")
        return text

    def emit(self, record: logging.LogRecord) -> None:
        try:
            line = truncate_tail(self.redact(self.format(record)), self.max_bytes)
        except Exception:
            self.handleError(record)
            return
        # handle() holds the handler's lock around emit(): text() takes it too.
        self._lines.append(line)
        self._size += len(line.encode()) + 1
        while self._size > self.max_bytes and len(self._lines) > 1:
            self._size -= len(self._lines.popleft().encode()) + 1

    def text(self) -> str:
        """The captured lines, oldest first."""
        self.acquire()
        try:
            return "\n".join(self._lines)
        finally:
            self.release()


# -- Prometheus metrics ---------------------------------------------------------------------------

M_LAST_RUN = "classify_etl_last_run_timestamp_seconds"
M_LAST_SUCCESS = "classify_etl_last_success_timestamp_seconds"
M_DURATION = "classify_etl_last_run_duration_seconds"
M_EXIT = "classify_etl_last_exit_code"
M_JOBS_RUN = "classify_etl_last_run_jobs"
M_REQUESTS = "classify_etl_last_run_api_requests"
M_THROTTLED = "classify_etl_last_run_throttled_responses"
M_THROTTLE_WAIT = "classify_etl_last_run_throttle_wait_seconds"
M_JOBS = "classify_etl_jobs"
M_CHECKPOINT_AGE = "classify_etl_checkpoint_age_seconds"
#: Series that describe "now", not a past event: never carried over from an earlier file.
_NOT_CARRIED = {M_EXIT, M_CHECKPOINT_AGE}

#: Outcomes of runs that loaded (exit 0 or 3): they count as a success.
LOADED_OUTCOMES = ("success", "partial")
_OUTCOME_EXIT = {"success": 0, "partial": 3}  # failed, interrupted, abandoned: 1


def outcome_exit_code(outcome: str) -> int:
    """The exit code a recorded run's outcome corresponds to."""
    return _OUTCOME_EXIT.get(outcome, 1)


def _gauge(name: str, doc: str, labels: Sequence[str]) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, doc, labels=list(labels))


def _last_runs(conn: Connection, wanted: set[str]) -> tuple[dict[str, Row[Any]], dict[str, Row[Any]]]:
    """Per scope, the latest ended run and the latest that loaded (newest first, in batches)."""
    r = etl_sync_runs.c
    last: dict[str, Row[Any]] = {}
    loaded: dict[str, Row[Any]] = {}
    before: int | None = None
    while True:
        query = select(etl_sync_runs).where(r.outcome != "running").order_by(r.id.desc()).limit(500)
        if before is not None:
            query = query.where(r.id < before)
        rows = conn.execute(query).all()
        for row in rows:
            for scope in row.scopes or []:
                last.setdefault(scope, row)
                if row.outcome in LOADED_OUTCOMES and row.finished_at is not None:
                    loaded.setdefault(scope, row)
        if len(rows) < 500 or (wanted and all(s in last and s in loaded for s in wanted)):
            return last, loaded
        before = rows[-1].id


def _db_families(
    conn: Connection, scopes: Sequence[str], now: float
) -> tuple[list[Metric], dict[str, int | None]]:
    """The families read from the database, and per known scope its latest run's exit code."""
    checkpoints = conn.execute(
        select(etl_checkpoints.c.scope, etl_checkpoints.c.source, etl_checkpoints.c.updated_at)
    ).all()
    wanted = {c.scope for c in checkpoints} | set(scopes)
    last, loaded = _last_runs(conn, wanted)

    last_run = _gauge(
        M_LAST_RUN, "When the latest ended run of the scope finished (started, if abandoned).", ["scope"]
    )
    last_ok = _gauge(
        M_LAST_SUCCESS, "When the latest run that loaded (success or partial) finished.", ["scope"]
    )
    duration = _gauge(M_DURATION, "Wall time of the latest ended run.", ["scope"])
    jobs_run = _gauge(
        M_JOBS_RUN, "Jobs of the latest ended run (run-wide: do not sum over scopes).", ["scope", "outcome"]
    )
    for scope, row in sorted(last.items()):
        ended = row.finished_at or row.started_at
        last_run.add_metric([scope], ended.timestamp())
        if row.finished_at is not None:
            duration.add_metric([scope], (row.finished_at - row.started_at).total_seconds())
        counts = {
            "listed": row.jobs_listed,
            "hydrated": row.jobs_hydrated,
            "changed": row.jobs_new + row.jobs_changed,
            "failed": row.jobs_failed,
            "quarantined": row.jobs_quarantined,
            "deleted": row.jobs_deleted,
        }
        for outcome, n in counts.items():
            jobs_run.add_metric([scope, outcome], n)
    for scope, row in sorted(loaded.items()):
        last_ok.add_metric([scope], row.finished_at.timestamp())

    j = classify_jobs.c
    by_status = dict.fromkeys(CANONICAL_STATUSES, 0)
    query = select(j.status, func.count().label("n")).where(j.deleted_at.is_(None)).group_by(j.status)
    by_status.update({row.status: row.n for row in conn.execute(query)})
    jobs = _gauge(M_JOBS, "Current (not deleted) rows of classify_jobs by status.", ["status"])
    for status, n in by_status.items():
        jobs.add_metric([status], n)

    age = _gauge(M_CHECKPOINT_AGE, "Seconds since the scope's checkpoint last moved.", ["scope", "source"])
    for c in checkpoints:
        age.add_metric([c.scope, c.source], max(0.0, now - c.updated_at.timestamp()))
    codes: dict[str, int | None] = dict.fromkeys(wanted | set(last))
    codes.update({scope: outcome_exit_code(row.outcome) for scope, row in last.items()})
    return [last_run, last_ok, duration, jobs_run, jobs, age], codes


def _exit_family(codes: dict[str, int | None], exit_code: int | None, scopes: Sequence[str]) -> Metric:
    """``exit_code`` for this invocation's scopes (all known ones if unnamed); the rest as recorded."""
    fam = _gauge(
        M_EXIT, "Exit code of the latest invocation (0 ok, 1 failed, 2 config, 3 partial).", ["scope"]
    )
    codes = dict(codes)
    if exit_code is not None:
        codes.update(dict.fromkeys(scopes or sorted(codes) or [""], exit_code))
    for scope, code in sorted(codes.items()):
        if code is not None:
            fam.add_metric([scope], code)
    return fam


def _previous(path: Path) -> list[Metric]:
    try:
        return list(text_string_to_metric_families(path.read_text()))
    except (OSError, ValueError, UnicodeDecodeError):
        return []


class _Families(Collector):
    def __init__(self, families: list[Metric]) -> None:
        self.families = families

    def collect(self) -> Iterator[Metric]:
        yield from self.families


def build_families(
    conn: Connection | None,
    *,
    run: dict[str, Any] | None = None,
    exit_code: int | None = None,
    scopes: Sequence[str] | None = None,
    previous: list[Metric] | None = None,
) -> list[Metric]:
    """The metric families: from the database when ``conn`` is given, else carried from ``previous``.

    ``exit_code`` applies to ``scopes`` (default: the run summary's scopes, else every known scope);
    other scopes get the exit code their latest recorded run's outcome implies.
    """
    mine = list(scopes or [s["scope"] for s in (run or {}).get("scopes", [])])
    families: list[Metric]
    codes: dict[str, int | None]
    if conn is not None:
        families, codes = _db_families(conn, mine, time.time())
    else:
        replaced = _NOT_CARRIED | ({M_REQUESTS} if run and run.get("requests") else set())
        replaced |= {M_THROTTLED, M_THROTTLE_WAIT} if run and "throttled_responses" in run else set()
        families = [f for f in previous or [] if f.name not in replaced]
        codes = {s.labels["scope"]: None for f in previous or [] for s in f.samples if "scope" in s.labels}
        for f in previous or []:
            if f.name == M_EXIT:
                codes.update({s.labels.get("scope", ""): int(s.value) for s in f.samples})
    families.append(_exit_family(codes, exit_code, mine))
    if run and run.get("requests"):
        requests = _gauge(
            M_REQUESTS, "API requests of the latest run, by endpoint (run-wide).", ["scope", "endpoint"]
        )
        for scope in mine or [""]:
            for endpoint, n in sorted(run["requests"].items()):
                requests.add_metric([scope, endpoint], n)
        families.append(requests)
    if run and "throttled_responses" in run:
        throttled = _gauge(
            M_THROTTLED, "API answers of the latest run that said too many requests (run-wide).", ["scope"]
        )
        waited = _gauge(
            M_THROTTLE_WAIT, "Seconds the latest run held requests back for the request budget.", ["scope"]
        )
        for scope in mine or [""]:
            throttled.add_metric([scope], run["throttled_responses"])
            waited.add_metric([scope], run["throttle_wait_s"])
        families += [throttled, waited]
    return families


def _registry(families: list[Metric]) -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Families(families))
    return registry


def metrics_text(conn: Connection) -> str:
    """The metrics from the database alone, in the Prometheus text format (``classify-etl metrics``)."""
    return generate_latest(_registry(build_families(conn))).decode()


def write_metrics(
    path: str | os.PathLike[str],
    conn: Connection | None,
    *,
    run: dict[str, Any] | None = None,
    exit_code: int | None = None,
    scopes: Sequence[str] | None = None,
) -> bool:
    """Replace ``path`` atomically (a temporary file beside it, renamed); False and one warning on failure.

    ``run`` is the summary dict of this invocation's run (its API requests are known only here);
    ``conn=None`` keeps the previous file's series (see the module docstring).
    """
    target = Path(path)
    try:
        families = build_families(
            conn,
            run=run,
            exit_code=exit_code,
            scopes=scopes,
            previous=_previous(target) if conn is None else None,
        )
    except SQLAlchemyError as exc:
        log.warning(
            "metrics: could not read the database (%s); keeping the previous values", type(exc).__name__
        )
        families = build_families(
            None, run=run, exit_code=exit_code, scopes=scopes, previous=_previous(target)
        )
    try:
        write_to_textfile(str(target), _registry(families))
    except OSError as exc:
        log.warning("metrics: could not write %s: %s", target, exc.strerror or exc)
        return False
    return True


# -- one run --------------------------------------------------------------------------------------


class RunMonitor:
    """Pings, notification and metrics around one run; each part off when its setting is None.

    ``log_handler`` (a ``TailHandler``) is attached to the ``etl`` logger by ``start()`` and
    detached by ``finish()``; its captured lines are the ping body. Neither method raises.
    """

    def __init__(
        self,
        *,
        ping_url: str | None = None,
        notify_url: str | None = None,
        notify_on: NotifyOn = "failure",
        metrics_file: str | os.PathLike[str] | None = None,
        secrets: Iterable[str | None] = (),
        timeout: float = 10.0,
        host: str | None = None,
        tail_bytes: int = 64_000,
    ) -> None:
        self.pinger = Pinger(ping_url, timeout=timeout) if ping_url else None
        self.notify_url = notify_url
        self.notify_on: NotifyOn = notify_on
        self.metrics_file = metrics_file
        self.timeout = timeout
        self.host = host or socket.gethostname()
        # The monitors' own URLs are secrets too: a warning quoting one must not leak it.
        self.log_handler = TailHandler(tail_bytes, secrets=[*secrets, ping_url, notify_url])
        self._logger = logging.getLogger("etl")
        self._started = False

    def start(self) -> None:
        """Ping ``/start`` and begin capturing the log; idempotent."""
        if self._started:
            return
        self._started = True
        if self.log_handler not in self._logger.handlers:
            self._logger.addHandler(self.log_handler)
        if self.pinger is not None:
            self._safely(self.pinger.start, f"classify-etl sync starting on {self.host}, pid {os.getpid()}")

    def finish(
        self,
        exit_code: int,
        *,
        summary: dict[str, Any] | None = None,
        engine: Engine | None = None,
        error: str | None = None,
        scopes: Sequence[str] | None = None,
    ) -> None:
        """Ping the exit code, notify if ``notify_on`` says so, write the metrics file."""
        self._logger.removeHandler(self.log_handler)
        text = headline(exit_code, summary, error=error, host=self.host)
        if self.pinger is not None:
            parts = [
                self.log_handler.text(),
                f"summary: {json.dumps(summary, default=str)}" if summary else "",
                text,
            ]
            body = self.log_handler.redact("\n".join(p for p in parts if p))
            self._safely(self.pinger.finish, exit_code, body)
        if self.notify_url and should_notify(exit_code, self.notify_on):
            data = {**(summary or {}), "exit_code": exit_code, "error": error, "host": self.host}
            self._safely(self._notify, self.log_handler.redact(text), data)
        if self.metrics_file is not None and exit_code != EXIT_LOCKED:
            self._safely(self._write_metrics, exit_code, summary, engine, scopes)

    def _notify(self, text: str, data: dict[str, Any]) -> None:
        assert self.notify_url is not None
        notify(self.notify_url, text=text, data=data, timeout=self.timeout)

    def _write_metrics(
        self,
        exit_code: int,
        summary: dict[str, Any] | None,
        engine: Engine | None,
        scopes: Sequence[str] | None,
    ) -> None:
        assert self.metrics_file is not None
        if engine is None:
            write_metrics(self.metrics_file, None, run=summary, exit_code=exit_code, scopes=scopes)
            return
        try:
            with engine.connect() as conn:
                write_metrics(self.metrics_file, conn, run=summary, exit_code=exit_code, scopes=scopes)
                return
        except SQLAlchemyError as exc:
            log.warning(
                "metrics: could not connect to the database (%s); keeping the previous values",
                type(exc).__name__,
            )
        write_metrics(self.metrics_file, None, run=summary, exit_code=exit_code, scopes=scopes)

    @staticmethod
    def _safely(fn: Any, *args: Any) -> None:
        # The last line of defence: monitoring never changes a run's outcome.
        try:
            fn(*args)
        except Exception as exc:
            log.warning("monitoring step %s failed: %s", getattr(fn, "__name__", "?"), type(exc).__name__)
