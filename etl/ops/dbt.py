"""``classify-etl dbt-scaffold``: a dbt source package generated from the SQLAlchemy metadata.

Everything that names a table or a column is read from ``etl.warehouse.schema`` when the package is written
(tables, columns, keys, foreign keys, the values the CHECK constraints and the canonical status
tuples allow): nothing here lists the columns of a table, so a revision that adds one shows up in
the next scaffold. What the metadata cannot say is kept here, keyed by table and column, and
checked against the metadata when the files are rendered (a name that no longer exists is an
error, never a silently dead entry): descriptions, the references the database does not declare,
the BI views' columns (views are not in ``metadata``; the tests compare them with a migrated
database), and how the staging models rename.

The package targets dbt-core with dbt-postgres (PostgreSQL is the warehouse; SQLite is for one
person on one machine). Rerunning over an existing directory rewrites only the files it generated
and nobody changed since: a manifest of their hashes is kept beside them.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from sqlalchemy import JSON, CheckConstraint, Column, Table, UniqueConstraint
from sqlalchemy.dialects import postgresql

from etl import jsontext
from etl.errors import ConfigError
from etl.ops.monitor import LOADED_OUTCOMES
from etl.warehouse import schema

#: The dbt release the package is tested with (tests/test_dbt.py installs exactly these, and the
#: ``dbt`` extra in pyproject.toml repeats them): a release that installs from the package registry
#: alone (the newest pull a build step that downloads from elsewhere); 1.10 was the
#: first with ``loaded_at_query`` and test ``arguments``, which the package uses.
DBT_PINS = ("dbt-core==1.11.16", "dbt-postgres==1.11.0")

PROJECT = "classify_etl"
SOURCE = "classify_etl"
MANIFEST = ".classify-etl-scaffold.json"
DEFAULT_SCHEMA = "public"
DEFAULT_WARN_AFTER_HOURS = 2
DEFAULT_ERROR_AFTER_HOURS = 12

VAR_DATABASE = "classify_etl_database"
VAR_SCHEMA = "classify_etl_schema"
VAR_INCLUDE_DELETED = "classify_etl_include_deleted"

#: The note on a JSON column (``{column}``: its name).
JSON_NOTE = (
    "JSON (jsonb on PostgreSQL): read a field with `->>` (as text) or `->` (as JSON), e.g. "
    "`{column} ->> 'field'`, `{column} -> 'outer' ->> 'inner'`."
)

_PG = postgresql.dialect()  # type: ignore[no-untyped-call]

try:
    _version = version("classify-etl")
except PackageNotFoundError:  # run from a source tree that was never installed
    _version = "0.0.0"

# -- what the metadata cannot say ------------------------------------------------------------------

TABLE_DESCRIPTIONS: dict[str, str] = {
    "classify_jobs": "One row per classify job, deleted ones included (deleted_at): the canonical fields "
    "reconciled from the v1 list and the v2 job (v2 wins where it has the field), every v1 field as "
    "v1_*, every v2 field as v2_*, and the loader's bookkeeping.",
    "classify_target_pages": "One row per (job, page) the job is scoped to; 1-based whichever API sent it.",
    "classify_results": "One row per hydrated job that has a result.",
    "classify_job_history": "One row per observed version of a job's outcome (status, result type, "
    "confidence, error), valid from valid_from until valid_to (NULL: the current version).",
    "classify_job_payloads": "One row per job: its raw v1 and v2 payloads as the API sent them, as JSON.",
    "classify_rule_sets": "One row per distinct list of rules; jobs of one classifier share theirs.",
    "classify_rule_set_rules": "The rules of each rule set, in order.",
    "classify_rule_stats": "Per rule type over live jobs, kept current by triggers: what "
    "classify_rule_match reports.",
    "classify_daily_stats": "Live jobs per (UTC day of created_at, project, status, result type), kept "
    "current by triggers; day 0001-01-01 stands for no created_at, result_type '' for none.",
    "classify_page_stats": "Live jobs scoped to each (1-based) page, kept current by triggers.",
    "etl_sync_runs": "One row per classify-etl sync run: when, its outcome and its counters.",
    "etl_checkpoints": "Per (scope, list source): where the walk of the list stands.",
    "etl_quarantine": "Malformed API records, kept with the reason they were refused.",
    "etl_job_seen": "Which scopes have listed each job, and when first.",
    "etl_scope_sources": "The list endpoint a scope moved to once the v1 list was retired.",
    "etl_walk_sightings": "What each committed page of a walk listed, for deletion detection.",
    "etl_walk_windows": "The created_at windows of a parallel v2 walk in progress.",
    "etl_unmapped_fields": "Fields the API sent that no column maps (readable in classify_job_payloads.raw): "
    "one row per (endpoint, JSON path).",
    # Views over tables, declared in schema.views.
    "classify_rules": "A view: one row per (job, position) of the job's rules, as the API sent them.",
    "classify_parsing_configs": "A view: one row per job that has a parsing configuration.",
}

#: The BI views the migrations create (not in the metadata, which ``alembic check`` compares with
#: tables): description, then each column and its description. tests/test_dbt.py compares these
#: names and columns with a migrated database.
BI_VIEWS: dict[str, tuple[str, dict[str, str]]] = {
    "classify_jobs_current": (
        "A view: one row per job, deleted ones included (filter with `not is_deleted`), flattened "
        "for reports.",
        {
            "id": "The job id.",
            "project_id": "",
            "user_id": "",
            "status": "Canonical status.",
            "mode": "",
            "document_input_type": "From the v2 API; NULL for jobs it does not know.",
            "file_input": "From the v2 API.",
            "parse_job_id": "From the v2 API.",
            "configuration_id": "From the v2 API.",
            "result_type": "NULL until the job has a result, or when no rule matched.",
            "confidence": "0-1; NULL until the job has a result.",
            "reasoning": "",
            "matched": "True when the job has a result and a rule matched.",
            "rule_count": "",
            "rule_types": "The job's rule types, comma-separated in their configured order.",
            "lang": "",
            "max_pages": "",
            "target_pages": "The page scope exactly as the API sent it.",
            "target_page_count": "Pages in classify_target_pages (0: the whole document).",
            "credits": "Usage credits billed (exact decimal); NULL while unknown.",
            "created_at": "",
            "updated_at": "",
            "first_seen_at": "",
            "hydrated_at": "",
            "hydration_status": "",
            "error_message": "",
            "is_deleted": "",
            "deleted_at": "",
        },
    ),
    "classify_daily_counts": (
        "A view: live jobs per (UTC day of created_at, project, status, result type).",
        {
            "day": "",
            "project_id": "",
            "status": "",
            "result_type": "NULL: no match, or no result yet (the status tells which).",
            "jobs": "",
            "mean_confidence": "",
            "jobs_with_result": "",
            "jobs_with_usage": "",
            "credits": "Exact sum of the known credits.",
        },
    ),
    "classify_confidence_counts": (
        "A view: live jobs with a result per (UTC day, project, status, result type, confidence tenth).",
        {
            "day": "",
            "project_id": "",
            "status": "",
            "result_type": "",
            "confidence_tenth": "0-9: 0.7 <= confidence < 0.8 is 7; 1.0 is in 9.",
            "jobs": "",
        },
    ),
    "classify_rule_match": (
        "A view: per rule type over live jobs, how often it is offered and matched.",
        {
            "rule_type": "",
            "jobs_offered": "Live jobs having a rule of that type.",
            "jobs_matched": "Those classified as that type.",
            "match_rate": "jobs_matched / jobs_offered.",
            "mean_confidence": "Over the matched jobs.",
            "jobs_with_result": "Jobs offered that have a result.",
        },
    ),
    "classify_hydration_health": (
        "A view: fixed rows, one per problem category, jobs = 0 when all is well: alert on jobs > 0.",
        {"category": "", "detail": "", "jobs": "", "description": ""},
    ),
}

#: Keys of the BI views (the tables' and schema.views' keys come from their metadata).
VIEW_KEYS: dict[str, tuple[str, ...]] = {
    "classify_jobs_current": ("id",),
    "classify_rule_match": ("rule_type",),
    "classify_hydration_health": ("category", "detail"),
}

COLUMN_DESCRIPTIONS: dict[tuple[str, str], str] = {
    ("classify_jobs", "id"): "The job id (the API's).",
    ("classify_jobs", "status"): "Canonical status, reconciled from v1 and v2 (raw ones: v1_status, "
    "v2_status).",
    ("classify_jobs", "mode"): "v2's mode when hydrated, else v1's.",
    ("classify_jobs", "created_at"): "UTC.",
    ("classify_jobs", "updated_at"): "UTC; the API's, of the latest version seen.",
    ("classify_jobs", "v2_usage_credits"): "Credits billed (exact decimal); NULL while not known yet.",
    ("classify_jobs", "v2_credits_pending"): "True while the sync waits for the job's credits.",
    ("classify_jobs", "v1_hash"): "Fingerprint of the v1 list item (a listed change that kept updated_at).",
    ("classify_jobs", "v2_hash"): "Fingerprint of the v2 list item (a listed change that kept updated_at).",
    ("classify_jobs", "first_seen_at"): "When a sync first listed the job.",
    ("classify_jobs", "hydrated_at"): "When the v2 job was last fetched.",
    ("classify_jobs", "hydration_status"): "ok, not_found (v2 answers 404: v1 data only), failed "
    "(hydration_error says why) or pending.",
    ("classify_jobs", "deleted_at"): "Set when a complete walk no longer lists the job (gone from the API); "
    "the row keeps its last known data.",
    ("classify_jobs", "rule_set_id"): "Its rule set (classify_rule_sets.id); NULL: no rules.",
    ("classify_jobs", "result_type"): "Copy of classify_results.type (NULL without a result, or no match).",
    ("classify_jobs", "confidence"): "Copy of classify_results.confidence.",
    ("classify_jobs", "target_pages"): "Exactly as sent: v2's '1,3,5-7' or v1's 0-based [0,2,4].",
    ("classify_jobs", "parsing_configured"): "True when the job has a parsing configuration.",
    ("classify_target_pages", "page_number"): "1-based.",
    ("classify_results", "type"): "The matched rule type; NULL when no rule matched.",
    ("classify_results", "confidence"): "0-1.",
    ("classify_job_history", "valid_from"): "The API's updated_at of this version.",
    ("classify_job_history", "valid_to"): "The next version's valid_from; NULL for the current version.",
    ("classify_job_history", "observed_at"): "When a sync saw this version.",
    ("classify_job_history", "run_id"): "The etl_sync_runs row of that sync.",
    ("classify_job_history", "version"): "1 for a job's first observed version, then 2, 3, ...",
    (
        "classify_job_history",
        "previous_result_type",
    ): "Of the version this row replaced (NULL for version 1).",
    ("classify_job_history", "previous_confidence"): "Of the version this row replaced (NULL for version 1).",
    ("classify_job_payloads", "raw"): '{"v1": the v1 list item, "v2": the v2 body}, a key absent when '
    'the job has no such payload; text and numbers JSON cannot hold are escaped as "␀json:..." strings.',
    ("etl_unmapped_fields", "endpoint"): "v1 (the v1 list item) or v2 (the v2 body or list item).",
    ("etl_unmapped_fields", "path"): "Dotted, [] after a list: usage.new_thing, configuration.rules[].x.",
    ("etl_unmapped_fields", "sample_job_id"): "A job whose payload had it, as of last_seen_at.",
    ("classify_rule_sets", "digest"): "SHA-256 of the canonical JSON of the list.",
    ("etl_sync_runs", "outcome"): "running, success, partial, failed, interrupted or abandoned.",
    (
        "etl_sync_runs",
        "finished_at",
    ): "When the run ended; the sources' freshness reads the newest loaded one.",
    ("etl_quarantine", "endpoint"): "v1_list, v2_get or v2_list: where the malformed record came from.",
    ("etl_quarantine", "resolved_at"): "When a later fetch or complete walk no longer met it.",
    ("etl_checkpoints", "next_page_token"): "NULL: no walk in progress.",
    ("classify_rules", "position"): "0-based order in the job's configuration.",
}

#: classify_jobs keeps every field of each endpoint under its prefix.
ENDPOINT_PREFIXES = {"v1_": "As the v1 list sent it.", "v2_": "As the v2 job sent it."}

#: References the database does not declare (views cannot have foreign keys; rule_set_id was added
#: to classify_jobs without one, which SQLite could not add): tested like the declared ones.
LOGICAL_REFERENCES: dict[tuple[str, str], tuple[str, str]] = {
    ("classify_rules", "job_id"): ("classify_jobs", "id"),
    ("classify_parsing_configs", "job_id"): ("classify_jobs", "id"),
    ("classify_jobs", "rule_set_id"): ("classify_rule_sets", "id"),
}

#: Columns whose values are a fixed set although no CHECK constraint says so, by column name, in
#: every classify_* relation that has one (the history and the summaries copy the job's status).
VALUE_SETS: dict[str, tuple[str, ...]] = {
    "status": schema.CANONICAL_STATUSES,
    "hydration_status": schema.HYDRATION_STATUSES,
}

# -- the staging models ------------------------------------------------------------------------------

#: classify_jobs columns the staged jobs leave out: the per-endpoint copies that the reconciled
#: columns supersede, and the loader's change fingerprints. Everything else is staged, so a column
#: a revision adds is staged too.
STAGED_JOBS_DROP = (
    "v1_hash",
    "v2_hash",
    "v1_mode",
    "v1_user_id",
    "v1_project_id",
    "v1_created_at",
    "v1_updated_at",
    "v1_error_message",
    "v2_mode",
    "v2_error_message",
    "v2_created_at",
    "v2_updated_at",
)
STAGED_JOBS_RENAME = {
    "id": "job_id",
    "v2_document_input_type": "document_input_type",
    "v2_file_input": "file_input",
    "v2_parse_job_id": "parse_job_id",
    "v2_configuration_id": "configuration_id",
    "v2_transaction_id": "transaction_id",
    "v2_usage_credits": "credits",
    "v2_usage_parse_credits": "parse_credits",
    "v2_credits_pending": "credits_pending",
}
STAGED_RULES_RENAME = {"type": "rule_type"}
STAGED_RESULTS_RENAME = {"type": "result_type"}
#: The job's reconciled fields each staged result carries (names as staged for jobs).
STAGED_RESULT_JOB_FIELDS = ("project_id", "status", "mode", "created_at", "updated_at", "is_deleted")


# -- the package's parts --------------------------------------------------------------------------


@dataclass
class Relation:
    """A relation of the source, as the yml declares it."""

    name: str
    description: str
    columns: list[dict[str, Any]]
    tests: list[Any] = field(default_factory=list)


def _quote(name: str) -> str:
    return str(_PG.identifier_preparer.quote(name))


def _data_type(column: Column[Any]) -> str:
    return str(column.type.compile(dialect=_PG)).lower()


def _column_description(table: str, column: Column[Any]) -> str:
    own = (
        column.comment
        or column.info.get("description")
        or COLUMN_DESCRIPTIONS.get((table, column.name))
        or ENDPOINT_PREFIXES.get(column.name[:3] if table == "classify_jobs" else "", "")
    )
    if isinstance(column.type, JSON):
        return f"{own} {JSON_NOTE.format(column=column.name)}".strip()
    return str(own)


def _in_constraints(table: Table) -> dict[str, tuple[str, ...]]:
    """``col IN ('a', 'b')`` CHECK constraints of the table, as column → allowed values."""
    found: dict[str, tuple[str, ...]] = {}
    for constraint in table.constraints:
        if not isinstance(constraint, CheckConstraint):
            continue
        m = re.fullmatch(r"\s*(\w+) IN \(((?:'[^']*'(?:, )?)+)\)\s*", str(constraint.sqltext))
        if m:
            found[m.group(1)] = tuple(re.findall(r"'([^']*)'", m.group(2)))
    return found


def _source_ref(table: str) -> str:
    return f"source('{SOURCE}', '{table}')"


def _key_tests(key: Sequence[str]) -> tuple[dict[str, list[Any]], list[Any]]:
    """Column tests (unique and not_null, or not_null for each column of a composite key) and the
    relation's own test for a composite key."""
    if len(key) == 1:
        return {key[0]: ["unique", "not_null"]}, []
    unique = {"classify_etl_unique_key": {"arguments": {"columns": list(key)}}}
    return {c: ["not_null"] for c in key}, [unique]


