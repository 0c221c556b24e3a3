"""Serve the bundled simulator on a free loopback port and print that port (for bench/run.py).

``classify-etl simulate`` needs a port chosen in advance, which races with other simulators on a
shared machine; this binds port 0 first, prints ``PORT <n>`` on stdout, then serves until SIGTERM.
With ``--span-days`` the data set is a lifecycle one (bench/incremental.py).
"""

from __future__ import annotations

import argparse
import socket
import sys

from etl.simulator import Faults, SimState
from etl.simulator.data import Lifecycle
from etl.simulator.server import serve_forever


def add_lifecycle_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--span-days", type=float, default=None, help="a lifecycle data set over this span")
    parser.add_argument("--recent-days", type=float, default=4.0)
    parser.add_argument("--recent-unfinished-share", type=float, default=0.95)
    parser.add_argument("--old-unfinished-share", type=float, default=0.011)


def lifecycle_of(args: argparse.Namespace) -> Lifecycle | None:
    if args.span_days is None:
        return None
    return Lifecycle(
        span_days=args.span_days,
        unfinished_share=args.old_unfinished_share,
        recent_unfinished_share=args.recent_unfinished_share,
        recent_minutes=args.recent_days * 24 * 60,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--jobs", type=int, required=True)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--latency-ms", type=float, default=0.0)
    parser.add_argument("--api-key", default="bench-key")
    add_lifecycle_arguments(parser)
    args = parser.parse_args()

    state = SimState.generate(
        n_jobs=args.jobs, seed=args.seed, api_key=args.api_key, lifecycle=lifecycle_of(args)
    )
    if args.latency_ms:
        state.faults = Faults(latency_ms=args.latency_ms)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    print(f"PORT {sock.getsockname()[1]}", flush=True)
    serve_forever(state, sock=sock)


if __name__ == "__main__":
    sys.exit(main())
