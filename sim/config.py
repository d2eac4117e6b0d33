"""Experiment configuration: one TOML file, validated with errors that name the key.

Sections: [run] [peers] [topology] [link] [churn] [attack], plus [genesis], a table of
overrides applied to the default genesis (same sections as a genesis file), or
`genesis_file = "path.toml"` in [run]. See `examples/*.toml` for documented configs.
"""

from __future__ import annotations

import tomllib
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from peer.genesis import Genesis, GenesisError, load_genesis, parse_genesis
from peer.partition import PARTITIONERS
from peer.schema import SchemaError, parse_sections
from robust.attacks import MODEL_ATTACKS
from sim.churn_kinds import CHURN_KINDS
from topology.graphs import GRAPH_KINDS

ATTACKS = ("none", *MODEL_ATTACKS, "label_flip", "backdoor")
DATA_ATTACKS = ("label_flip", "backdoor")


class ConfigError(SchemaError):
    """A simulation config that cannot run as written."""


@dataclass(frozen=True)
class RunSection:
    name: str = "experiment"
    seed: int = 0
    mode: str = "async"            # async: peers at their own pace | sync: lock-step rounds
    duration: float = 300.0        # async: virtual seconds
    rounds: int = 30               # sync and baselines: rounds
    eval_every: float = 10.0       # async: virtual seconds between evaluations; sync: rounds
    baseline: str = "none"         # none | fedavg | isolated | central (the ceiling: one model, all honest data)
    engine: str = "auto"           # auto (= batched) | batched | nodes (every peer a real PeerNode)
    genesis_file: str = ""
    data: str = ""                 # data folder for the sst2 workload
    validation: float = 0.0        # > 0: hold out this share of the training pool and score on it, not the test set


@dataclass(frozen=True)
class PeersSection:
    count: int = 16
    partition: str = "iid"         # iid | dirichlet | pathological | sampled (overlapping IID shards)
    alpha: float = 0.5
    classes_per_peer: int = 2
    samples_per_peer: int = 16     # sampled: each peer's shard
    speed_min: float = 1.0         # relative compute speed drawn uniformly from [speed_min, speed_max]
    speed_max: float = 1.0
    step_seconds: float = 0.05     # virtual seconds per local step at speed 1
    init: str = "shared"           # shared: trainable part from the genesis | own: from each peer's seed


@dataclass(frozen=True)
class TopologySection:
    graph: str = "regular"
    degree: int = 4                # regular, watts_strogatz (k)
    p: float = 0.1                 # erdos_renyi, watts_strogatz
    m: int = 2                     # barabasi_albert
    path: str = ""                 # graph = "file"
    repair: bool = True            # rewire to random online peers after churn, or stay broken


@dataclass(frozen=True)
class LinkSection:
    latency: float = 0.05
    jitter: float = 0.02
    bandwidth: float = 12.5e6
    loss: float = 0.0


@dataclass(frozen=True)
class ChurnSection:
    kind: str = "none"             # none | sessions | mass | leave_return | targeted | partition | trace
    fraction: float = 0.5          # mass / leave_return / targeted: share of peers affected
    start: float = 0.0             # mass / partition / targeted: when (virtual seconds); 0 = a third of the run
    end: float = 0.0               # mass / partition: until when; 0 = two thirds of the run
    distribution: str = "exponential"  # sessions
    mean_session: float = 120.0
    mean_offline: float = 60.0
    shape: float = 1.5
    crash_fraction: float = 0.5
    strategy: str = "degree"       # targeted: degree | random
    groups: int = 2                # partition
    trace: str = ""                # trace: CSV time,peer,event


@dataclass(frozen=True)
class AttackSection:
    kind: str = "none"
    fraction: float = 0.25         # share of identities that are adversarial (0 with a data attack: its floor run)
    sybil: bool = False            # one adversary behind all adversarial identities (near-duplicate clones)
    jitter: float = 0.01           # sybil clones: relative noise between clones
    source: int = 1                # label_flip: this class ...
    target: int = 7                # ... becomes this one; backdoor: the trigger's target class
    params: dict[str, Any] = field(default_factory=dict)  # model attacks: scale, sigma, z, epsilon; data: boost
    omniscient: bool = False       # model attacks, lock-step: read every honest peer's model, not the neighbours'


