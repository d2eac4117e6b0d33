"""LoRA adapters on peft, in the three genesis schemes, with one flat trainable vector.

Every frozen factor is drawn from the genesis seed and the module's name (never from the
global RNG), so peers that build the model in any order, in any process, hold byte-identical
frozen factors. That is what makes averaging exact:

- `ffa`  (FFA-LoRA): A frozen, B trained from zero. ΔW = s·B·A, and mean_i(B_i)·A = mean_i(B_i·A).
- `sb`   (Fed-SB / LoRA-SB): A and B frozen, only an r×r core R trained from zero; ΔW = s·B·R·A,
         linear in R, so averaging R averages ΔW, with r² numbers per module on the wire.
         Implemented as a parametrization of peft's `lora_A.weight` = R·A₀, so peft's forward,
         dtype handling and saving work unchanged.
- `lora` (FedIT baseline): A and B both trained; mean(B_i A_i) ≠ mean(B_i)·mean(A_i), kept for comparison.

`modules_to_save` (a classification head) is trained fully and travels in the vector too.
"""

from __future__ import annotations

import hashlib
import math

import torch
from peft import LoraConfig, get_peft_model
from torch import nn
from torch.nn.utils import parametrize

from gossip.spec import AdapterSpec, TensorSpec
from peer.genesis import Genesis


class AdapterError(ValueError):
    """The genesis adapter settings do not fit the model (unknown target module, say)."""


def _factor_seed(seed: int, module: str, factor: str) -> int:
    digest = hashlib.sha256(f"loragossip/{seed}/{module}/{factor}".encode()).digest()
    return int.from_bytes(digest[:8], "little") & (2**63 - 1)


def _uniform(shape: tuple[int, ...], bound: float, seed: int) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    return (torch.rand(shape, generator=generator, dtype=torch.float32) * 2 - 1) * bound


class CoreTimesA(nn.Module):
    """Parametrization weight = R·A₀ (r×in): R is the trainable core, A₀ a frozen buffer."""

    def __init__(self, frozen_a: torch.Tensor) -> None:
        super().__init__()
        self.register_buffer("frozen_a", frozen_a)

    def forward(self, core: torch.Tensor) -> torch.Tensor:
        return core @ self.frozen_a

    def right_inverse(self, weight: torch.Tensor) -> torch.Tensor:
        # only called once, at registration, with the initial weight: the core starts at zero
        return torch.zeros(weight.shape[0], weight.shape[0], dtype=weight.dtype)


