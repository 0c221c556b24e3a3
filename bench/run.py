"""Benchmark: classify-etl against dlt's rest_api source, on the bundled simulator and PostgreSQL.

    .venv/bin/python bench/run.py                      # defaults: 100,000 jobs, 25 ms, C=16 and 64
    .venv/bin/python bench/run.py --jobs 2000 --dlt-jobs 2000 --concurrency 16
    .venv/bin/python bench/run.py --rss-scaling        # classify-etl cold sync at 10k and 1M jobs

Each contender runs as its own process against a simulator in another process (bench/sim.py), into
a fresh database per contender and concurrency, through three scenarios: a cold full sync, a
re-sync with no change, and a re-sync after 1% of the jobs changed. Requests are counted by the
simulator (``/_sim/stats``); peak RSS is the child's high-water mark from ``wait4`` (and the sum
over its process tree, polled, when it has children); wall time is the whole process, start-up
and migrations included. The table goes to stdout and to bench/results/latest.md.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import shlex
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import psutil
import psycopg

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
RESULTS = BENCH / "results"
PYTHON = sys.executable
ETL = str(Path(PYTHON).parent / "classify-etl")
API_KEY = "bench-key"
SCENARIOS = {
    "cold": "cold full sync",
    "nochange": "re-sync, no change",
    "changed": "re-sync, {pct:g}% changed",
}


def etl_digest() -> str:
    """A short hash of etl/'s sources: other people edit them while benchmarks run."""
    h = hashlib.sha1()
    for path in sorted((ROOT / "etl").rglob("*.py")):
        h.update(path.relative_to(ROOT).as_posix().encode() + b"\0" + path.read_bytes())
    return h.hexdigest()[:10]


# -- processes ---------------------------------------------------------------------------------


@dataclass
class Measured:
    """One contender process: how long, how big, how much CPU, and what it printed."""

    wall_s: float
    returncode: int
    peak_rss_mb: float
    cpu_s: float
    stdout: str


def _tree_rss(proc: psutil.Process) -> int:
    total = 0
    for p in [proc, *proc.children(recursive=True)]:
        with contextlib.suppress(psutil.Error):
            total += p.memory_info().rss
    return total


def run_measured(cmd: list[str], log_path: Path, env: dict[str, str] | None = None) -> Measured:
    """Run ``cmd`` to completion; its stderr goes to ``log_path``."""
    with tempfile.TemporaryFile("w+") as out, open(log_path, "a") as err:
        err.write("$ " + shlex.join(cmd) + "\n")
        err.flush()
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=out, stderr=err, env=env, cwd=ROOT)
        peak_tree = 0
        done = threading.Event()

        def poll() -> None:
            nonlocal peak_tree
            with contextlib.suppress(psutil.Error):
                ps = psutil.Process(proc.pid)
                while not done.wait(0.05):
                    peak_tree = max(peak_tree, _tree_rss(ps))

        poller = threading.Thread(target=poll, daemon=True)
        poller.start()
        # wait4, not wait: it hands back this child's own rusage (peak RSS, CPU), not a running max.
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - t0
        done.set()
        poller.join()
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        stdout = out.read()
    peak = max(usage.ru_maxrss * 1024, peak_tree)  # ru_maxrss is in KiB on Linux
    return Measured(wall, proc.returncode, peak / 2**20, usage.ru_utime + usage.ru_stime, stdout)


class BackendCpu:
    """CPU spent by the PostgreSQL backends serving one database, sampled from pg_stat_activity.

    Backends come and go with connections, so their CPU times are read every 0.1 s and the last
    reading of each is kept (a backend's final < 0.1 s may be missed)."""

    def __init__(self, admin_url: str, database: str) -> None:
        self.admin_url, self.database = admin_url, database
        self.cpu_s = 0.0
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> BackendCpu:
        if self.database:
            self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._done.set()
        if self._thread.is_alive():
            self._thread.join()

    def _run(self) -> None:
        last: dict[int, float] = {}
        query = "SELECT pid FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()"
        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            while True:
                for (pid,) in conn.execute(query, (self.database,)).fetchall():
                    with contextlib.suppress(psutil.Error):
                        last[pid] = sum(psutil.Process(pid).cpu_times()[:2])
                self.cpu_s = sum(last.values())
                if self._done.wait(0.1):
                    return


