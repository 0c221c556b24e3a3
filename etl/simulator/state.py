"""The simulator's mutable state: which jobs exist, their versions, and what was served.

Per job the state holds a version counter, an ``updated_at`` override and a deleted flag
(13 bytes); everything else is regenerated from the seed. Every method is deterministic given
the seed and the order of calls, and takes ``lock`` so that a test thread can mutate the data
while the server thread serves it.

The state keeps a virtual clock (``now_ms``): every change to the data moves it on by a second
or more, ``advance_clock`` moves it on explicitly; wall time never matters. Billing follows it:
a finished job's credits are null until ``billing_lag_ms`` after its ``updated_at`` (see
:meth:`SimState.usage_shown`).

Switches of the API's behaviour (plain attributes, read on every request):

* ``expand_support``: ``"yes"`` (``GET /api/v2/classify/{id}?expand=usage`` adds ``usage``),
  ``"ignore"`` (an older service: never any ``usage``), ``"reject"`` (422 whenever ``expand`` is
  sent to the get);
* ``usage_on_list``: list items carry ``usage`` too (by default they do not);
* ``billing_lag_ms``: how long after a job finished billing records its credits;
* ``ignore_window_filters``: the v2 list ignores ``created_at_on_or_after/before`` (a broken
  service);
* ``shuffle_pages``: each list page's items come in a shuffled order (the walk stays complete);
* ``extra_field``: a dotted path (``usage.new_thing``) of a field a newer release of the service
  adds to every v2 body and list item (value ``EXTRA_FIELD_VALUE``), where its parent object is
  present (``usage`` only comes with ``expand=usage``); None (the default): no such field;
* the hostile switches of :mod:`etl.simulator.hostile`.
"""

from __future__ import annotations

import logging
import random
import threading
from array import array
from collections import Counter, deque
from collections.abc import Callable, Iterator
from typing import Any, Literal, NamedTuple, get_args

from etl.simulator.data import GAP_MS, UNFINISHED, DataSet, Job, Lifecycle, hash_ints
from etl.simulator.faults import EndpointKey, Faults, RateWindow, most_in_window
from etl.simulator.hostile import (
    BadToken,
    Hostile,
    HostileKind,
    ListKey,
    TokenKind,
    Where,
    WrongIdKind,
)
from etl.simulator.render import UsageShown
from etl.simulator.truth import expected_rows

log = logging.getLogger(__name__)

#: Caches are bounded (and simply emptied when full): a walk over a million jobs must not keep
#: them all. Built jobs are kept briefly so that hydrating what a list just showed is cheap.
CACHE_ITEMS = 20_000
CACHE_JOBS = 4_096
TOKEN_EXPIRY_STATUSES = (400, 404, 410, 422)
ExpandSupport = Literal["yes", "ignore", "reject"]
NO_CREDITS: UsageShown = (None, None)


def _check(value: str, allowed: Any) -> None:
    if value not in get_args(allowed):
        raise ValueError(f"{value!r} is not one of {get_args(allowed)}")


class RequestRecord(NamedTuple):
    """One API request as served: status 0 means the connection was dropped without a response."""

    endpoint: EndpointKey
    params: dict[str, Any]  # str values; ``job_ids`` and ``expand`` (repeatable) as lists
    status: int
    path: str  # percent-decoded
    target: str = ""  # the request target exactly as it came on the wire (query included)
    delay_ms: float = 0.0  # the latency the faults injected
    at: float = 0.0  # when it arrived (the event loop's clock)