def _accepted(values: Iterable[str]) -> dict[str, Any]:
    return {"accepted_values": {"arguments": {"values": list(values)}}}


def _relationship(to: str, to_field: str) -> dict[str, Any]:
    return {"relationships": {"arguments": {"to": to, "field": to_field}}}


def _known_relations() -> dict[str, Table]:
    return {**schema.metadata.tables, **schema.views.tables}


def _check_names() -> None:
    """Every name kept here exists in the metadata: a renamed table or column fails the scaffold
    (and its test) instead of leaving an entry that no longer applies."""
    tables = _known_relations()
    wrong = [t for t in TABLE_DESCRIPTIONS if t not in tables]
    wrong += [t for t in tables if t not in TABLE_DESCRIPTIONS]
    pairs = [*COLUMN_DESCRIPTIONS, *LOGICAL_REFERENCES, *LOGICAL_REFERENCES.values()]
    wrong += [f"{t}.{c}" for t, c in pairs if t not in tables or c not in tables[t].c]
    jobs = schema.classify_jobs.c
    wrong += [f"classify_jobs.{c}" for c in [*STAGED_JOBS_DROP, *STAGED_JOBS_RENAME] if c not in jobs]
    wrong += [f"classify_rules.{c}" for c in STAGED_RULES_RENAME if c not in schema.classify_rules.c]
    wrong += [f"classify_results.{c}" for c in STAGED_RESULTS_RENAME if c not in schema.classify_results.c]
    if wrong:
        raise RuntimeError(f"etl.ops.dbt names what the metadata does not have (or misses): {wrong}")


