"""Local optimisation of an adapter on a peer's private data: SGD/AdamW or SAM steps, evaluation.

All randomness (batch sampling) comes from one seeded generator whose state is saved with
the checkpoint, so a resumed peer continues exactly where it stopped.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from peer.adapters import Adapter
from peer.data import TensorData
from peer.device import autocast_dtype
from peer.genesis import TrainingSection
from peer.sam import sam_step

BatchTransform = Callable[[torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor]]
EVAL_BATCH = 512


@dataclass(frozen=True)
class Schedule:
    """Learning rate multiplier: linear warm-up, then constant or cosine decay to `floor` over `decay_steps`.
    Counted in a peer's own local steps, so a peer that trains more often decays sooner: the
    schedule is the local optimiser's, as in FedAvg with a per-client schedule."""

    warmup_steps: int = 0
    decay_steps: int = 0
    floor: float = 0.1

    @classmethod
    def of(cls, training: TrainingSection) -> Schedule:
        return cls(training.warmup_steps, training.decay_steps, training.lr_floor)

    def factor(self, step: int) -> float:
        if step < self.warmup_steps:
            return (step + 1) / self.warmup_steps
        if self.decay_steps <= 0:
            return 1.0
        progress = min(1.0, (step - self.warmup_steps) / self.decay_steps)
        return self.floor + (1 - self.floor) * 0.5 * (1 + math.cos(math.pi * progress))


def model_logits(model: nn.Module, features: dict[str, torch.Tensor]) -> torch.Tensor:
    out = model(**features)
    return out.logits if hasattr(out, "logits") else out


def class_predictions(logits: torch.Tensor, classes: int | None) -> torch.Tensor:
    """The predicted class of each row. A model may give one column more than its task has classes:
    the log-probability of every other outcome (a language model's other tokens, see
    `peer.workloads.answers`). Cross-entropy over all columns is then the model's own loss on the
    answer, while a prediction compares the classes alone."""
    return (logits if classes is None else logits[..., :classes]).argmax(dim=-1)


class Trainer:
    def __init__(self, adapter: Adapter, data: TensorData, training: TrainingSection, device: torch.device,
                 seed: int, *, clip: float | None = 1.0,
                 transform: BatchTransform | None = None, classes: int | None = None) -> None:
        if len(data) == 0:
            raise ValueError("a peer needs at least one training sample")
        self.adapter = adapter
        self.device = device
        self.model = adapter.model.to(device)
        self.data = data.to(device)
        self.training = training
        self.schedule = Schedule.of(training)
        self.clip = clip
        self.transform = transform
        self.classes = classes
        self.step = 0
        self.generator = torch.Generator().manual_seed(seed)
        self.autocast = autocast_dtype(device)
        params = adapter.parameters()
        if training.optimizer == "sgd":
            self.optimizer: torch.optim.Optimizer = torch.optim.SGD(params, lr=training.lr, momentum=0.9)
        else:
            self.optimizer = torch.optim.AdamW(params, lr=training.lr, weight_decay=0.0)

    def _batch(self) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
        index = torch.randint(len(self.data), (min(self.training.batch_size, len(self.data)),),
                              generator=self.generator).to(self.device)
        features = {k: v[index] for k, v in self.data.features.items()}
        labels = self.data.labels[index]
        if self.transform is not None:
            key = next(iter(features))
            features[key], labels = self.transform(features[key], labels)
        return features, labels

    def _autocast(self) -> contextlib.AbstractContextManager:
        if self.autocast is None:
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=self.autocast)

    def train_steps(self, steps: int | None = None) -> float:
        """K local steps (SAM steps when sam_rho > 0); returns the mean training loss."""
        steps = self.training.local_steps if steps is None else steps
        self.model.train()
        params = self.adapter.parameters()
        total = 0.0
        for _ in range(steps):
            for group in self.optimizer.param_groups:
                group["lr"] = self.training.lr * self.schedule.factor(self.step)
            features, labels = self._batch()

            def loss_fn(features=features, labels=labels) -> torch.Tensor:
                with self._autocast():
                    return nn.functional.cross_entropy(model_logits(self.model, features).float(), labels)

            if self.training.sam_rho > 0:
                total += sam_step(params, loss_fn, self.optimizer, self.training.sam_rho,
                                  self.training.sam_adaptive, self.clip)
            else:
                self.optimizer.zero_grad(set_to_none=True)
                loss = loss_fn()
                loss.backward()
                if self.clip is not None:
                    torch.nn.utils.clip_grad_norm_(params, self.clip)
                self.optimizer.step()
                total += float(loss.detach())
            self.step += 1
        return total / max(1, steps)

    @torch.no_grad()
    def predict(self, data: TensorData) -> torch.Tensor:
        self.model.eval()
        out = []
        for start in range(0, len(data), EVAL_BATCH):
            features = {k: v[start:start + EVAL_BATCH].to(self.device) for k, v in data.features.items()}
            with self._autocast():
                out.append(model_logits(self.model, features).float().cpu())
        return torch.cat(out) if out else torch.empty(0)

    def evaluate(self, data: TensorData) -> tuple[float, float]:
        """(mean cross-entropy, accuracy) on `data`."""
        if len(data) == 0:
            return float("nan"), float("nan")
        logits = self.predict(data)
        loss = float(nn.functional.cross_entropy(logits, data.labels.cpu()))
        return loss, float((class_predictions(logits, self.classes) == data.labels.cpu()).float().mean())

    def attack_success(self, inputs: TensorData, target: int) -> float:
        """Share of attack inputs (triggered or source-class samples) classified as the attacker's target."""
        if len(inputs) == 0:
            return float("nan")
        return float((class_predictions(self.predict(inputs), self.classes) == target).float().mean())

    # checkpoint state ------------------------------------------------------------------------
    def state(self) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
        """Tensors and JSON-able values that restore training exactly."""
        tensors = {"adapter": self.adapter.get_vector(), "rng": self.generator.get_state()}
        opt = self.optimizer.state_dict()
        for index, values in opt["state"].items():
            for key, value in values.items():
                tensors[f"opt/{index}/{key}"] = torch.as_tensor(value).detach().cpu().clone()
        return tensors, {"step": self.step, "param_groups": opt["param_groups"]}

    def restore(self, tensors: dict[str, torch.Tensor], state: dict[str, Any]) -> None:
        """Resume from `state()`'s output; ValueError, with nothing changed, when it does not fit."""
        snapshot = self.state()
        try:
            self._restore(tensors, state)
        except (KeyError, TypeError, ValueError, RuntimeError, IndexError) as exc:
            self._restore(*snapshot)
            raise ValueError(f"does not fit this adapter and optimizer: {type(exc).__name__}: {exc}") from exc

    def _restore(self, tensors: dict[str, torch.Tensor], state: dict[str, Any]) -> None:
        vector = tensors["adapter"]
        if vector.shape != (self.adapter.spec.numel,) or not bool(torch.isfinite(vector).all()):
            raise ValueError(f"adapter vector of shape {tuple(vector.shape)} (expected ({self.adapter.spec.numel},), "
                             "finite)")
        self.adapter.set_vector(vector)
        self.generator.set_state(tensors["rng"])
        self.step = int(state["step"])
        opt_state: dict[int, dict[str, torch.Tensor]] = {}
        for name, value in tensors.items():
            if name.startswith("opt/"):
                _, index, key = name.split("/", 2)
                opt_state.setdefault(int(index), {})[key] = value.to(self.device) if key != "step" else value
        self.optimizer.load_state_dict({"state": opt_state, "param_groups": state["param_groups"]})
