"""Simulated attackers: what a model attacker knows when it builds the model it sends."""

from __future__ import annotations

import torch

from sim.adversaries import ModelPoisoner
from sim.config import parse_config
from sim.runner import Simulation


def _lock_step_alie(rounds: int = 3) -> Simulation:
    return Simulation(parse_config({
        "run": {"name": "listen", "seed": 3, "mode": "sync", "rounds": rounds, "eval_every": rounds},
        "peers": {"count": 8}, "topology": {"graph": "regular", "degree": 3},
        "link": {"latency": 0.2, "jitter": 0.0},
        "genesis": {"gossip": {"codec": "fp32"}, "training": {"local_steps": 2}},
        "attack": {"kind": "alie", "fraction": 0.25}}), progress=False)


def test_a_lock_step_attacker_builds_its_model_from_this_rounds_honest_models():
    sim = _lock_step_alie()
    by_index = {p.index: p for p in sim.peers}
    seen: list[tuple[torch.Tensor, torch.Tensor]] = []
    for peer in sim.peers:
        behaviour = peer.node.behaviour
        if not isinstance(behaviour, ModelPoisoner):
            continue
        honest = [j for j in sim.live.neighbours(peer.index) if j not in sim.adversarial]
        attack = behaviour.attack

        def recording(start, trained, neighbours, generator, honest=honest, attack=attack):
            # the honest neighbours have sent and are waiting for the attacker: their adapters still
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
