"""Set-based writes: one multi-row statement per table per page, never a statement per row.

No function here commits: ``sync`` owns the transaction, so a page's rows and its checkpoint
land together or not at all.
"""

from __future__ import annotations

import hashlib
import json
import zlib
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

import orjson
from sqlalchemy import (
    BindParameter,
    ColumnElement,
    Connection,
    Table,
    any_,
    bindparam,
    delete,
    func,
    insert,
    literal,
    select,
    text,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite

from etl import jsontext
from etl.change.decide import Stored
from etl.change.normalize import JobRows, restore_raw
from etl.warehouse.schema import (
    UtcDateTime,
    classify_job_history,
    classify_job_payloads,
    classify_jobs,
    classify_results,
    classify_rule_set_rules,
    classify_rule_sets,
    classify_target_pages,
    etl_checkpoints,
    etl_job_seen,
    etl_quarantine,
    etl_scope_sources,
    etl_sync_runs,
    etl_walk_sightings,
    etl_walk_windows,
)

# A job's own child rows (its rules are a shared rule set: classify_rule_sets, revision 0016).
CHILD_TABLES = (classify_target_pages, classify_results)
#: The parsing configuration's columns, on the job row since revision 0018.
CONFIG_COLUMNS = ("lang", "max_pages", "target_pages", "target_pages_source")
# Columns an upsert must not overwrite: when we first saw the job is set once.
_INSERT_ONLY = frozenset({"id", "first_seen_at"})


def _among(conn: Connection, column: ColumnElement[Any], values: Sequence[Any]) -> ColumnElement[bool]:
    """``column IN (values)``; on PostgreSQL ``column = ANY(array)``: one parameter whatever the
    count, so the statement's text is the same on every page and psycopg parses it once (an IN
    list of 100 parameters is parsed again on each execution)."""
    if conn.dialect.name == "postgresql":
        return column == any_(literal(list(values), type_=postgresql.ARRAY(column.type)))
    return column.in_(list(values))


def stored_state(conn: Connection, job_ids: Sequence[str]) -> dict[str, Stored]:
    """One query for a page: what the change decision and the history need, per listed id."""
    if not job_ids:
        return {}
    j = classify_jobs.c
    rows = conn.execute(  # the result's type and confidence: the job row's copies (revision 0018)
        select(
            j.id, j.v1_updated_at, j.v1_hash, j.v2_updated_at, j.v2_hash, j.hydration_status, j.status,
            j.updated_at, j.error_message, j.v2_credits_pending, j.result_type, j.confidence,
        ).where(_among(conn, j.id, job_ids))
    )  # fmt: skip
    stored = {}
    for row in rows:  # unpacked as selected: a mapping per row cost 0.55 against 0.33 CPU-s for 20,000 rows
        job_id, v1_at, v1_hash, v2_at, v2_hash, hydration, status, updated = row[:8]
        error, pending, kind, conf = row[8:]
        stored[job_id] = Stored(
            v1_updated_at=v1_at,
            v1_hash=v1_hash,
            v2_updated_at=v2_at,
            v2_hash=v2_hash,
            hydration_status=hydration,
            status=status,
            updated_at=updated,
            credits_missing=bool(pending),
            history_key=(status, kind, conf, error),
        )
    return stored


def history_key(rows: JobRows) -> tuple[Any, ...]:
    """The part of a job whose changes the history records."""
    result = rows.result or {}
    return (rows.job["status"], result.get("type"), result.get("confidence"), rows.job["error_message"])


def _current_versions(conn: Connection, job_ids: Sequence[str]) -> dict[str, tuple[int, Any, Any]]:
    """job id → (version, result type, confidence) of its open history row, for these jobs."""
    if not job_ids:
        return {}
    h = classify_job_history.c
    rows = conn.execute(
        select(h.job_id, h.version, h.result_type, h.confidence).where(
            _among(conn, h.job_id, job_ids), h.valid_to.is_(None)
        )
    )
    return {r.job_id: (r.version, r.result_type, r.confidence) for r in rows}


def record_history(
    conn: Connection, jobs: Sequence[JobRows], stored: dict[str, Stored], run_id: int, now: datetime
) -> int:
    """Close the current history row and open a new one for each job whose outcome changed
    (or that is new). Written in the page's transaction, so a retried page never doubles it."""
    changed = []
    for job in jobs:
        key = history_key(job)
        before = stored.get(job.job_id)
        if before is None or before.history_key != key:
            changed.append((job, key))
    if not changed:
        return 0
    current = _current_versions(conn, [job.job_id for job, _ in changed if job.job_id in stored])
    entries = []
    for job, (status, result_type, confidence, error) in changed:
        version, previous_type, previous_confidence = current.get(job.job_id, (0, None, None))
        entries.append(
            {
                "job_id": job.job_id,
                "valid_from": job.job.get("updated_at") or now,
                "valid_to": None,
                "status": status,
                "result_type": result_type,
                "confidence": confidence,
                "error_message": error,
                "observed_at": now,
                "run_id": run_id,
                "version": version + 1,
                "previous_result_type": previous_type,
                "previous_confidence": previous_confidence,
            }
        )
    closing = [{"b_id": e["job_id"], "b_to": e["valid_from"]} for e in entries if e["job_id"] in stored]
    if closing:
        h = classify_job_history.c
        conn.execute(
            update(classify_job_history)
            .where(h.job_id == bindparam("b_id"), h.valid_to.is_(None))
            .values(valid_to=bindparam("b_to")),
            closing,
        )
    _insert(conn, classify_job_history, entries)
    return len(entries)


def _upsert(conn: Connection, table: Table, rows: list[dict[str, Any]], keys: Sequence[str]) -> None:
    """A set-based upsert: one statement for all rows (ON CONFLICT DO UPDATE)."""
    if not rows:
        return
    columns = [c for c in rows[0] if c not in keys and c not in _INSERT_ONLY]
    if conn.dialect.name == "postgresql":
        _pg_insert_json(conn, table, rows, conflict_keys=keys, update=columns)
        return
    stmt = sqlite.insert(table)
    stmt = stmt.on_conflict_do_update(index_elements=list(keys), set_={c: stmt.excluded[c] for c in columns})
    conn.execute(stmt, rows)  # SQLite's executemany is a C loop in-process: already set-based


def _insert(conn: Connection, table: Table, rows: list[dict[str, Any]]) -> None:
    if not rows:
        return
    if conn.dialect.name == "postgresql":
        _pg_insert_json(conn, table, rows)
    else:
        conn.execute(insert(table), rows)


def _json_default(value: Any) -> Any:
    """What json.dumps cannot encode, as text PostgreSQL's input functions read exactly:
    timestamps as ISO 8601, Decimals as their digits (a JSON string: jsonb_populate_recordset
    reads it into NUMERIC as written, never through a float), bytes as bytea hex."""
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise ValueError(f"cannot store the non-finite decimal {value}")
        return str(value)
    if isinstance(value, bytes | bytearray | memoryview):
        return "\\x" + bytes(value).hex()
    raise TypeError(f"cannot encode {type(value).__name__}")


def jsonb_text(rows: list[dict[str, Any]]) -> str:
    """A batch of rows as the JSON text of one JSONB parameter. orjson (a tenth of json.dumps's CPU
    here: this was a tenth of a cold sync's client CPU) encodes timestamps as ISO 8601 itself, and
    the rest through ``_json_default``. It writes a non-finite float as null where json.dumps
    refused: no row holds one (``confidence`` is validated finite, credits are Decimals, which
    ``_json_default`` refuses when not finite, quarantined payloads have theirs escaped), and a
    test holds the two encodings equal."""
    try:
        return orjson.dumps(rows, default=_json_default, option=orjson.OPT_NON_STR_KEYS).decode()
    except orjson.JSONEncodeError:
        # What orjson cannot encode (an integer beyond 64 bits in a quarantined payload) or what
        # _json_default refuses: json.dumps encodes the one and raises the other's error as before.
        return json.dumps(rows, default=_json_default, separators=(",", ":"), allow_nan=False)


def _pg_insert_json(
    conn: Connection,
    table: Table,
    rows: list[dict[str, Any]],
    *,
    conflict_keys: Sequence[str] = (),
    update: Sequence[str] = (),
) -> None:
    """PostgreSQL: the whole batch travels as one JSONB parameter and jsonb_populate_recordset
    turns it into rows server-side. One short statement whatever the batch size, so its text is
    prepared once and cached, instead of a statement per row or a huge VALUES list to parse."""
    quote = conn.dialect.identifier_preparer.quote
    cols = ", ".join(quote(c) for c in rows[0])
    name = quote(table.name)
    sql = (
        f"INSERT INTO {name} ({cols}) SELECT {cols} "
        f"FROM jsonb_populate_recordset(NULL::{name}, CAST(:rows AS jsonb))"
    )
    if conflict_keys:
        sets = ", ".join(f"{quote(c)} = EXCLUDED.{quote(c)}" for c in update)
        sql += f" ON CONFLICT ({', '.join(quote(k) for k in conflict_keys)}) DO UPDATE SET {sets}"
    payload = jsonb_text(rows)
    conn.execute(text(sql), {"rows": payload})


def rule_set_digest(rules: Iterable[dict[str, Any]]) -> str:
    """A rule set's key: SHA-256 of ``[[type, description], ...]`` in position order, as compact
    ASCII JSON (revision 0016 computes it the same way for the rules it moves)."""
    listed = [[r["type"], r["description"]] for r in sorted(rules, key=lambda r: r["position"])]
    return hashlib.sha256(jsontext.sorted_ascii(listed)).hexdigest()  # no keys to sort: the same text


def _rule_pairs(rules: Iterable[dict[str, Any]]) -> list[tuple[str, str]]:
    """A job's rules as its rule set stores them: (type, description) in position order."""
    return [(r["type"], r["description"]) for r in sorted(rules, key=lambda r: r["position"])]


def encode_rows(jobs: Sequence[JobRows]) -> None:
    """Compute, for each job not encoded yet, what its write needs and no database read decides:
    its rule set's digest and its two payloads compressed against its rules (``zlib-rules-1``;
    the dictionary is the rules', which the set of that digest holds). ``PagePlanner.plan`` runs it
    in a worker thread, beside the commit of the page before: inside the commit it cost a fifth of
    a cold sync's commit time, mostly waiting to take the GIL back after each zlib call (which
    releases it) while the event loop held it (issue 14)."""
    dictionaries: dict[str | None, bytes] = {}  # a page's jobs share few rule sets: one each
    for j in jobs:
        if j.encoded is not None:
            continue
        digest = rule_set_digest(j.rules) if j.rules else None
        if digest not in dictionaries:
            dictionaries[digest] = PAYLOAD_DICTIONARY_1 + rules_dictionary(_rule_pairs(j.rules))
        pair = _compress_pair(j.job.get("v1_raw"), j.job.get("v2_raw"), 15, dictionaries[digest])
        j.encoded = (digest, pair)


def _encoded(job: JobRows) -> tuple[str | None, bytes]:
    if job.encoded is None:
        encode_rows([job])
    assert job.encoded is not None
    return job.encoded


def store_rule_sets(conn: Connection, jobs: Sequence[JobRows]) -> dict[str, int]:
    """job id → the id of its rule set (jobs without rules have none), writing the sets this
    database does not hold yet. A set another writer inserts at the same time is taken, not
    written twice (the digest is unique)."""
    of_job: dict[str, str] = {}  # job id → digest
    rules: dict[str, list[dict[str, Any]]] = {}  # digest → the rules, once
    for j in jobs:
        digest = _encoded(j)[0]
        if digest is not None:
            of_job[j.job_id] = digest
            rules.setdefault(digest, j.rules)
    if not of_job:
        return {}
    s = classify_rule_sets.c
    ids: dict[str, int] = dict(
        conn.execute(select(s.digest, s.id).where(_among(conn, s.digest, list(rules)))).all()
    )
    missing = [d for d in rules if d not in ids]
    if missing:
        dialect_insert = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
        created: dict[str, int] = dict(
            conn.execute(  # executemany: one statement text (compiled once), whatever the count
                dialect_insert(classify_rule_sets)
                .on_conflict_do_nothing(index_elements=["digest"])
                .returning(s.digest, s.id),
                [{"digest": d} for d in missing],
            ).all()
        )
        _insert(
            conn,
            classify_rule_set_rules,
            [
                {
                    "rule_set_id": set_id,
                    "position": r["position"],
                    "type": r["type"],
                    "description": r["description"],
                }
                for d, set_id in created.items()
                for r in rules[d]
            ],
        )
        ids.update(created)
        if len(ids) < len(rules):  # written by another transaction since the first read
            rest = [d for d in rules if d not in ids]
            ids.update(conn.execute(select(s.digest, s.id).where(_among(conn, s.digest, rest))).all())
    return {job: ids[d] for job, d in of_job.items()}


def upsert_jobs(conn: Connection, jobs: Sequence[JobRows], stored: Collection[str] | None = None) -> None:
    """Write jobs, point them at their rule sets, and replace their child rows (pages, result) in
    bulk.

    The raw payloads of a job's row (``v1_raw``, ``v2_raw``) go, compressed against the job's
    rules, to classify_job_payloads; the job row gets its rule and page counts (revision 0009), its
    rule_set_id (0016: the set is written first if new), and its result's type and confidence and
    its parsing configuration (0018). ``stored``: the ids of these jobs already in the database,
    read in this transaction (None: any may be). Only their child rows can exist, so only theirs
    are deleted: on a cold load that is two DELETE statements (and the triggers they fire) a page
    saved."""
    if not jobs:
        return
    encode_rows(jobs)  # what was not encoded ahead of the commit
    rule_sets = store_rule_sets(conn, jobs)
    _upsert(conn, classify_jobs, [_job_row(j, rule_sets.get(j.job_id)) for j in jobs], ["id"])
    payloads = [
        {
            "job_id": j.job_id,
            "codec": PAYLOAD_CODEC_RULES,
            "payloads": _encoded(j)[1],
            "rule_set_id": rule_sets.get(j.job_id),
        }
        for j in jobs
    ]
    _upsert(conn, classify_job_payloads, payloads, ["job_id"])
    ids = [j.job_id for j in jobs if stored is None or j.job_id in stored]
    for table in CHILD_TABLES if ids else ():
        conn.execute(delete(table).where(_among(conn, table.c.job_id, ids)))
    _insert(conn, classify_target_pages, [p for j in jobs for p in j.pages])
    _insert(conn, classify_results, [j.result for j in jobs if j.result is not None])


def mark_hydration_failed(conn: Connection, errors: dict[str, str]) -> None:
    """Keep a stored job's data but flag it so the next run hydrates it again."""
    if not errors:
        return
    conn.execute(
        update(classify_jobs)
        .where(classify_jobs.c.id == bindparam("b_id"))
        .values(hydration_status="failed", hydration_error=bindparam("b_error")),
        [{"b_id": job_id, "b_error": error[:2000]} for job_id, error in errors.items()],
    )


# -- checkpoints ---------------------------------------------------------------------------------


@dataclass
class Checkpoint:
    scope: str
    source: str
    next_page_token: str | None
    pages_done: int
    walk_started_at: datetime | None
    last_complete_walk_at: datetime | None


def read_checkpoint(conn: Connection, scope: str, source: str) -> Checkpoint | None:
    c = etl_checkpoints.c
    row = conn.execute(select(etl_checkpoints).where(c.scope == scope, c.source == source)).one_or_none()
    if row is None:
        return None
    return Checkpoint(
        row.scope,
        row.source,
        row.next_page_token,
        row.pages_done,
        row.walk_started_at,
        row.last_complete_walk_at,
    )


def write_checkpoint(conn: Connection, cp: Checkpoint, now: datetime) -> None:
    _upsert(
        conn,
        etl_checkpoints,
        [
            {
                "scope": cp.scope,
                "source": cp.source,
                "next_page_token": cp.next_page_token,
                "pages_done": cp.pages_done,
                "walk_started_at": cp.walk_started_at,
                "last_complete_walk_at": cp.last_complete_walk_at,
                "updated_at": now,
            }
        ],
        ["scope", "source"],
    )


# -- runs ----------------------------------------------------------------------------------------


def start_run(conn: Connection, *, started_at: datetime, full_refresh: bool, scopes: Iterable[str]) -> int:
    result = conn.execute(
        insert(etl_sync_runs)
        .values(started_at=started_at, outcome="running", full_refresh=full_refresh, scopes=list(scopes))
        .returning(etl_sync_runs.c.id)
    )
    return int(result.scalar_one())


def update_run(conn: Connection, run_id: int, **values: Any) -> None:
    conn.execute(update(etl_sync_runs).where(etl_sync_runs.c.id == run_id).values(**values))


# -- quarantine ----------------------------------------------------------------------------------


def quarantine(conn: Connection, records: list[dict[str, Any]], run_id: int, now: datetime) -> None:
    """Store malformed records (endpoint, item_key, job_id, reason, raw); a record seen again is
    updated in place and reopened, never doubled."""
    if not records:
        return
    rows = [
        {
            **r,
            "run_id": run_id,
            "first_seen_at": now,
            "last_seen_at": now,
            "resolved_at": None,
            "resolved_run_id": None,
        }
        for r in {(r["endpoint"], r["item_key"]): r for r in records}.values()
    ]
    _upsert(conn, etl_quarantine, rows, ["endpoint", "item_key"])


def resolve_unseen_quarantine(
    conn: Connection, scope: str, endpoint: str, walk_started_at: datetime, run_id: int, now: datetime
) -> None:
    """After a complete walk: list records of this scope that the walk no longer met are resolved
    (fixed or gone), including those without an id to match them by."""
    q = etl_quarantine.c
    conn.execute(
        update(etl_quarantine)
        .where(
            q.scope == scope,
            q.endpoint == endpoint,
            q.resolved_at.is_(None),
            q.last_seen_at < walk_started_at,
        )
        .values(resolved_at=now, resolved_run_id=run_id)
    )


def open_quarantine(conn: Connection) -> set[tuple[str, str]]:
    """(endpoint, job_id) of every unresolved quarantine row that names a job."""
    q = etl_quarantine.c
    rows = conn.execute(select(q.endpoint, q.job_id).where(q.resolved_at.is_(None), q.job_id.is_not(None)))
    return {(r.endpoint, r.job_id) for r in rows}


def resolve_quarantine(
    conn: Connection, endpoint: str, job_ids: Sequence[str], run_id: int, now: datetime
) -> None:
    if not job_ids:
        return
    q = etl_quarantine.c
    conn.execute(
        update(etl_quarantine)
        .where(q.endpoint == endpoint, _among(conn, q.job_id, job_ids), q.resolved_at.is_(None))
        .values(resolved_at=now, resolved_run_id=run_id)
    )


# -- sightings and deletions ---------------------------------------------------------------------


def mark_seen(conn: Connection, scope: str, job_ids: Sequence[str], now: datetime) -> None:
    """Record that this scope's walk listed these jobs (a page of them) at ``now``: one
    etl_walk_sightings row for the page, and an etl_job_seen row only for a job the scope had
    never listed. A walk that lists nothing new writes one row per page, not one per job."""
    if not job_ids:
        return
    # Once per id: a page can list a job twice (a valid copy and a malformed one).
    ids = list(dict.fromkeys(job_ids))
    conn.execute(insert(etl_walk_sightings).values(scope=scope, seen_at=now, job_ids=ids))
    _insert_new(conn, etl_job_seen, [{"scope": scope, "job_id": j, "first_listed_at": now} for j in ids])


def deleted_job_ids(conn: Connection) -> set[str]:
    j = classify_jobs.c
    return set(conn.execute(select(j.id).where(j.deleted_at.is_not(None))).scalars())


def undelete(conn: Connection, job_ids: Sequence[str]) -> None:
    if job_ids:
        conn.execute(
            update(classify_jobs).where(_among(conn, classify_jobs.c.id, job_ids)).values(deleted_at=None)
        )


def mark_deleted(
    conn: Connection, scope: str, walk_started_at: datetime, now: datetime, *, only_v2_known: bool = False
) -> int:
    """After a complete walk: jobs this scope listed before but not during the walk are deleted.

    A v2 walk never lists jobs that only v1 knew: those are left alone, not called deleted. The
    walk's sightings are then dropped: the next walk records its own."""
    j = classify_jobs.c
    stmt = update(classify_jobs).where(
        j.id.in_(_unseen(conn, scope, walk_started_at)), j.deleted_at.is_(None)
    )
    if only_v2_known:
        stmt = stmt.where(j.hydration_status != "not_found")
    result = conn.execute(stmt.values(deleted_at=now))
    drop_sightings(conn, scope, now)
    return int(result.rowcount or 0)


def drop_sightings(conn: Connection, scope: str, now: datetime) -> None:
    """The walk's sightings, once its unlisted jobs are dealt with: the next walk records its own."""
    w = etl_walk_sightings.c
    conn.execute(delete(etl_walk_sightings).where(w.scope == scope, w.seen_at <= now))


def abandon_stale_runs(conn: Connection, scopes: Sequence[str], now: datetime) -> None:
    """Runs still 'running' on our (locked) scopes died without saying so: record that."""
    r = etl_sync_runs.c
    mine = set(scopes)
    stale = [
        row.id
        for row in conn.execute(select(r.id, r.scopes).where(r.outcome == "running"))
        if set(row.scopes or []) <= mine
    ]
    if stale:
        conn.execute(
            update(etl_sync_runs)
            .where(r.id.in_(stale))
            .values(outcome="abandoned", message="the process died before recording an outcome")
        )


# -- list source ---------------------------------------------------------------------------------


def chosen_source(conn: Connection, scope: str) -> str | None:
    s = etl_scope_sources.c
    return conn.execute(select(s.list_source).where(s.scope == scope)).scalar_one_or_none()


def choose_source(conn: Connection, scope: str, source: str, reason: str, now: datetime) -> None:
    _upsert(
        conn,
        etl_scope_sources,
        [{"scope": scope, "list_source": source, "chosen_at": now, "reason": reason[:2000]}],
        ["scope"],
    )


def stored_v1_raw(conn: Connection, job_ids: Sequence[str]) -> dict[str, Any]:
    """The stored v1 payloads of these jobs (those that have one)."""
    return {
        job_id: restore_raw(v1)
        for job_id, (v1, _) in stored_payloads(conn, job_ids).items()
        if v1 is not None
    }


# -- planner statistics --------------------------------------------------------------------------

GROWING_TABLES = (
    classify_jobs,
    *CHILD_TABLES,
    classify_rule_sets,
    classify_rule_set_rules,
    classify_job_history,
    classify_job_payloads,
    etl_job_seen,
    etl_walk_sightings,
)


def estimated_jobs(conn: Connection) -> int:
    """PostgreSQL only: its idea of how many jobs it holds (0 if the table was never analyzed)."""
    value = conn.execute(
        text("SELECT reltuples FROM pg_class WHERE oid = CAST(:t AS regclass)"), {"t": classify_jobs.name}
    ).scalar()
    return max(int(value or 0), 0)


def analyze(conn: Connection) -> None:
    """PostgreSQL only: refresh the planner's statistics of the tables a sync grows. Without them
    (a cold sync, or autovacuum off or behind), PostgreSQL guesses that ``job_id = ANY(:page_ids)``
    matches half a table and deletes a page's child rows by a sequential scan: each page then costs
    O(table)."""
    quote = conn.dialect.identifier_preparer.quote
    conn.execute(text("ANALYZE " + ", ".join(quote(t.name) for t in GROWING_TABLES)))


# -- the page transaction --------------------------------------------------------------------------


@dataclass
class PageWrite:
    """Everything one page writes, decided before its transaction opens."""

    scope: str
    rows: list[JobRows]
    #: Stored jobs whose hydration failed this time: kept, flagged for the next run.
    failed: dict[str, str]
    #: Quarantine records (endpoint, item_key, job_id, reason, raw).
    bad: list[dict[str, Any]]
    #: Every id the page listed (malformed ones included): not deleted.
    seen: list[str]
    #: Per endpoint, the ids that came back valid: their open quarantine rows are resolved.
    resolved: dict[str, list[str]]
    #: Unchanged jobs whose v2 list fingerprint is recorded for the first time.
    fingerprints: dict[str, str] = field(default_factory=dict)


@dataclass
class KnownSets:
    """Small sets read once per run that let the common page skip the statements fixing them."""

    open_quarantine: set[tuple[str, str]]
    deleted: set[str]

    @classmethod
    def read(cls, conn: Connection) -> KnownSets:
        return cls(open_quarantine(conn), deleted_job_ids(conn))


def commit_page(conn: Connection, page: PageWrite, *, run_id: int, now: datetime, known: KnownSets) -> None:
    """A page's rows, history, quarantine and sightings, in the caller's transaction (which also
    writes the checkpoint, so that both land or neither)."""
    # Read in the transaction, not from the plan: a page planned while an earlier one was still
    # committing may have seen a job before that page wrote it.
    current = stored_state(conn, [r.job_id for r in page.rows]) if page.rows else {}
    upsert_jobs(conn, page.rows, stored=current.keys())
    record_history(conn, page.rows, current, run_id, now)
    mark_hydration_failed(conn, page.failed)
    if page.fingerprints:
        conn.execute(
            update(classify_jobs)
            .where(classify_jobs.c.id == bindparam("b_id"))
            .values(v2_hash=bindparam("b_fp")),
            [{"b_id": k, "b_fp": v} for k, v in page.fingerprints.items()],
        )
    for record in page.bad:
        record["scope"] = page.scope
    quarantine(conn, page.bad, run_id, now)
    for endpoint, job_ids in page.resolved.items():
        fixed = [j for j in job_ids if (endpoint, j) in known.open_quarantine]
        if fixed:
            resolve_quarantine(conn, endpoint, fixed, run_id, now)
            known.open_quarantine.difference_update((endpoint, j) for j in fixed)
    mark_seen(conn, page.scope, page.seen, now)
    back = [j for j in page.seen if j in known.deleted]
    if back:
        undelete(conn, back)
        known.deleted.difference_update(back)


# -- payloads, sightings (revisions 0008, 0012) -------------------------------------------------

#: classify_job_payloads.codec of what encode_payloads writes: raw deflate (wbits -15) with the
#: preset dictionary below. The dictionary is part of the stored format: never change it; a new one
#: needs a new codec name (and decode_payloads keeps reading the old one). The level is not: 6
#: stores a job's pair 0.1% larger than 9 did, in 17% less time.
PAYLOAD_CODEC = "deflate-1"
#: The shape of the two endpoints' payloads (field names and common values, no job's data): deflate
#: refers back to it, so each payload pays for its values, not for the JSON around them.
PAYLOAD_DICTIONARY_1 = (
    b'{"id":"","mode":"FAST","rules":[{"type":"","description":""}],"status":"SUCCESS",'
    b'"user_id":"usr-","created_at":"2025-01-01T00:00:00.000Z","project_id":"","updated_at":"",'
    b'"effective_at":null,"error_message":null,"job_record_id":"jr-","parsing_configuration":'
    b'{"lang":null,"max_pages":null,"target_pages":[]}}{"id":"","result":{"type":null,"reasoning":"",'
    b'"confidence":0.},"status":"COMPLETED","user_id":"usr-","created_at":"","file_input":"",'
    b'"project_id":"","updated_at":"","parse_job_id":"","configuration":{"mode":"FAST","rules":'
    b'[{"type":"","description":""}],"parsing_configuration":{"lang":null,"max_pages":null,'
    b'"target_pages":""}},"error_message":null,"transaction_id":null,"configuration_id":"cfg-",'
    b'"document_input_type":"file_id","usage":{"credits":,"parse_credits":}}'
)


def payload_text(payload: Any) -> bytes:
    """The one serialisation of a raw payload that is stored: compact JSON, UTF-8, key order kept.
    Reading it back gives an equal value whose payload_text is the same bytes."""
    return jsontext.compact(payload)


def _compress_pair(v1_raw: Any, v2_raw: Any, wbits: int, dictionary: bytes) -> bytes:
    """``[v1,v2]`` (null for an absent one) as one stream, so what v2 repeats of v1 (ids, rules,
    configuration) is stored once; ``wbits`` -15: raw deflate, 15: zlib (checksummed)."""
    z = zlib.compressobj(6, zlib.DEFLATED, wbits, 9, zlib.Z_DEFAULT_STRATEGY, dictionary)
    return z.compress(b"[" + payload_text(v1_raw) + b"," + payload_text(v2_raw) + b"]") + z.flush()


def encode_payloads(v1_raw: Any, v2_raw: Any) -> bytes:
    """A job's two payloads as one ``deflate-1`` value (what the loader wrote before 0018)."""
    return _compress_pair(v1_raw, v2_raw, -15, PAYLOAD_DICTIONARY_1)


#: What the loader writes since revision 0018: zlib (RFC 1950: the dictionary's Adler-32 and the
#: data's are checked when read) with PAYLOAD_DICTIONARY_1 followed by rules_dictionary(the job's
#: rules), the rules of classify_job_payloads.rule_set_id. Jobs of one classifier share their rules,
#: which both payloads spell out in full: against the dictionary they cost a back-reference.
#: Part of the stored format, like PAYLOAD_DICTIONARY_1: never change how the dictionary is made.
PAYLOAD_CODEC_RULES = "zlib-rules-1"


def rules_dictionary(rules: Iterable[tuple[str, str]]) -> bytes:
    """(type, description) pairs in position order, as the API spells a rule list (compact JSON,
    description first, UTF-8)."""
    listed = [{"description": d, "type": t} for t, d in rules]
    return jsontext.compact(listed) if listed else b""


def encode_payloads_with_rules(v1_raw: Any, v2_raw: Any, rules: Iterable[tuple[str, str]]) -> bytes:
    """A job's two payloads as one ``zlib-rules-1`` value, compressed against its rules."""
    return _compress_pair(v1_raw, v2_raw, 15, PAYLOAD_DICTIONARY_1 + rules_dictionary(rules))


def decode_payloads(codec: str, data: bytes, rules: Iterable[tuple[str, str]] = ()) -> tuple[Any, Any]:
    """(v1_raw, v2_raw) from a stored value: ``zlib-rules-1`` (``rules``: those of its rule set),
    ``deflate-1``, or ``json-1`` (plain ``[v1, v2]`` text: what an offline ``migrate --sql`` of
    revision 0008 copies, until the job is rewritten). A wrong rule list is an error, not garbage:
    zlib checks the dictionary's checksum."""
    if codec == "json-1":
        v1, v2 = jsontext.loads(bytes(data))
        return v1, v2
    if codec == PAYLOAD_CODEC_RULES:
        z = zlib.decompressobj(15, PAYLOAD_DICTIONARY_1 + rules_dictionary(rules))
    elif codec == PAYLOAD_CODEC:
        z = zlib.decompressobj(-15, PAYLOAD_DICTIONARY_1)
    else:
        raise ValueError(f"unknown payload codec {codec!r}: written by a newer classify-etl?")
    v1, v2 = jsontext.loads(z.decompress(bytes(data)) + z.flush())
    return v1, v2


def rule_set_rules(conn: Connection, rule_set_ids: Iterable[int]) -> dict[int, list[tuple[str, str]]]:
    """rule set id → its (type, description) pairs in position order."""
    ids = sorted(set(rule_set_ids))
    out: dict[int, list[tuple[str, str]]] = {i: [] for i in ids}
    if not ids:
        return out
    r = classify_rule_set_rules.c
    for row in conn.execute(
        select(r.rule_set_id, r.type, r.description)
        .where(_among(conn, r.rule_set_id, ids))
        .order_by(r.rule_set_id, r.position)
    ):
        out[row.rule_set_id].append((row.type, row.description))
    return out


def stored_payloads(conn: Connection, job_ids: Sequence[str]) -> dict[str, tuple[Any, Any]]:
    """job id → (v1_raw, v2_raw) as stored (None where absent), for these jobs."""
    if not job_ids:
        return {}
    p = classify_job_payloads.c
    rows = conn.execute(
        select(p.job_id, p.codec, p.payloads, p.rule_set_id).where(_among(conn, p.job_id, job_ids))
    ).all()
    rules = rule_set_rules(conn, (r.rule_set_id for r in rows if r.rule_set_id is not None))
    return {r.job_id: decode_payloads(r.codec, r.payloads, rules.get(r.rule_set_id, ())) for r in rows}


def _job_row(job: JobRows, rule_set_id: int | None) -> dict[str, Any]:
    row = {k: v for k, v in job.job.items() if k not in ("v1_raw", "v2_raw")}
    types = [r["type"] for r in sorted(job.rules, key=lambda r: r["position"])]
    row.update(
        rule_count=len(types),
        rule_types=",".join(types) or None,
        target_page_count=len(job.pages),
        rule_set_id=rule_set_id,
        result_type=job.result["type"] if job.result is not None else None,
        confidence=job.result["confidence"] if job.result is not None else None,
        parsing_configured=job.config is not None,
        **{c: (job.config or {}).get(c) for c in CONFIG_COLUMNS},
    )
    return row


def _insert_new(conn: Connection, table: Table, rows: list[dict[str, Any]]) -> None:
    """INSERT ... ON CONFLICT DO NOTHING: rows whose key exists are skipped, and nothing is written."""
    if not rows:
        return
    if conn.dialect.name == "postgresql":
        quote = conn.dialect.identifier_preparer.quote
        cols = ", ".join(quote(c) for c in rows[0])
        keys = ", ".join(quote(c.name) for c in table.primary_key.columns)
        name = quote(table.name)
        payload = jsonb_text(rows)
        conn.execute(
            text(
                f"INSERT INTO {name} ({cols}) SELECT {cols} "
                f"FROM jsonb_populate_recordset(NULL::{name}, CAST(:rows AS jsonb)) "
                f"ON CONFLICT ({keys}) DO NOTHING"
            ),
            {"rows": payload},
        )
        return
    conn.execute(sqlite.insert(table).on_conflict_do_nothing(), rows)


def _unseen(conn: Connection, scope: str, walk_started_at: datetime) -> Any:
    """The ids of jobs this scope has listed but whose walk since ``walk_started_at`` has not.

    PostgreSQL: ``NOT EXISTS``, which it plans as a hash anti-join. ``NOT IN (subquery)`` is hashed
    only while the walk's ids fit in ``work_mem`` (4 MB by default, ~100,000 ids); past that it is
    compared row by row, quadratic: at 1M jobs the delete guard's count ran for over ten minutes
    (3.7 s now). SQLite indexes an ``IN`` subquery's result itself, where a correlated ``NOT EXISTS``
    would read every sighting for each job: ``NOT IN`` there. Sightings hold ids only (never null),
    so the two mean the same."""
    s = etl_job_seen.c
    params: tuple[BindParameter[Any], ...] = (
        bindparam("w_scope", scope),
        bindparam("w_since", walk_started_at, type_=UtcDateTime()),
    )
    if conn.dialect.name == "postgresql":
        listed_since = text(
            "NOT EXISTS (SELECT 1 FROM etl_walk_sightings AS w, json_array_elements_text(w.job_ids) AS e(id) "
            "WHERE w.scope = :w_scope AND w.seen_at >= :w_since AND e.id = etl_job_seen.job_id)"
        ).bindparams(*params)
        return select(s.job_id).where(s.scope == scope, listed_since)
    listed = text(
        "SELECT e.value FROM etl_walk_sightings AS w, json_each(w.job_ids) AS e "
        "WHERE w.scope = :w_scope AND w.seen_at >= :w_since"
    ).bindparams(*params)
    return select(s.job_id).where(s.scope == scope, s.job_id.not_in(listed.columns(s.job_id)))


def count_unseen(
    conn: Connection, scope: str, walk_started_at: datetime, *, only_v2_known: bool = False
) -> int:
    """How many live jobs ``mark_deleted`` would tombstone now (for a guard before doing it)."""
    j = classify_jobs.c
    stmt = (
        select(func.count())
        .select_from(classify_jobs)
        .where(j.id.in_(_unseen(conn, scope, walk_started_at)), j.deleted_at.is_(None))
    )
    if only_v2_known:
        stmt = stmt.where(j.hydration_status != "not_found")
    return int(conn.execute(stmt).scalar_one())


def count_live(conn: Connection, scope: str) -> int:
    """How many jobs this scope has listed are live (not tombstoned)."""
    j, s = classify_jobs.c, etl_job_seen.c
    stmt = (
        select(func.count())
        .select_from(etl_job_seen.join(classify_jobs, j.id == s.job_id))
        .where(s.scope == scope, j.deleted_at.is_(None))
    )
    return int(conn.execute(stmt).scalar_one())


# -- the v2 walk plan ------------------------------------------------------------------------------


def _scope_jobs(scope: str) -> Any:
    """Live jobs this scope has listed: its membership is what its walks saw."""
    s, j = etl_job_seen.c, classify_jobs.c
    return etl_job_seen.join(classify_jobs, j.id == s.job_id), (s.scope == scope) & j.deleted_at.is_(None)


def newest_created_at(conn: Connection, scope: str) -> datetime | None:
    joined, where = _scope_jobs(scope)
    return conn.execute(
        select(func.max(classify_jobs.c.created_at)).select_from(joined).where(where)
    ).scalar()


def newest_updated_at(conn: Connection) -> datetime | None:
    """The service's clock as far as we can tell: the newest ``updated_at`` it has sent us."""
    return conn.execute(select(func.max(classify_jobs.c.updated_at))).scalar()


def unfinished_job_ids(
    conn: Connection, scope: str, *, created_before: datetime | None, not_seen_since: datetime | None = None
) -> list[str]:
    """Jobs the database holds as pending or running (older than ``created_before``, if given;
    not listed by this scope at or after ``not_seen_since``, if given)."""
    joined, where = _scope_jobs(scope)
    j = classify_jobs.c
    stmt = select(j.id).select_from(joined).where(where, j.status.in_(("pending", "running")))
    if created_before is not None:
        stmt = stmt.where((j.created_at < created_before) | j.created_at.is_(None))
    if not_seen_since is not None:
        # Fix: the incremental run's "unfinished" lists have just seen the jobs still unfinished;
        # without this they were asked for again by id, every run (one request per 100 of them).
        stmt = stmt.where(j.id.in_(_unseen(conn, scope, not_seen_since)))
    return list(conn.execute(stmt.order_by(j.id)).scalars())


def credit_candidates(
    conn: Connection,
    scope: str,
    *,
    finished_since: datetime,
    created_before: datetime | None,
    not_seen_since: datetime | None = None,
) -> list[str]:
    """Finished jobs v2 answered for whose credits billing has not recorded yet, finished at or
    after ``finished_since`` (older than ``created_before``, if given; not listed by this scope at
    or after ``not_seen_since``, if given)."""
    joined, where = _scope_jobs(scope)
    j = classify_jobs.c
    stmt = (
        select(j.id)
        .select_from(joined)
        .where(
            where,
            j.status.in_(("completed", "partial", "failed", "cancelled")),
            j.v2_credits_pending.is_(True),
            j.updated_at >= finished_since,
        )
    )
    if created_before is not None:
        stmt = stmt.where((j.created_at < created_before) | j.created_at.is_(None))
    if not_seen_since is not None:
        # Fix: a job the run's lists showed was already fetched for its credits by its page's
        # plan; without this the backfill asked again in the same run (two GETs a finished job).
        stmt = stmt.where(j.id.in_(_unseen(conn, scope, not_seen_since)))
    return list(conn.execute(stmt.order_by(j.id)).scalars())


def created_at_quantiles(conn: Connection, scope: str, parts: int) -> list[datetime]:
    """``parts - 1`` cut points that split the scope's stored ``created_at`` into equal counts."""
    joined, where = _scope_jobs(scope)
    j = classify_jobs.c
    total = int(
        conn.execute(
            select(func.count()).select_from(joined).where(where, j.created_at.is_not(None))
        ).scalar_one()
    )
    if parts < 2 or total < parts:
        return []
    cuts: list[datetime] = []
    for k in range(1, parts):
        value = conn.execute(
            select(j.created_at)
            .select_from(joined)
            .where(where, j.created_at.is_not(None))
            .order_by(j.created_at)
            .offset(k * total // parts)
            .limit(1)
        ).scalar()
        if value is not None and (not cuts or value > cuts[-1]):
            cuts.append(value)
    return cuts


@dataclass
class Window:
    """One created_at window of a parallel v2 walk and where its walk stands."""

    scope: str
    walk_kind: str
    created_from: datetime | None
    created_to: datetime | None
    next_page_token: str | None
    pages_done: int
    done: bool
    walk_started_at: datetime

    @property
    def key(self) -> str:
        return "|".join(t.isoformat() if t else "" for t in (self.created_from, self.created_to))


def read_windows(conn: Connection, scope: str, walk_kind: str) -> list[Window]:
    w = etl_walk_windows.c
    rows = conn.execute(
        select(etl_walk_windows).where(w.scope == scope, w.walk_kind == walk_kind).order_by(w.window_key)
    )
    return [
        Window(
            r.scope,
            r.walk_kind,
            r.created_from,
            r.created_to,
            r.next_page_token,
            r.pages_done,
            bool(r.done),
            r.walk_started_at,
        )
        for r in rows
    ]


def write_windows(conn: Connection, windows: Sequence[Window], now: datetime) -> None:
    _upsert(
        conn,
        etl_walk_windows,
        [
            {
                "scope": w.scope,
                "walk_kind": w.walk_kind,
                "window_key": w.key,
                "created_from": w.created_from,
                "created_to": w.created_to,
                "next_page_token": w.next_page_token,
                "pages_done": w.pages_done,
                "done": w.done,
                "walk_started_at": w.walk_started_at,
                "updated_at": now,
            }
            for w in windows
        ],
        ["scope", "walk_kind", "window_key"],
    )


def forget_windows(conn: Connection, scope: str, walk_kind: str) -> None:
    w = etl_walk_windows.c
    conn.execute(delete(etl_walk_windows).where(w.scope == scope, w.walk_kind == walk_kind))