class Simulator:
    """bench/sim.py in its own process on a free loopback port."""

    def __init__(
        self, jobs: int, latency_ms: float, seed: int, log_path: Path, extra_args: Sequence[str] = ()
    ) -> None:
        self.jobs, self.latency_ms, self.seed, self.log_path = jobs, latency_ms, seed, log_path
        self.extra_args = list(extra_args)  # more bench/sim.py options (a lifecycle data set)
        self.url = ""
        self._proc: subprocess.Popen[str] | None = None

    def __enter__(self) -> Simulator:
        cmd = [PYTHON, str(BENCH / "sim.py"), "--jobs", str(self.jobs), "--seed", str(self.seed)]
        cmd += ["--latency-ms", str(self.latency_ms), "--api-key", API_KEY, *self.extra_args]
        err = open(self.log_path, "a")  # noqa: SIM115 (closed with the process)
        self._proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=err, text=True, cwd=ROOT)
        err.close()
        assert self._proc.stdout is not None
        line = self._proc.stdout.readline()
        if not line.startswith("PORT "):
            self.__exit__()
            raise RuntimeError(f"simulator did not start; see {self.log_path}")
        self.url = f"http://127.0.0.1:{int(line.split()[1])}"
        deadline = time.monotonic() + 30
        while True:
            try:
                self.get("/_sim/stats")
                break
            except OSError:
                if time.monotonic() > deadline or self._proc.poll() is not None:
                    self.__exit__()
                    raise RuntimeError(f"simulator does not answer; see {self.log_path}") from None
                time.sleep(0.05)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._proc is not None and self._proc.poll() is None:
            self._proc.terminate()
            try:
                self._proc.wait(10)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()

    @property
    def pid(self) -> int:
        assert self._proc is not None
        return self._proc.pid

    def get(self, path: str) -> Any:
        with urllib.request.urlopen(self.url + path, timeout=30) as resp:
            return json.load(resp)

    def post(self, path: str) -> Any:
        req = urllib.request.Request(self.url + path, method="POST", data=b"")
        with urllib.request.urlopen(req, timeout=120) as resp:
            return json.load(resp)


# -- databases ---------------------------------------------------------------------------------


@contextlib.contextmanager
def fresh_database(admin_url: str, name: str, keep: bool) -> Iterator[str]:
    """CREATE DATABASE ``name``; yield its URL; DROP it afterwards unless ``keep``."""
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        conn.execute(f'CREATE DATABASE "{name}"')
    info = psycopg.conninfo.conninfo_to_dict(admin_url)
    user, host, port = info.get("user", "postgres"), info.get("host", "127.0.0.1"), info.get("port", 5432)
    # dlt insists on a password even under trust auth; PostgreSQL ignores it there.
    password = info.get("password") or "unused"
    try:
        yield f"postgresql://{user}:{password}@{host}:{port}/{name}"
    finally:
        if not keep:
            with psycopg.connect(admin_url, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def count_rows(url: str, tables: list[str]) -> dict[str, int]:
    out: dict[str, int] = {}
    with psycopg.connect(url) as conn:
        for table in tables:
            try:
                out[table] = conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]  # type: ignore[index]
            except psycopg.Error:
                conn.rollback()
                out[table] = -1
    return out


# -- contenders ----------------------------------------------------------------------------------


