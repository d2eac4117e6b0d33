"""The genesis file: the pinned settings every peer of one network shares, and the network id.

A network is *named* by its genesis: two peers whose files differ in any setting that
changes learning must not mix updates. The id is SHA-256 over a canonical JSON encoding
(sorted keys, fixed separators, floats as floats), so key order, whitespace, comments and
`16` versus `16.0` in a float field never change it.
"""

from __future__ import annotations

import hashlib
import json
import tomllib
from dataclasses import asdict, dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from gossip.codecs import CODECS
from peer.schema import SchemaError, did_you_mean, parse_sections
from peer.workloads import WORKLOADS

PROTOCOL_VERSION = 1
SCHEMES = ("ffa", "sb", "lora")
OPTIMIZERS = ("sgd", "adamw")
SB_INITS = ("seed", "svd")


class GenesisError(SchemaError):
    """A genesis file is missing, malformed, or has a field outside its allowed values."""


@dataclass(frozen=True)
class NetworkSection:
    protocol: int = PROTOCOL_VERSION
    name: str = "loragossip-default"
    seed: int = 20261122


@dataclass(frozen=True)
class ModelSection:
    workload: str = "digits"
    base: str = "digits-mlp"
    base_hash: str = ""


@dataclass(frozen=True)
class AdapterSection:
    scheme: str = "ffa"
    rank: int = 8
    alpha: float = 16.0
    target_modules: tuple[str, ...] = ("fc1", "fc2")
    modules_to_save: tuple[str, ...] = ("head",)
    sb_init: str = "seed"


@dataclass(frozen=True)
class GossipSection:
    codec: str = "fp16"
    topk_fraction: float = 0.1
    int8_chunk: int = 1024
    fanout: int = 3


@dataclass(frozen=True)
class AggregationSection:
    rule: str = "geometric_median"  # measured for open networks: docs/OPEN-NETWORK.md
    params: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class TrainingSection:
    optimizer: str = "adamw"
    lr: float = 0.01
    local_steps: int = 10
    batch_size: int = 32
    sam_rho: float = 0.0
    sam_adaptive: bool = False
    gossip_steps: int = 1
    quasi_global_momentum: float = 0.0  # β of the round-level momentum (peer.round_momentum); 0 = off
    warmup_steps: int = 0  # learning rate: linear warm-up over this many local steps,
    decay_steps: int = 0  # then cosine decay to lr × lr_floor over this many (0: constant)
    lr_floor: float = 0.1


@dataclass(frozen=True)
class AdmissionSection:
    """How a newcomer's updates start to count: only after `probation_rounds` of the receiver's own
    rounds as a known member (0: at once). Pinned, so every peer of a network treats newcomers alike."""

    probation_rounds: int = 3


@dataclass(frozen=True)
class Genesis:
    """A validated genesis. Build it with `load_genesis`, `parse_genesis` or `Genesis()` (defaults)."""

    network: NetworkSection = field(default_factory=NetworkSection)
    model: ModelSection = field(default_factory=ModelSection)
    adapter: AdapterSection = field(default_factory=AdapterSection)
    gossip: GossipSection = field(default_factory=GossipSection)
    aggregation: AggregationSection = field(default_factory=AggregationSection)
    training: TrainingSection = field(default_factory=TrainingSection)
    admission: AdmissionSection = field(default_factory=AdmissionSection)

    def to_dict(self) -> dict[str, Any]:
        raw = asdict(self)
        for section in raw.values():
            for key, value in section.items():
                if isinstance(value, tuple):
                    section[key] = list(value)
        return raw

    def canonical_bytes(self) -> bytes:
        """Canonical encoding: sorted keys, no whitespace, ints and floats already typed by validation."""
        return json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                          allow_nan=False).encode()

    @property
    def network_id(self) -> bytes:
        """The 32-byte network id carried in every message (`net`)."""
        return hashlib.sha256(self.canonical_bytes()).digest()

    def replace(self, **sections: dict[str, Any]) -> Genesis:
        """A new validated genesis with some fields changed, e.g. `g.replace(gossip={"codec": "int8"})`."""
        raw = self.to_dict()
        for name, changes in sections.items():
            if name not in raw:
                raise GenesisError(f"unknown section [{name}]; expected one of {sorted(raw)}")
            raw[name].update(changes)
        return parse_genesis(raw)


_SECTIONS: dict[str, type] = {
    "network": NetworkSection,
    "model": ModelSection,
    "adapter": AdapterSection,
    "gossip": GossipSection,
    "aggregation": AggregationSection,
    "training": TrainingSection,
    "admission": AdmissionSection,
}

