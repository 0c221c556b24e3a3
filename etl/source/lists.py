"""What a run's list requests are: the scopes a run walks, the list route of each source, and one
page's query; pure functions, shared by the planner (``etl.run``) and the client.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

Source = Literal["v1", "v2"]
LIST_PATHS: dict[str, str] = {"v1": "/api/v1/classifier/jobs", "v2": "/api/v2/classify"}


@dataclass(frozen=True)
class Scope:
    """A slice of the API walked on its own, with its own checkpoints."""

    key: str
    params: dict[str, str]


def build_scopes(project_ids: Sequence[str], organization_id: str | None) -> list[Scope]:
    """One scope per project (filtered by the organization too, if given), else the organization,
    else the key's default scope."""
    org = {"organization_id": organization_id} if organization_id else {}
    if project_ids:
        return [Scope(f"project:{p}", {"project_id": p, **org}) for p in dict.fromkeys(project_ids)]
    if organization_id:
        return [Scope(f"organization:{organization_id}", org)]
    return [Scope("default", {})]


def scope_source(option: str, chosen: str | None) -> Source:
    """The list a scope is walked from: ``--list-source`` v1 or v2 as given; ``auto`` is the source
    recorded for the scope (``etl_scope_sources``) once v1 was retired, else v1."""
    if option in ("v1", "v2"):
        return option  # type: ignore[return-value]
    return "v2" if chosen == "v2" else "v1"


def resume_token(full_refresh: bool, stored: str | None) -> str | None:
    """The page token a sequential walk starts from: the scope's stored one (``etl_checkpoints``)
    unless ``--full-refresh``; None is page 1 (``ScopePlans.sequential``)."""
    return None if full_refresh else stored


def list_query(
    source: Source, params: Iterable[tuple[str, Any]], *, page_token: str | None, page_size: int
) -> tuple[str, list[tuple[str, Any]]]:
    """The path and query of one list page: the scope's (and the part's) filters, the page size, and
    the token re-sent with them."""
    query: list[tuple[str, Any]] = [*params, ("page_size", str(page_size))]
    if page_token:
        query.append(("page_token", page_token))
    return LIST_PATHS[source], query
