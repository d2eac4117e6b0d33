"""A peer daemon's every timeout and bound, in one object an operator can override from a file.

`loragossip peer --settings FILE` reads a TOML file with up to three tables, each optional and
each key optional (what is not given keeps its default):

    [node]          peer.settings.NodeSettings: collection window, staleness, checkpoints
    [net]           gossip.transport.settings.NetSettings: frame size, dial/send/read timeouts
    [net.rate]      per-peer frame and byte rates, strikes and bans (RateLimits)
    [net.newcomers] new identities per source and overall, at the transport (NewcomerLimits)
    [membership]    Cyclon view, shuffles, known addresses (MembershipSettings)
    [membership.newcomers]  the same budget again, charged when they join the view
    [daemon]        the daemon's own: how long a stopping peer lets its round finish

`loragossip peer --print-settings` prints every key with the value it would run with. Only
values that keep a peer working are accepted: numbers are finite and not negative, and counts
whose default is at least 1 stay at least 1.
"""

from __future__ import annotations

import dataclasses
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gossip.transport.settings import NetSettings
from peer.membership import MembershipSettings
from peer.schema import SchemaError, coerce, unknown_keys
from peer.settings import NodeSettings


@dataclass(frozen=True)
class DaemonSettings:
    shutdown_grace: float = 10.0   # seconds a stopping peer lets its round finish before cancelling it


@dataclass(frozen=True)
class PeerSettings:
    # a daemon trains off the event loop (receiving never stalls) and catches up with the network's rounds
    node: NodeSettings = field(default_factory=lambda: NodeSettings(train_in_thread=True, catch_up_rounds=True))
    net: NetSettings = field(default_factory=NetSettings)
    membership: MembershipSettings = field(default_factory=MembershipSettings)
    daemon: DaemonSettings = field(default_factory=DaemonSettings)


class SettingsError(SchemaError):
    """A settings file is missing, malformed, or has a key or value a peer cannot run with."""


def load_settings(path: Path) -> PeerSettings:
    try:
        raw = tomllib.loads(path.read_text())
    except OSError as exc:
        raise SettingsError(f"settings file {path}: {exc.strerror or exc}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise SettingsError(f"settings file {path}: not valid TOML ({exc})") from exc
    return parse_settings(raw)


def parse_settings(raw: dict[str, Any]) -> PeerSettings:
    """Every problem found, each naming its key (`net.rate.frame_burst: ...`)."""
    try:
        return _merge("", raw, PeerSettings())
    except SchemaError as exc:
        raise SettingsError(*exc.problems) from exc


def _merge(where: str, given: Any, defaults: Any) -> Any:
    if not isinstance(given, dict):
        raise SchemaError(f"[{where.rstrip('.')}]: expected a table, got {given!r}")
    names = [f.name for f in dataclasses.fields(defaults)]
    extra = set(given) - set(names)
    problems = [f"[{where.rstrip('.') or 'settings'}]: {unknown_keys(extra, names)}"] if extra else []
    values = {}
    for name in (n for n in names if n in given):
        default = getattr(defaults, name)
        try:
            if dataclasses.is_dataclass(default):
                values[name] = _merge(f"{where}{name}.", given[name], default)
            else:
                values[name] = _checked(f"{where}{name}", given[name], default)
        except SchemaError as exc:
            problems.extend(exc.problems)
    if problems:
        raise SchemaError(*problems)
    return dataclasses.replace(defaults, **values)


def _checked(where: str, value: Any, default: Any) -> Any:
    value = coerce(where, value, default)
    if isinstance(value, bool) or not isinstance(value, int | float):
        return value
    lowest = 1 if isinstance(default, int) and default >= 1 else 0
    if value < lowest:
        raise SchemaError(f"{where}: expected at least {lowest}, got {value!r}")
    return value


def settings_toml(settings: PeerSettings) -> str:
    """The settings as the TOML `--settings` reads (every key, with its value)."""
    lines: list[str] = []

    def table(where: str, obj: Any) -> None:
        fields = [(f.name, getattr(obj, f.name)) for f in dataclasses.fields(obj)]
        lines.append(f"[{where}]")
        lines.extend(f"{name} = {_toml_value(value)}" for name, value in fields if not dataclasses.is_dataclass(value))
        lines.append("")
        for name, value in fields:
            if dataclasses.is_dataclass(value):
                table(f"{where}.{name}", value)

    for f in dataclasses.fields(settings):
        table(f.name, getattr(settings, f.name))
    return "\n".join(lines)


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return f'"{value}"'
    return repr(value)