@dataclass
class Row:
    """One measured scenario of one contender."""

    contender: str
    scenario: str
    jobs: int
    concurrency: int
    latency_ms: float
    wall_s: float
    jobs_listed: int
    v2_get: int
    v1_list: int
    peak_rss_mb: float
    client_cpu_s: float
    sim_cpu_s: float
    machine_busy_s: float
    pg_cpu_s: float
    rows: dict[str, int] = field(default_factory=dict)
    detail: dict[str, Any] = field(default_factory=dict)
    ok: bool = True
    note: str = ""
    etl_sources: str = ""

    @property
    def jobs_per_s(self) -> float:
        return self.jobs_listed / self.wall_s if self.wall_s else 0.0

    @property
    def bound_rps(self) -> float | None:
        return self.concurrency / (self.latency_ms / 1000) if self.latency_ms else None

    @property
    def bound_fraction(self) -> float | None:
        bound = self.bound_rps
        return self.v2_get / self.wall_s / bound if bound and self.v2_get else None

    @property
    def client_cpu_per_1k(self) -> float:
        """The contender's CPU seconds per 1,000 jobs listed (issue 14's yardstick)."""
        return self.client_cpu_s / self.jobs_listed * 1000 if self.jobs_listed else 0.0

    @property
    def other_cpu_s(self) -> float:
        """CPU the machine spent on neither this run's processes nor its database: other load."""
        return max(0.0, self.machine_busy_s - self.client_cpu_s - self.sim_cpu_s - self.pg_cpu_s)

    @property
    def list_floor_s(self) -> float:
        """List pages chain (each needs the previous token): their latency alone, end to end."""
        return self.v1_list * self.latency_ms / 1000


def etl_command(base_url: str, db_url: str, concurrency: int, page_size: int) -> list[str]:
    return [
        ETL, "sync", "--json", "--no-progress", "--base-url", base_url, "--api-key", API_KEY,
        "--database-url", db_url, "--concurrency", str(concurrency), "--page-size", str(page_size),
    ]  # fmt: skip


def dlt_command(base_url: str, db_url: str, concurrency: int, page_size: int, state_dir: str) -> list[str]:
    return [
        PYTHON, str(BENCH / "dlt_pipeline.py"), "--base-url", base_url, "--api-key", API_KEY,
        "--database-url", db_url, "--concurrency", str(concurrency), "--page-size", str(page_size),
        "--pipelines-dir", state_dir,
    ]  # fmt: skip


HTTP_PROBES = {"http-etl": "etl", "http-aiohttp": "aiohttp"}


def contender_command(
    contender: str, base_url: str, db_url: str, concurrency: int, args: argparse.Namespace, state_dir: str
) -> list[str]:
    if contender == "etl":
        return etl_command(base_url, db_url, concurrency, args.page_size)
    if contender == "dlt":
        return dlt_command(base_url, db_url, concurrency, args.page_size, state_dir)
    return [
        PYTHON, str(BENCH / "http_probe.py"), "--client", HTTP_PROBES[contender], "--base-url", base_url,
        "--api-key", API_KEY, "--concurrency", str(concurrency), "--page-size", str(args.page_size),
    ]  # fmt: skip