def source_relations() -> list[Relation]:
    """Every relation of the source: the tables, the views over them, the BI views."""
    _check_names()
    out: list[Relation] = []
    references: dict[tuple[str, str], tuple[str, str]] = dict(LOGICAL_REFERENCES)
    for table in schema.metadata.sorted_tables:
        for fk in table.foreign_keys:
            references[(table.name, fk.parent.name)] = (fk.column.table.name, fk.column.name)
    # The job table first, then the other classify_* relations, then the loader's own etl_* tables.
    order = sorted(
        _known_relations().values(), key=lambda t: (t.name != "classify_jobs", t.name[:4] == "etl_", t.name)
    )
    for table in order:
        key = tuple(c.name for c in table.primary_key.columns)
        column_tests, tests = _key_tests(key)
        uniques = [
            tuple(c.name for c in u.columns) for u in table.constraints if isinstance(u, UniqueConstraint)
        ]
        uniques += [(c.name,) for c in table.columns if c.unique]
        for unique in uniques:
            if len(unique) == 1:
                column_tests.setdefault(unique[0], []).append("unique")
            else:
                tests.append({"classify_etl_unique_key": {"arguments": {"columns": list(unique)}}})
        values = _in_constraints(table)
        if table.name.startswith("classify_"):
            values.update({c: v for c, v in VALUE_SETS.items() if c in table.c and c not in values})
        columns = []
        for column in table.columns:
            col_tests = list(dict.fromkeys(column_tests.get(column.name, [])))
            if column.name in values:
                col_tests.append(_accepted(values[column.name]))
            if (table.name, column.name) in references:
                to_table, to_field = references[(table.name, column.name)]
                col_tests.append(_relationship(_source_ref(to_table), to_field))
            columns.append(
                _column(column.name, _column_description(table.name, column), _data_type(column), col_tests)
            )
        out.append(Relation(table.name, TABLE_DESCRIPTIONS[table.name], columns, tests))
    for name, (description, view_columns) in BI_VIEWS.items():
        column_tests, tests = _key_tests(VIEW_KEYS[name]) if name in VIEW_KEYS else ({}, [])
        columns = []
        for column_name, column_description in view_columns.items():
            col_tests = list(column_tests.get(column_name, []))
            if column_name in VALUE_SETS:
                col_tests.append(_accepted(VALUE_SETS[column_name]))
            columns.append(_column(column_name, column_description, None, col_tests))
        out.append(Relation(name, description, columns, tests))
    return out


