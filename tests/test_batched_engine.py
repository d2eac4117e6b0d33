"""The batched engine against the nodes engine: same training, same codec values, same results."""

from __future__ import annotations

import csv

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from gossip.codecs import make_codec, through_wire
from gossip.payloads import decode_update
from gossip.replicas import ReplicaReceiver, ReplicaSender
from gossip.spec import AdapterSpec, TensorSpec
from peer.adapters import Adapter
from peer.genesis import Genesis
from peer.partition import partition
from peer.trainer import Trainer
from peer.workloads import build_workload
from sim.batched.engine import BatchedSimulation
from sim.batched.replicas import BatchedReplicaSender
from sim.batched.stacked import build_stacked
from sim.batched.training import BatchedTrainer
from sim.config import parse_config
from sim.experiment import pick_engine, run_experiment
from sim.runner import Simulation

CPU = torch.device("cpu")


def _sync(codec: str, rule: str, **sections) -> dict:
    raw = {"run": {"name": "eq", "seed": 5, "mode": "sync", "rounds": 6, "eval_every": 2},
           "peers": {"count": 8, "partition": "dirichlet", "alpha": 0.5},
           "topology": {"graph": "regular", "degree": 3}, "link": {"jitter": 0.0},
           "genesis": {"gossip": {"codec": codec}, "aggregation": {"rule": rule}, "training": {"local_steps": 5}}}
    _merge(raw, sections)
    return raw


def _merge(into: dict, values: dict) -> None:
    """`values` into `into`, table by table: a section's keys add to the defaults' keys of that
    section instead of replacing the whole section (a `genesis` override keeps codec and rule)."""
    for key, value in values.items():
        if isinstance(value, dict) and isinstance(into.get(key), dict):
            _merge(into[key], value)
        else:
            into[key] = value


IRREGULAR = {"graph": "barabasi_albert", "m": 1}  # a tree with hubs: degrees 1 to 5


SYBIL_FLIP = {"kind": "label_flip", "fraction": 0.25, "sybil": True}  # one poisoner and its clone


@pytest.mark.parametrize(("codec", "rule", "sections"), [
    ("fp32", "mean", {}), ("fp16", "median", {}), ("int8", "sybilwall", {}), ("fp16", "trimmed_mean", {}),
    ("fp16", "foolsgold", {}), ("topk", "mean", {}), ("topk+int8", "median", {}),  # per-neighbour replicas
    ("fp32", "metropolis", {"topology": IRREGULAR}),  # the node learns its neighbours' degrees from their updates
    ("fp16", "mean", {"attack": SYBIL_FLIP}),  # clones send before training: what the leader last sent
    ("fp16", "krum", {}), ("fp16", "multikrum", {}), ("fp16", "centered_clipping", {}),  # batched Gram, clipping
    ("fp16", "geometric_median", {}),
    # attackers send after hearing. fp32: with fp16, a last-bit training difference between the engines
    # (3e-8, which differs between machines) flips one fp16 step of a heard model (1.2e-4) now and
    # then, and ALIE's z = 5 times that σ reaches the honest peers: 5.7e-4 after six rounds on one machine
    ("fp32", "median", {"attack": {"kind": "alie", "fraction": 0.25}}),
    ("fp32", "median", {"attack": {"kind": "alie", "fraction": 0.25, "omniscient": True}}),  # every honest model
    ("fp32", "mean", {"attack": {"kind": "ipm", "fraction": 0.25}, "link": {"latency": 0.3}}),
    ("fp32", "mean", {"genesis": {"training": {"local_steps": 5, "quasi_global_momentum": 0.8}}}),
    ("fp16", "median", {"genesis": {"training": {"local_steps": 5, "quasi_global_momentum": 0.5,  # round momentum
                                                 "gossip_steps": 2, "sam_rho": 0.05}},         # after Q = 2 steps
                        "attack": SYBIL_FLIP}),  # clones do not train: no momentum of their own
])
def test_lock_step_runs_agree_with_the_nodes_engine(codec, rule, sections):
    config = parse_config(_sync(codec, rule, **sections))
    nodes, batched = Simulation(config, progress=False), BatchedSimulation(config, progress=False)
    a, b = nodes.run(), batched.run()
    reference = torch.stack([p.node.adapter.get_vector() for p in nodes.peers])
    relative = (reference - batched.trainer.vectors).norm(dim=1) / reference.norm(dim=1)
    # Weiszfeld near a candidate divides by a distance close to ν: training's last-bit differences
    # grow to 6e-5..1.3e-4 in six rounds (measured), so the geometric median gets a wider bound
    assert float(relative.max()) < (5e-4 if rule == "geometric_median" else 1e-4)
    rows_a, rows_b = nodes.metrics.rows, batched.metrics.rows
    assert len(rows_a) == len(rows_b) == 8 * 4
    for x, y in zip(rows_a, rows_b, strict=True):
        assert abs(x["accuracy"] - y["accuracy"]) <= 1e-3
        assert (x["time"], x["round"], x["bytes_sent"], x["bytes_received"]) == \
               (y["time"], y["round"], y["bytes_sent"], y["bytes_received"])  # real encoded sizes, same clock
    assert a["engine"] == "nodes" and b["engine"] == "batched"
    assert abs(a["final_honest_mean_accuracy"] - b["final_honest_mean_accuracy"]) <= 1e-3