class SimState:
    """A simulated LlamaCloud account: the jobs, the faults, and the request bookkeeping."""

    def __init__(self, data: DataSet, n_jobs: int, api_key: str) -> None:
        self.data = data
        self.api_key = api_key
        self.lock = threading.RLock()
        self._n = n_jobs
        self._versions = array("I", bytes(4 * n_jobs))
        self._updated = array("q", bytes(8 * n_jobs))  # 0: the generated first update
        self._deleted = bytearray(n_jobs)
        self._n_deleted = 0
        self._added_created: list[int] = []  # created_ms of jobs added after generation
        last_created = data.created_ms(n_jobs - 1) if n_jobs else data.created_ms(0)
        self._now_ms = last_created + data.max_first_update_ms + 3_600_000
        self._rng = random.Random(hash_ints(data.seed, 0x3A7E))
        self._faults = Faults()
        self.counts: Counter[str] = Counter()
        self.counts_by_status: Counter[tuple[str, int]] = Counter()
        self.request_log: deque[RequestRecord] = deque(maxlen=200_000)
        self.fault_counters: Counter[str] = Counter()
        self.rate_window = RateWindow()
        self._hooks: list[tuple[int, Callable[[SimState], object]]] = []
        self.list_pages_served = 0
        self.hook_errors: list[Exception] = []
        self.v1_retired = False
        self.token_serial = 0
        self.tokens_expired_below = 0
        self.token_expiry_status = 410
        self.list_serial = 0
        self.cache: dict[tuple[str, int, int, int], bytes] = {}
        self._job_cache: dict[tuple[int, int], Job] = {}
        self.expand_support: ExpandSupport = "yes"
        self.usage_on_list = False
        self.billing_lag_ms = 0
        self.ignore_window_filters = False
        self.shuffle_pages = False
        self.extra_field: str | None = None
        self.hostile = Hostile()
        self._custom_ids: dict[int, str] = {}  # index -> an id chosen by add_job_with_id
        self._custom_index: dict[str, int] = {}
        self._unfinished: set[int] | None = None  # built on first use, then kept up to date

    @classmethod
    def generate(
        cls,
        n_jobs: int = 500,
        seed: int = 7,
        api_key: str = "sim-key",
        *,
        n_projects: int = 3,
        n_orgs: int = 2,
        lifecycle: Lifecycle | None = None,
    ) -> SimState:
        """A fresh data set of ``n_jobs`` jobs; the same arguments always give the same data.

        With a :class:`~etl.simulator.data.Lifecycle` the jobs are created over weeks and nearly
        all have finished (a few old ones have not); without one they are a minute apart and about
        a fifth are pending or running.
        """
        if n_jobs < 0:
            raise ValueError("n_jobs must be >= 0")
        data = DataSet(seed, n_projects, n_orgs, lifecycle=lifecycle, n_generated=n_jobs)
        return cls(data, n_jobs, api_key)

    # -- reading -----------------------------------------------------------------------------

    @property
    def seed(self) -> int:
        return self.data.seed

    @property
    def n_total(self) -> int:
        """Jobs ever created, deleted ones included; indexes run 0..n_total-1."""
        return self._n

    @property
    def deleted_flags(self) -> bytearray:
        """One byte per index, non-zero for a deleted job (read-only use, under the lock)."""
        return self._deleted

    def is_live(self, index: int) -> bool:
        return 0 <= index < self._n and not self._deleted[index]

    def version(self, index: int) -> int:
        return self._versions[index]

    def created_ms(self, index: int) -> int:
        n0 = self._n - len(self._added_created)
        return self.data.created_ms(index) if index < n0 else self._added_created[index - n0]

    def updated_ms(self, index: int) -> int:
        return self._updated[index] or self.data.first_updated_ms(index, self.created_ms(index))

    def status_at(self, index: int) -> str:
        """The canonical status of the job at ``index`` now (cheap: no job is built)."""
        return self.data.status(index, self._versions[index])

    def job_at(self, index: int) -> Job:
        """The current canonical data of the job at ``index``."""
        key = (index, self._versions[index])
        job = self._job_cache.get(key)
        if job is None:
            job = self.data.job(index, key[1], self.created_ms(index), self.updated_ms(index))
            custom = self._custom_ids.get(index)
            if custom is not None:
                job = job._replace(id=custom, v2_known=True)
            if len(self._job_cache) >= CACHE_JOBS:
                self._job_cache.clear()
            self._job_cache[key] = job
        return job

    def id_of(self, index: int) -> str:
        """The id of the job at ``index``."""
        custom = self._custom_ids.get(index)
        return custom if custom is not None else self.data.codec.encode(index)

    def v2_known(self, index: int) -> bool:
        """Whether v2 lists and serves the job (jobs with a chosen id always are)."""
        return index in self._custom_ids or self.data.v2_known(index)

    def index_of(self, job_id: str) -> int | None:
        """The index of a job id ever issued (deleted or not), else None."""
        index = self._custom_index.get(job_id)
        if index is not None:
            return index
        index = self.data.codec.decode(job_id)
        if index is None or index >= self._n or index in self._custom_ids:
            return None
        return index

    # -- billing ---------------------------------------------------------------------------

    @property
    def now_ms(self) -> int:
        """The simulator's clock (ms since the epoch): virtual, moved by changes and advance_clock."""
        return self._now_ms

    def advance_clock(self, ms: int) -> int:
        """Move the clock ``ms`` forward (billing catches up); returns the new time."""
        if ms < 0:
            raise ValueError("the clock only moves forward")
        with self.lock:
            self._now_ms += ms
            return self._now_ms

    def is_billed(self, index: int) -> bool:
        """A finished job whose billing lag has passed: its credits are known."""
        if self.status_at(index) in UNFINISHED:
            return False
        return self._now_ms >= self.updated_ms(index) + self.billing_lag_ms

    def usage_shown(self, index: int) -> UsageShown:
        """What ``usage`` says of a job now: (credits, parse_credits), null until billed."""
        if not self.is_billed(index):
            return NO_CREDITS
        usage = self.job_at(index).usage
        return NO_CREDITS if usage is None else usage

    def billed_usage(self, index: int) -> UsageShown:
        """The credits a correct loader holds now: as billed, none if the API never says."""
        return NO_CREDITS if self.expand_support == "ignore" else self.usage_shown(index)

    def _live_index(self, job_id: str) -> int:
        index = self.index_of(job_id)
        if index is None or self._deleted[index]:
            raise KeyError(job_id)
        return index

    def job(self, job_id: str) -> Job:
        """The current canonical data of a live job; KeyError if unknown or deleted."""
        with self.lock:
            return self.job_at(self._live_index(job_id))

    def live_indexes(self) -> Iterator[int]:
        return (i for i in range(self._n) if not self._deleted[i])

    def live_job_ids(self) -> list[str]:
        """Ids of the jobs that exist now, in listing order."""
        with self.lock:
            return [self.id_of(i) for i in self.live_indexes()]

    def deleted_job_ids(self) -> list[str]:
        with self.lock:
            return [self.id_of(i) for i in range(self._n) if self._deleted[i]]

    def v1_only_job_ids(self) -> list[str]:
        """Live jobs v2 does not know: its get answers 404 and its list leaves them out."""
        with self.lock:
            return [self.id_of(i) for i in self.live_indexes() if not self.v2_known(i)]

    @property
    def live_count(self) -> int:
        return self._n - self._n_deleted

    # -- changing the data -------------------------------------------------------------------

    def _tick(self) -> int:
        self._now_ms += 1_000 + self._rng.randrange(GAP_MS)
        return self._now_ms

    def _pick_live(self, k: int, accept: Callable[[int], bool] | None = None, n_ok: int = -1) -> list[int]:
        """k random live jobs (that ``accept`` takes, ``n_ok`` of them; all live jobs by default)."""
        live = self.live_count if accept is None else n_ok
        if k > live:
            raise ValueError(f"asked for {k} jobs, only {live} qualify")
        if k > live // 2:
            return self._rng.sample([i for i in self.live_indexes() if accept is None or accept(i)], k)
        picked: dict[int, None] = {}
        while len(picked) < k:
            i = self._rng.randrange(self._n)
            if not self._deleted[i] and (accept is None or accept(i)):
                picked[i] = None
        return list(picked)

    def _set_version(self, index: int, version: int, updated: int) -> None:
        self._versions[index] = version
        self._updated[index] = updated
        if self._unfinished is not None:
            if self.data.status(index, version) in UNFINISHED:
                self._unfinished.add(index)
            else:
                self._unfinished.discard(index)

    def _next_finished_version(self, index: int) -> int:
        version = self._versions[index] + 1
        while self.data.status(index, version) in UNFINISHED:
            version += 1
        return version

    def change_job(self, job_id: str) -> str:
        """Give a live job new data (status, rules, result, ...) and a strictly later ``updated_at``."""
        with self.lock:
            index = self._live_index(job_id)
            self._set_version(index, self._versions[index] + 1, self._tick())
            return job_id

    def change_jobs(self, k: int) -> list[str]:
        """Change k random live jobs; returns their ids."""
        with self.lock:
            return [self.change_job(self.id_of(i)) for i in self._pick_live(k)]

    def _unfinished_set(self) -> set[int]:
        if self._unfinished is None:
            # One scan of the statuses (cheap hashes, no jobs built), then kept up to date.
            self._unfinished = {i for i in range(self._n) if self.status_at(i) in UNFINISHED}
        return self._unfinished

    def unfinished_job_ids(self) -> list[str]:
        """Live jobs still pending or running, in listing order."""
        with self.lock:
            return [self.id_of(i) for i in sorted(self._unfinished_set()) if not self._deleted[i]]

    def finish_jobs(self, k: int) -> list[str]:
        """k random unfinished live jobs finish now: a finished status, ``updated_at`` = now (and
        their credits follow ``billing_lag_ms`` later). Returns their ids."""
        with self.lock:
            pool = sorted(i for i in self._unfinished_set() if not self._deleted[i])
            if k > len(pool):
                raise ValueError(f"asked for {k} jobs, only {len(pool)} are unfinished")
            picked = self._rng.sample(pool, k)
            for i in picked:
                self._set_version(i, self._next_finished_version(i), self._tick())
            return [self.id_of(i) for i in picked]

    def late_change(self, k: int) -> list[str]:
        """k random finished live jobs are re-run: new data, finished again, a new ``updated_at``
        (long after their creation, for the old ones). Returns their ids."""
        with self.lock:
            unfinished = self._unfinished_set()
            finished = self.live_count - sum(1 for i in unfinished if not self._deleted[i])
            picked = self._pick_live(k, lambda i: i not in unfinished, finished)
            for i in picked:
                self._set_version(i, self._next_finished_version(i), self._tick())
            return [self.id_of(i) for i in picked]

    def _append_job(self, custom_id: str | None = None) -> int:
        index = self._n
        self._n += 1
        created = self._tick()
        self._versions.append(0)
        # A new job's first update is its creation: later changes then stay later.
        self._updated.append(created)
        self._deleted.append(0)
        self._added_created.append(created)
        if custom_id is not None:
            self._custom_ids[index] = custom_id
            self._custom_index[custom_id] = index
        if self._unfinished is not None and self.status_at(index) in UNFINISHED:
            self._unfinished.add(index)
        return index

    def add_jobs(self, m: int) -> list[str]:
        """Create m jobs now, appended at the end of the listing order; returns their ids. With a
        lifecycle, about ``recent_unfinished_share`` of them are still pending or running."""
        with self.lock:
            return [self.id_of(self._append_job()) for _ in range(m)]

    def add_job_with_id(self, job_id: str) -> str:
        """Create one job now whose id is ``job_id`` (any string: see ``hostile.ODD_IDS``); both
        lists show it and the v2 get serves it."""
        with self.lock:
            if not job_id or self.index_of(job_id) is not None:
                raise ValueError(f"job id {job_id!r} is empty or taken")
            self._append_job(job_id)
            return job_id

    def delete_jobs(self, k: int) -> list[str]:
        """Delete k random live jobs (gone from every endpoint); returns their ids."""
        with self.lock:
            return [self.delete_job(self.id_of(i)) for i in self._pick_live(k)]

    def delete_job(self, job_id: str) -> str:
        """Delete one live job."""
        with self.lock:
            self._deleted[self._live_index(job_id)] = 1
            self._n_deleted += 1
            return job_id

    def restore_job(self, job_id: str) -> str:
        """Bring a deleted job back, with the data it had."""
        with self.lock:
            index = self.index_of(job_id)
            if index is None or not self._deleted[index]:
                raise KeyError(job_id)
            self._deleted[index] = 0
            self._n_deleted -= 1
            return job_id

    # -- behaviour switches ------------------------------------------------------------------

    @property
    def faults(self) -> Faults:
        return self._faults

    @faults.setter
    def faults(self, value: Faults) -> None:
        with self.lock:
            self._faults = value
            # Decisions are numbered from the moment the faults are set.
            self.fault_counters.clear()
            self.rate_window = RateWindow()

    def retire_v1(self, retired: bool = True) -> None:
        """Make ``GET /api/v1/classifier/jobs`` answer 404 (or bring it back)."""
        with self.lock:
            self.v1_retired = retired

    def expire_tokens(self, status: int = 410) -> None:
        """Reject every page token issued so far with ``status`` (400, 404, 410 or 422)."""
        if status not in TOKEN_EXPIRY_STATUSES:
            raise ValueError(f"status must be one of {TOKEN_EXPIRY_STATUSES}")
        with self.lock:
            self.tokens_expired_below = self.token_serial
            self.token_expiry_status = status

    def bad_page_token(self, after_page: int, kind: TokenKind, endpoint: ListKey | None = None) -> None:
        """On page ``after_page`` (1-based) of every walk, serve a bad ``next_page_token`` (see
        :mod:`etl.simulator.hostile`); on both lists unless ``endpoint`` names one."""
        if after_page < 1:
            raise ValueError("after_page is 1-based")
        _check(kind, TokenKind)
        if endpoint is not None:
            _check(endpoint, ListKey)
        ends: frozenset[ListKey] = frozenset({endpoint} if endpoint else {"v1_list", "v2_list"})
        with self.lock:
            self.hostile.tokens.append(BadToken(after_page, kind, ends))

    def wrong_body_id(self, job_id: str, kind: WrongIdKind) -> None:
        """``GET /api/v2/classify/{job_id}`` answers a body with another job's, an unknown, or a
        differently cased ``id``."""
        _check(kind, WrongIdKind)
        with self.lock:
            self.hostile.wrong_ids[job_id] = kind

    def hostile_item(self, job_id: str, kind: HostileKind, where: Where = "both") -> None:
        """Serve this job's payload hostile (see :func:`etl.simulator.hostile.hostile_body`)."""
        _check(kind, HostileKind)
        _check(where, Where)
        if kind == "duplicate_malformed" and where != "list":
            raise ValueError("duplicate_malformed is a list page's fault: where='list'")
        with self.lock:
            self.hostile.items[job_id] = (kind, where)

    def huge_body(self, endpoint: EndpointKey, size_mb: float | None = 50.0) -> None:
        """Answer every authorized request to ``endpoint`` with a streamed body of ``size_mb``
        megabytes (None: one that never ends)."""
        _check(endpoint, EndpointKey)
        with self.lock:
            self.hostile.huge[endpoint] = None if size_mb is None else int(size_mb * 2**20)

    def clear_hostile(self) -> None:
        """Undo every hostile switch: the API is well behaved again (odd-id jobs stay)."""
        with self.lock:
            self.hostile = Hostile()

    def after_list_page(self, n: int, fn: Callable[[SimState], object]) -> None:
        """Run ``fn(state)`` once, right after the n-th list page from now (1-based) is served."""
        if n < 1:
            raise ValueError("n is 1-based")
        with self.lock:
            self._hooks.append((self.list_pages_served + n, fn))

    # -- bookkeeping (called by the app) -----------------------------------------------------

    def note_list_page(self) -> None:
        """A list page went out intact: count it and run the hooks that were waiting for it."""
        with self.lock:
            self.list_pages_served += 1
            due = [fn for at, fn in self._hooks if at <= self.list_pages_served]
            self._hooks = [(at, fn) for at, fn in self._hooks if at > self.list_pages_served]
            for fn in due:
                try:
                    fn(self)
                except Exception as exc:
                    # The page still goes out: a broken hook must not look like an API error.
                    log.exception("after_list_page hook %r failed", fn)
                    self.hook_errors.append(exc)

    def record(
        self,
        endpoint: EndpointKey,
        params: dict[str, Any],
        status: int,
        path: str,
        target: str = "",
        delay_ms: float = 0.0,
        at: float = 0.0,
    ) -> None:
        with self.lock:
            self.counts[endpoint] += 1
            self.counts_by_status[(endpoint, status)] += 1
            self.request_log.append(RequestRecord(endpoint, params, status, path, target, delay_ms, at))

    def reset_counts(self) -> None:
        with self.lock:
            self.counts.clear()
            self.counts_by_status.clear()
            self.request_log.clear()

    def stats(self) -> dict[str, Any]:
        """Counts as plain JSON-able data (``GET /_sim/stats``)."""
        with self.lock:
            by_status: dict[str, dict[str, int]] = {}
            for (endpoint, status), n in sorted(self.counts_by_status.items()):
                by_status.setdefault(endpoint, {})[str(status)] = n
            return {
                "counts": dict(self.counts),
                "counts_by_status": by_status,
                "list_pages_served": self.list_pages_served,
                "live_jobs": self.live_count,
                "deleted_jobs": self._n_deleted,
                "now_ms": self._now_ms,
                # All API requests received (refused ones too) in the busiest second and minute.
                "max_requests_per_second": most_in_window((r.at for r in self.request_log), 1.0),
                "max_requests_per_minute": most_in_window((r.at for r in self.request_log), 60.0),
            }

    # -- ground truth ------------------------------------------------------------------------

    def expected_rows(self, source: str = "v1", *, credits: bool = True) -> dict[str, list[dict[str, Any]]]:
        """What a correct loader holds after syncing the current data (see :mod:`.truth`): credits
        as billed now, unless ``credits=False`` leaves the two usage columns out."""
        with self.lock:
            return expected_rows(self, source, credits=credits)
