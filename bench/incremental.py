"""Benchmark: the v2 list plan (parallel full walk, incremental run) at a real service's latency.

    .venv/bin/python bench/incremental.py --jobs 10000      # a quick run
    .venv/bin/python bench/incremental.py                   # 100,000 jobs, 150 ms a request

The simulator runs in its own process (bench/sim.py) with a lifecycle data set:
jobs created over ``--span-days`` (200: 0.5% of them in the last day), ~3% unfinished, most of
them recent (created in the last ``--recent-days``), the rest an old backlog. Every classify-etl
run is its own process (``classify-etl sync --list-source v2``) into a throwaway PostgreSQL
database. Requests are counted by the simulator (``/_sim/stats``); wall time is the whole
process, start-up included. Prints a table; writes nothing else.

Rows:

(a) the sequential walk (today's baseline): the v2 list walked page after page (the simulator
    ignores the window filters, so the plan falls back to one sequential walk), ``--no-credits``;
(b) the cold full walk in created_at windows, ``--list-concurrency`` at a time, ``--no-credits``
    (with credits a cold walk also GETs every finished job once: see the note printed);
(c) incremental runs after "15 minutes of activity" (jobs added, unfinished jobs finished, a few
    late changes, the clock moved on), with credits: the first one also fetches the credits the
    ``--no-credits`` cold walk left out (finished within ``--credits-lag``), the second is the
    steady state.
(d) the recurring full walk: ``--full-walk`` on the scope (c) left stored, ``--list-concurrency`` at
    a time, with credits like (c): what ``--full-walk-every`` (24 h by default) costs every day,
    nearly every listed job unchanged. Windows are the stored created_at quantiles (no probes); the
    floor is its window pages one after another.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from run import API_KEY, Simulator, fresh_database  # bench/ is on sys.path: this script's directory
from sim import add_lifecycle_arguments, lifecycle_of

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
ETL = str(Path(sys.executable).parent / "classify-etl")
DAY_MS = 86_400_000


def make_state(args: argparse.Namespace) -> Any:
    from etl.simulator import SimState

    return SimState.generate(args.jobs, seed=args.seed, api_key=API_KEY, lifecycle=lifecycle_of(args))


@dataclass
class Run:
    label: str
    wall_s: float
    cpu_s: float  # the classify-etl process's own CPU (user + system), PostgreSQL's not included
    list_requests: int
    gets: int
    kind: str
    parts: dict[str, int]
    jobs_listed: int


def sync(sim: Simulator, db_url: str, label: str, log: Path, *extra: str) -> Run:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LLAMA_CLOUD", "CLASSIFY_ETL"))}
    env.update(LLAMA_CLOUD_API_KEY=API_KEY, LLAMA_CLOUD_BASE_URL=sim.url, CLASSIFY_ETL_DATABASE_URL=db_url)
    cmd = [ETL, "sync", "--list-source", "v2", "--page-size", "100", "--json", *extra]
    sim.post("/_sim/reset-counts")
    t0, cpu0 = time.perf_counter(), _children_cpu()
    with open(log, "a") as err:
        err.write(f"$ {' '.join(cmd)}\n")
        err.flush()
        done = subprocess.run(cmd, env=env, stdout=subprocess.PIPE, stderr=err, text=True, cwd=ROOT)
    wall, cpu = time.perf_counter() - t0, _children_cpu() - cpu0
    if done.returncode != 0:
        raise RuntimeError(f"{label}: classify-etl exited {done.returncode}; see {log}")
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    counts = sim.get("/_sim/stats")["counts"]
    scope = summary["scopes"][0]
    return Run(
        label, wall, cpu, counts.get("v2_list", 0), counts.get("v2_get", 0), scope["kind"],
        scope["list_requests"], summary["jobs_listed"],
    )  # fmt: skip


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def activity(sim: Simulator, args: argparse.Namespace) -> str:
    """About 15 minutes of an account's life, scaled to its size."""
    per_day = args.jobs / args.span_days
    added = max(1, round(per_day / 96))
    unfinished = len(sim.get("/_sim/unfinished")["unfinished"])
    finished = max(1, round(unfinished * 0.02))
    late = max(1, round(per_day / 200))
    sim.post(f"/_sim/add?m={added}")
    sim.post(f"/_sim/finish?k={finished}")
    sim.post(f"/_sim/late-change?k={late}")
    sim.post(f"/_sim/advance-clock?ms={15 * 60_000}")
    return f"+{added} jobs, {finished} unfinished finished, {late} late changes, clock +15 min"


