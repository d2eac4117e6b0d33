import torch

from peer.sam import sam_step


def test_sam_step_on_a_quadratic_moves_as_the_formula_says():
    """f(w) = ½ wᵀAw: w' = w - η·A(w + ρ·Aw/|Aw|)."""
    a = torch.tensor([[3.0, 1.0], [1.0, 2.0]])
    w0 = torch.tensor([1.0, -2.0])
    w = torch.nn.Parameter(w0.clone())
    lr, rho = 0.1, 0.05
    sam_step([w], lambda: 0.5 * w @ a @ w, torch.optim.SGD([w], lr=lr), rho)
    g = a @ w0
    expected = w0 - lr * (a @ (w0 + rho * g / g.norm()))
    assert torch.allclose(w.detach(), expected, atol=1e-6)


def test_adaptive_sam_scales_the_perturbation_by_the_weights():
    a = torch.eye(2)
    w0 = torch.tensor([2.0, 0.5])
    w = torch.nn.Parameter(w0.clone())
    lr, rho = 0.1, 0.1
    sam_step([w], lambda: 0.5 * w @ a @ w, torch.optim.SGD([w], lr=lr), rho, adaptive=True)
    g = w0
    e = rho * w0 * w0 * g / (w0.abs() * g).norm()
    assert torch.allclose(w.detach(), w0 - lr * (w0 + e), atol=1e-6)


def test_rho_zero_is_plain_sgd():
    w = torch.nn.Parameter(torch.tensor([1.0, 1.0]))
    sam_step([w], lambda: (w**2).sum(), torch.optim.SGD([w], lr=0.25), 0.0)
    assert torch.allclose(w.detach(), torch.tensor([0.5, 0.5]))
