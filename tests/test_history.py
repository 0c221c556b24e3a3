"""classify_job_history: one row per observed change of a job's outcome, never doubled."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import Engine

from etl.simulator import Faults, SimServer, SimState
from tests.support import rows, sync

pytestmark = pytest.mark.sim_data(n_jobs=100, seed=59)


def outcomes(state: SimState) -> dict[str, tuple[Any, ...]]:
    """Each live job's (status, result type, confidence, error) according to the ground truth."""
    truth = state.expected_rows()
    results = {r["job_id"]: r for r in truth["classify_results"]}
    out = {}
    for job in truth["classify_jobs"]:
        res = results.get(job["id"], {})
        out[job["id"]] = (job["status"], res.get("type"), res.get("confidence"), job["error_message"])
    return out


def test_history_equals_the_expected_change_log(engine: Engine, sim: SimServer) -> None:
    state = sim.state
    expected: dict[str, list[tuple[Any, ...]]] = {}

    def observe() -> None:
        for job_id, outcome in outcomes(state).items():
            versions = expected.setdefault(job_id, [])
            if not versions or versions[-1] != outcome:
                versions.append(outcome)

    sync(engine, sim.url)
    observe()
    for round_ in range(4):
        some = state.live_job_ids()[round_ * 7 : round_ * 7 + 12]  # overlapping: some change twice
        for job_id in some:
            state.change_job(job_id)
        state.add_jobs(2)
        if round_ == 2:  # a run killed mid-walk by a failing list, then retried: no duplicates
            state.after_list_page(1, lambda s: setattr(s, "faults", Faults(error_rates={503: 1.0})))
            sync(engine, sim.url, max_retries=0)
            state.faults = Faults()
        sync(engine, sim.url)
        observe()
    sync(engine, sim.url)  # unchanged: adds nothing

    history = rows(engine, "classify_job_history")
    got: dict[str, list[dict[str, Any]]] = {}
    for h in sorted(history, key=lambda h: h["id"]):
        got.setdefault(h["job_id"], []).append(h)
    assert set(got) == set(expected)
    multi = 0
    for job_id, versions in expected.items():
        mine = got[job_id]
        assert [
            (h["status"], h["result_type"], h["confidence"], h["error_message"]) for h in mine
        ] == versions
        for older, newer in zip(mine, mine[1:], strict=False):
            assert older["valid_to"] == newer["valid_from"] and older["valid_from"] <= newer["valid_from"]
            assert (newer["previous_result_type"], newer["previous_confidence"]) == (
                older["result_type"],
                older["confidence"],
            )
        assert [h["version"] for h in mine] == list(range(1, len(mine) + 1))
        assert (mine[0]["previous_result_type"], mine[0]["previous_confidence"]) == (None, None)
        assert mine[-1]["valid_to"] is None
        multi += len(versions) > 1
    assert multi >= 5, "the scenario should change some outcomes"
