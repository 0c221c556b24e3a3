"""Within the API's request budget: throttling answers slow the whole client, cost no retries, and a
run that meets nothing else ends; a user's budget is never exceeded; the simulator enforces one."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.engine import Engine

from etl.cli.commands import _rate_limit
from etl.errors import FatalApiError, Throttled
from etl.simulator import Faults, SimServer, SimState
from etl.simulator.faults import most_in_window
from etl.source.client import ClassifyApi
from etl.source.throttle import Throttle
from etl.warehouse import schema
from tests.support import assert_tables_equal_truth, rows
from tests.test_cli import invoke, sync_args

Handler = Callable[[httpx.Request], httpx.Response]
PAGE = {"items": [], "next_page_token": None}


def client(handler: Handler, **kw: Any) -> ClassifyApi:
    return ClassifyApi(
        base_url="http://api.test",
        api_key="k",
        transport=httpx.MockTransport(handler),
        backoff_initial=0.01,
        backoff_max=0.04,
        **kw,
    )


def answers(*responses: httpx.Response) -> tuple[Handler, list[float]]:
    """The responses in turn (the last one from then on), and when each request came."""
    sent: list[float] = []

    def handler(request: httpx.Request) -> httpx.Response:
        sent.append(time.monotonic())
        return responses[min(len(sent), len(responses)) - 1]

    return handler, sent


def too_many(ms: int | None = 1, status: int = 429) -> httpx.Response:
    return httpx.Response(status, headers={"retry-after-ms": str(ms)} if ms else {}, json={"detail": "slow"})


def list_page(api: ClassifyApi) -> Any:
    return api.list_page("v1", {}, page_token=None, page_size=10)


# -- the client -----------------------------------------------------------------------------------


def test_throttling_answers_spend_no_retries() -> None:
    """Six 429s in a row, one retry allowed: the page still comes (a 429 is asked again once the
    throttle allows, not counted against the request's retries)."""
    handler, sent = answers(*[too_many()] * 6, httpx.Response(200, json=PAGE))

    async def main() -> ClassifyApi:
        async with client(handler, max_retries=1) as api:
            await list_page(api)
            return api

    api = asyncio.run(main())
    assert len(sent) == 7
    assert api.throttle.throttled_answers == 6 and api.stats.requests == {"v1_list": 7}


def test_a_503_with_a_wait_is_throttling_and_without_one_an_error() -> None:
    handler, sent = answers(*[too_many(status=503)] * 3, httpx.Response(200, json=PAGE))

    async def main(handler: Handler) -> Any:
        async with client(handler, max_retries=1) as api:
            return await list_page(api)

    asyncio.run(main(handler))
    assert len(sent) == 4
    handler, sent = answers(too_many(None, status=503), httpx.Response(200, json=PAGE))
    handler_always, sent_always = answers(too_many(None, status=503))
    asyncio.run(main(handler))
    with pytest.raises(FatalApiError, match="gave up after 1 retries"):
        asyncio.run(main(handler_always))
    assert len(sent_always) == 2


def test_nothing_but_429s_ends_the_run_after_the_request_timeout() -> None:
    """Once nothing but 429s came back for the request timeout, and more of them than the retries a
    request has, the run ends: each try at most two seconds apart (the slowest rate)."""
    handler, sent = answers(too_many(50))

    async def main() -> None:
        async with client(handler, request_timeout=0.5, max_retries=2) as api:
            await list_page(api)

    started = time.monotonic()
    with pytest.raises(Throttled, match="nothing but throttling answers"):
        asyncio.run(main())
    assert 0.5 <= time.monotonic() - started < 3 * 2.0 + 0.5
    assert len(sent) == 3


def test_a_throttling_answer_pauses_every_request_and_lowers_the_rate() -> None:
    """The sixth answer is a 429 asking for 300 ms: no request of any caller goes out during
    those 300 ms, and the ones after it are spaced by the lowered rate."""
    ok = httpx.Response(200, json={"id": "j", "status": "COMPLETED"})
    handler, sent = answers(*[ok] * 5, too_many(300), ok)

    async def main() -> ClassifyApi:
        async with client(handler) as api:
            await asyncio.gather(*(api.get_job("j", {}) for _ in range(9)))
            return api

    api = asyncio.run(main())
    assert len(sent) == 10
    throttled_at = sent[5]
    assert all(t >= throttled_at + 0.3 - 0.01 for t in sent[6:])
    # Six requests were sent in the last second: the rate drops to 70% of it, 4.2 a second.
    gaps = [b - a for a, b in zip(sent[6:], sent[7:], strict=False)]
    assert gaps[0] >= 1 / 4.2 - 0.02 and min(gaps) > 0.1  # spaced, not a burst
    assert api.throttle.rate is not None
    assert api.throttle.wait_s >= 0.3 and api.throttle.throttled_answers == 1


def test_the_rate_climbs_back_after_a_throttling_answer() -> None:
    """On a fake clock, ten requests a second (fewer while the rate is lower): a 429 lowers the rate
    to 70% of what was sent;
    answers that keep succeeding bring it back within seconds, then above it (probing), never above
    twice what is sent."""
    now = [0.0]

    async def sleep(seconds: float) -> None:
        now[0] += seconds

    throttle = Throttle(clock=lambda: now[0], sleep=sleep)

    async def answered(throttled: bool = False) -> float | None:
        now[0] += 0.1
        sent_at = await throttle.acquire()
        if throttled:
            throttle.throttled(None, sent_at)
        else:
            throttle.succeeded()
        return throttle.rate

    async def scenario() -> list[float | None]:
        for _ in range(9):
            await answered()
        return [await answered(throttled=True)] + [await answered() for _ in range(100)]

    seen = asyncio.run(scenario())
    assert seen[0] == pytest.approx(7.0)
    assert seen == sorted(seen)  # never lower while answers succeed
    assert seen[30] < 10 <= seen[-1]  # back to the throttled rate, not at once
    assert seen[-1] > 10  # then probing above it
    assert max(s or 0 for s in seen) <= 2 * 10


def test_a_budget_spaces_requests_so_that_no_window_holds_more() -> None:
    """1,200 a minute is 20 a second: 41 requests take two seconds, and no second holds over 20."""
    throttle = Throttle(max_per_minute=1200)

    async def main() -> list[float]:
        return list(await asyncio.gather(*(throttle.acquire() for _ in range(41))))

    sent = sorted(asyncio.run(main()))
    assert sent[-1] - sent[0] >= 2.0
    assert most_in_window(sent, 1.0) <= 20


# -- the simulator --------------------------------------------------------------------------------


@pytest.mark.parametrize("retry_after", [True, False])
def test_the_simulator_refuses_requests_beyond_its_budget(state: SimState, retry_after: bool) -> None:
    state.faults = Faults(rate_limit=5, rate_limit_window_s=1.0, rate_limit_retry_after=retry_after)
    with SimServer(state) as sim, httpx.Client(base_url=sim.url, headers={"Authorization": "x"}) as http:
        got = [http.get("/api/v1/classifier/jobs") for _ in range(8)]
        stats = state.stats()
    assert [r.status_code for r in got] == [401] * 5 + [429] * 3  # the budget comes before the key
    assert all(("retry-after" in r.headers) == retry_after for r in got[5:])
    assert stats["max_requests_per_second"] == 8


def test_simulate_reads_a_rate_limit_per_second_or_minute() -> None:
    assert _rate_limit("10/s") == (10, 1.0) and _rate_limit("20/m") == (20, 60.0)
    result = invoke("simulate", "--rate-limit", "10/h")
    assert result.exit_code == 2 and "N/s or N/m" in result.output


# -- whole runs through the CLI, against the simulator over HTTP ------------------------------------


def run_sync(db_url: str, sim: SimServer, *extra: str) -> tuple[int, dict[str, Any], float]:
    started = time.monotonic()
    result = invoke(*sync_args(db_url, sim, "--json", "--request-timeout", "5", *extra))
    elapsed = time.monotonic() - started
    return result.exit_code, json.loads(result.stdout) if result.stdout.strip() else {}, elapsed


def last_run(engine: Engine) -> Any:
    with engine.connect() as conn:
        return conn.execute(select(schema.etl_sync_runs).order_by(schema.etl_sync_runs.c.id.desc())).first()


@pytest.mark.slow
@pytest.mark.sim_data(n_jobs=300)
@pytest.mark.parametrize("retry_after", [True, False], ids=["retry-after", "no-retry-after"])
def test_a_cold_sync_within_10_requests_a_second(
    db_url: str, engine: Engine, state: SimState, retry_after: bool
) -> None:
    state.faults = Faults(rate_limit=10, rate_limit_window_s=1.0, rate_limit_retry_after=retry_after)
    with SimServer(state) as sim:
        code, summary, elapsed = run_sync(db_url, sim)
    stats = state.stats()["counts_by_status"]
    throttled = sum(by.get("429", 0) for by in stats.values())
    needed = sum(n for by in stats.values() for status, n in by.items() if status != "429")
    assert code == 0
    assert_tables_equal_truth(engine, state)
    floor = needed / 10
    assert elapsed <= 1.6 * floor + 3, (elapsed, floor)
    assert throttled <= 0.15 * (needed + throttled)
    assert summary["throttled_responses"] == throttled and summary["throttle_wait_s"] > 0
    run = last_run(engine)
    assert run.throttled_responses == throttled and run.throttle_wait_s > 0


@pytest.mark.sim_data(n_jobs=60)
def test_a_budget_equal_to_the_simulators_meets_no_429(db_url: str, engine: Engine, state: SimState) -> None:
    """The simulator allows 10 a second; the run is told 600 a minute (the same budget): no 429 at
    all, and no second (nor minute) the simulator measured holds more."""
    state.faults = Faults(rate_limit=10, rate_limit_window_s=1.0)
    with SimServer(state) as sim:
        code, summary, _ = run_sync(db_url, sim, "--max-requests-per-minute", "600")
    stats = state.stats()
    assert code == 0
    assert_tables_equal_truth(engine, state)
    assert not any("429" in by for by in stats["counts_by_status"].values())
    assert stats["max_requests_per_second"] <= 10 and stats["max_requests_per_minute"] <= 600
    assert summary["throttled_responses"] == 0


def test_a_budget_too_low_for_any_progress_ends_the_run_with_its_checkpoint(
    db_url: str, engine: Engine, state: SimState
) -> None:
    with SimServer(state) as sim:
        assert run_sync(db_url, sim)[0] == 0
        before = rows(engine, "etl_checkpoints")
        state.change_jobs(20)
        # One request a minute, no Retry-After: the client backs off (0.5 s doubling, at most 8 s),
        # and once nothing but 429s came for --request-timeout (3 s), more of them in a row than
        # --max-retries (2: the fourth, after 0.5 + 1 + 2 s of pauses), the run ends.
        state.faults = Faults(rate_limit=1, rate_limit_window_s=60.0, rate_limit_retry_after=False)
        code, _, elapsed = run_sync(db_url, sim, "--request-timeout", "3", "--max-retries", "2")
    assert code == 1
    assert elapsed <= max(3, 0.5 + 1 + 2) + 8 + 3  # the rule's time, one more pause, and slack
    assert rows(engine, "etl_checkpoints") == before
    run = last_run(engine)
    assert run.outcome == "failed" and run.throttled_responses > 0
    assert "throttling" in (run.message or "")
