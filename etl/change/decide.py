"""The change rule: a listed item and what the database holds of it → what this run must do.

Pure: no database, no network. Both list sources go through the same two steps:

1. ``read_page`` (or ``PageReader``, an item at a time) validates a page's raw items, quarantines
   the malformed ones (with the raw payload and the reason) and resolves duplicate ids within the
   page (the last valid copy wins; a malformed copy is quarantined all the same).
2. ``change`` compares one valid item with its stored state: ``new``, ``changed`` or ``unchanged``.
   A job is changed when its listed ``updated_at`` moved, when the item's payload fingerprint
   differs (a change that did not move ``updated_at``), or when its last hydration did not succeed.
   Timestamps are compared as instants, so ``...Z`` and ``...+00:00`` are the same time.

``wants_credits`` says whether a finished job still needs ``GET ?expand=usage`` because billing
has not recorded its credits yet, within the ``--credits-lag`` window after it finished.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal

from etl.change.normalize import V1_STATUS, V2_STATUS, payload_hash, storable_raw
from etl.errors import InvalidItem

Change = Literal["new", "changed", "unchanged"]
ListSource = Literal["v1", "v2"]
#: Canonical statuses after which a job only changes by a re-run.
FINISHED = frozenset({"completed", "partial", "failed", "cancelled"})


@dataclass(frozen=True)
class Stored:
    """What the database holds of a listed job, for the change decision and the history."""

    v1_updated_at: datetime | None
    v1_hash: str | None
    v2_updated_at: datetime | None
    v2_hash: str | None
    hydration_status: str
    status: str
    updated_at: datetime | None
    credits_missing: bool
    history_key: tuple[Any, ...]  # (status, result type, confidence, error_message), as in history


@dataclass
class Listed:
    """One valid list item: the parsed model, the raw payload as served, and its fingerprint.

    ``job`` is None for an item ``read_page`` found identical to what is stored and needing
    nothing (its ``known`` answer): it was validated when it was stored, and is not again.
    ``created_at`` is the job's, for a window's check; for such an item it is read on its own
    (``read_page``'s ``created_at``), or None when nobody asked."""

    job_id: str
    job: Any  # V1Job | V2Job | None
    raw: Any
    fingerprint: str
    updated_at: datetime | None
    created_at: datetime | None = None


@dataclass
class ReadPage:
    """A page's items sorted into valid ones (by id, in listing order) and quarantine records."""

    valid: dict[str, Listed] = field(default_factory=dict)
    bad: list[dict[str, Any]] = field(default_factory=list)
    #: Every id the page showed, malformed ones included: a job listed at all is not deleted.
    seen: list[str] = field(default_factory=list)


def quarantine_record(endpoint: str, raw: Any, reason: str, *, job_id: str | None = None) -> dict[str, Any]:
    """A quarantine row: the raw payload (made storable), where it came from, and why."""
    key = job_id or f"sha256:{payload_hash(raw)}"  # payload_hash takes any JSON value, any depth
    stored = storable_raw(raw if isinstance(raw, dict | list) else {"unparsed": repr(raw)[:4000]})
    return {"endpoint": endpoint, "item_key": key, "job_id": job_id, "reason": reason[:4000], "raw": stored}


class PageReader:
    """``read_page`` one item at a time, so that a caller on an event loop can let other work run
    between items rather than hold it for a whole page's validation."""

    def __init__(
        self,
        endpoint: str,
        parse: Callable[[Any], Any],
        known: Callable[[str, str], Stored | None] | None = None,
        *,
        source: ListSource = "v1",
        created_at: Callable[[Any], datetime | None] | None = None,
    ) -> None:
        self.endpoint = endpoint
        self.parse = parse
        self.known = known
        self.source = source
        self.created_at = created_at
        self.page = ReadPage()

    def add(self, raw: Any) -> None:
        page, known, created_at = self.page, self.known, self.created_at
        job_id = raw.get("id") if known is not None and isinstance(raw, dict) else None
        if known is not None and isinstance(job_id, str):
            fingerprint = payload_hash(raw)
            stored = known(job_id, fingerprint)
            if stored is not None:
                try:
                    created = created_at(raw) if created_at is not None else None
                except ValueError:
                    stored = None  # parsed below, and checked from the parsed job
            if stored is not None:
                when = stored.v1_updated_at if self.source == "v1" else stored.v2_updated_at
                page.valid.pop(job_id, None)
                page.valid[job_id] = Listed(job_id, None, raw, fingerprint, when, created)
                return
        try:
            job = self.parse(raw)
        except InvalidItem as exc:
            page.bad.append(quarantine_record(self.endpoint, raw, exc.reason, job_id=exc.job_id))
            if exc.job_id:
                page.seen.append(exc.job_id)  # present though malformed: not deleted
            return
        page.valid.pop(job.id, None)  # a later copy moves to the end, as if listed there
        page.valid[job.id] = Listed(job.id, job, raw, payload_hash(raw), job.updated_at, job.created_at)

    def done(self) -> ReadPage:
        page = self.page
        # A malformed copy of an id that also has a valid copy stays quarantined, under its own key,
        # so that neither copy is lost; it is never upserted.
        for record in page.bad:
            if record["job_id"] in page.valid:
                record["item_key"] = f"{record['job_id']}#dup:{payload_hash(record['raw'])[:12]}"
        page.seen.extend(page.valid)
        return page


def read_page(
    items: Sequence[Any],
    endpoint: str,
    parse: Callable[[Any], Any],
    known: Callable[[str, str], Stored | None] | None = None,
    *,
    source: ListSource = "v1",
    created_at: Callable[[Any], datetime | None] | None = None,
) -> ReadPage:
    """Validate a page's items; duplicates within the page resolve to the last valid copy.

    ``known(job_id, fingerprint)``: the stored state of a job whose stored fingerprint is this
    one and that needs nothing this run, else None. Such an item is taken unchanged without
    validating it again (a no-change page costs a hash per item, not a parse).

    ``created_at(raw)``: when given (a window, whose check reads every item's created_at), a known
    item's created_at read without the whole parse, as the parse would read it; if it raises
    ValueError the item is parsed in full like any other."""
    reader = PageReader(endpoint, parse, known, source=source, created_at=created_at)
    for raw in items:
        reader.add(raw)
    return reader.done()


def change(item: Listed, stored: Stored | None, *, source: ListSource, force: bool = False) -> Change:
    """New, changed or unchanged: the listed ``updated_at`` and fingerprint against the stored ones."""
    if stored is None:
        return "new"
    if force:
        return "changed"
    if item.job is None:
        return "unchanged"  # read_page found it identical to the stored copy, needing nothing
    updated_at = item.updated_at
    if source == "v1":
        moved = stored.v1_updated_at != updated_at or stored.v1_hash != item.fingerprint
        retry = stored.hydration_status in ("failed", "pending")
    else:
        # A job first stored from the v1 walk (or a get) has no list fingerprint yet: its time
        # decides, and the fingerprint is adopted (``adopt_fingerprint``) for the next runs.
        moved = stored.v2_updated_at != updated_at or stored.v2_hash not in (None, item.fingerprint)
        retry = stored.hydration_status != "ok"
    return "changed" if moved or retry else "unchanged"


def known_unchanged(
    stored: Stored | None, fingerprint: str, *, source: ListSource, wants_fetch: Callable[[Stored], bool]
) -> bool:
    """The listed payload is the one stored (same fingerprint), so ``change`` would find it
    unchanged and nothing asks for it (no retry, no credits due): it need not be parsed."""
    if stored is None:
        return False
    if source == "v1":
        same = stored.v1_hash == fingerprint and stored.hydration_status not in ("failed", "pending")
    else:
        same = stored.v2_hash == fingerprint and stored.hydration_status == "ok"
    return same and not wants_fetch(stored)


def canonical_of(job: Any, source: ListSource) -> str:
    """The canonical status of a listed job on its own (without the other endpoint's view)."""
    return (V1_STATUS if source == "v1" else V2_STATUS)[job.status]


def adopt_fingerprint(item: Listed, stored: Stored | None) -> bool:
    """An unchanged v2 list item whose stored row has no list fingerprint yet."""
    return stored is not None and stored.v2_hash is None


def wants_credits(
    *, status: str, credits_missing: bool, finished_at: datetime | None, now: datetime, lag: timedelta
) -> bool:
    """A finished job without credits is fetched with ``expand=usage`` until ``lag`` after it
    finished (``finished_at`` is its ``updated_at``, on the service's clock like ``now``)."""
    if status not in FINISHED or not credits_missing:
        return False
    return finished_at is None or now - finished_at <= lag
