"""Fault injection: what can go wrong with a request, configured per endpoint, decided per request.

A :class:`Faults` holds settings for every API endpoint; ``endpoints`` overrides some of them for
one endpoint (only the fields set there). The n-th request to an endpoint since the faults were
set always gets the same :class:`Decision` for the same seeds, so a failing run can be replayed.
Faults never change the data: the ground truth is the same with or without them.

Kinds, in the order they are decided:

* 429 bursts: in every cycle of ``burst_every`` requests, the last ``burst_len`` get 429 with
  ``Retry-After`` (seconds or an HTTP date) and/or ``retry-after-ms``.
* timeouts: hang ``hang_s`` seconds (longer than a client's read timeout), then answer or drop.
* connection resets: the connection is aborted without a response.
* errors by status (``error_rates``, e.g. ``{500: 0.1, 503: 0.05}``), FastAPI-style bodies; a 500
  carries a correlation id. ``should_retry`` adds ``x-should-retry: true|false``.
* HTML bodies instead of JSON (``html_status`` 200 or 502, as a proxy page would).
* truncated 200 bodies: ``cut_json`` (a valid response whose JSON stops half way) or
  ``short_read`` (Content-Length promises more than is sent before the connection drops).
* latency: every response waits ``latency_ms`` (+ up to ``jitter_ms``) before its one-piece write.

A request budget (``rate_limit`` requests in any ``rate_limit_window_s``, all endpoints together) is
decided before all of these: a request beyond it gets 429, with ``Retry-After`` (whole seconds until
the budget has room again) if ``rate_limit_retry_after``. Refused requests do not spend the budget.

``invalid_items`` (job id → kind) serves those jobs malformed in both lists and the v2 get.
Responses that are well-formed HTTP but hostile in content (bad page tokens, wrong ids, NaN,
endless bodies, ...) are switches on the state: see :mod:`etl.simulator.hostile`.
"""

from __future__ import annotations

import random
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from etl.simulator.data import hash_ints
from etl.simulator.render import InvalidKind

EndpointKey = Literal["v1_list", "v2_get", "v2_list"]
ENDPOINT_KEYS: tuple[EndpointKey, ...] = ("v1_list", "v2_get", "v2_list")


class EndpointFaults(BaseModel):
    """Fault settings for one endpoint (or, in :class:`Faults`, for all of them)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    error_rates: dict[int, float] = Field(default_factory=dict)
    should_retry: bool | None = None
    burst_every: int = Field(default=0, ge=0)
    burst_len: int = Field(default=0, ge=0)
    retry_after_s: float | None = 1.0
    retry_after_ms: int | None = None
    retry_after_http_date: bool = False
    latency_ms: float = Field(default=0.0, ge=0)
    jitter_ms: float = Field(default=0.0, ge=0)
    timeout_rate: float = Field(default=0.0, ge=0, le=1)
    hang_s: float = Field(default=30.0, ge=0)
    hang_then: Literal["answer", "drop"] = "drop"
    reset_rate: float = Field(default=0.0, ge=0, le=1)
    html_rate: float = Field(default=0.0, ge=0, le=1)
    html_status: int = 502
    truncate_rate: float = Field(default=0.0, ge=0, le=1)
    truncate_mode: Literal["cut_json", "short_read"] = "cut_json"


class Faults(EndpointFaults):
    """All fault settings of a simulator; ``Faults()`` is a well-behaved API."""

    endpoints: dict[EndpointKey, EndpointFaults] = Field(default_factory=dict)
    invalid_items: dict[str, InvalidKind] = Field(default_factory=dict)
    seed: int = 0
    rate_limit: int = Field(default=0, ge=0)  # 0: no budget
    rate_limit_window_s: float = Field(default=1.0, gt=0)
    rate_limit_retry_after: bool = True

    def for_endpoint(self, key: EndpointKey) -> EndpointFaults:
        """The settings in force for one endpoint: the shared ones, overridden by ``endpoints[key]``."""
        base = {name: getattr(self, name) for name in EndpointFaults.model_fields}
        override = self.endpoints.get(key)
        if override is not None:
            base.update({name: getattr(override, name) for name in override.model_fields_set})
        return EndpointFaults(**base)


Kind = Literal["ok", "burst429", "hang", "reset", "error", "html", "truncate"]


@dataclass(frozen=True)
class Decision:
    """What happens to one request."""

    kind: Kind = "ok"
    status: int = 200
    delay_s: float = 0.0
    settings: EndpointFaults = field(default_factory=EndpointFaults)
    correlation_id: str = ""


class RateWindow:
    """The requests a budget let through in the last window: ``refuse(now)`` takes one more, or
    says how long until there is room."""

    def __init__(self) -> None:
        self.accepted: deque[float] = deque()

    def refuse(self, now: float, limit: int, window_s: float) -> float | None:
        """None if the request at ``now`` fits ``limit`` per ``window_s`` (it is counted); else the
        seconds until one would."""
        while self.accepted and self.accepted[0] <= now - window_s:
            self.accepted.popleft()
        if len(self.accepted) < limit:
            self.accepted.append(now)
            return None
        return self.accepted[0] + window_s - now


def most_in_window(times: Iterable[float], window_s: float) -> int:
    """The most of ``times`` (ascending) that fall in any window of ``window_s`` seconds."""
    best, start, kept = 0, 0, list(times)
    for end, t in enumerate(kept):
        while kept[start] <= t - window_s:
            start += 1
        best = max(best, end - start + 1)
    return best


def decide(settings: EndpointFaults, *, seed: int, endpoint: EndpointKey, n: int) -> Decision:
    """The fate of the n-th (0-based) request to ``endpoint`` since the faults were set."""
    r = random.Random(hash_ints(seed, ENDPOINT_KEYS.index(endpoint), n))
    delay = (settings.latency_ms + r.random() * settings.jitter_ms) / 1000.0
    u_hang, u_reset, u_error, u_html, u_trunc = (r.random() for _ in range(5))

    def made(kind: Kind, status: int = 200) -> Decision:
        cid = f"{r.getrandbits(64):016x}" if kind == "error" else ""
        return Decision(kind, status, delay, settings, cid)

    s = settings
    if s.burst_every and s.burst_len and n % s.burst_every >= s.burst_every - s.burst_len:
        return made("burst429", 429)
    if u_hang < s.timeout_rate:
        return made("hang")
    if u_reset < s.reset_rate:
        return made("reset")
    acc = 0.0
    for status, rate in sorted(s.error_rates.items()):
        acc += rate
        if u_error < acc:
            return made("error", status)
    if u_html < s.html_rate:
        return made("html", s.html_status)
    if u_trunc < s.truncate_rate:
        return made("truncate")
    return made("ok")
