"""A seeded, deterministic HTTP simulator of the LlamaCloud classify API.

    state = SimState.generate(n_jobs=500, seed=7, api_key="sim-key")
    with SimServer(state) as sim:
        ...  # point a client at sim.url; mutate sim.state; compare with state.expected_rows()

    # weeks of history with a backlog of unfinished jobs, for incremental syncs and benchmarks:
    state = SimState.generate(100_000, seed=1, lifecycle=Lifecycle(span_days=28))
    state.finish_jobs(50); state.late_change(20); state.add_jobs(100); state.advance_clock(60_000)

Modules: :mod:`.data` (ids, canonical jobs, lifecycles), :mod:`.render` (v1/v2 JSON),
:mod:`.truth` (expected rows), :mod:`.state` (mutable state, clock, billing, behaviour switches,
bookkeeping), :mod:`.endpoints` (listing, tokens, filters, expand), :mod:`.faults` (transport
faults), :mod:`.hostile` (hostile responses and odd ids), :mod:`.app` (aiohttp routes),
:mod:`.server` (threads and the foreground server).
"""

from etl.simulator.app import make_app
from etl.simulator.data import Lifecycle
from etl.simulator.faults import EndpointFaults, Faults
from etl.simulator.hostile import HOSTILE_KINDS, ODD_IDS, HostileKind, TokenKind, WrongIdKind
from etl.simulator.render import INVALID_KINDS
from etl.simulator.server import SimServer, serve_forever
from etl.simulator.state import ExpandSupport, RequestRecord, SimState

__all__ = [
    "HOSTILE_KINDS",
    "INVALID_KINDS",
    "ODD_IDS",
    "EndpointFaults",
    "ExpandSupport",
    "Faults",
    "HostileKind",
    "Lifecycle",
    "RequestRecord",
    "SimServer",
    "SimState",
    "TokenKind",
    "WrongIdKind",
    "make_app",
    "serve_forever",
]