ASYNC = {"mode": "async", "duration": 30.0, "eval_every": 5.0}
SPEEDS = {"speed_min": 0.5, "speed_max": 1.5}  # rounds of different lengths: windows close short


JITTER = {"jitter": 0.02}  # the simulator's default link


@pytest.mark.parametrize(("codec", "rule", "sections"), [
    ("fp32", "mean", {}),
    ("fp32", "mean", {"link": JITTER}),
    ("fp32", "median", {"genesis": {"gossip": {"fanout": 3}}, "link": JITTER}),  # every neighbour: close by count
    ("fp32", "mean", {"attack": {"kind": "sign_flip", "fraction": 0.25}, "link": {**JITTER, "loss": 0.1}}),
    ("fp16", "mean", {"link": JITTER}), ("topk", "median", {"link": JITTER}),  # quantising codecs: see below
    # peers leave at 10 s, on the evaluation grid, and return at 20 s: what a peer did in the
    # tick before it left still happened
    ("fp32", "mean", {"link": JITTER, "churn": {"kind": "leave_return", "fraction": 0.5}}),
    ("fp32", "mean", {"link": JITTER, "churn": {"kind": "sessions", "mean_session": 8.0, "mean_offline": 4.0}}),
    ("fp32", "mean", {"link": JITTER, "churn": {"kind": "partition", "start": 7.0, "end": 19.0}}),
    # history gossip: a node's rule has taken the records that reached it before it sends or merges
    ("fp32", "sybilwall", {"link": JITTER}), ("int8", "sybilwall", {"link": JITTER, "attack": SYBIL_FLIP}),
    ("fp32", "foolsgold", {"link": JITTER, "attack": SYBIL_FLIP}),
    # clones do not train: each window opens the instant the last one closed, and a newer update
    # from a neighbour replaces the older one it held (examples/sybil.toml, smaller)
    ("fp32", "mean", {"link": JITTER, "peers": {"count": 16, "partition": "iid"}, "topology": {"degree": 6},
                      "genesis": {"gossip": {"fanout": 3}}, "attack": {**SYBIL_FLIP, "fraction": 0.25}}),
])
def test_async_runs_agree_with_the_nodes_engine(codec, rule, sections):
    """Async time in ticks batches the work, but every event keeps its exact time, and a frame's
    jitter and loss are drawn by its place on its link, not by the turn it was sent in: the
    engines run the same rounds at the same virtual instants, send the same bytes and, in fp32,
    end with the same models. A quantising codec turns the batched training's last-bit
    differences into whole rounding steps now and then, so there only the timing is exact and
    the accuracy close."""
    sections = {"peers": {"count": 8, **SPEEDS}, "run": ASYNC, "genesis": {"gossip": {"fanout": 2}}} | sections
    config = parse_config(_sync(codec, rule, **sections))
    nodes, batched = Simulation(config, progress=False), BatchedSimulation(config, progress=False)
    a, b = nodes.run(), batched.run()
    assert a["peer_rounds"] == b["peer_rounds"] > 8 * 10
    assert a["updates_per_merge"] == b["updates_per_merge"]
    for x, y in zip(nodes.metrics.rows, batched.metrics.rows, strict=True):
        assert (x["time"], x["round"], x["bytes_sent"], x["bytes_received"]) == \
               (y["time"], y["round"], y["bytes_sent"], y["bytes_received"])
    if codec != "fp32":
        assert abs(a["final_honest_mean_accuracy"] - b["final_honest_mean_accuracy"]) <= 0.02
        return
    reference = torch.stack([p.node.adapter.get_vector() for p in nodes.peers])
    relative = (reference - batched.trainer.vectors).norm(dim=1) / reference.norm(dim=1)
    assert float(relative.max()) < 1e-4  # measured 3e-7 to 1.3e-5 after 30 s
    for x, y in zip(nodes.metrics.rows, batched.metrics.rows, strict=True):
        assert abs(x["accuracy"] - y["accuracy"]) <= 1e-3


