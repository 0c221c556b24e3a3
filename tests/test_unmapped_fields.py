"""A field the API adds that no column maps: stored in the raw JSON, recorded in
etl_unmapped_fields, and announced once by the run that first stores it (summary, JSON summary)
and by ``status`` for as long as no release maps it."""

from __future__ import annotations

import json

import httpx
from click.testing import CliRunner
from sqlalchemy import Engine, text

from etl.change.normalize import parse_v1, parse_v2
from etl.cli.commands import main
from etl.ops.report import status_dict, status_text, summary_dict, summary_text
from etl.simulator import SimServer, SimState
from etl.simulator.endpoints import EXTRA_FIELD_VALUE
from etl.simulator.render import render_v1, render_v2
from etl.source.models import MAX_UNMAPPED, declared, unmapped_fields
from tests.support import API_KEY, rows, sync

ANNOUNCED = "the API sent a field classify-etl does not map: v2 `usage.new_thing`, readable in the raw JSON"


def test_undeclared_fields_are_found_by_path_and_bounded() -> None:
    job = SimState.generate(n_jobs=1, seed=2).job_at(0)
    body = render_v2(job, (1.5, 0.25))
    assert unmapped_fields(parse_v2(body)) == [] and unmapped_fields(parse_v1(render_v1(job))) == []
    body["usage"]["new_thing"] = {"deep": {"deeper": 1}}  # its contents are not looked into
    body["brand_new"] = None
    body["configuration"]["rules"][0]["weight"] = 2
    assert unmapped_fields(parse_v2(body)) == ["brand_new", "configuration.rules[].weight", "usage.new_thing"]
    body.update({f"k{i:03}": i for i in range(1000)})
    assert len(unmapped_fields(parse_v2(body))) == MAX_UNMAPPED
    assert declared("v2", "usage.parse_credits") and declared("v2", "configuration.rules[].type")
    assert not declared("v2", "usage.new_thing") and not declared("v1", "usage") and not declared("v3", "id")


def _announced(engine: Engine) -> dict[str, str]:
    with engine.connect() as conn:
        return {f["path"]: f["endpoint"] for f in status_dict(conn)["unmapped_fields"]}


def test_a_new_field_is_stored_and_announced_once(engine: Engine) -> None:
    state = SimState.generate(n_jobs=40, seed=8, api_key=API_KEY)
    with SimServer(state) as sim:
        first = sync(engine, sim.url)
        assert first.outcome == "success" and first.new_fields == []
        assert "does not map" not in summary_text(first) and _announced(engine) == {}

        state.extra_field = "usage.new_thing"  # a newer service: every v2 body with usage has it
        state.change_jobs(10)
        second = sync(engine, sim.url)
        assert second.outcome == "success"
        said, as_json = summary_text(second), summary_dict(second)
        assert said.count(ANNOUNCED) == 1, said
        (field,) = as_json["new_fields"]
        assert field["endpoint"] == "v2" and field["path"] == "usage.new_thing"
        assert json.loads(json.dumps(as_json))["new_fields"] == as_json["new_fields"]  # as --json prints it

        # The sample job's raw JSON holds it, readable from SQL on either database.
        with engine.connect() as conn:
            value = conn.execute(
                text(
                    "SELECT raw -> 'v2' -> 'usage' ->> 'new_thing' FROM classify_job_payloads "
                    "WHERE job_id = :j"
                ),
                {"j": field["sample_job_id"]},
            ).scalar_one()
            status = status_dict(conn)
        assert float(value) == EXTRA_FIELD_VALUE
        (recorded,) = rows(engine, "etl_unmapped_fields")
        assert recorded["first_run_id"] == recorded["last_run_id"] == second.run_id
        assert ANNOUNCED in status_text(status) and _announced(engine) == {"usage.new_thing": "v2"}

        # Seen again by the next run: recorded as seen, not announced again; status still says so.
        state.change_jobs(5)
        third = sync(engine, sim.url)
        assert (
            third.outcome == "success"
            and third.new_fields == []
            and "does not map" not in summary_text(third)
        )
        (again,) = rows(engine, "etl_unmapped_fields")
        assert again["first_run_id"] == second.run_id and again["last_run_id"] == third.run_id
        assert again["last_seen_at"] > recorded["last_seen_at"]
        assert _announced(engine) == {"usage.new_thing": "v2"}


def test_the_switch_through_the_control_route_and_the_cli() -> None:
    state = SimState.generate(n_jobs=3, seed=4, api_key=API_KEY)
    with SimServer(state) as sim:
        switched = httpx.post(f"{sim.url}/_sim/switches?extra_field=brand_new")
        assert switched.status_code == 200 and switched.json()["extra_field"] == "brand_new"
        job_id = state.live_job_ids()[0]
        body = httpx.get(
            f"{sim.url}/api/v2/classify/{job_id}", headers={"Authorization": f"Bearer {API_KEY}"}
        ).json()
        assert body["brand_new"] == EXTRA_FIELD_VALUE
        httpx.post(f"{sim.url}/_sim/switches?extra_field=")
        assert state.extra_field is None
    assert "--extra-field" in CliRunner().invoke(main, ["simulate", "--help"]).output
