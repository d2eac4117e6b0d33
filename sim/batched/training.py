"""Local steps for many peers at once: each peer's own minibatches, one forward and backward for all.

Every peer draws its batches from its own shard with its own seeded generator, exactly as its
`peer.trainer.Trainer` would (same seed, same `randint` calls), so the two engines see the same
samples. A peer whose shard is smaller than the batch size draws fewer samples; its batch is
padded to the common size and the padding carries zero weight in the loss, so its gradient is
that of its own mean loss.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence

import torch
from torch import nn

from peer.data import TensorData
from peer.device import autocast_dtype
from peer.genesis import TrainingSection
from peer.trainer import EVAL_BATCH, BatchTransform, Schedule, class_predictions, model_logits
from sim.batched.optim import StackedOptimizer, clip_rows, row_norms
from sim.batched.stacked import StackedModel

EVAL_ROWS = 16 * EVAL_BATCH  # inputs per evaluation pass (peers × test samples): the best of 2k-40k on 2 cores
PASS_BYTES = 1 << 27  # activations one pass may hold: 128 MiB (161 k digits samples, 22 MiniLM sentences)


class BatchedTrainer:
    """The trainable state of every peer (`vectors`, `[N, d]`) and their optimizers, over one stacked model."""

    def __init__(self, stacked: StackedModel, pool: TensorData, shares: Sequence[torch.Tensor],
                 training: TrainingSection, device: torch.device, seeds: Sequence[int], *,
                 transforms: dict[int, BatchTransform] | None = None, clip: float | None = 1.0,
                 classes: int | None = None) -> None:
        if any(len(s) == 0 for s in shares):
            raise ValueError("a peer needs at least one training sample")
        self.stacked, self.spec = stacked, stacked.spec
        self.device, self.training = device, training
        self.pool = pool.to(device)
        self.shares = [torch.as_tensor(s, dtype=torch.long).to(device) for s in shares]
        self.sizes = [len(s) for s in shares]
        self.generators = [torch.Generator().manual_seed(seed) for seed in seeds]
        self.transforms = transforms or {}
        self.schedule = Schedule.of(training)
        self.clip = clip
        self.classes = classes
        n = len(shares)
        self.vectors = stacked.initial.to(device).repeat(n, 1)
        self.optimizer = StackedOptimizer(training.optimizer, n, self.spec.numel, device)
        self.local_steps = [0] * n
        self.autocast = autocast_dtype(device)
        self.shared_inputs = self._shares_inputs()
        per_sample = self._activation_bytes()
        self.pass_samples = max(1, PASS_BYTES // per_sample)
        self.eval_rows = max(1, min(EVAL_ROWS, self.pass_samples))

    # batches -----------------------------------------------------------------------------------
    def _batch(self, rows: list[int]) -> tuple[dict[str, torch.Tensor], torch.Tensor, torch.Tensor]:
        """Inputs for peers `rows` (peer-major, padded to a common batch), labels and per-sample weights."""
        wanted = self.training.batch_size
        width = max(min(wanted, self.sizes[p]) for p in rows)
        picks, weights = [], torch.zeros(len(rows), width)
        for i, p in enumerate(rows):
            count = min(wanted, self.sizes[p])
            local = torch.randint(self.sizes[p], (count,), generator=self.generators[p]).to(self.device)
            index = self.shares[p][local]
            if count < width:
                index = torch.cat([index, index[:1].expand(width - count)])
            picks.append(index)
            weights[i, :count] = 1.0 / count
        index = torch.cat(picks)
        features = {k: v[index] for k, v in self.pool.features.items()}
        labels = self.pool.labels[index]
        for i, p in enumerate(rows):
            transform = self.transforms.get(p)
            if transform is not None:
                key, rows_of_peer = next(iter(features)), slice(i * width, i * width + min(wanted, self.sizes[p]))
                features[key][rows_of_peer], labels[rows_of_peer] = transform(features[key][rows_of_peer],
                                                                              labels[rows_of_peer])
        return features, labels, weights.to(self.device)

    def _autocast(self) -> contextlib.AbstractContextManager:
        if self.autocast is None:
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=self.autocast)

    def _gradients(self, params: torch.Tensor, batch: tuple) -> tuple[torch.Tensor, torch.Tensor]:
        """(per-peer mean losses [k], per-peer gradients [k, d]) at `params`."""
        features, labels, weights = batch
        leaf = params.detach().requires_grad_(True)
        with self.stacked.rows(leaf), self._autocast():
            logits = model_logits(self.stacked.model, features)
        losses = nn.functional.cross_entropy(logits.float(), labels, reduction="none").view(weights.shape)
        per_peer = (losses * weights).sum(dim=1)
        (grad,) = torch.autograd.grad(per_peer.sum(), leaf)
        return per_peer.detach(), grad

    def _activation_bytes(self) -> int:
        """Bytes autograd keeps per training sample (activations), measured: what two more samples of
        one peer add to a forward pass (the frozen weights it also keeps do not grow with the batch)."""
        if len(self.pool) < 4:
            return 1
        kept = []
        for m in (2, 4):
            total = 0

            def count(tensor: torch.Tensor) -> torch.Tensor:
                nonlocal total
                total += tensor.numel() * tensor.element_size()
                return tensor

            features = {k: v[:m] for k, v in self.pool.features.items()}
            leaf = self.stacked.initial.to(self.device)[None].requires_grad_(True)
            with torch.autograd.graph.saved_tensors_hooks(count, lambda t: t), self.stacked.rows(leaf):
                model_logits(self.stacked.model, features)
            kept.append(total)
        return max(1, (kept[1] - kept[0]) // 2)

    # training ----------------------------------------------------------------------------------
    def train_steps(self, rows: list[int], steps: int) -> torch.Tensor:
        """`steps` local steps (SAM steps when sam_rho > 0) for peers `rows`; their mean losses ([k]).
        Peers train in passes of at most `pass_samples` samples: each peer's steps depend on its own
        rows and generator only, so how they are split does not change the result."""
        peers = max(1, self.pass_samples // self.training.batch_size)
        return torch.cat([self._train_pass(rows[i:i + peers], steps) for i in range(0, len(rows), peers)])

    def _train_pass(self, rows: list[int], steps: int) -> torch.Tensor:
        self.stacked.model.train()
        index = torch.tensor(rows, dtype=torch.long, device=self.device)
        params = self.vectors[index]
        total = torch.zeros(len(rows))
        t = self.training
        for _ in range(steps):
            lr = torch.tensor([t.lr * self.schedule.factor(self.local_steps[p]) for p in rows], dtype=torch.float64)
            batch = self._batch(rows)
            losses, grads = self._gradients(params, batch)
            if t.sam_rho > 0:
                scaled = params.abs() * grads if t.sam_adaptive else grads
                scale = (t.sam_rho / (row_norms(scaled, self.spec) + 1e-12))[:, None]
                perturbation = (params * params if t.sam_adaptive else 1.0) * grads * scale
                perturbed = params + perturbation
                _, grads = self._gradients(perturbed, batch)
                params = perturbed - perturbation
            params = self.optimizer.step(index, params, clip_rows(grads, self.spec, self.clip), lr)
            total += losses.cpu()
            for p in rows:
                self.local_steps[p] += 1
        self.vectors[index] = params.detach()
        return total / max(1, steps)

    # evaluation --------------------------------------------------------------------------------
    @torch.no_grad()
    def _shares_inputs(self) -> bool:
        """Whether evaluation may pass the common inputs once instead of once per peer (`StackedModel.rows`
        with `shared`). It may when the inputs meet a stacked layer before anything mixes them with
        per-peer values, as in an MLP; a transformer's embeddings feed residual paths, and there it
        may not. Decided by trying: two distinct peers on two pool samples, both ways."""
        if len(self.pool) < 2:
            return False
        self.stacked.model.eval()
        features = {k: v[:2] for k, v in self.pool.features.items()}
        generator = torch.Generator().manual_seed(0)
        rows = self.stacked.initial.to(self.device).repeat(2, 1)
        rows[1] += torch.randn(rows.shape[1], generator=generator).to(self.device) * 0.1
        repeated = {k: v.repeat(2, *([1] * (v.dim() - 1))) for k, v in features.items()}
        with self.stacked.rows(rows):
            expected = model_logits(self.stacked.model, repeated)
        try:
            with self.stacked.rows(rows, shared=2):
                got = model_logits(self.stacked.model, features)
        except RuntimeError:  # a shape mismatch: the model mixes the inputs with per-peer values
            return False
        return got.shape == expected.shape and torch.allclose(got, expected, rtol=1e-4, atol=1e-5)

    @torch.no_grad()
    def predictions(self, rows: list[int], data: TensorData) -> torch.Tensor:
        """Predicted classes `[k, len(data)]` of peers `rows` on `data`."""
        return self._over(rows, data, lambda logits, labels: class_predictions(logits, self.classes))

    @torch.no_grad()
    def evaluate(self, rows: list[int], data: TensorData) -> tuple[torch.Tensor, torch.Tensor]:
        """(mean cross-entropy [k], accuracy [k]) of peers `rows` on `data`."""
        if len(data) == 0:
            nan = torch.full((len(rows),), float("nan"))
            return nan, nan
        both = self._over(rows, data, lambda logits, labels: torch.stack([
            nn.functional.cross_entropy(logits.transpose(1, 2), labels.expand(logits.shape[0], -1),
                                        reduction="none"),
            (class_predictions(logits, self.classes) == labels).float()]))
        return both[0].mean(dim=1), both[1].mean(dim=1)

    def _over(self, rows: list[int], data: TensorData, reduce) -> torch.Tensor:
        """`reduce(logits [k', m, C], labels [m])` over blocks of peers and samples, joined on the sample axis."""
        self.stacked.model.eval()
        samples = max(1, min(len(data), self.eval_rows))
        peers_per_block = max(1, self.eval_rows // samples)
        out = []
        for first in range(0, len(rows), peers_per_block):
            block = torch.tensor(rows[first:first + peers_per_block], dtype=torch.long, device=self.device)
            parts = []
            for start in range(0, len(data), samples):
                features = {k: v[start:start + samples].to(self.device) for k, v in data.features.items()}
                labels = data.labels[start:start + samples].to(self.device)
                k, m = len(block), len(labels)
                if self.shared_inputs:
                    inputs, shared = features, m
                else:
                    inputs, shared = {key: v.repeat(k, *([1] * (v.dim() - 1))) for key, v in features.items()}, None
                with self.stacked.rows(self.vectors[block], shared=shared), self._autocast():
                    logits = model_logits(self.stacked.model, inputs).float().view(k, m, -1)
                parts.append(reduce(logits, labels).cpu())
            out.append(torch.cat(parts, dim=-1))
        return torch.cat(out, dim=-2)