def run_block(contender: str, jobs: int, concurrency: int, args: argparse.Namespace, logs: Path) -> list[Row]:
    """The scenarios of one contender at one size and concurrency, on a fresh simulator and DB."""
    tag = f"{contender}_{jobs}_c{concurrency}"
    log_path = logs / f"{tag}.log"
    probe = contender in HTTP_PROBES
    scenarios = ["cold"] if probe else args.scenarios
    db_name = "" if probe else f"bench_{tag}_{args.stamp}".replace("-", "_")
    database = contextlib.nullcontext("") if probe else fresh_database(args.pg, db_name, args.keep)
    rows: list[Row] = []
    with (
        Simulator(jobs, args.latency_ms, args.seed, logs / f"sim_{tag}.log") as sim,
        database as db_url,
        tempfile.TemporaryDirectory(prefix="bench-dlt-") as state_dir,
    ):
        sim_proc = psutil.Process(sim.pid)
        for scenario in scenarios:
            if scenario == "changed":
                k = max(1, round(jobs * args.change_pct / 100))
                sim.post(f"/_sim/change?k={k}")
            sim.post("/_sim/reset-counts")
            cmd = contender_command(contender, sim.url, db_url, concurrency, args, state_dir)
            sources = etl_digest()
            sim_cpu0, machine0 = sum(sim_proc.cpu_times()[:2]), psutil.cpu_times()
            with BackendCpu(args.pg, db_name) as pg:
                m = run_measured(cmd, log_path)
            machine1 = psutil.cpu_times()
            sim_cpu = sum(sim_proc.cpu_times()[:2]) - sim_cpu0
            busy = (machine1.user + machine1.system + machine1.nice + machine1.softirq + machine1.irq) - (
                machine0.user + machine0.system + machine0.nice + machine0.softirq + machine0.irq
            )
            counts = sim.get("/_sim/stats")["counts"]
            row = Row(
                contender=contender,
                scenario=scenario,
                jobs=jobs,
                concurrency=concurrency,
                latency_ms=args.latency_ms,
                wall_s=m.wall_s,
                jobs_listed=jobs,
                v2_get=counts.get("v2_get", 0),
                v1_list=counts.get("v1_list", 0),
                peak_rss_mb=m.peak_rss_mb,
                client_cpu_s=m.cpu_s,
                sim_cpu_s=sim_cpu,
                machine_busy_s=busy,
                pg_cpu_s=pg.cpu_s,
                etl_sources=sources,
            )
            _check(row, m, db_url, log_path)
            rows.append(row)
            print(_progress_line(row), file=sys.stderr, flush=True)
            if not row.ok:
                break
    return rows


