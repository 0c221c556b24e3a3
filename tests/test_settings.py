"""Every declared setting works as a flag, as its environment variable and as a TOML key, and a bad value
is a one-line exit 2, whichever way it came. The sync itself is replaced by a probe that records the
Settings it was handed (and builds the client and the engine from them, which is what sync does)."""

from __future__ import annotations

import sys
from dataclasses import dataclass, fields, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from etl.cli import commands as cli
from etl.config import (
    SecretStr,
    Settings,
    declared,
    parse_created_after,
    parse_created_before,
    parse_duration,
)
from etl.run.sync import SyncOptions
from etl.warehouse import db


@dataclass(frozen=True)
class Sample:
    flag: tuple[str, ...]  # the arguments that set it on the command line
    env: str  # the environment variable's value
    toml: str  # the TOML value, as written in the file
    expected: Any  # the value Settings then holds
    bad_env: str
    bad_toml: str
    bad_flag: tuple[str, ...] | None = None  # None for flags that take no value


def value(flag: str, raw: str, expected: Any, bad: str, toml: str | None = None) -> Sample:
    toml = toml if toml is not None else (raw if raw.lstrip("-").replace(".", "").isdigit() else f'"{raw}"')
    bad_toml = bad if bad.lstrip("-").replace(".", "").isdigit() else f'"{bad}"'
    return Sample((flag, raw), raw, toml, expected, bad, bad_toml, (flag, bad))


def switch(flag: str, expected: bool) -> Sample:
    word = "true" if expected else "false"
    return Sample((flag,), word, word, expected, "maybe", '"maybe"')


SAMPLES: dict[str, Sample] = {
    "api_key": value("--api-key", "k-2", "k-2", "", toml='"k-2"'),
    "base_url": value("--base-url", "http://127.0.0.1:9", "http://127.0.0.1:9", "api.example.com"),
    "database_url": value("--database-url", "sqlite:///other.db", "sqlite:///other.db", "mysql://u@h/db"),
    "db_schema": value("--db-schema", "analytics_classify", "analytics_classify", "Analytics-Classify"),
    "project_ids": Sample(
        ("--project-id", "p1", "--project-id", "p2"),
        "p1 p2",
        '["p1", "p2"]',
        ("p1", "p2"),
        "x/y",
        '["x/y"]',
        ("--project-id", "x/y"),
    ),
    "organization_id": value("--organization-id", "org-1", "org-1", "x/y"),
    "page_size": value("--page-size", "50", 50, "0"),
    "concurrency": value("--concurrency", "4", 4, "257"),
    "max_retries": value("--max-retries", "2", 2, "21"),
    "request_timeout": value("--request-timeout", "2.5", 2.5, "0"),
    "max_requests_per_minute": value("--max-requests-per-minute", "20", 20, "0"),
    "insecure": switch("--insecure", True),
    "full_refresh": switch("--full-refresh", True),
    "list_source": value("--list-source", "v2", "v2", "v3"),
    "log_format": value("--log-format", "json", "json", "xml"),
    "progress": switch("--progress", True),
    "allow_mass_delete": switch("--allow-mass-delete", True),
    "max_walk_pages": value("--max-walk-pages", "7", 7, "-1"),
    "lookback": value("--lookback", "90m", timedelta(minutes=90), "5x"),
    "full_walk_every": value("--full-walk-every", "6h", timedelta(hours=6), "6"),
    "full_walk": switch("--full-walk", True),
    "list_concurrency": value("--list-concurrency", "3", 3, "65"),
    "credits_lag": value("--credits-lag", "2d", timedelta(days=2), "2w"),
    "credits": switch("--no-credits", False),
    "created_after": value("--created-after", "2025-01-31", datetime(2025, 1, 31, tzinfo=UTC), "yesterday"),
    "created_before": value(
        "--created-before",
        "2025-01-31T12:00:00+02:00",
        datetime.fromisoformat("2025-01-31T12:00:00+02:00"),
        "2025-01-31T12:00:00",
    ),
    "ping_url": value("--ping-url", "https://hc.example/ping", "https://hc.example/ping", "hc.example"),
    "notify_url": value("--notify-url", "https://hooks.example/x", "https://hooks.example/x", "hooks"),
    "notify_on": value("--notify-on", "always", "always", "never"),
    "metrics_file": value("--metrics-file", "metrics.prom", "metrics.prom", "/no/such/dir/m.prom"),
}


def test_every_setting_has_a_sample() -> None:
    assert set(SAMPLES) == set(declared()), "add the new setting to SAMPLES"


