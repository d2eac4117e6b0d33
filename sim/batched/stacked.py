"""One frozen base, N adapters: a peft model whose trainable tensors are rows of one `[n, d]` matrix.

The model is built once (`peer.adapters.Adapter`, so frozen factors come from the genesis seed
exactly as every peer draws them). Each LoRA layer and each fully trained module is then
swapped for a stacked twin that reads peer p's trainable tensors from row p of the matrix:

    input  [n·b, ..., in]  ->  [n, b·..., in]        (peer-major, as the batch is laid out)
    ffa    y = W x + s · bmm(x Aᵀ, B_pᵀ)              A frozen and shared: one plain matmul
    sb     y = W x + s · bmm(x A₀ᵀ, R_pᵀ) Bᵀ          only the r×r core is per peer
    lora   y = W x + s · bmm(bmm(x, A_pᵀ), B_pᵀ)
    head   y = bmm(x, W_pᵀ) + b_p                      (`modules_to_save`, trained fully)

This is how multi-adapter serving batches many LoRA adapters over one base. The frozen base
runs once on the whole batch, so its weights exist once in memory. Per-peer gradients fall out
of one backward pass: the loss is the sum of the peers' own mean losses, and no peer's loss
depends on another peer's row.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch
from peft.tuners.lora import LoraLayer
from peft.utils import ModulesToSaveWrapper
from torch import nn

from gossip.spec import AdapterSpec
from peer.adapters import Adapter
from peer.genesis import Genesis


class StackingError(ValueError):
    """The model holds a trained module the batched engine cannot stack (only Linear layers can be)."""


class _Rows:
    """The `[n, d]` trainable rows the stacked layers read during one forward pass."""

    def __init__(self, spec: AdapterSpec) -> None:
        self.offsets = {name: (piece.start, piece.stop) for name, piece in spec.slices()}
        self.shapes = {t.name: t.shape for t in spec.tensors}
        self.current: torch.Tensor | None = None
        self.shared: int | None = None  # inputs per peer, when one copy of them stands for every peer

    def peers(self) -> int:
        if self.current is None:
            raise RuntimeError("a stacked model was called outside `StackedModel.rows(...)`")
        return self.current.shape[0]

    def spread(self, x: torch.Tensor) -> tuple[torch.Tensor, int]:
        """(x as [n or 1, b·..., in], leading size of the output): a layer that gets the one shared copy
        of the inputs (evaluation on a common test set) computes the frozen part once and broadcasts."""
        n = self.peers()
        if self.shared is not None and n > 1 and x.shape[0] == self.shared:
            return x.reshape(1, -1, x.shape[-1]), n * x.shape[0]
        return _per_peer(x, n), x.shape[0]

    def view(self, name: str) -> torch.Tensor:
        """Peer-major view `[n, *shape]` of one trainable tensor; no copy."""
        start, stop = self.offsets[name]
        return self.current[:, start:stop].view(self.peers(), *self.shapes[name])


def _per_peer(x: torch.Tensor, peers: int) -> torch.Tensor:
    return x.reshape(peers, -1, x.shape[-1])


class _StackedLora(nn.Module):
    """A peft LoRA Linear whose trained factors are per peer; the base layer and frozen factors are shared."""

    def __init__(self, layer: LoraLayer, prefix: str, rows: _Rows, scheme: str, scaling: float) -> None:
        super().__init__()
        self.base_layer = layer.get_base_layer()
        self.rows, self.scheme, self.scaling = rows, scheme, scaling
        lora_a, lora_b = layer.lora_A["default"], layer.lora_B["default"]
        if scheme == "ffa":
            self.register_buffer("frozen_a", lora_a.weight.detach())
            self.b_name = f"{prefix}.lora_B.default.weight"
        elif scheme == "sb":
            self.register_buffer("frozen_a", lora_a.parametrizations.weight[0].frozen_a.detach())
            self.register_buffer("frozen_b", lora_b.weight.detach())
            self.core_name = f"{prefix}.lora_A.default.parametrizations.weight.original"
        else:
            self.a_name = f"{prefix}.lora_A.default.weight"
            self.b_name = f"{prefix}.lora_B.default.weight"

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.base_layer(x)
        n = self.rows.peers()
        h, lead = self.rows.spread(x)
        h = h.to(out.dtype)
        if self.scheme == "ffa":
            low, up = h @ self.frozen_a.to(h.dtype).T, self.rows.view(self.b_name).transpose(1, 2).to(h.dtype)
        elif self.scheme == "sb":
            core = self.rows.view(self.core_name).transpose(1, 2).to(h.dtype)
            low = torch.matmul(h @ self.frozen_a.to(h.dtype).T, core)
            up = self.frozen_b.to(h.dtype).T.expand(n, -1, -1)
        else:
            low = torch.matmul(h, self.rows.view(self.a_name).transpose(1, 2).to(h.dtype))
            up = self.rows.view(self.b_name).transpose(1, 2).to(h.dtype)
        # out + s · low @ up in one fused kernel (no [n·b, out] temporaries for the product and the scaling)
        merged = torch.baddbmm(out.reshape(h.shape[0], -1, out.shape[-1]), low.expand(n, -1, -1), up,
                               alpha=self.scaling)
        return merged.reshape(lead, *out.shape[1:])


class _StackedLinear(nn.Module):
    """A fully trained Linear (`modules_to_save`), one weight and bias per peer."""

    def __init__(self, prefix: str, rows: _Rows, has_bias: bool) -> None:
        super().__init__()
        self.rows = rows
        self.w_name = f"{prefix}.modules_to_save.default.weight"
        self.b_name = f"{prefix}.modules_to_save.default.bias" if has_bias else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, lead = self.rows.spread(x)
        weight = self.rows.view(self.w_name).to(h.dtype)
        out = torch.matmul(h, weight.transpose(1, 2))
        if self.b_name is not None:
            out = out + self.rows.view(self.b_name).to(h.dtype)[:, None, :]
        return out.reshape(lead, *x.shape[1:-1], weight.shape[1])


class StackedModel:
    """The shared model and the spec of the flat vector every peer trains (the nodes engine's order)."""

    def __init__(self, model: nn.Module, spec: AdapterSpec, initial: torch.Tensor, rows: _Rows) -> None:
        self.model, self.spec = model, spec
        self.initial = initial  # the genesis trainable vector (what `peers.init = "shared"` starts from)
        self._rows = rows

    @contextlib.contextmanager
    def rows(self, matrix: torch.Tensor, shared: int | None = None) -> Iterator[None]:
        """Within the block, a forward pass on n·b inputs uses row p of `matrix` for inputs p·b ... p·b + b - 1.
        With `shared = b`, the pass gets the b inputs once, and every peer sees all of them (its
        outputs are still laid out peer-major, n·b); only for models `BatchedTrainer` verified."""
        self._rows.current, self._rows.shared = matrix, shared
        try:
            yield
        finally:
            self._rows.current = self._rows.shared = None


def build_stacked(base: nn.Module, genesis: Genesis, device: torch.device) -> StackedModel:
    """Wrap `base` once with the genesis adapter and swap its trained modules for stacked twins."""
    adapter = Adapter(base, genesis)
    spec, initial = adapter.spec, adapter.get_vector()
    rows = _Rows(spec)
    trained = set(spec.names)
    covered: set[str] = set()
    swaps: list[tuple[str, nn.Module]] = []
    for name, module in adapter.model.named_modules():
        if isinstance(module, LoraLayer) and "default" in module.lora_A:
            if not isinstance(module.get_base_layer(), nn.Linear):
                raise StackingError(f"{name}: the batched engine stacks LoRA on Linear layers only")
            twin = _StackedLora(module, name, rows, adapter.scheme, adapter.scaling)
            swaps.append((name, twin))
            covered |= {n for n in trained if n.startswith(name + ".lora_")}
        elif isinstance(module, ModulesToSaveWrapper):
            inner = module.modules_to_save["default"]
            if not isinstance(inner, nn.Linear):
                raise StackingError(f"{name}: the batched engine trains fully only Linear modules "
                                    f"(modules_to_save), not {type(inner).__name__}")
            swaps.append((name, _StackedLinear(name, rows, inner.bias is not None)))
            covered |= {n for n in trained if n.startswith(name + ".modules_to_save.")}
    if covered != trained:
        raise StackingError(f"trained tensors the batched engine cannot stack: {sorted(trained - covered)}")
    for name, twin in swaps:
        parent_name, _, child = name.rpartition(".")
        setattr(adapter.model.get_submodule(parent_name), child, twin)
    model = adapter.model.to(device)
    for p in model.parameters():
        p.requires_grad_(False)
    return StackedModel(model, spec, initial, rows)
