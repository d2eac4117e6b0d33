"""Simulated attackers: what a model attacker knows when it builds the model it sends."""

from __future__ import annotations

import pytest
import torch

from sim.adversaries import ModelPoisoner
from sim.config import parse_config
from sim.runner import Simulation


def _lock_step_alie(rounds: int = 3, omniscient: bool = False) -> Simulation:
    return Simulation(parse_config({
        "run": {"name": "listen", "seed": 3, "mode": "sync", "rounds": rounds, "eval_every": rounds},
        "peers": {"count": 8}, "topology": {"graph": "regular", "degree": 3},
        "link": {"latency": 0.2, "jitter": 0.0},
        "genesis": {"gossip": {"codec": "fp32"}, "training": {"local_steps": 2}},
        "attack": {"kind": "alie", "fraction": 0.25, "omniscient": omniscient}}), progress=False)


@pytest.mark.parametrize("omniscient", [False, True])
def test_a_lock_step_attacker_builds_its_model_from_this_rounds_honest_models(omniscient):
    sim = _lock_step_alie(omniscient=omniscient)
    by_index = {p.index: p for p in sim.peers}
    seen: list[tuple[torch.Tensor, torch.Tensor]] = []
    for peer in sim.peers:
        behaviour = peer.node.behaviour
        if not isinstance(behaviour, ModelPoisoner):
            continue
        # its honest neighbours, or every honest peer (non-neighbours included) when omniscient
        seen_by = range(len(sim.peers)) if omniscient else sim.live.neighbours(peer.index)
        honest = [j for j in seen_by if j not in sim.adversarial]
        attack = behaviour.attack

        def recording(start, trained, neighbours, generator, honest=honest, attack=attack):
            # the honest peers have sent and are waiting for the attacker: their adapters still
            # hold exactly the models they sent this round
            sent = torch.stack([by_index[j].node.adapter.get_vector() for j in honest])
            seen.append((neighbours.clone(), sent))
            return attack(start, trained, neighbours, generator)

        behaviour.attack = recording
    sim.run()
    assert len(seen) == 3 * len(sim.adversarial)
    for neighbours, sent in seen:
        assert neighbours.shape == sent.shape and neighbours.shape[0] >= 2
        # the same models (the attacker stacks them by sender id, the test by index)
        assert torch.allclose(_by_first_value(neighbours), _by_first_value(sent), atol=1e-6)


def _by_first_value(models: torch.Tensor) -> torch.Tensor:
    return models[torch.argsort(models[:, 0])]


def test_omniscience_is_refused_where_it_has_no_meaning():
    from sim.config import ConfigError

    base = {"run": {"name": "x", "mode": "sync", "rounds": 2}, "attack": {"kind": "label_flip", "omniscient": True}}
    with pytest.raises(ConfigError, match="omniscient is for model attacks"):
        parse_config(base)
    with pytest.raises(ConfigError, match="lock-step"):
        parse_config({"run": {"name": "x", "mode": "async"}, "attack": {"kind": "alie", "omniscient": True}})


def test_a_data_attacks_floor_run_is_the_no_attack_run_with_the_attacks_inputs_scored():
    """At attack.fraction = 0 a backdoor has no adversary; the run is the clean one, and its attack
    success is how often clean models already send triggered inputs to the target (the floor a
    backdoor's success is read against)."""
    from sim.batched.engine import BatchedSimulation

    def run(attack: dict) -> dict:
        config = parse_config({"run": {"name": "floor", "seed": 5, "mode": "sync", "rounds": 4, "eval_every": 2},
                               "peers": {"count": 6}, "topology": {"graph": "regular", "degree": 2},
                               "genesis": {"training": {"local_steps": 2}}, "attack": attack})
        return BatchedSimulation(config, progress=False).run()

    clean, floor = run({"kind": "none"}), run({"kind": "backdoor", "fraction": 0.0})
    assert floor["adversarial_peers"] == []
    assert floor["final_honest_mean_accuracy"] == clean["final_honest_mean_accuracy"]
    assert clean.get("attack_success_rate") is None
    assert 0.0 <= floor["attack_success_rate"] <= 1.0


def test_a_model_attack_at_fraction_zero_is_refused():
    from sim.config import ConfigError

    with pytest.raises(ConfigError, match="rounds to zero adversarial peers"):
        parse_config({"run": {"name": "x"}, "attack": {"kind": "alie", "fraction": 0.0}})