class Adapter:
    """A peft model whose trainable part is one flat float32 vector in a stable (sorted) order."""

    def __init__(self, base: nn.Module, genesis: Genesis) -> None:
        a = genesis.adapter
        target_names = [n for n, m in base.named_modules() if isinstance(m, nn.Linear)]
        missing = [t for t in a.target_modules if not any(n == t or n.endswith("." + t) for n in target_names)]
        if missing:
            raise AdapterError(f"adapter.target_modules {missing} match no Linear module of the model; "
                               f"Linear modules are {target_names[:20]}")
        names = [n for n, _ in base.named_modules()]
        unknown = [t for t in a.modules_to_save if not any(n == t or n.endswith("." + t) for n in names)]
        if unknown:  # peft would silently train nothing for them
            raise AdapterError(f"adapter.modules_to_save {unknown} name no module of the model; "
                               f"top-level modules are {[n for n in names if n and '.' not in n][:20]}")
        config = LoraConfig(r=a.rank, lora_alpha=a.alpha, target_modules=list(a.target_modules),
                            modules_to_save=list(a.modules_to_save) or None, lora_dropout=0.0, bias="none")
        self.scheme = a.scheme
        self.rank = a.rank
        self.scaling = a.alpha / a.rank
        self.model = get_peft_model(base, config)
        self.lora_layers = {name: module for name, module in self.model.named_modules()
                            if hasattr(module, "lora_A") and "default" in getattr(module, "lora_A", {})}
        seed = genesis.network.seed
        for name, layer in self.lora_layers.items():
            self._init_layer(name, layer, seed, a.sb_init)
        self.params = sorted(((n, p) for n, p in self.model.named_parameters() if p.requires_grad),
                             key=lambda item: item[0])
        self.spec = AdapterSpec(tuple(TensorSpec(n, tuple(p.shape)) for n, p in self.params))

    def _init_layer(self, name: str, layer: nn.Module, seed: int, sb_init: str) -> None:
        lora_a, lora_b = layer.lora_A["default"], layer.lora_B["default"]
        in_features, out_features = lora_a.in_features, lora_b.out_features
        short = name.removeprefix("base_model.model.")
        with torch.no_grad():
            a0 = _uniform((self.rank, in_features), 1 / math.sqrt(in_features), _factor_seed(seed, short, "A"))
            if self.scheme == "sb" and sb_init == "svd":
                u, _, vh = torch.linalg.svd(layer.get_base_layer().weight.detach().float(), full_matrices=False)
                if u.shape[1] < self.rank:
                    raise AdapterError(f"{short}: rank {self.rank} exceeds the weight's rank {u.shape[1]}")
                a0, b0 = vh[: self.rank].contiguous(), u[:, : self.rank].contiguous()
            else:
                b0 = _uniform((out_features, self.rank), 1 / math.sqrt(self.rank), _factor_seed(seed, short, "B"))
            lora_a.weight.copy_(a0)
            lora_b.weight.copy_(b0 if self.scheme == "sb" else torch.zeros_like(lora_b.weight))
        if self.scheme == "ffa":
            lora_a.weight.requires_grad_(False)
        elif self.scheme == "sb":
            lora_b.weight.requires_grad_(False)
            parametrize.register_parametrization(lora_a, "weight", CoreTimesA(a0.clone()))
            lora_a.parametrizations.weight.original.requires_grad_(True)

    # the flat vector -------------------------------------------------------------------------
    def get_vector(self) -> torch.Tensor:
        return torch.cat([p.detach().reshape(-1).float().cpu() for _, p in self.params])

    def set_vector(self, vector: torch.Tensor) -> None:
        if vector.shape != (self.spec.numel,):
            raise ValueError(f"vector of shape {tuple(vector.shape)}, the adapter has {self.spec.numel} values")
        with torch.no_grad():
            offset = 0
            for _, p in self.params:
                p.copy_(vector[offset:offset + p.numel()].view_as(p).to(p.device, p.dtype))
                offset += p.numel()

    def reinit_trainable(self, seed: int) -> None:
        """Draw every trainable tensor from a peer's own seed, U(±1/√fan_in): the vanishing-variance
        setting of Tian et al., where peers start from uncorrelated models instead of the shared one."""
        generator = torch.Generator().manual_seed(seed)
        with torch.no_grad():
            for _, p in self.params:
                bound = 1 / math.sqrt(p.shape[-1])
                p.copy_((torch.rand(p.shape, generator=generator) * 2 - 1) * bound)

    def parameters(self) -> list[nn.Parameter]:
        return [p for _, p in self.params]

    # introspection for tests and docs --------------------------------------------------------
    def frozen_factors(self) -> dict[str, torch.Tensor]:
        """The frozen LoRA factors of every layer (A for ffa; A and B for sb; none for lora)."""
        out = {}
        for name, layer in self.lora_layers.items():
            if self.scheme == "ffa":
                out[f"{name}.A"] = layer.lora_A["default"].weight.detach().clone()
            elif self.scheme == "sb":
                out[f"{name}.A"] = layer.lora_A["default"].parametrizations.weight[0].frozen_a.clone()
                out[f"{name}.B"] = layer.lora_B["default"].weight.detach().clone()
        return out

    def delta_weights(self) -> dict[str, torch.Tensor]:
        """ΔW = s·B·A (for sb, A is R·A₀) of every LoRA layer."""
        return {name: self.scaling * (layer.lora_B["default"].weight @ layer.lora_A["default"].weight).detach()
                for name, layer in self.lora_layers.items()}