@pytest.mark.parametrize("scheme", ["ffa", "sb", "lora"])
@pytest.mark.parametrize(("optimizer", "rho", "schedule"), [
    ("sgd", 0.0, {}), ("adamw", 0.0, {}), ("adamw", 0.05, {}),
    ("adamw", 0.0, {"warmup_steps": 3, "decay_steps": 6, "lr_floor": 0.2}),  # warm-up, decay and floor in 12 steps
])
def test_one_batched_step_is_each_peers_own_step(scheme, optimizer, rho, schedule):
    genesis = Genesis().replace(adapter={"scheme": scheme},
                                training={"optimizer": optimizer, "sam_rho": rho, "batch_size": 16, **schedule})
    workload = build_workload(genesis)
    shares = partition(workload.train.labels.numpy(), 4, "iid", seed=0)
    shares[3] = shares[3][:5]  # smaller than the batch: padded, zero weight
    trainers = [Trainer(Adapter(workload.build_base(), genesis), workload.train.subset(s), genesis.training, CPU,
                        100 + i) for i, s in enumerate(shares)]
    batched = BatchedTrainer(build_stacked(workload.build_base(), genesis, CPU), workload.train,
                             [torch.as_tensor(s) for s in shares], genesis.training, CPU, [100 + i for i in range(4)])
    for _ in range(3):
        for trainer in trainers:
            trainer.train_steps(4)
        batched.train_steps([0, 1, 2, 3], 4)
    reference = torch.stack([t.adapter.get_vector() for t in trainers])
    assert torch.allclose(batched.vectors, reference, rtol=1e-5, atol=1e-6)
    assert batched.shared_inputs  # an MLP: evaluation passes the test set once for all peers
    losses, accuracies = batched.evaluate([0, 1, 2, 3], workload.test)
    for i, trainer in enumerate(trainers):
        loss, accuracy = trainer.evaluate(workload.test)
        assert abs(float(losses[i]) - loss) < 1e-4 and abs(float(accuracies[i]) - accuracy) < 1e-6


def test_a_transformer_stacks_exactly_without_dropout():
    genesis = Genesis().replace(model={"workload": "text-tiny", "base": "tiny-bert"}, training={"batch_size": 8},
                                adapter={"target_modules": ["query", "value"], "modules_to_save": ["classifier"]})
    workload = build_workload(genesis)

    def no_dropout(model):
        for module in model.modules():
            if isinstance(module, torch.nn.Dropout):
                module.p = 0.0
        return model

    shares = partition(workload.train.labels.numpy(), 3, "iid", seed=1)
    trainers = [Trainer(Adapter(no_dropout(workload.build_base()), genesis), workload.train.subset(s),
                        genesis.training, CPU, 7 + i) for i, s in enumerate(shares)]
    batched = BatchedTrainer(build_stacked(no_dropout(workload.build_base()), genesis, CPU), workload.train,
                             [torch.as_tensor(s) for s in shares], genesis.training, CPU, [7, 8, 9])
    for trainer in trainers:
        trainer.train_steps(6)
    batched.train_steps([0, 1, 2], 6)
    reference = torch.stack([t.adapter.get_vector() for t in trainers])
    assert float(((batched.vectors - reference).norm(dim=1) / reference.norm(dim=1)).max()) < 1e-5
    assert not batched.shared_inputs  # embeddings feed residual paths: the test set is repeated per peer
    losses, _ = batched.evaluate([0, 1, 2], workload.test)
    for i, trainer in enumerate(trainers):
        assert abs(float(losses[i]) - trainer.evaluate(workload.test)[0]) < 1e-4


