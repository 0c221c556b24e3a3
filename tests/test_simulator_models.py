"""The simulator's v2 payloads against the official client's v2 models (llama-cloud 2.19.0, the
first to document ``usage`` and ``expand``), in a subprocess.

The test venv holds llama-cloud 2.15.0 (the last release with the v1 types, which
``test_simulator.py`` validates v1 payloads against). 2.19.0 is installed once, without its
dependencies (the same ones 2.15.0 has, already in the venv), into a directory in pytest's cache
(``.pytest_cache/d/llama-cloud-2.19.0``, reused by later runs); a subprocess with that directory
first on ``sys.path`` imports it and validates payloads read from a JSON file.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest
from filelock import FileLock

from etl.simulator import SimServer, SimState
from etl.simulator.data import UNFINISHED, Lifecycle
from etl.simulator.hostile import ODD_IDS
from tests.test_simulator import walk
from tests.test_simulator_hostile import encoded

VERSION = "2.19.0"
KEY = "sim-key"
V2 = "/api/v2/classify"

VALIDATE = """
import json, sys
import llama_cloud
from llama_cloud import LlamaCloud
from llama_cloud.types.classify_get_response import ClassifyGetResponse
from llama_cloud.types.classify_list_response import ClassifyListResponse

assert llama_cloud.__version__ == sys.argv[2], llama_cloud.__version__
job = json.load(open(sys.argv[1]))
out = {"errors": [], "credits": [], "rejected": 0}
for kind, model in (("get", ClassifyGetResponse), ("list_item", ClassifyListResponse)):
    for item in job[kind]:
        try:
            parsed = model.model_validate(item)
        except Exception as exc:
            out["errors"].append([kind, item.get("id"), str(exc)[:500]])
            continue
        if "usage" in item:
            out["credits"].append([parsed.id, parsed.usage.credits, parsed.usage.parse_credits])
for item in job["must_fail"]:
    try:
        ClassifyGetResponse.model_validate(item)
    except Exception:
        out["rejected"] += 1
if job.get("base_url"):
    sdk = LlamaCloud(api_key=job["api_key"], base_url=job["base_url"], max_retries=0)
    out["sdk_listed"] = [j.id for j in sdk.classify.list(page_size=50)]
    got = sdk.classify.get(job["sdk_get"], expand=["usage"])
    out["sdk_usage"] = got.usage.model_dump() if got.usage else None
    out["sdk_plain_usage"] = sdk.classify.get(job["sdk_get"]).usage
print(json.dumps(out))
"""


@pytest.fixture(scope="session")
def llama_cloud_2_19(request: pytest.FixtureRequest) -> Path:
    """A directory holding llama-cloud 2.19.0 alone, installed on first use and kept in the cache."""
    target = Path(request.config.cache.mkdir(f"llama-cloud-{VERSION}"))
    marker = target / f"llama_cloud-{VERSION}.dist-info"
    with FileLock(str(target) + ".lock"):
        if not marker.is_dir():
            cmd = [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--upgrade"]
            cmd += ["--target", str(target), f"llama-cloud=={VERSION}"]
            done = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
            if done.returncode != 0 or not marker.is_dir():
                pytest.fail(f"could not install llama-cloud {VERSION}: {done.stderr[-2000:]}")
    return target


def validate(target: Path, tmp_path: Path, payloads: dict[str, Any]) -> dict[str, Any]:
    path = tmp_path / "payloads.json"
    path.write_text(json.dumps({"get": [], "list_item": [], "must_fail": [], **payloads}))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(target), os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run(
        [sys.executable, "-c", VALIDATE, str(path), VERSION],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def gets(client: httpx.Client, job_ids: list[str], *expand: str) -> list[dict[str, Any]]:
    out = []
    for job_id in job_ids:
        resp = client.get(f"{V2}/{encoded(job_id)}", params=[("expand", e) for e in expand])
        assert resp.status_code == 200, resp.text
        out.append(resp.json())
    return out


@pytest.fixture
def state() -> SimState:
    state = SimState.generate(n_jobs=300, seed=13, api_key=KEY, lifecycle=Lifecycle(span_days=2))
    for job_id in ODD_IDS:
        state.add_job_with_id(job_id)
    state.add_jobs(30)
    state.finish_jobs(5)
    state.late_change(5)
    state.billing_lag_ms = 600_000  # the latest changes are not billed yet
    return state


def test_v2_payloads_validate_against_llama_cloud_2_19(
    client: httpx.Client, sim: SimServer, state: SimState, llama_cloud_2_19: Path, tmp_path: Path
) -> None:
    listed = walk(client, V2, page_size=100)[0]
    state.usage_on_list = True
    listed_with_usage = walk(client, V2, page_size=100)[0]
    job_ids = [i["id"] for i in listed]
    plain = gets(client, job_ids)
    expanded = gets(client, job_ids, "usage")
    usages = [i["usage"] for i in expanded]
    # The payloads cover every shape usage takes: billed, lagging or unfinished, parse-job runs.
    assert any(u["credits"] is None for u in usages) and any(u["credits"] for u in usages)
    assert {"credits": 0.0, "parse_credits": None} in usages
    statuses = {state.job(j).status for j in job_ids}
    assert statuses & UNFINISHED and statuses - UNFINISHED
    broken = [{**plain[0], "status": "ARCHIVED"}, {**plain[0], "usage": {"credits": "lots"}}]
    finished = next(
        j
        for j in job_ids
        if state.job(j).status not in UNFINISHED and state.is_billed(state.index_of(j) or 0)
    )
    result = validate(
        llama_cloud_2_19,
        tmp_path,
        {
            "get": plain + expanded,
            "list_item": listed + listed_with_usage,
            "must_fail": broken,
            "base_url": sim.url,
            "api_key": KEY,
            "sdk_get": finished,
        },
    )
    assert result["errors"] == []
    assert result["rejected"] == len(broken)  # the models do check
    assert len(result["credits"]) == len(expanded) + len(listed_with_usage)
    assert result["credits"][: len(expanded)] == [[i["id"], *i["usage"].values()] for i in expanded]
    # The official client itself: it sends expand as the simulator expects, and walks the list.
    assert result["sdk_listed"] == job_ids
    credits = state.job(finished).usage
    assert credits is not None
    assert result["sdk_usage"] == {"credits": credits[0], "parse_credits": credits[1]}
    assert result["sdk_plain_usage"] is None
    assert [r.params.get("expand") for r in state.request_log if r.endpoint == "v2_get"][-2:] == [
        ["usage"],
        None,
    ]