def _check(row: Row, m: Measured, db_url: str, log_path: Path) -> None:
    """Did the run succeed and leave the expected rows? Failures are reported, never hidden."""
    if m.returncode != 0:
        row.ok, row.note = False, f"exit code {m.returncode}; see {log_path.relative_to(ROOT)}"
        return
    try:
        row.detail = json.loads(m.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        row.ok, row.note = False, f"no JSON summary; see {log_path.relative_to(ROOT)}"
        return
    if row.contender in HTTP_PROBES:
        row.jobs_listed = int(row.detail.get("jobs", 0))
        stored = row.jobs_listed
    elif row.contender == "etl":
        row.jobs_listed = int(row.detail.get("jobs_listed", row.jobs))
        if row.detail.get("outcome") != "success":
            row.ok, row.note = False, f"outcome {row.detail.get('outcome')}"
        row.rows = count_rows(db_url, ["classify_jobs"])
        stored = row.rows["classify_jobs"]
    elif row.contender == "dlt":
        row.rows = count_rows(db_url, ["classify.jobs", "classify.job_details"])
        stored = row.rows["classify.jobs"]
    if stored != row.jobs:
        row.ok, row.note = False, f"{stored} jobs stored, {row.jobs} expected"


def _progress_line(r: Row) -> str:
    frac = f"{r.bound_fraction:.0%} of bound" if r.bound_fraction is not None else ""
    cpu = f"cpu {r.client_cpu_s:.1f} sim {r.sim_cpu_s:.1f} pg {r.pg_cpu_s:.1f} other {r.other_cpu_s:.1f} s"
    return (
        f"  {r.contender:<4} {r.scenario:<8} n={r.jobs} C={r.concurrency}: {r.wall_s:7.1f} s "
        f"{r.jobs_per_s:7.0f} jobs/s  v2 {r.v2_get}  list {r.v1_list}  rss {r.peak_rss_mb:.0f} MB  "
        f"{cpu}  {frac} {'' if r.ok else 'FAILED: ' + r.note}"
    )


# -- report --------------------------------------------------------------------------------------


def _peer(rows: list[Row], r: Row, contender: str) -> Row | None:
    """``contender``'s successful row of the same scenario, size and concurrency as ``r``."""
    key = (contender, r.scenario, r.jobs, r.concurrency)
    return next((o for o in rows if (o.contender, o.scenario, o.jobs, o.concurrency) == key and o.ok), None)


def _verdict(ok: bool) -> str:
    return "**met**" if ok else "**missed**"


def _ratio(rows: list[Row], r: Row) -> str:
    """classify-etl's throughput over dlt's, same scenario, size and concurrency."""
    if r.contender != "etl" or not r.ok:
        return ""
    dlt = _peer(rows, r, "dlt")
    return f"{r.jobs_per_s / dlt.jobs_per_s:.2f}×" if dlt is not None and dlt.jobs_per_s else ""


def render(rows: list[Row], args: argparse.Namespace, header: dict[str, str]) -> str:
    names = {
        "etl": "classify-etl",
        "dlt": f"dlt {header.get('dlt', '')}".strip(),
        "http-etl": "HTTP only, etl's client",
        "http-aiohttp": "HTTP only, bare aiohttp",
    }
    lines = [f"# classify-etl benchmark — {header['date']}", ""]
    lines += [f"- {k}: {v}" for k, v in header.items() if k != "date"]
    lines += [
        "",
        "| scenario | contender | jobs | C | wall s | jobs/s | v2 req | list req | list floor s "
        "| peak RSS MB | CPU s client / sim / PG / other | client CPU s per 1k jobs | % API bound "
        "| etl ÷ dlt |",
        "|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|",
    ]
    order = {s: i for i, s in enumerate(SCENARIOS)}
    rank = {"etl": 0, "dlt": 1, "http-etl": 2, "http-aiohttp": 3}
    for r in sorted(rows, key=lambda r: (order[r.scenario], r.jobs, r.concurrency, rank[r.contender])):
        frac = "" if r.bound_fraction is None else f"{r.bound_fraction:.0%}"
        wall = f"{r.wall_s:.1f}" + ("" if r.ok else f" FAILED: {r.note}")
        lines.append(
            f"| {SCENARIOS[r.scenario].format(pct=args.change_pct)} | {names[r.contender]} | {r.jobs:,} "
            f"| {r.concurrency} | {wall} | {r.jobs_per_s:,.0f} | {r.v2_get:,} | {r.v1_list:,} "
            f"| {r.list_floor_s:.1f} | {r.peak_rss_mb:.0f} "
            f"| {r.client_cpu_s:.1f} / {r.sim_cpu_s:.1f} / {r.pg_cpu_s:.1f} / {r.other_cpu_s:.1f} "
            f"| {r.client_cpu_per_1k:.2f} | {frac} | {_ratio(rows, r)} |"
        )
    lines += ["", *_notes(args), *_sources_note(rows), "", "## Targets", "", *_targets(rows, args)]
    lines += ["", "## Targets of issue 14 (a lean process)", "", *_lean_targets(rows)]
    return "\n".join(lines) + "\n"


def _notes(args: argparse.Namespace) -> list[str]:
    return [
        "- wall s: the whole process (interpreter start, imports, migrations or dlt state included).",
        "- jobs/s: jobs in the listing ÷ wall s (for re-syncs: jobs checked per second).",
        f"- % API bound: v2 requests ÷ wall s ÷ (C ÷ {args.latency_ms:g} ms).",
        "- list floor s: list requests × latency — the list walk is sequential (each page needs the "
        "previous token), so no client can go below it.",
        "- etl ÷ dlt: classify-etl jobs/s ÷ dlt jobs/s at the same size and concurrency.",
        "- HTTP only rows (bench/http_probe.py): the same list walk and v2 gets with nothing else — "
        "with classify-etl's own client (httpx + aiohttp transport + tenacity), and with a bare aiohttp "
        "session: the ceilings any loader built on them can reach on this machine.",
        "- client CPU s per 1k jobs: the contender's CPU s ÷ jobs listed × 1,000.",
        "- CPU s: user+system of the contender process (and its children) / of the simulator / of the "
        "PostgreSQL backends serving the run's database / other: the rest of the machine's busy CPU "
        "(other people's work on the machine; high values mean a disturbed measurement); "
        f"{psutil.cpu_count()} cores = {psutil.cpu_count()} CPU-s per wall second.",
    ]


def _sources_note(rows: list[Row]) -> list[str]:
    digests = list(dict.fromkeys(r.etl_sources for r in rows))
    if len(digests) <= 1:
        return [
            f"- etl/ sources (sha1 of etl/**/*.py): {digests[0] if digests else '-'}, the same for every row."
        ]
    return [
        "- **etl/ changed during this run** (sha1 of etl/**/*.py per row, in order: "
        + ", ".join(digests)
        + "): rows measured different code; see latest.json."
    ]


def _targets(rows: list[Row], args: argparse.Namespace) -> list[str]:
    out: list[str] = []

    etl = [r for r in rows if r.contender == "etl" and r.ok]
    big = max((r.jobs for r in etl), default=0)
    for r in etl:
        if r.scenario == "cold" and r.jobs == big and r.bound_fraction is not None:
            out.append(
                f"- cold sync ≥ 90% of the API bound at C={r.concurrency} (n={r.jobs:,}): "
                f"{r.bound_fraction:.0%} — {_verdict(r.bound_fraction >= 0.9)}"
            )
    for r in etl:
        if r.scenario == "nochange" and r.jobs == big:
            share = r.list_floor_s / r.wall_s if r.wall_s else 0
            out.append(
                f"- no-change re-sync at C={r.concurrency}: {r.v2_get} v2 requests, list floor "
                f"{r.list_floor_s:.1f} s = {share:.0%} of {r.wall_s:.1f} s — "
                f"{_verdict(r.v2_get == 0 and share >= 0.5)} (zero v2, list floor ≥ 50% of wall)"
            )
    for r in etl:
        ratio = _ratio(rows, r)
        if not ratio:
            continue
        need = 5.0 if r.scenario == "cold" else 1.0
        value = float(ratio.rstrip("×"))
        met = value >= need if need > 1 else value > need
        out.append(
            f"- vs dlt, {SCENARIOS[r.scenario].format(pct=args.change_pct)}, n={r.jobs:,} C={r.concurrency}: "
            f"{ratio} (need {'≥' if need > 1 else '>'} {need:g}×) — {_verdict(met)}"
        )
    return out or ["- (no classify-etl rows)"]


#: Issue 14's "today": classify-etl's client CPU s per 1,000 jobs in the cold syncs of the run at e045881
#: (bench/README.md, "With dlt and the HTTP-only ceilings, 2026-12-01"): 31.6 s and 28.6 s for 20,000 jobs.
LEAN_CPU_BASELINE = {16: 1.58, 64: 1.43}


def _lean_targets(rows: list[Row]) -> list[str]:
    """Issue 14's bench targets, from this one run (the start-up ones are bench/startup.py's)."""
    out: list[str] = []
    for r in (r for r in rows if r.contender == "etl" and r.ok and r.scenario == "cold"):
        bare = _peer(rows, r, "http-aiohttp")
        if r.concurrency == 16 and bare is not None and bare.jobs_per_s:
            share = r.jobs_per_s / bare.jobs_per_s
            out.append(
                f"- cold C=16 ≥ 95% of the same run's bare aiohttp row (n={r.jobs:,}): {r.jobs_per_s:,.0f} ÷ "
                f"{bare.jobs_per_s:,.0f} = {share:.1%} — {_verdict(share >= 0.95)}"
            )
        if r.concurrency == 64:
            out.append(
                f"- cold C=64 ≥ 1,000 jobs/s (n={r.jobs:,}): {r.jobs_per_s:,.0f} — "
                f"{_verdict(r.jobs_per_s >= 1000)}"
            )
        out.append(
            f"- v2 GETs on a cold sync = distinct jobs (C={r.concurrency}): {r.v2_get:,} for {r.jobs:,} — "
            f"{_verdict(r.v2_get == r.jobs)}"
        )
        base = LEAN_CPU_BASELINE.get(r.concurrency)
        if base is not None:
            out.append(
                f"- client CPU per 1,000 jobs halved, cold C={r.concurrency}: {r.client_cpu_per_1k:.2f} s "
                f"against {base:.2f} at e045881 = {r.client_cpu_per_1k / base:.2f} — "
                f"{_verdict(r.client_cpu_per_1k <= base / 2)}"
            )
    for r in (r for r in rows if r.contender == "etl" and r.ok and r.scenario == "nochange"):
        dlt = _peer(rows, r, "dlt")
        if dlt is not None and r.wall_s:
            ratio = dlt.wall_s / r.wall_s
            out.append(
                f"- no-change re-sync ≥ 1.2× faster than dlt, C={r.concurrency}: {dlt.wall_s:.1f} ÷ "
                f"{r.wall_s:.1f} s = {ratio:.2f}× — {_verdict(ratio >= 1.2)}"
            )
    return out or ["- (no classify-etl cold or no-change rows)"]


def header_info(args: argparse.Namespace) -> dict[str, str]:
    def git(*a: str) -> str:
        r = subprocess.run(["git", *a], cwd=ROOT, capture_output=True, text=True)
        return r.stdout.strip()

    try:
        import importlib.metadata as md

        dlt_version = md.version("dlt")
    except Exception:
        dlt_version = "not installed"
    dirty = " (+ uncommitted changes)" if git("status", "--porcelain", "--untracked-files=no") else ""
    load1, load5, _ = os.getloadavg()
    return {
        "date": time.strftime("%Y-%m-%d %H:%M"),
        "command": shlex.join([os.path.relpath(PYTHON, ROOT), *sys.argv]),
        "commit": git("rev-parse", "--short", "HEAD") + dirty,
        "machine": f"{psutil.cpu_count()} cores, {psutil.virtual_memory().total / 2**30:.0f} GB; "
        f"load average at start {load1:.2f} / {load5:.2f} (1 / 5 min)",
        "workload": f"latency {args.latency_ms:g} ms on every request, page size {args.page_size}, "
        f"seed {args.seed}, {args.change_pct:g}% changed via /_sim/change",
        "dlt": dlt_version,
    }


# -- modes ---------------------------------------------------------------------------------------


def benchmark(args: argparse.Namespace, logs: Path) -> list[Row]:
    plan: list[tuple[str, int]] = [("etl", args.jobs)]
    if not args.skip_dlt:
        if args.dlt_jobs != args.jobs:
            plan.append(("etl", args.dlt_jobs))  # the same size as dlt, for a like-for-like ratio
        plan.append(("dlt", args.dlt_jobs))
    if args.ceilings:
        plan += [("http-etl", args.dlt_jobs), ("http-aiohttp", args.dlt_jobs)]
    rows: list[Row] = []
    for contender, jobs in plan:
        for c in args.concurrency:
            print(f"{contender} at {jobs:,} jobs, C={c}", file=sys.stderr, flush=True)
            rows += run_block(contender, jobs, c, args, logs)
    return rows


def rss_scaling(args: argparse.Namespace, logs: Path) -> tuple[str, list[Row]]:
    args.latency_ms = args.rss_latency_ms
    args.scenarios = ["cold"]
    rows: list[Row] = []
    for jobs in args.rss_jobs:
        print(f"etl cold sync at {jobs:,} jobs, C={args.concurrency[0]}", file=sys.stderr, flush=True)
        rows += run_block("etl", jobs, args.concurrency[0], args, logs)
    header = header_info(args)
    lines = [f"# classify-etl peak RSS scaling — {header['date']}", ""]
    lines += [f"- {k}: {v}" for k, v in header.items() if k not in ("date", "dlt")]
    lines += ["", "| jobs | wall s | jobs/s | peak RSS MB | CPU s client / sim |", "|--:|--:|--:|--:|--:|"]
    for r in rows:
        lines.append(
            f"| {r.jobs:,} | {r.wall_s:.1f}{'' if r.ok else ' FAILED: ' + r.note} | {r.jobs_per_s:,.0f} "
            f"| {r.peak_rss_mb:.0f} | {r.client_cpu_s:.1f} / {r.sim_cpu_s:.1f} |"
        )
    if len(rows) >= 2 and rows[0].peak_rss_mb:
        ratio = rows[-1].peak_rss_mb / rows[0].peak_rss_mb
        ok = "**met**" if ratio <= 1.3 else "**missed**"
        lines += ["", f"Peak RSS {rows[-1].jobs:,} ÷ {rows[0].jobs:,}: {ratio:.2f}× (target ≤ 1.3×) — {ok}"]
    return "\n".join(lines) + "\n", rows


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--jobs", type=int, default=100_000, help="jobs in the simulator (default 100,000)")
    p.add_argument(
        "--dlt-jobs",
        type=int,
        default=None,
        help="jobs for the dlt comparison (default 20,000, or --jobs if smaller); classify-etl is "
        "run at this size too so that the ratio compares like with like",
    )
    p.add_argument("--latency-ms", type=float, default=25.0)
    p.add_argument("--concurrency", type=int, nargs="+", default=[16, 64])
    p.add_argument("--page-size", type=int, default=100)
    p.add_argument("--change-pct", type=float, default=1.0, help="share of jobs changed before re-sync 3")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--skip-dlt", action="store_true", help="classify-etl only")
    p.add_argument(
        "--no-ceilings",
        dest="ceilings",
        action="store_false",
        help="skip the HTTP-only cold walks (bench/http_probe.py) at the dlt size",
    )
    p.add_argument("--keep", action="store_true", help="keep the bench_* databases")
    p.add_argument("--pg", default="postgresql://postgres@127.0.0.1:5432/postgres", help="admin URL")
    p.add_argument("--out", type=Path, default=RESULTS / "latest.md")
    p.add_argument("--rss-scaling", action="store_true", help="only: cold sync at --rss-jobs sizes")
    p.add_argument("--rss-jobs", type=int, nargs="+", default=[10_000, 1_000_000])
    p.add_argument("--rss-latency-ms", type=float, default=0.0, help="latency in --rss-scaling mode")
    args = p.parse_args(argv)
    if args.dlt_jobs is None:
        args.dlt_jobs = min(args.jobs, 20_000)
    args.scenarios = list(SCENARIOS)
    args.stamp = time.strftime("%Y%m%d_%H%M%S")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logs = RESULTS / "logs" / args.stamp
    logs.mkdir(parents=True, exist_ok=True)
    if args.rss_scaling:
        text, rows = rss_scaling(args, logs)
        out = args.out if args.out != RESULTS / "latest.md" else RESULTS / "rss-scaling.md"
    else:
        header = header_info(args)
        rows = benchmark(args, logs)
        text = render(rows, args, header)
        out = args.out
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text)
    out.with_suffix(".json").write_text(
        json.dumps([asdict(r) | {"jobs_per_s": r.jobs_per_s} for r in rows], indent=1, default=str)
    )
    print(text)
    print(f"written to {os.path.relpath(out, ROOT)} (logs in {os.path.relpath(logs, ROOT)})", file=sys.stderr)
    return 0 if all(r.ok for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