@given(st.sampled_from(["fp32", "fp16", "int8", "topk", "topk+int8"]), st.integers(1, 3000),
       st.sampled_from([16, 100, 1024]), st.floats(-30, 6), st.integers(0, 2**31 - 1),
       st.sampled_from([0.01, 0.3, 1.0]))
def test_batched_codec_values_are_the_real_decode(codec_name, n, chunk, log_scale, seed, fraction):
    codec = make_codec(codec_name, int8_chunk=chunk, topk_fraction=fraction)
    rows = torch.randn(3, n, generator=torch.Generator().manual_seed(seed)) * 10.0 ** log_scale
    expected = torch.stack([codec.decode(through_wire(codec.encode("t", row))) for row in rows])
    assert torch.equal(codec.received(rows), expected)


def test_async_runs_keep_the_output_contract(tmp_path):
    raw = _sync("fp16", "mean", run={"mode": "async", "duration": 20.0, "eval_every": 5.0, "engine": "batched"},
                churn={"kind": "mass", "fraction": 0.5, "start": 5.0, "end": 12.0},
                attack={"kind": "label_flip", "fraction": 0.25, "sybil": True})
    summary = run_experiment(parse_config(raw), tmp_path, progress=False)
    assert summary["engine"] == "batched" and summary["peer_rounds"] > 8 * 5
    assert summary["attack_success_rate"] is not None and summary["total_bytes_sent"] > 0
    with open(tmp_path / "metrics.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 8 * 5
    assert sum(int(r["online"]) for r in rows if float(r["time"]) == 10.0) == 4  # half the peers are away
    assert (tmp_path / "overview.png").exists()


def test_auto_takes_the_batched_engine_and_nodes_stays_on_request():
    assert pick_engine(parse_config(_sync("topk", "mean"))) is BatchedSimulation
    assert pick_engine(parse_config(_sync("fp16", "mean", run={"mode": "async"}))) is BatchedSimulation
    assert pick_engine(parse_config(_sync("fp16", "mean", run={"mode": "async", "engine": "nodes"}))) is Simulation


@pytest.mark.parametrize(("baseline", "momentum"), [("fedavg", 0.0), ("fedavg", 0.8), ("isolated", 0.0)])
def test_baselines_agree_with_the_nodes_engine(tmp_path, baseline, momentum):  # fedavg with momentum: FedAvgM
    def config(engine):
        return parse_config(_sync("fp16", "mean", run={"baseline": baseline, "engine": engine},
                                  attack={"kind": "sign_flip"},
                                  genesis={"training": {"local_steps": 5, "quasi_global_momentum": momentum}}))

    summaries = {engine: run_experiment(config(engine), tmp_path / engine, progress=False)
                 for engine in ("nodes", "batched")}
    assert [s["engine"] for s in summaries.values()] == ["nodes", "batched"]
    for key in ("final_honest_mean_accuracy", "final_honest_min_accuracy"):
        assert abs(summaries["nodes"][key] - summaries["batched"][key]) <= 1e-3
    rows = {engine: list(csv.DictReader((tmp_path / engine / "metrics.csv").read_text().splitlines()))
            for engine in summaries}
    assert len(rows["nodes"]) == len(rows["batched"]) == 8 * 4
    for x, y in zip(rows["nodes"], rows["batched"], strict=True):
        assert (x["time"], x["round"], x["peer"]) == (y["time"], y["round"], y["peer"])
        assert abs(float(x["accuracy"]) - float(y["accuracy"])) <= 1e-3


def test_the_central_ceiling_is_one_model_trained_on_every_honest_share_in_either_engine(tmp_path):
    def config(engine):
        return parse_config(_sync("fp16", "mean", run={"baseline": "central", "engine": engine},
                                  attack={"kind": "sign_flip"}))

    summaries = {engine: run_experiment(config(engine), tmp_path / engine, progress=False)
                 for engine in ("nodes", "batched")}
    rows = {engine: list(csv.DictReader((tmp_path / engine / "metrics.csv").read_text().splitlines()))
            for engine in summaries}
    assert [(r["round"], r["peer"]) for r in rows["nodes"]] == [("0", "0"), ("2", "0"), ("4", "0"), ("6", "0")]
    assert [r["accuracy"] for r in rows["nodes"]] == [r["accuracy"] for r in rows["batched"]]  # the same code
    assert summaries["nodes"]["peer_rounds"] == 6 * 6  # six honest peers' worth of steps, six rounds
    assert float(rows["nodes"][-1]["accuracy"]) > float(rows["nodes"][0]["accuracy"]) + 0.3  # it learns


@pytest.mark.parametrize("codec_name", ["fp16", "topk", "topk+int8"])
def test_batched_replicas_give_receivers_what_the_nodes_replicas_give_them(codec_name):
    """Three senders, changing targets, a missed message (forget) and keyframes every 4th message:
    every receiver reconstructs the same vector from both, and the same messages are deltas."""
    spec = AdapterSpec((TensorSpec("a", (20, 10)), TensorSpec("b", (50,))))
    codec = make_codec(codec_name, topk_fraction=0.1)
    nodes = [ReplicaSender(codec, spec, keyframe_every=4) for _ in range(3)]
    batched = BatchedReplicaSender(codec, spec, keyframe_every=4)
    receivers = {(engine, t): ReplicaReceiver() for engine in "nb" for t in range(5)}
    generator = torch.Generator().manual_seed(3)
    models = torch.randn(3, spec.numel, generator=generator)
    seq = 0
    for step in range(12):
        models = models + 0.05 * torch.randn(3, spec.numel, generator=generator)
        targets = [[(s + step + j) % 5 for j in range(2)] for s in range(3)]
        seqs = [[seq + 2 * s + j for j in range(2)] for s in range(3)]
        seq += 6
        updates = batched.updates([0, 1, 2], models, targets, seqs, [2, 2, 2])
        for s in range(3):
            bodies = nodes[s].bodies_for(targets[s], models[s], seqs[s], degree=2)
            for target, number, body, update in zip(targets[s], seqs[s], bodies, updates[s], strict=True):
                real = decode_update(body, spec, codec)
                assert (real.mode, real.base, real.degree) == (update.mode, update.base, update.degree)
                sender = bytes([s])
                assert torch.equal(receivers["n", target].apply(sender, number, real),
                                   receivers["b", target].apply(sender, number, update))
        if step == 5:
            nodes[1].forget(targets[1][0])
            batched.forget(1, targets[1][0])


@given(st.lists(st.integers(1, 64), max_size=40), st.integers(0, 2**40), st.integers(0, 2**20))
def test_a_history_message_is_counted_at_its_real_encoded_size(distances, seq, rnd):
    """Cached by record count: any distances give the size the real encoder and signer give."""
    from gossip import wire
    from gossip.identity import Identity
    from gossip.payloads import encode_history
    from robust.history import HistoryRecord
    from sim.batched.messages import MessageSizes

    spec = AdapterSpec((TensorSpec("a", (3, 5)), TensorSpec("b", (4,))))
    codec = make_codec("fp16")
    sizes = MessageSizes(b"n" * 32, spec, codec)
    records = [HistoryRecord(bytes([k]) * 32, d, torch.randn(spec.numel)) for k, d in enumerate(distances)]
    sizes.history([HistoryRecord(r.subject, 1, r.vector) for r in records], 0, 0)  # the count cached at other distances
    body = encode_history(records, spec, codec.keyframe)
    signer = Identity.from_seed(bytes([7]) * 32)
    real = wire.encode(wire.Envelope(kind="history", sender=signer.peer_id, seq=seq, round=rnd,
                                     t=1_700_000_000_000, body=body, net=b"n" * 32), signer)
    assert sizes.history(records, seq, rnd) == len(real)