_CHOICES: dict[tuple[str, str], tuple[str, ...]] = {
    ("model", "workload"): tuple(WORKLOADS),
    ("adapter", "scheme"): SCHEMES,
    ("adapter", "sb_init"): SB_INITS,
    ("gossip", "codec"): tuple(CODECS),
    ("training", "optimizer"): OPTIMIZERS,
}

# (section, key) -> (lower bound, upper bound), inclusive; None = unbounded.
_RANGES: dict[tuple[str, str], tuple[float | None, float | None]] = {
    ("network", "protocol"): (PROTOCOL_VERSION, PROTOCOL_VERSION),
    ("network", "seed"): (0, 2**63 - 1),
    ("adapter", "rank"): (1, 4096),
    ("adapter", "alpha"): (1e-6, 1e6),
    ("gossip", "topk_fraction"): (1e-6, 1.0),
    ("gossip", "int8_chunk"): (16, 1 << 20),
    ("gossip", "fanout"): (1, 1024),
    ("training", "lr"): (0.0, 10.0),
    ("training", "local_steps"): (0, 100_000),
    ("training", "batch_size"): (1, 1 << 20),
    ("training", "sam_rho"): (0.0, 10.0),
    ("training", "gossip_steps"): (1, 1000),
    ("training", "quasi_global_momentum"): (0.0, 0.99),
    ("training", "warmup_steps"): (0, 10_000_000),
    ("training", "decay_steps"): (0, 10_000_000),
    ("training", "lr_floor"): (0.0, 1.0),
    ("admission", "probation_rounds"): (0, 10_000),
}


def parse_genesis(raw: dict[str, Any]) -> Genesis:
    """Validate a genesis given as nested tables; every error names the field and what was expected."""
    try:
        genesis = Genesis(**parse_sections(raw, _SECTIONS, _CHOICES, _RANGES))
    except SchemaError as exc:
        raise GenesisError(*exc.problems) from exc
    for key in ("target_modules", "modules_to_save"):
        if not all(isinstance(v, str) and v for v in getattr(genesis.adapter, key)):
            raise GenesisError(f"adapter.{key}: expected a list of non-empty strings")
    _check_cross_fields(genesis)
    return genesis


def _check_cross_fields(genesis: Genesis) -> None:
    from robust import RULES, make  # local import: robust does not depend on peer

    if genesis.aggregation.rule not in RULES:
        raise GenesisError(f"aggregation.rule: {genesis.aggregation.rule!r} is not one of {sorted(RULES)}"
                           f"{did_you_mean([genesis.aggregation.rule], RULES)}")
    try:  # the rule itself checks its parameters; a peer would only find out at its first round
        make(genesis.aggregation.rule, **genesis.aggregation.params)
    except ValueError as exc:
        raise GenesisError(f"aggregation.params: {exc}") from exc
    builtin = WORKLOADS[genesis.model.workload].builtin_base
    if builtin is not None and genesis.model.base != builtin:
        raise GenesisError(f"model.base: workload {genesis.model.workload!r} builds its own base {builtin!r}, "
                           f"got {genesis.model.base!r}")
    if not genesis.adapter.target_modules:
        raise GenesisError("adapter.target_modules: expected at least one module name")
    if genesis.model.base_hash and (len(genesis.model.base_hash) != 64
                                    or any(c not in "0123456789abcdef" for c in genesis.model.base_hash)):
        raise GenesisError("model.base_hash: expected 64 lowercase hex digits (SHA-256) or \"\"")


def load_genesis(path: str | Path) -> Genesis:
    """Read and validate a genesis TOML file."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise GenesisError(f"cannot read genesis {path}: {exc.strerror or exc}") from exc
    except UnicodeDecodeError as exc:
        raise GenesisError(f"{path}: not UTF-8 text (byte {exc.start}); a genesis is a TOML file") from exc
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise GenesisError(f"{path}: not valid TOML: {exc}") from exc
    try:
        return parse_genesis(raw)
    except GenesisError as exc:
        raise GenesisError(f"{path}: {exc}") from exc


def default_genesis_text() -> str:
    """The documented default genesis, as `loragossip genesis new` writes it."""
    return resources.files("peer").joinpath("genesis_default.toml").read_text(encoding="utf-8")


def to_toml(genesis: Genesis) -> str:
    """Serialise a genesis to TOML (no comments); `load_genesis` of the result gives the same id."""
    lines: list[str] = []
    for section, values in genesis.to_dict().items():
        lines.append(f"[{section}]")
        for key, value in values.items():
            lines.append(f"{key} = {_toml_value(value)}")
        lines.append("")
    return "\n".join(lines)


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{k} = {_toml_value(v)}" for k, v in value.items()) + " }"
    raise GenesisError(f"cannot write {value!r} to TOML")
