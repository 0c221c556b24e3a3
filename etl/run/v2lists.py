"""The v2 list's query plan: created_at windows for a parallel full walk, and id batches.

The v2 list (``GET /api/v2/classify``) filters by ``created_at_on_or_after`` /
``created_at_on_or_before`` (both inclusive), ``status`` (one value a request) and ``job_ids``
(repeated). Windows touch: the bound between two windows belongs to both, so a job created exactly
on it is listed twice, never zero times. The first window has no lower bound and the last none
above, so every job with a ``created_at`` falls in one.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from datetime import datetime, timedelta
from urllib.parse import quote

from etl.source.client import ClassifyApi

log = logging.getLogger("etl.v2plan")

Bounds = tuple[datetime | None, datetime | None]
#: How far back a first walk looks for the oldest job when it splits the time range.
DISCOVERY_SPAN = timedelta(days=5 * 366)
MAX_IDS_PER_REQUEST = 100
MAX_URL_BYTES = 8_000


def iso(t: datetime) -> str:
    """A window bound as the service expects it: timezone-aware ISO 8601."""
    return t.isoformat()


def window_params(bounds: Bounds) -> list[tuple[str, str]]:
    low, high = bounds
    params = []
    if low is not None:
        params.append(("created_at_on_or_after", iso(low)))
    if high is not None:
        params.append(("created_at_on_or_before", iso(high)))
    return params


def windows_from_cuts(cuts: Sequence[datetime]) -> list[Bounds]:
    """(-∞, c1], [c1, c2], ..., [cn, +∞): touching windows that cover every created_at."""
    points: list[datetime | None] = [None, *cuts, None]
    return [(points[i], points[i + 1]) for i in range(len(points) - 1)]


async def discover_cuts(
    api: ClassifyApi, params: Sequence[tuple[str, str]], *, parts: int, now: datetime, concurrency: int
) -> tuple[list[datetime], int]:
    """A first walk knows no created_at: bisect the time range with one-page probes until about
    ``parts`` windows hold more than a page each. Returns the cut points and the probes made."""
    limit = asyncio.Semaphore(concurrency)
    probes = 0

    async def big(bounds: tuple[datetime, datetime]) -> bool:
        nonlocal probes
        async with limit:
            probes += 1
            page = await api.list_page(
                "v2", [*params, *window_params(bounds)], page_token=None, page_size=100
            )
        return page.next_page_token is not None and bool(page.items)

    ranges = [(now - DISCOVERY_SPAN, now + timedelta(days=1))]
    for _ in range(24):  # 2**24 windows at most; the loop ends long before
        flags = await asyncio.gather(*(big(r) for r in ranges))
        large = [r for r, f in zip(ranges, flags, strict=True) if f]
        if len(large) >= parts or not large:
            break
        split: list[tuple[datetime, datetime]] = []
        for r, f in zip(ranges, flags, strict=True):
            if f and r[1] - r[0] > timedelta(minutes=1):
                mid = r[0] + (r[1] - r[0]) / 2
                split += [(r[0], mid), (mid, r[1])]
            elif f:
                split.append(r)
        ranges = split  # ranges with at most a page are dropped: they need no window of their own
    cuts = sorted({t for r in ranges for t in r})
    return cuts[1:-1], probes


def id_batches(job_ids: Sequence[str], base_url_bytes: int) -> list[list[str]]:
    """Batches of at most 100 ids whose repeated ``job_ids=`` query keeps the URL under 8 KB."""
    batches: list[list[str]] = []
    batch: list[str] = []
    size = base_url_bytes
    for job_id in job_ids:
        cost = len("&job_ids=") + len(quote(job_id, safe=""))
        if batch and (len(batch) >= MAX_IDS_PER_REQUEST or size + cost > MAX_URL_BYTES):
            batches.append(batch)
            batch, size = [], base_url_bytes
        batch.append(job_id)
        size += cost
    if batch:
        batches.append(batch)
    return batches