def describe_data(args: argparse.Namespace) -> str:
    state = make_state(args)
    now = state.now_ms
    newest = state.created_ms(state.n_total - 1)
    last_day = sum(1 for i in range(state.n_total) if state.created_ms(i) >= now - DAY_MS)
    unfinished = state.unfinished_job_ids()
    created = [state.job(j).created_ms for j in unfinished]
    recent = sum(1 for c in created if c >= newest - args.recent_days * DAY_MS)
    beyond_lookback = sum(1 for c in created if c < newest - DAY_MS)
    n = state.n_total
    return (
        f"{n:,} jobs over {args.span_days:g} days, {last_day / n:.2%} created in the last day; "
        f"{len(unfinished):,} unfinished ({len(unfinished) / n:.2%}): {recent / len(unfinished):.0%} "
        f"created in the last {args.recent_days:g} days, {1 - recent / len(unfinished):.0%} an old backlog; "
        f"{beyond_lookback / len(unfinished):.0%} older than the 1-day lookback (what the incremental "
        "run's status lists walk)"
    )


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--jobs", type=int, default=100_000)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--latency-ms", type=float, default=150.0)
    p.add_argument("--list-concurrency", type=int, default=8)
    add_lifecycle_arguments(p)
    p.set_defaults(span_days=200.0)
    p.add_argument("--pg", default="postgresql://postgres@127.0.0.1:5432/postgres", help="admin URL")
    p.add_argument("--skip-sequential", action="store_true", help="leave out row (a)")
    args = p.parse_args()
    lifecycle_args = [
        f"--span-days={args.span_days}", f"--recent-days={args.recent_days}",
        f"--recent-unfinished-share={args.recent_unfinished_share}",
        f"--old-unfinished-share={args.old_unfinished_share}",
    ]  # fmt: skip

    log = Path(f"/tmp/classify-etl-bench-incremental-{os.getpid()}.log")
    print(f"data: {describe_data(args)}")
    print(f"latency {args.latency_ms:g} ms a request, page size 100, PostgreSQL; log {log}\n", flush=True)
    lat = args.latency_ms / 1000
    rows: list[tuple[str, ...]] = []
    with Simulator(args.jobs, args.latency_ms, args.seed, log, lifecycle_args) as sim:
        if not args.skip_sequential:
            with fresh_database(args.pg, f"bench_incr_seq_{os.getpid()}", keep=False) as url:
                sim.post("/_sim/switches?ignore_window_filters=1")
                seq = sync(sim, url, "seq", log, "--no-credits")
                sim.post("/_sim/switches?ignore_window_filters=0")
            walk = seq.parts.get("walk", 0)
            rows.append((
                "(a) sequential walk (v2 fallback), --no-credits",
                f"{seq.list_requests:,} ({walk:,} walk pages)",
                f"{seq.wall_s:.1f} s",
                f"{seq.cpu_s:.1f} s",
                f"floor {walk:,} × {args.latency_ms:g} ms = {walk * lat:.1f} s",
                f"{seq.gets}",
            ))  # fmt: skip
        with fresh_database(args.pg, f"bench_incr_{os.getpid()}", keep=False) as url:
            cold = sync(
                sim, url, "cold", log, "--no-credits", "--list-concurrency", str(args.list_concurrency)
            )
            windows = cold.parts.get("window", 0)
            probes = cold.parts.get("window probes", 0)
            floor = cold.jobs_listed / 100 * lat  # the same jobs, one page after another
            rows.append((
                f"(b) cold full walk, --list-concurrency {args.list_concurrency}, --no-credits",
                f"{cold.list_requests:,} ({windows:,} window pages + {probes} probes)",
                f"{cold.wall_s:.1f} s ({cold.jobs_listed / cold.wall_s:,.0f} jobs/s)",
                f"{cold.cpu_s:.1f} s",
                f"{cold.wall_s / floor:.3f} of the sequential floor {floor:.1f} s (target ≤ 0.167)",
                f"{cold.gets}",
            ))  # fmt: skip
            for i in (1, 2):
                what = activity(sim, args)
                inc = sync(sim, url, f"inc{i}", log)
                parts = ", ".join(f"{k} {v}" for k, v in inc.parts.items())
                label = "first after the --no-credits cold walk" if i == 1 else "steady state"
                rows.append((
                    f"(c{i}) incremental, {label} [{what}]",
                    f"{inc.list_requests:,} ({parts})",
                    f"{inc.wall_s:.1f} s (target ≤ 5 s)",
                    f"{inc.cpu_s:.1f} s",
                    f"{inc.list_requests / cold.list_requests:.2%} of the full walk's requests (target ≤ 2%)",
                    f"{inc.gets}",
                ))  # fmt: skip
                assert inc.kind == "v2 incremental", inc.kind
            # The recurring full walk (--full-walk-every, default 24 h): the same stored scope walked
            # again, nearly every listed job unchanged; windows from the stored created_at (no probes).
            conc = str(args.list_concurrency)
            warm = sync(sim, url, "warm", log, "--full-walk", "--list-concurrency", conc)
            assert warm.kind == "v2 full walk", warm.kind  # not the sequential fallback
            assert set(warm.parts) == {"window"}, warm.parts  # stored windows: no probes, no "walk"
            pages = warm.parts["window"]
            warm_floor = pages * lat  # the same window pages, one after another
            rows.append((
                f"(d) recurring full walk of the stored scope, --full-walk --list-concurrency {conc}",
                f"{warm.list_requests:,} ({pages:,} window pages)",
                f"{warm.wall_s:.1f} s ({warm.jobs_listed / warm.wall_s:,.0f} jobs/s)",
                f"{warm.cpu_s:.1f} s ({warm.cpu_s / warm.jobs_listed * 1000:.2f} ms a job)",
                f"{warm.wall_s / warm_floor:.3f} of the sequential floor {warm_floor:.1f} s (target ≤ 0.167)",
                f"{warm.gets}",
            ))  # fmt: skip
    finished = cold.jobs_listed  # upper bound: nearly every job has finished
    print("| run | list requests | wall | classify-etl CPU | vs. target | v2 GETs |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        print("| " + " | ".join(r) + " |")
    print(
        f"\nnote: with credits, the cold full walk also GETs each finished job once (about {finished:,} "
        f"GETs; at 16 in flight ≈ {finished * lat / 16:.0f} s more); it was run with --no-credits."
    )
    return None


if __name__ == "__main__":
    main()