def _column(name: str, description: str, data_type: str | None, tests: list[Any]) -> dict[str, Any]:
    out: dict[str, Any] = {"name": name}
    if description:
        out["description"] = description
    if data_type:
        out["data_type"] = data_type
    if tests:
        out["data_tests"] = tests
    return out


# -- YAML: a small emitter for the shapes written here (no YAML library in the runtime deps) --------

_PLAIN = re.compile(r"[A-Za-z_][A-Za-z0-9_.\-]*")
_YAML_WORDS = {"true", "false", "null", "yes", "no", "on", "off", "y", "n", "~"}


def _scalar(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    text = str(value)
    if _PLAIN.fullmatch(text) and text.lower() not in _YAML_WORDS:
        return text
    return json.dumps(text, ensure_ascii=False)  # a JSON string is a YAML double-quoted scalar


def _is_scalar(value: Any) -> bool:
    return not isinstance(value, dict | list)


def _yaml_lines(value: Any, indent: int) -> list[str]:
    pad = " " * indent
    lines: list[str] = []
    if isinstance(value, dict):
        for k, v in value.items():
            if _is_scalar(v):
                lines.append(f"{pad}{k}: {_scalar(v)}")
            elif not v:
                lines.append(f"{pad}{k}: {'{}' if isinstance(v, dict) else '[]'}")
            elif isinstance(v, list) and all(_is_scalar(i) for i in v):
                lines.append(f"{pad}{k}: [{', '.join(_scalar(i) for i in v)}]")
            else:
                lines.append(f"{pad}{k}:")
                lines.extend(_yaml_lines(v, indent + 2))
    else:
        for item in value:
            if _is_scalar(item):
                lines.append(f"{pad}- {_scalar(item)}")
                continue
            nested = _yaml_lines(item, indent + 2)
            nested[0] = f"{pad}- {nested[0].lstrip()}"
            lines.extend(nested)
    return lines


def to_yaml(document: Mapping[str, Any], header: str) -> str:
    return "".join(f"# {line}\n" for line in header.splitlines()) + "\n".join(_yaml_lines(document, 0)) + "\n"


# -- the files ------------------------------------------------------------------------------------

HEADER = (
    f"Generated by classify-etl {_version} (`classify-etl dbt-scaffold`) from its table definitions.\n"
    "Rerun it after upgrading classify-etl; it refuses to overwrite a file you changed unless --force."
)


def _sql_header() -> str:
    return "".join(f"-- {line}\n" for line in HEADER.splitlines())


def _project(db_schema: str) -> dict[str, Any]:
    return {
        "name": PROJECT,
        "version": _version,
        "config-version": 2,
        "require-dbt-version": [">=1.10.0", "<2.0.0"],
        "profile": PROJECT,
        "model-paths": ["models"],
        "macro-paths": ["macros"],
        "test-paths": ["tests"],
        "target-path": "target",
        "clean-targets": ["target", "dbt_packages"],
        "vars": {
            # Empty: the profile's database (classify-etl's tables live in the database dbt connects to).
            VAR_DATABASE: "",
            VAR_SCHEMA: db_schema,
            VAR_INCLUDE_DELETED: False,
        },
        "models": {PROJECT: {"staging": {"+materialized": "view"}}},
    }


def _profiles() -> dict[str, Any]:
    env = "{{{{ env_var('{}', '{}') }}}}".format
    return {
        PROJECT: {
            "target": "dev",
            "outputs": {
                "dev": {
                    "type": "postgres",
                    "host": env("PGHOST", "localhost"),
                    "port": "{{ env_var('PGPORT', '5432') | as_number }}",
                    "user": env("PGUSER", "postgres"),
                    "password": env("PGPASSWORD", ""),
                    "dbname": env("PGDATABASE", "postgres"),
                    # Where dbt builds its models: a schema of their own, apart from the loader's.
                    "schema": env("DBT_SCHEMA", "analytics"),
                    "threads": 4,
                }
            },
        }
    }


def _sources(relations: list[Relation], warn_after_hours: int, error_after_hours: int) -> dict[str, Any]:
    runs = "{{ this.incorporate(path={'identifier': 'etl_sync_runs'}) }}"
    outcomes = ", ".join(f"'{o}'" for o in LOADED_OUTCOMES)
    tables = []
    for r in relations:
        entry: dict[str, Any] = {"name": r.name, "description": r.description}
        if r.tests:
            entry["data_tests"] = r.tests
        entry["columns"] = r.columns
        tables.append(entry)
    return {
        "version": 2,
        "sources": [
            {
                "name": SOURCE,
                "description": "The tables and views classify-etl loads from the LlamaCloud classify API. "
                "Freshness: the end of the newest sync run that loaded (outcome "
                f"{' or '.join(LOADED_OUTCOMES)}).",
                "database": f"{{{{ var('{VAR_DATABASE}', '') or target.database }}}}",
                "schema": f"{{{{ var('{VAR_SCHEMA}', '{DEFAULT_SCHEMA}') }}}}",
                "loader": "classify-etl",
                "config": {
                    "freshness": {
                        "warn_after": {"count": warn_after_hours, "period": "hour"},
                        "error_after": {"count": error_after_hours, "period": "hour"},
                    },
                    "loaded_at_query": f"select max(finished_at) from {runs} where outcome in ({outcomes})",
                },
                "tables": tables,
            }
        ],
    }


@dataclass
class Model:
    name: str
    description: str
    sql: str
    columns: list[dict[str, Any]]


def _select_list(items: Sequence[tuple[str, str]]) -> str:
    """``expr as name`` lines (just ``name`` where they are the same)."""
    lines = [
        expr if expr.split(".")[-1] == _quote(name) else f"{expr} as {_quote(name)}" for expr, name in items
    ]
    return ",\n".join(f"    {line}" for line in lines)


def _staged(table: Table, rename: Mapping[str, str], drop: Iterable[str] = (), prefix: str = "") -> list[Any]:
    """(expression, staged name, description) for each column of the table that is staged."""
    dropped = set(drop)
    return [
        (f"{prefix}{_quote(c.name)}", rename.get(c.name, c.name), _column_description(table.name, c))
        for c in table.columns
        if c.name not in dropped
    ]


def _model_columns(staged: Sequence[tuple[str, str, str]], tests: Mapping[str, list[Any]]) -> list[Any]:
    return [_column(name, description, None, list(tests.get(name, []))) for _, name, description in staged]


def _models() -> list[Model]:
    jobs_ref = "{{ ref('stg_classify_etl__jobs') }}"
    include = f"var('{VAR_INCLUDE_DELETED}', false)"
    # Jobs.
    staged = _staged(schema.classify_jobs, STAGED_JOBS_RENAME, STAGED_JOBS_DROP)
    staged.append(("deleted_at is not null", "is_deleted", "True for a job gone from the API (tombstoned)."))
    jobs_sql = (
        "-- Current jobs: a job gone from the API (deleted_at set) is left out unless the var\n"
        f"-- {VAR_INCLUDE_DELETED} is true (then filter on is_deleted yourself).\n"
        f"select\n{_select_list([(e, n) for e, n, _ in staged])}\n"
        f"from {{{{ source('{SOURCE}', 'classify_jobs') }}}}\n"
        f"{{% if not {include} %}}\nwhere deleted_at is null\n{{% endif %}}\n"
    )
    jobs_tests: dict[str, list[Any]] = {
        "job_id": ["unique", "not_null"],
        "status": ["not_null", _accepted(schema.CANONICAL_STATUSES)],
        "hydration_status": ["not_null", _accepted(schema.HYDRATION_STATUSES)],
    }
    jobs = Model(
        "stg_classify_etl__jobs",
        "One row per current job (tombstoned ones only with the var "
        f"{VAR_INCLUDE_DELETED}): canonical fields, v2 fields without their prefix, credits, rules, "
        "result copy, parsing configuration and loader bookkeeping.",
        jobs_sql,
        _model_columns(staged, jobs_tests),
    )
    staged_names = {n for _, n, _ in staged}
    missing = [f for f in STAGED_RESULT_JOB_FIELDS if f not in staged_names]
    if missing:
        raise RuntimeError(f"staged results carry job fields that staged jobs lack: {missing}")

    # Rules.
    rules_staged = _staged(schema.classify_rules, STAGED_RULES_RENAME, prefix="r.")
    rules_sql = (
        f"select\n{_select_list([(e, n) for e, n, _ in rules_staged])}\n"
        f"from {{{{ source('{SOURCE}', 'classify_rules') }}}} as r\n"
        f"where r.job_id in (select job_id from {jobs_ref})\n"
    )
    rules_tests: dict[str, list[Any]] = {
        "job_id": ["not_null", _relationship("ref('stg_classify_etl__jobs')", "job_id")],
        "position": ["not_null"],
    }
    rules = Model(
        "stg_classify_etl__rules",
        "One row per (job, position) of the staged jobs' rules.",
        rules_sql,
        _model_columns(rules_staged, rules_tests),
    )

    # Results, with the job's reconciled fields.
    results_staged = _staged(schema.classify_results, STAGED_RESULTS_RENAME, prefix="r.")
    results_staged.append(
        ("r.type is not null", "matched", "True when a rule matched (result_type not NULL).")
    )
    descriptions = {n: d for _, n, d in staged}
    results_staged += [(f"j.{_quote(f)}", f, descriptions[f]) for f in STAGED_RESULT_JOB_FIELDS]
    results_sql = (
        f"select\n{_select_list([(e, n) for e, n, _ in results_staged])}\n"
        f"from {{{{ source('{SOURCE}', 'classify_results') }}}} as r\n"
        f"join {jobs_ref} as j on j.job_id = r.job_id\n"
    )
    results_tests: dict[str, list[Any]] = {
        "job_id": ["unique", "not_null", _relationship("ref('stg_classify_etl__jobs')", "job_id")],
        "status": [_accepted(schema.CANONICAL_STATUSES)],
    }
    results = Model(
        "stg_classify_etl__results",
        "One row per staged job that has a result, with the job's reconciled fields.",
        results_sql,
        _model_columns(results_staged, results_tests),
    )

    # History, as it is (deleted jobs' too: it is the record of what was observed).
    history_staged = _staged(schema.classify_job_history, {})
    history_staged.append(("valid_to is null", "is_current", "True for the job's current version."))
    history_sql = (
        "-- Every observed version, as loaded (deleted jobs' included). As of a time t:\n"
        "-- valid_from <= t and (valid_to is null or valid_to > t), at most one row per job.\n"
        f"select\n{_select_list([(e, n) for e, n, _ in history_staged])}\n"
        f"from {{{{ source('{SOURCE}', 'classify_job_history') }}}}\n"
    )
    history_tests: dict[str, list[Any]] = {
        "id": ["unique", "not_null"],
        "job_id": ["not_null", _relationship(_source_ref("classify_jobs"), "id")],
        "status": ["not_null", _accepted(schema.CANONICAL_STATUSES)],
    }
    history = Model(
        "stg_classify_etl__job_history",
        "One row per observed version of a job's outcome, as loaded.",
        history_sql,
        _model_columns(history_staged, history_tests),
    )
    return [jobs, rules, results, history]


UNIQUE_KEY_MACRO = """\
{% test classify_etl_unique_key(model, columns) %}
{#- Rows sharing one value of a composite key (dbt's own unique test takes one column). -#}
{%- set key = [] -%}
{%- for column in columns -%}{%- do key.append(adapter.quote(column)) -%}{%- endfor %}
select {{ key | join(', ') }}, count(*) as rows_with_this_key
from {{ model }}
group by {{ key | join(', ') }}
having count(*) > 1
{% endtest %}
"""


def _singular_tests() -> dict[str, str]:
    history = f"{{{{ source('{SOURCE}', 'classify_job_history') }}}}"
    jobs = f"{{{{ source('{SOURCE}', 'classify_jobs') }}}}"
    results = f"{{{{ source('{SOURCE}', 'classify_results') }}}}"
    return {
        "classify_etl_history_rows_belong_to_a_job": (
            "-- Every history row belongs to a job: a job's history goes only with the job.\n"
            f"select h.id, h.job_id\nfrom {history} as h\n"
            f"left join {jobs} as j on j.id = h.job_id\nwhere j.id is null\n"
        ),
        "classify_etl_history_versions_do_not_overlap": (
            "-- Two versions of one job are never in force at the same time (an empty version,\n"
            '-- valid_to = valid_from, is in force at no time): an "as of" query finds at most one.\n'
            f"select a.job_id, a.version, b.version as other_version\nfrom {history} as a\n"
            f"join {history} as b on b.job_id = a.job_id and b.id > a.id\n"
            "where (a.valid_to is null or a.valid_from < a.valid_to)\n"
            "  and (b.valid_to is null or b.valid_from < b.valid_to)\n"
            "  and (b.valid_to is null or a.valid_from < b.valid_to)\n"
            "  and (a.valid_to is null or b.valid_from < a.valid_to)\n"
        ),
        "classify_etl_history_versions_are_numbered_from_1": (
            "-- A job's versions are numbered 1, 2, ... without gaps or repeats.\n"
            "select job_id, count(*) as versions, min(version) as first_version,\n"
            "       max(version) as last_version\n"
            f"from {history}\ngroup by job_id\n"
            "having min(version) <> 1 or max(version) <> count(*) or count(distinct version) <> count(*)\n"
        ),
        "classify_etl_job_result_copies_match": (
            "-- classify_jobs.result_type and .confidence are copies of the job's classify_results row\n"
            "-- (NULL without one).\n"
            f"select j.id\nfrom {jobs} as j\nleft join {results} as r on r.job_id = j.id\n"
            "where j.result_type is distinct from r.type or j.confidence is distinct from r.confidence\n"
        ),
    }


def render(
    *,
    db_schema: str = DEFAULT_SCHEMA,
    warn_after_hours: int = DEFAULT_WARN_AFTER_HOURS,
    error_after_hours: int = DEFAULT_ERROR_AFTER_HOURS,
) -> dict[str, str]:
    """The package's files: path relative to its directory → text."""
    if not 0 < warn_after_hours < error_after_hours:
        raise ConfigError(
            f"freshness: warn after {warn_after_hours} h must be positive and less than error after "
            f"{error_after_hours} h"
        )
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_$]*", db_schema):
        raise ConfigError(
            f"--db-schema {db_schema!r}: expected a PostgreSQL schema name (letters, digits, _)"
        )
    files = {
        "dbt_project.yml": to_yaml(_project(db_schema), HEADER),
        "profiles.yml": to_yaml(
            _profiles(),
            HEADER + "\nConnection from the PG* variables libpq reads; dbt builds the models in DBT_SCHEMA.",
        ),
        "models/src_classify_etl.yml": to_yaml(
            _sources(source_relations(), warn_after_hours, error_after_hours), HEADER
        ),
        "macros/classify_etl_unique_key.sql": _sql_header() + UNIQUE_KEY_MACRO,
    }
    models = _models()
    for model in models:
        files[f"models/staging/{model.name}.sql"] = _sql_header() + model.sql
    files["models/staging/stg_classify_etl.yml"] = to_yaml(
        {
            "version": 2,
            "models": [{"name": m.name, "description": m.description, "columns": m.columns} for m in models],
        },
        HEADER,
    )
    for name, sql in _singular_tests().items():
        files[f"tests/{name}.sql"] = _sql_header() + sql
    return files


