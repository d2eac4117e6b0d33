"""Export a gossip-trained adapter as a standard peft LoRA folder that plain transformers + peft load.

Every genesis scheme is a plain LoRA once its frozen factors are written out: `ffa` exports its
frozen A beside the trained B; `sb` exports A = R·A₀ (the trained core folded into the frozen A,
which is how the adapter computes it) beside the frozen B; `lora` exports A and B as trained.
`modules_to_save` (a classification head) travels as peft saves it. A causal LM workload exports
the adapter of the language model itself (`AnswerScorer.lm`), so

    PeftModel.from_pretrained(AutoModelForCausalLM..., folder)

gives the logits the adapter gives inside loragossip (`tests/test_export.py` holds it to that).
"""

from __future__ import annotations

import warnings
from pathlib import Path

import torch
from peft import LoraConfig, get_peft_model
from torch import nn

from peer.adapters import Adapter
from peer.genesis import Genesis
from peer.workloads import Workload
from peer.workloads.answers import AnswerScorer

_PREFIX = "base_model.model."


def plain_base(module: nn.Module) -> tuple[nn.Module, str]:
    """(the module a peft user loads the adapter onto, the name prefix loragossip's copy adds to it)."""
    if isinstance(module, AnswerScorer):
        return module.lm, "lm."
    return module, ""


def export_adapter(vector: torch.Tensor, genesis: Genesis, workload: Workload, out: Path) -> Path:
    """Write `vector` (a flat adapter of `genesis`) as a peft folder at `out`. Returns `out`; ValueError,
    with nothing written, when the vector does not fit the genesis adapter."""
    adapter = Adapter(workload.build_base(), genesis)
    if vector.shape != (adapter.spec.numel,):
        raise ValueError(f"an adapter of {vector.numel()} values does not fit this genesis, whose adapter has "
                         f"{adapter.spec.numel} (another network?)")
    adapter.set_vector(vector)
    plain, prefix = plain_base(workload.build_base())
    a = genesis.adapter
    config = LoraConfig(r=a.rank, lora_alpha=a.alpha, target_modules=list(a.target_modules),
                        modules_to_save=list(a.modules_to_save) or None, lora_dropout=0.0, bias="none")
    values = _plain_lora_tensors(adapter, prefix)
    with warnings.catch_warnings():  # peft and transformers deprecation notes about their own internals
        warnings.simplefilter("ignore", FutureWarning)
        exported = get_peft_model(plain, config)
    named = dict(exported.named_parameters())
    with torch.no_grad():
        for name, tensor in values.items():
            if name not in named:
                raise ValueError(f"{name}: no such tensor in the exported peft model")
            named[name].copy_(tensor)
    # peft takes the name from the model, which a module built from a config does not carry
    exported.peft_config["default"].base_model_name_or_path = genesis.model.base
    out.mkdir(parents=True, exist_ok=True)
    # no embedding layer is trained, and "auto" would look the base name up on the Hub
    exported.save_pretrained(out, save_embedding_layers=False)
    return out


def _plain_lora_tensors(adapter: Adapter, prefix: str) -> dict[str, torch.Tensor]:
    """The adapter as plain-LoRA tensors, named as peft names them on the plain base."""
    def rename(name: str) -> str:
        inner = name.removeprefix(_PREFIX)
        return _PREFIX + (inner.removeprefix(prefix) if prefix else inner)

    out: dict[str, torch.Tensor] = {}
    for name, layer in adapter.lora_layers.items():
        out[f"{rename(name)}.lora_A.default.weight"] = layer.lora_A["default"].weight.detach().clone()
        out[f"{rename(name)}.lora_B.default.weight"] = layer.lora_B["default"].weight.detach().clone()
    for name, p in adapter.params:
        if ".modules_to_save." in name:
            out[rename(name)] = p.detach().clone()
    return out

