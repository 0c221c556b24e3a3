"""The simulator's mutable state: which jobs exist, their versions, and what was served.

Per job the state holds a version counter, an ``updated_at`` override and a deleted flag
(13 bytes); everything else is regenerated from the seed. Every method is deterministic given
the seed and the order of calls, and takes ``lock`` so that a test thread can mutate the data
while the server thread serves it.
"""

from __future__ import annotations

import logging
import random
import threading
from array import array
from collections import Counter, deque
from collections.abc import Callable, Iterator
from typing import Any, NamedTuple

from etl.simulator.data import GAP_MS, MAX_FIRST_UPDATE_MS, DataSet, Job, hash_ints
from etl.simulator.faults import EndpointKey, Faults
from etl.simulator.truth import expected_rows

log = logging.getLogger(__name__)

#: Caches are bounded (and simply emptied when full): a walk over a million jobs must not keep
#: them all. Built jobs are kept briefly so that hydrating what a list just showed is cheap.
CACHE_ITEMS = 20_000
CACHE_JOBS = 4_096
TOKEN_EXPIRY_STATUSES = (400, 404, 410, 422)


class RequestRecord(NamedTuple):
    """One API request as served: status 0 means the connection was dropped without a response."""

    endpoint: EndpointKey
    params: dict[str, Any]  # str values; ``job_ids`` (repeatable) as a list
    status: int
    path: str


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
        self._now_ms = last_created + MAX_FIRST_UPDATE_MS + 3_600_000
        self._rng = random.Random(hash_ints(data.seed, 0x3A7E))
        self._faults = Faults()
        self.counts: Counter[str] = Counter()
        self.counts_by_status: Counter[tuple[str, int]] = Counter()
        self.request_log: deque[RequestRecord] = deque(maxlen=200_000)
        self.fault_counters: Counter[str] = Counter()
        self._hooks: list[tuple[int, Callable[[SimState], object]]] = []
        self.list_pages_served = 0
        self.hook_errors: list[Exception] = []
        self.v1_retired = False
        self.token_serial = 0
        self.tokens_expired_below = 0
        self.token_expiry_status = 410
        self.list_serial = 0
        self.cache: dict[tuple[str, int, int], bytes] = {}
        self._job_cache: dict[tuple[int, int], Job] = {}

    @classmethod
    def generate(
        cls,
        n_jobs: int = 500,
        seed: int = 7,
        api_key: str = "sim-key",
        *,
        n_projects: int = 3,
        n_orgs: int = 2,
    ) -> SimState:
        """A fresh data set of ``n_jobs`` jobs; the same arguments always give the same data."""
        if n_jobs < 0:
            raise ValueError("n_jobs must be >= 0")
        return cls(DataSet(seed, n_projects, n_orgs), n_jobs, api_key)

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

    def job_at(self, index: int) -> Job:
        """The current canonical data of the job at ``index``."""
        key = (index, self._versions[index])
        job = self._job_cache.get(key)
        if job is None:
            created = self.created_ms(index)
            updated = self._updated[index] or self.data.first_updated_ms(index, created)
            job = self.data.job(index, key[1], created, updated)
            if len(self._job_cache) >= CACHE_JOBS:
                self._job_cache.clear()
            self._job_cache[key] = job
        return job

    def index_of(self, job_id: str) -> int | None:
        """The index of a job id ever issued (deleted or not), else None."""
        index = self.data.codec.decode(job_id)
        return index if index is not None and index < self._n else None

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
            return [self.data.codec.encode(i) for i in self.live_indexes()]

    def deleted_job_ids(self) -> list[str]:
        with self.lock:
            return [self.data.codec.encode(i) for i in range(self._n) if self._deleted[i]]

    def v1_only_job_ids(self) -> list[str]:
        """Live jobs v2 does not know: its get answers 404 and its list leaves them out."""
        with self.lock:
            return [self.data.codec.encode(i) for i in self.live_indexes() if not self.data.v2_known(i)]

    @property
    def live_count(self) -> int:
        return self._n - self._n_deleted

    # -- changing the data -------------------------------------------------------------------

    def _tick(self) -> int:
        self._now_ms += 1_000 + self._rng.randrange(GAP_MS)
        return self._now_ms

    def _pick_live(self, k: int) -> list[int]:
        live = self.live_count
        if k > live:
            raise ValueError(f"asked for {k} jobs, only {live} are live")
        if k > live // 2:
            return self._rng.sample(list(self.live_indexes()), k)
        picked: dict[int, None] = {}
        while len(picked) < k:
            i = self._rng.randrange(self._n)
            if not self._deleted[i]:
                picked[i] = None
        return list(picked)

    def change_job(self, job_id: str) -> str:
        """Give a live job new data (status, rules, result, ...) and a strictly later ``updated_at``."""
        with self.lock:
            index = self._live_index(job_id)
            self._versions[index] += 1
            self._updated[index] = self._tick()
            return job_id

    def change_jobs(self, k: int) -> list[str]:
        """Change k random live jobs; returns their ids."""
        with self.lock:
            return [self.change_job(self.data.codec.encode(i)) for i in self._pick_live(k)]

    def add_jobs(self, m: int) -> list[str]:
        """Create m jobs, appended at the end of the listing order; returns their ids."""
        with self.lock:
            ids = []
            for _ in range(m):
                index = self._n
                self._n += 1
                created = self._tick()
                self._versions.append(0)
                # A new job's first update is its creation: later changes then stay later.
                self._updated.append(created)
                self._deleted.append(0)
                self._added_created.append(created)
                ids.append(self.data.codec.encode(index))
            return ids

    def delete_jobs(self, k: int) -> list[str]:
        """Delete k random live jobs (gone from every endpoint); returns their ids."""
        with self.lock:
            return [self.delete_job(self.data.codec.encode(i)) for i in self._pick_live(k)]

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

    def record(self, endpoint: EndpointKey, params: dict[str, Any], status: int, path: str) -> None:
        with self.lock:
            self.counts[endpoint] += 1
            self.counts_by_status[(endpoint, status)] += 1
            self.request_log.append(RequestRecord(endpoint, params, status, path))

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
            }

    # -- ground truth ------------------------------------------------------------------------

    def expected_rows(self, source: str = "v1") -> dict[str, list[dict[str, Any]]]:
        """What a correct loader holds after syncing the current data (see :mod:`.truth`)."""
        with self.lock:
            return expected_rows(self, source)