@pytest.fixture
def probe(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> list[Settings]:
    """Replace the sync by a recorder; run from an empty directory with no setting in the environment."""
    seen: list[Settings] = []

    def fake_sync(settings: Settings, **_kw: Any) -> Any:
        seen.append(settings)
        cli.api_factory(settings)
        db.make_engine(settings.database_url.get_secret_value()).dispose()
        sys.exit(0)

    monkeypatch.setattr(cli, "do_sync", fake_sync)
    monkeypatch.chdir(tmp_path)
    for item in declared().values():
        monkeypatch.delenv(item.env, raising=False)
    monkeypatch.delenv("CLASSIFY_ETL_CONFIG", raising=False)
    return seen


def run(args: list[str], env: dict[str, str] | None = None) -> Result:
    return CliRunner().invoke(cli.main, args, env=env, catch_exceptions=False)


def base(name: str) -> list[str]:
    """The least a sync needs, without the setting under test (so that the flag does not hide it)."""
    args = ["sync"]
    if name != "api_key":
        args += ["--api-key", "k"]
    return args


def plain(v: Any) -> Any:
    return v.get_secret_value() if isinstance(v, SecretStr) else v


def check_one_line_exit_2(result: Result, name: str) -> None:
    assert result.exit_code == 2, (name, result.output)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.output, (name, result.stderr)


@pytest.mark.parametrize("name", list(SAMPLES))
def test_setting_as_flag_env_and_toml(name: str, probe: list[Settings], tmp_path: Path) -> None:
    sample, item = SAMPLES[name], declared()[name]
    assert run([*base(name), *sample.flag]).exit_code == 0
    assert run(base(name), env={item.env: sample.env}).exit_code == 0
    config = tmp_path / "etl.toml"
    config.write_text(f"{item.toml_key} = {sample.toml}\n")
    assert run([*base(name), "--config", str(config)]).exit_code == 0
    assert [plain(getattr(s, name)) for s in probe] == [sample.expected] * 3
    assert plain(item.default) != sample.expected, "the sample must differ from the default"


@pytest.mark.parametrize("name", list(SAMPLES))
def test_bad_value_is_one_line_exit_2(name: str, probe: list[Settings], tmp_path: Path) -> None:
    sample, item = SAMPLES[name], declared()[name]
    if sample.bad_flag is not None:
        check_one_line_exit_2(run([*base(name), *sample.bad_flag]), name)
    check_one_line_exit_2(run(base(name), env={item.env: sample.bad_env}), name)
    config = tmp_path / "bad.toml"
    config.write_text(f"{item.toml_key} = {sample.bad_toml}\n")
    check_one_line_exit_2(run([*base(name), "--config", str(config)]), name)


def test_flag_beats_env_beats_file(probe: list[Settings], tmp_path: Path) -> None:
    config = tmp_path / "etl.toml"
    config.write_text("page_size = 10\nconcurrency = 3\nmax_retries = 1\n")
    env = {"CLASSIFY_ETL_PAGE_SIZE": "20", "CLASSIFY_ETL_CONCURRENCY": "4"}
    assert (
        run(["sync", "--api-key", "k", "--config", str(config), "--page-size", "30"], env=env).exit_code == 0
    )
    (s,) = probe
    assert (s.page_size, s.concurrency, s.max_retries) == (30, 4, 1)


def test_every_command_taking_a_setting_takes_config(tmp_path: Path) -> None:
    names = set(declared())

    def walk(group: Any, path: str = "") -> list[tuple[str, Any]]:
        out = []
        for cname, command in group.commands.items():
            if hasattr(command, "commands"):
                out += walk(command, f"{path}{cname} ")
            else:
                out.append((path + cname, command))
        return out

    for cname, command in walk(cli.main):
        params = {p.name for p in command.params}
        if params & names and cname != "simulate":  # the simulator's --api-key is its own, not a setting
            assert "config" in params, cname


def test_a_config_file_serves_every_command(tmp_path: Path) -> None:
    """One file for sync and status: a key status does not take is left for sync, not an error."""
    url = f"sqlite:///{tmp_path}/db.sqlite"
    assert run(["migrate", "--database-url", url]).exit_code == 0
    config = tmp_path / "etl.toml"
    config.write_text(f'database_url = "{url}"\nconcurrency = 8\nproject_ids = ["p"]\n')
    result = run(["status", "--config", str(config)])
    assert result.exit_code == 0 and "checkpoints:" in result.stdout


def test_sync_options_passes_what_sync_options_has() -> None:
    settings = Settings(page_size=7, concurrency=3, list_source="v2", full_refresh=True)
    options = cli.sync_options(settings, dry_run=True)
    assert isinstance(options, SyncOptions)
    assert (
        options.page_size,
        options.concurrency,
        options.source,
        options.full_refresh,
        options.dry_run,
    ) == (
        7,
        3,
        "v2",
        True,
        True,
    )
    for f in fields(SyncOptions):
        if f.name in {s.name for s in fields(Settings)}:
            assert getattr(options, f.name) == getattr(settings, f.name), f.name


def test_the_client_comes_from_settings() -> None:
    settings = Settings(api_key=SecretStr("abc"), base_url="http://127.0.0.1:9", max_retries=2, concurrency=5)
    api = cli.api_factory(settings)()
    assert (api.max_retries, api.base_url) == (2, "http://127.0.0.1:9")
    assert api.throttle.cap is None
    budgeted = cli.api_factory(replace(settings, max_requests_per_minute=30))()
    assert budgeted.throttle.cap is not None and budgeted.throttle.cap <= 30 / 60


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("90m", timedelta(minutes=90)),
        ("6h", timedelta(hours=6)),
        ("2d", timedelta(days=2)),
        ("45s", timedelta(seconds=45)),
    ],
)
def test_durations(text: str, expected: timedelta) -> None:
    if text == "45s":
        expected = timedelta(seconds=45)
    assert parse_duration(text) == expected
    for bad in ("", "6", "h", "1.5h", "2w", "-1d"):
        with pytest.raises(ValueError, match="duration"):
            parse_duration(bad)


def test_created_bounds_are_inclusive_days() -> None:
    assert parse_created_after("2025-03-01") == datetime(2025, 3, 1, tzinfo=UTC)
    end = parse_created_before("2025-03-01")
    assert end is not None and end.date().isoformat() == "2025-03-01" and end.tzinfo is UTC
    assert end > datetime(2025, 3, 1, 23, 59, 59, tzinfo=UTC)
    assert parse_created_after("2025-03-01T10:00:00Z") == datetime(2025, 3, 1, 10, tzinfo=UTC)
    with pytest.raises(ValueError, match="offset"):
        parse_created_after("2025-03-01T10:00:00")


def test_secrets_do_not_show_in_repr() -> None:
    s = Settings(api_key=SecretStr("llx-secret"), database_url=SecretStr("postgresql://u:pw@h/db"))
    assert "llx-secret" not in repr(s) and "pw@" not in repr(s)