SECTIONS = {"run": RunSection, "peers": PeersSection, "topology": TopologySection, "link": LinkSection,
             "churn": ChurnSection, "attack": AttackSection}
_CHOICES = {
    ("run", "mode"): ("async", "sync"),
    ("run", "baseline"): ("none", "fedavg", "isolated", "central"),
    ("run", "engine"): ("auto", "batched", "nodes"),
    ("peers", "partition"): tuple(PARTITIONERS),
    ("peers", "init"): ("shared", "own"),
    ("topology", "graph"): GRAPH_KINDS,
    ("churn", "kind"): tuple(CHURN_KINDS),
    ("churn", "distribution"): ("exponential", "weibull", "pareto", "lognormal"),
    ("churn", "strategy"): ("degree", "random"),
    ("attack", "kind"): ATTACKS,
}
_RANGES = {
    ("run", "duration"): (1e-3, None), ("run", "rounds"): (1, None), ("run", "eval_every"): (1e-3, None),
    ("run", "validation"): (0.0, 0.9),
    ("peers", "count"): (1, 100_000), ("peers", "alpha"): (1e-6, None), ("peers", "classes_per_peer"): (1, None),
    ("peers", "samples_per_peer"): (1, None),
    ("peers", "speed_min"): (1e-3, None), ("peers", "speed_max"): (1e-3, None), ("peers", "step_seconds"): (0, None),
    ("topology", "degree"): (1, None), ("link", "latency"): (0, None), ("link", "jitter"): (0, None),
    ("link", "bandwidth"): (1, None), ("link", "loss"): (0, 1), ("churn", "fraction"): (0, 1),
    ("attack", "fraction"): (0, 0.99), ("attack", "jitter"): (0, None),
}


@dataclass(frozen=True)
class SimConfig:
    run: RunSection
    peers: PeersSection
    topology: TopologySection
    link: LinkSection
    churn: ChurnSection
    attack: AttackSection
    genesis: Genesis
    base_dir: Path = Path(".")

    def to_dict(self) -> dict[str, Any]:
        out = {name: asdict(getattr(self, name)) for name in SECTIONS}
        out["genesis"] = self.genesis.to_dict()
        return out

    def engine(self) -> str:
        """The engine that runs this config: "auto" is the batched engine, tested to give the nodes
        engine's results in both modes."""
        return "nodes" if self.run.engine == "nodes" else "batched"

    def resolve(self, path: str) -> Path:
        """A path from the config, relative to the config file."""
        return (self.base_dir / path).resolve()


def parse_config(raw: dict[str, Any], base_dir: Path = Path(".")) -> SimConfig:
    raw = dict(raw)
    genesis_overrides = raw.pop("genesis", {})
    problems: list[str] = []  # the simulator's sections and the genesis: every problem at once
    try:
        sections = parse_sections(raw, SECTIONS, _CHOICES, _RANGES)
    except SchemaError as exc:
        problems.extend(exc.problems)
        sections = None
    genesis_file = sections["run"].genesis_file if sections else ""  # a bad [run]: check the overrides alone
    try:
        if genesis_file:
            genesis = load_genesis(base_dir / genesis_file)
            if genesis_overrides:
                genesis = genesis.replace(**genesis_overrides)
        else:
            genesis = parse_genesis(genesis_overrides)
    except GenesisError as exc:
        problems.extend(f"genesis: {p}" if p.startswith(("[", "unknown")) else f"genesis.{p}" for p in exc.problems)
    if problems:
        raise ConfigError(*problems)
    config = SimConfig(genesis=genesis, base_dir=base_dir, **sections)
    _check(config)
    return config


