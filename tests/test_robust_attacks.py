import torch

from robust.attacks import ALIE, Backdoor, GaussianNoise, InnerProductManipulation, LabelFlip, SignFlip, sybil_clones

GEN = torch.Generator().manual_seed(0)


def test_model_attacks_act_on_models():
    start, trained = torch.tensor([1.0, 1.0]), torch.tensor([2.0, -1.0])
    neighbours = torch.tensor([[1.0, 0.0], [3.0, 0.0]])
    assert torch.equal(SignFlip(2.0)(start, trained, neighbours, GEN), torch.tensor([-1.0, 5.0]))
    # IPM: the opposite of where the neighbours went from the attacker's start, ε times
    assert torch.equal(InnerProductManipulation(0.5)(start, trained, neighbours, GEN), torch.tensor([0.5, 1.5]))
    noisy = GaussianNoise(1.0)(torch.zeros(10000), torch.zeros(10000), neighbours, GEN)
    assert abs(float(noisy.std()) - 1.0) < 0.05
    # ALIE: the neighbours' per-coordinate mean minus z std (std of [1, 3] is √2)
    assert torch.allclose(ALIE(z=1.0)(start, trained, neighbours, GEN), torch.tensor([2.0 - 2 ** 0.5, 0.0]))


def test_alie_z_formula_and_too_little_knowledge():
    alie = ALIE(n=10, f=2, z=None)
    # s = floor(10/2 + 1) - 2 = 4, z = Φ⁻¹(0.6) ≈ 0.2533
    assert abs(alie.z_value() - 0.2533) < 1e-3
    start, trained = torch.zeros(2), torch.tensor([1.0, 1.0])
    one = torch.tensor([[3.0, 1.0]])
    # one neighbour heard: its model and the attacker's own form the sample
    assert torch.allclose(alie(start, trained, one, GEN), torch.tensor([2.0 - 0.2533 * 2 ** 0.5, 1.0]), atol=1e-3)
    assert torch.equal(alie(start, trained, torch.empty(0, 2), GEN), trained)  # nothing to hide in


def test_label_flip_and_backdoor():
    x, y = torch.zeros(4, 64), torch.tensor([1, 2, 1, 7])
    assert torch.equal(LabelFlip(1, 7)(x, y)[1], torch.tensor([7, 2, 7, 7]))
    assert torch.equal(LabelFlip(None)(x, y)[1], torch.tensor([8, 7, 8, 2]))
    bx, by = Backdoor(target=0, fraction=0.5)(x, y)
    assert torch.equal(by, torch.tensor([0, 0, 1, 7])) and float(bx[0, 8]) == 1.0 and float(bx[2, 8]) == 0.0
    tx, ty = Backdoor(target=7).success_inputs(x, y)
    assert tx.shape[0] == 3 and bool((tx[:, 0] == 1).all()) and torch.equal(ty, torch.tensor([1, 2, 1]))


def test_sybil_clones_are_near_duplicates_not_copies():
    v = torch.randn(100, generator=GEN)
    clones = sybil_clones(v, 5, 0.01, GEN)
    assert clones.shape == (5, 100)
    assert len({c.numpy().tobytes() for c in clones}) == 5
    cos = torch.nn.functional.cosine_similarity(clones[0], clones[1], dim=0)
    assert float(cos) > 0.999


def test_the_backdoor_trigger_stays_in_the_range_of_the_digits_pixels():
    """A trigger brighter than any training pixel is an input clean models answer at random."""
    from peer.workloads.digits import load_pool

    x = load_pool(0)[1].features["x"]
    assert float(Backdoor().trigger(x).max()) == float(x.max()) == 1.0
