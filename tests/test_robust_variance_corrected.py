import torch

from gossip.spec import AdapterSpec, TensorSpec
from robust import Meta, make


def _xavier(gen, fan_in, fan_out):
    bound = (6 / (fan_in + fan_out)) ** 0.5
    return (torch.rand(fan_out * fan_in, generator=gen) * 2 - 1) * bound


def test_restores_the_variance_of_independent_xavier_tensors():
    gen = torch.Generator().manual_seed(0)
    spec = AdapterSpec((TensorSpec("l1", (128, 64)), TensorSpec("l2", (10, 128))))
    models = torch.stack([torch.cat([_xavier(gen, 64, 128), _xavier(gen, 128, 10)]) for _ in range(9)])
    own, others = models[0], models[1:]
    plain = make("mean")(own, others, Meta())
    corrected = make("variance_corrected")(own, others, Meta(spec=spec))
    for _, part in spec.slices():
        target = others[:, part].var(dim=1).mean()
        assert float(plain[part].var()) < 0.3 * float(target)  # averaging collapses the spread
        assert abs(float(corrected[part].var()) / float(target) - 1) < 0.01


def test_conservative_average_and_targets():
    own, others = torch.tensor([0.0, 2.0]), torch.tensor([[4.0, 6.0], [4.0, 6.0]])
    out = make("variance_corrected", target="own")(own, others, Meta())
    # a = 0.5·own + 0.5·mean = [2, 4]; the own spread (var 2) equals a's: unchanged
    assert torch.allclose(out, torch.tensor([2.0, 4.0]), atol=1e-3)


def test_zero_tensors_stay_zero():
    """A fresh LoRA B is all zeros: nothing to restore, nothing invented."""
    out = make("variance_corrected")(torch.zeros(16), torch.zeros(3, 16), Meta())
    assert torch.equal(out, torch.zeros(16))