def _check(config: SimConfig) -> None:
    if config.peers.speed_min > config.peers.speed_max:
        raise ConfigError("peers.speed_min must not exceed peers.speed_max")
    if config.run.mode == "sync" and config.churn.kind != "none":
        raise ConfigError("run.mode = 'sync' runs lock-step rounds and cannot have churn; use mode = 'async'")
    if config.attack.kind == "backdoor" and config.genesis.model.workload != "digits":
        raise ConfigError("attack.kind = 'backdoor' uses a pixel trigger and needs model.workload = 'digits'")
    if config.attack.omniscient and (config.attack.kind not in MODEL_ATTACKS or config.run.mode != "sync"):
        raise ConfigError("attack.omniscient is for model attacks (sign_flip, gaussian, alie, ipm) in lock-step "
                          "runs (run.mode = 'sync'): it reads every honest model of the gossip step")
    if (config.attack.kind != "none" and round(config.attack.fraction * config.peers.count) < 1
            and not (config.attack.fraction == 0 and config.attack.kind in DATA_ATTACKS)):
        raise ConfigError("attack.fraction × peers.count rounds to zero adversarial peers (attack.fraction = 0 "
                          "with a data attack is its floor run: no adversary, the attack's inputs scored on "
                          "clean models)")
    if config.topology.graph == "file" and not config.topology.path:
        raise ConfigError("topology.graph = 'file' needs topology.path")
    if config.churn.kind == "trace" and not config.churn.trace:
        raise ConfigError("churn.kind = 'trace' needs churn.trace (a CSV time,peer,event)")
    _check_attack_params(config.attack)
    if config.genesis.model.workload == "sst2" and not config.run.data:
        raise ConfigError("model.workload = 'sst2' needs run.data (a folder with train.tsv and dev.tsv)")


def _check_attack_params(attack: AttackSection) -> None:
    """The attack's own constructor judges `attack.params`, now rather than after the workload is built."""
    if attack.kind in MODEL_ATTACKS:
        try:
            MODEL_ATTACKS[attack.kind](**attack.params)
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"attack.params for {attack.kind!r}: {exc}; "
                              f"set them with --set 'attack.params={{ ... }}'") from exc
    elif attack.kind in DATA_ATTACKS:
        unknown = set(attack.params) - {"boost"}
        if unknown:
            raise ConfigError(f"attack.params for {attack.kind!r}: unknown {sorted(unknown)}; data attacks take boost")
        if not float(attack.params.get("boost", 1.0)) > 0:
            raise ConfigError("attack.params.boost must be > 0")


def parse_assignment(assignment: str) -> tuple[str, Any]:
    """`section.key=value` (value in TOML syntax; a bare word is a string) as (path, value), e.g.
    `genesis.aggregation.rule=krum`, `peers.count=32`, `attack.params={ scale = 4.0 }`."""
    if "=" not in assignment:
        raise ConfigError(f"--set {assignment!r}: expected section.key=value")
    path, text = assignment.split("=", 1)
    try:
        return path.strip(), tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return path.strip(), text


def apply_override(raw: dict[str, Any], assignment: str) -> None:
    """Apply a `--set section.key=value` to a raw config table."""
    path, value = parse_assignment(assignment)
    set_value(raw, path, value, where=f"--set {assignment!r}")


def set_value(raw: dict[str, Any], path: str, value: Any, *, where: str) -> None:
    """Set the dotted `path` (`section.key`, `genesis.section.key`) of a raw config table to an
    already parsed value; `where` names the source in errors (a --set, a sweep axis)."""
    keys = path.split(".")
    if len(keys) < 2 or not all(keys):
        raise ConfigError(f"{where}: expected section.key, got {path!r}")
    table = raw
    for key in keys[:-1]:
        table = table.setdefault(key, {})
        if not isinstance(table, dict):
            raise ConfigError(f"{where}: {key} is not a table")
    table[keys[-1]] = value


def read_toml(path: Path, what: str = "config") -> dict[str, Any]:
    """A TOML file as a table, with one-line errors for a missing or malformed file."""
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"cannot read {what} {path}: {exc.strerror or exc}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from exc


def load_config(path: str | Path, overrides: list[str] | tuple[str, ...] = ()) -> SimConfig:
    path = Path(path)
    raw = read_toml(path)
    for assignment in overrides:
        apply_override(raw, assignment)
    try:
        return parse_config(raw, path.parent)
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from exc
