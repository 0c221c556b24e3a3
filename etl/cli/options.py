"""Settings as click options: one option per setting of ``etl.config.Settings``, read from the flag,
the environment or the ``--config`` TOML file through the setting's own parser."""

from __future__ import annotations

import tomllib
from collections.abc import Callable, Sequence
from dataclasses import fields
from typing import Any, TypeVar

import click

from etl.cli.errors import remember_log_format
from etl.config import Declared, Settings, declared, format_duration
from etl.errors import ConfigError
from etl.run.sync import SyncOptions

F = TypeVar("F", bound=Callable[..., Any])

#: The settings each command takes (all of them come with --config).
DATABASE_SETTINGS = ("database_url", "db_schema", "log_format")
SYNC_SETTINGS = tuple(declared())


# -- settings as click options -------------------------------------------------------------------------


class SettingType(click.ParamType):  # type: ignore[type-arg]
    """A setting's own parser, for its flag, its environment variable and its TOML key alike."""

    def __init__(self, item: Declared) -> None:
        self.item = item
        self.name = item.spec.metavar or item.name.upper()

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        try:
            if self.item.spec.kind == "multiple":  # click hands over the items one by one
                return self.item.spec.parse([value])[0]
            return self.item.spec.parse(value)
        except ValueError as exc:
            self.fail(str(exc), param, ctx)


def _show_default(item: Declared) -> str | bool:
    if item.spec.shown_default is not None:
        return item.spec.shown_default
    if item.default is None or item.default == ():
        return False
    if hasattr(item.default, "total_seconds"):
        return format_duration(item.default)
    return str(item.default).lower() if isinstance(item.default, bool) else str(item.default)


def _option(item: Declared, **extra: Any) -> Callable[[F], F]:
    common: dict[str, Any] = {
        **extra,
        "envvar": item.env,
        "show_envvar": True,
        "help": item.spec.help,
        "show_default": _show_default(item),
    }
    if item.spec.kind in ("flag", "switch"):
        return click.option(item.flag, item.name, is_flag=True, default=item.default, **common)
    if item.spec.choices:
        return click.option(
            item.flag, item.name, type=click.Choice(item.spec.choices), default=item.default, **common
        )
    default = (
        item.default.get_secret_value() if item.spec.secret and item.default is not None else item.default
    )
    return click.option(
        item.flag,
        item.name,
        type=SettingType(item),
        default=default,
        multiple=item.spec.kind == "multiple",
        **common,
    )


CONFIG_ALIASES = {"project_id": "project_ids", "projects": "project_ids"}


def _load_config(ctx: click.Context, _param: click.Parameter, path: str | None) -> str | None:
    """Read a TOML file into click's default_map: flags and environment still override it. A key that
    is a setting another command takes is left for that command, so that one file serves them all."""
    if not path:
        return None

    try:
        with open(path, "rb") as fh:
            data = tomllib.load(fh)
    except OSError as exc:
        raise click.BadParameter(f"cannot read {path}: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise click.BadParameter(f"{path} is not valid TOML: {exc}") from None
    section = data.get("classify-etl", data)
    every = declared()
    taken = {p.name for p in ctx.command.params if p.name}
    defaults: dict[str, Any] = {}
    for key, value in section.items():
        name = CONFIG_ALIASES.get(key.replace("-", "_"), key.replace("-", "_"))
        if name not in every:
            raise click.BadParameter(f"{path}: unknown setting {key!r}")
        if name in taken:
            defaults[name] = value
    ctx.default_map = {**(ctx.default_map or {}), **defaults}
    return path


def setting_options(names: Sequence[str]) -> Callable[[F], F]:
    """``--config`` and one option per named setting, all derived from ``etl.config.Settings``."""
    every = declared()

    def decorate(func: F) -> F:
        for name in reversed(names):
            # --log-format is eager, so that an error in any other value is reported in its format.
            eager = {"is_eager": True, "callback": remember_log_format} if name == "log_format" else {}
            func = _option(every[name], **eager)(func)
        return click.option(
            "--config",
            type=click.Path(dir_okay=False),
            envvar="CLASSIFY_ETL_CONFIG",
            show_envvar=True,
            is_eager=True,
            expose_value=False,
            callback=_load_config,
            help="TOML file of settings (keys as the long flags: database_url, project_ids, ...).",
        )(func)

    return decorate


def verbosity_options(func: F) -> F:
    func = click.option("-v", "--verbose", count=True, help="More log output (repeatable).")(func)
    return click.option("-q", "--quiet", count=True, help="Less log output (repeatable).")(func)


def build_settings(**values: Any) -> Settings:
    """Settings from a command's parameters (the others are ignored); a bad value is a ConfigError."""
    try:
        return Settings.from_values(values)
    except ValueError as exc:
        raise ConfigError(str(exc).splitlines()[0]) from None


def sync_options(settings: Settings, *, dry_run: bool) -> SyncOptions:
    """SyncOptions from Settings: every field of SyncOptions that is a setting of the same name (and the
    list source, named ``source`` there). A field that SyncOptions does not have yet is not passed."""

    names = {f.name for f in fields(SyncOptions)}
    values: dict[str, Any] = {f.name: getattr(settings, f.name) for f in fields(Settings) if f.name in names}
    values["source"] = settings.list_source
    values["dry_run"] = dry_run
    return SyncOptions(**{k: v for k, v in values.items() if k in names})
