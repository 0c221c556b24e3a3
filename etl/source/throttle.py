"""The client's request rate, shared by every request of a run (list pages and GETs alike).

A throttling answer (429, or 503 with a wait hint) is a signal about the whole client, not about
one request: every request of the run slows down, as in the AWS SDKs' adaptive retry mode.

- Each request waits for its slot before it is sent. Slots are spaced by ``1 / rate``; the rate
  is unlimited until the first throttling answer.
- A throttling answer pauses every request until the server's ``retry-after-ms`` /
  ``Retry-After`` has passed (when absent: 0.5 s, doubling while answers keep being throttled, at
  most 8 s) and lowers the rate to 70% of what was sent in the last second. Answers to requests
  sent before that decrease lower it no further: they were all in flight when it happened.
- While answers succeed the rate climbs back along AWS's cubic curve (flatter: see ``CUBIC_SCALE``):
  back to the rate that was throttled after a few seconds, then probing above it, never above twice
  what is sent. The rate a decrease starts from is what was sent, not the allowed rate, which may
  be far above it.
- A user's budget (``--max-requests-per-minute N``) caps the rate for the whole run: sends at least
  ``60 / N`` seconds apart (plus a small margin for the network's jitter), so no 60 s window
  holds more than N requests, retries included.

The limiter is ours rather than a library's: ``aiolimiter`` is a leaky bucket whose burst lets up
to 2N requests through in the first period of N per period, and its rate cannot change once made;
``pyrate-limiter``'s sliding window is exact but brings a background leaker thread and locks.
Even spacing meets a per-minute budget exactly and never bursts into a per-second limit.

The limiter knows nothing of HTTP: ``etl.api`` tells it what each answer was.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any

#: What a throttling answer leaves of the rate (AWS's beta).
DECREASE = 0.7
#: The cubic curve's scale, in requests per second per second cubed. AWS uses 0.4; each probe above a
#: budget here costs every request a pause, so the curve stays near the throttled rate for longer
#: (about five seconds at ten requests a second) before it probes above it.
CUBIC_SCALE = 0.03
#: The slowest the adaptive rate goes: one request every two seconds.
MIN_RATE = 0.5
#: Slots under a user's budget are this much further apart than ``60 / N`` (a factor, and seconds):
#: a request's arrival at the server moves by the network's and the event loop's jitter, which
#: must not fit an N+1st request in a minute, nor bunch requests into a per-second limit.
BUDGET_MARGIN, BUDGET_MARGIN_S = 1.02, 0.02


class Throttle:
    """One per client. ``await acquire()`` before each request, then tell it the answer:
    ``succeeded()``, or ``throttled(wait_s, sent_at)`` and ``wait`` the pause it returns."""

    def __init__(
        self,
        *,
        max_per_minute: int | None = None,
        backoff_s: float = 0.5,
        backoff_max_s: float = 8.0,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] | None = None,
    ):
        self._clock = clock
        self._sleep = sleep  # None: asyncio.sleep, looked up when called
        #: The wait after a throttling answer that names none, doubling per congestion in a row.
        self._backoff = (backoff_s, backoff_max_s)
        #: The user's cap, requests per second (None: no cap).
        self.cap = max_per_minute / 60 / BUDGET_MARGIN if max_per_minute else None
        #: The adaptive rate, requests per second (None: not limited by the server so far).
        self.rate: float | None = None
        self._next_slot = 0.0
        self._paused_until = 0.0
        self._rate_at_decrease = 0.0  # AWS's W_max
        self._decreased_at = -1e9
        self._streak = 0  # congestions in a row with no successful answer between
        self._sends: deque[float] = deque()  # times of the last second's requests
        self._waiting = 0
        self._waiting_since = 0.0
        self._sleepers: set[asyncio.Task[Any]] = set()
        self._stopped: Exception | None = None
        #: Throttling answers seen, and the seconds during which a request was held back.
        self.throttled_answers = 0
        self.wait_s = 0.0
        #: When an answer last was not a throttling one (the run's progress), and the throttling
        #: answers since.
        self.last_progress = clock()
        self.refused_in_a_row = 0

    def _spacing(self) -> float:
        adaptive = 1 / self.rate if self.rate else 0.0
        budget = 1 / self.cap + BUDGET_MARGIN_S if self.cap else 0.0
        return max(adaptive, budget)

    def is_waiting(self) -> bool:
        """Whether a request is being held back now (the progress line says so)."""
        return self._waiting > 0

    async def acquire(self, waited_until: float = 0.0) -> float:
        """Wait for this request's slot; returns the time it is sent (for ``throttled``). A request
        that has already sat out a pause (``wait``) passes ``waited_until``, the end of that pause.
        Slots follow the actual sends, so a request woken late never lets the next one go early.
        Raises the error ``stop`` was given, at once for a request still waiting."""
        while True:
            if self._stopped is not None:
                raise self._stopped
            now = self._clock()
            pause = self._paused_until if self._paused_until > waited_until else 0.0
            slot = max(self._next_slot, pause)
            if slot <= now:
                break
            await self.wait(slot - now)
        self._next_slot = now + self._spacing()
        self._sends.append(now)
        self._sending_rate(now)  # keeps the last second only
        return now

    async def wait(self, seconds: float) -> None:
        """Sleep, counted as time the run was held back; cut short by ``stop``."""
        task = asyncio.current_task()
        assert task is not None
        self._hold(+1)
        self._sleepers.add(task)
        try:
            await (self._sleep or asyncio.sleep)(seconds)
        except asyncio.CancelledError:
            if self._stopped is None or task.uncancel():  # not (only) ours: a real cancellation
                raise
        finally:
            self._sleepers.discard(task)
            self._hold(-1)

    def stop(self, error: Exception) -> None:
        """No more requests: every one waiting, and every one to come, raises ``error``."""
        self._stopped = error
        for task in self._sleepers:
            task.cancel()

    def _hold(self, change: int) -> None:
        now = self._clock()
        if self._waiting == 0 and change > 0:
            self._waiting_since = now
        self._waiting += change
        if self._waiting == 0:
            self.wait_s += now - self._waiting_since

    def _sending_rate(self, now: float) -> float:
        """Requests sent in the last second: the rate a throttling answer says is too much."""
        while self._sends and self._sends[0] <= now - 1.0:
            self._sends.popleft()
        return float(len(self._sends))

    def throttled(self, wait_s: float | None, sent_at: float) -> tuple[float, float]:
        """A throttling answer to the request sent at ``sent_at``: slow down, and pause everyone.
        Returns the pause (the server's wait, else the backoff) and when it ends."""
        now = self._clock()
        self.throttled_answers += 1
        self.refused_in_a_row += 1
        if sent_at >= self._decreased_at:  # the first answer of this congestion
            self._streak += 1
            self._decreased_at = now
            # Nothing sent of late: there is no rate to lower, the pause (backoff) acts alone.
            if sending := self._sending_rate(now):
                current = sending if self.rate is None else min(self.rate, sending)
                self._rate_at_decrease = current
                self.rate = max(MIN_RATE, current * DECREASE)
        first, most = self._backoff
        pause = wait_s if wait_s is not None else min(most, first * 2 ** (self._streak - 1))
        self._paused_until = max(self._paused_until, now + pause)
        return pause, now + pause

    def succeeded(self) -> None:
        """An answer that was not a throttling one: progress, and the rate climbs back."""
        now = self._clock()
        self.last_progress = now
        self.refused_in_a_row = 0
        self._streak = 0
        if self.rate is None:
            return
        w_max = self._rate_at_decrease
        k = (w_max * (1 - DECREASE) / CUBIC_SCALE) ** (1 / 3)
        cubic = CUBIC_SCALE * (now - self._decreased_at - k) ** 3 + w_max
        # Never above twice what is sent: a rate the run is not using tells nothing of the server.
        self.rate = max(self.rate, min(cubic, 2 * max(self._sending_rate(now), MIN_RATE)))

    def stalled_for(self) -> float:
        """Seconds since the last answer that was not a throttling one."""
        return self._clock() - self.last_progress
