"""A seeded, deterministic HTTP simulator of the LlamaCloud classify API.

    state = SimState.generate(n_jobs=500, seed=7, api_key="sim-key")
    with SimServer(state) as sim:
        ...  # point a client at sim.url; mutate sim.state; compare with state.expected_rows()

Modules: :mod:`.data` (ids, canonical jobs), :mod:`.render` (v1/v2 JSON), :mod:`.truth`
(expected rows), :mod:`.state` (mutable state and bookkeeping), :mod:`.endpoints` (listing,
tokens, filters), :mod:`.faults` (fault injection), :mod:`.app` (aiohttp routes),
:mod:`.server` (threads and the foreground server).
"""

from etl.simulator.app import make_app
from etl.simulator.faults import EndpointFaults, Faults
from etl.simulator.render import INVALID_KINDS
from etl.simulator.server import SimServer, serve_forever
from etl.simulator.state import RequestRecord, SimState

__all__ = [
    "INVALID_KINDS",
    "EndpointFaults",
    "Faults",
    "RequestRecord",
    "SimServer",
    "SimState",
    "make_app",
    "serve_forever",
]