# -- writing, without losing the user's changes ------------------------------------------------------


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@dataclass
class ScaffoldResult:
    directory: Path
    written: list[str]
    unchanged: list[str]
    removed: list[str]


def write_package(directory: Path, files: Mapping[str, str], *, force: bool = False) -> ScaffoldResult:
    """Write the files under ``directory``. A file already there is replaced only if it is what an
    earlier scaffold wrote (its hash is in the manifest) or already equal to the new text; any other
    (changed by the user, or never ours) stops the whole write, unless ``force``. A file an earlier
    scaffold wrote that is no longer generated is removed if unchanged."""
    manifest_path = directory / MANIFEST
    recorded: dict[str, str] = {}
    if manifest_path.is_file():
        try:
            recorded = dict(jsontext.loads(manifest_path.read_bytes())["files"])
        except (ValueError, KeyError, TypeError) as exc:
            raise ConfigError(
                f"{manifest_path}: unreadable ({exc}); remove it, or rerun with --force"
            ) from exc
    conflicts: list[str] = []
    for rel, content in files.items():
        path = directory / rel
        if not path.exists():
            continue
        current = _digest(path.read_bytes()) if path.is_file() else ""
        if current not in (recorded.get(rel), _digest(content.encode())):
            conflicts.append(rel)
    if conflicts and not force:
        raise ConfigError(
            f"{directory}: would overwrite {len(conflicts)} file(s) changed since classify-etl wrote them "
            f"(or not written by it): {', '.join(sorted(conflicts))}; rerun with --force to overwrite them"
        )
    written, unchanged, removed = [], [], []
    for rel, content in files.items():
        path = directory / rel
        data = content.encode()
        if path.is_file() and path.read_bytes() == data:
            unchanged.append(rel)
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        written.append(rel)
    for rel, digest in recorded.items():
        path = directory / rel
        if rel not in files and path.is_file() and _digest(path.read_bytes()) == digest:
            path.unlink()
            removed.append(rel)
    manifest = {
        "generator": f"classify-etl {_version} dbt-scaffold",
        "files": {rel: _digest(content.encode()) for rel, content in sorted(files.items())},
    }
    manifest_path.write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    return ScaffoldResult(directory, written, unchanged, removed)


def scaffold(
    directory: Path,
    *,
    db_schema: str = DEFAULT_SCHEMA,
    warn_after_hours: int = DEFAULT_WARN_AFTER_HOURS,
    error_after_hours: int = DEFAULT_ERROR_AFTER_HOURS,
    force: bool = False,
) -> ScaffoldResult:
    """Write (or refresh) the dbt package in ``directory``."""
    files = render(
        db_schema=db_schema, warn_after_hours=warn_after_hours, error_after_hours=error_after_hours
    )
    return write_package(directory, files, force=force)
