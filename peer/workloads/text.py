"""Shared text plumbing: read SST-2-style TSV files and tokenise sentences into tensors."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import torch

from peer.data import TensorData
from peer.workloads import WorkloadError

MAX_LENGTH = 64
SST2_HINT = ("the data folder needs GLUE SST-2's train.tsv and dev.tsv (SST-2.zip from gluebenchmark.com, or "
             "the Hugging Face dataset stanfordnlp/sst2 saved as TSV with a 'sentence' and a 'label' column); "
             "give the folder as run.data (simulations) or --data (peers). It is not shipped: its licence is unstated")


def read_tsv(path: Path, limit: int | None = None) -> tuple[list[str], list[int]]:
    """A TSV with a header naming a `label` column and a `sentence` (or `content`) column."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise WorkloadError(f"no {path}: {SST2_HINT}") from None
    except OSError as exc:
        raise WorkloadError(f"cannot read {path}: {exc.strerror or exc}") from exc
    reader = csv.reader(text.splitlines(), delimiter="\t", quoting=csv.QUOTE_NONE)
    header = next(reader, [])
    if "label" not in header or not {"sentence", "content"} & set(header):
        raise WorkloadError(f"{path}:1: expected a header with 'label' and 'sentence' columns, got {header}")
    label_col = header.index("label")
    text_col = header.index("sentence" if "sentence" in header else "content")
    sentences, labels = [], []
    for line, row in enumerate(reader, start=2):
        if len(row) != len(header):
            raise WorkloadError(f"{path}:{line}: expected {len(header)} columns, got {len(row)}")
        try:
            labels.append(int(row[label_col]))
        except ValueError:
            raise WorkloadError(f"{path}:{line}: label {row[label_col]!r} is not an integer") from None
        sentences.append(row[text_col])
        if limit is not None and len(sentences) >= limit:
            break
    return sentences, labels


def encode(tokenizer, sentences: list[str], labels: list[int], max_length: int = MAX_LENGTH) -> TensorData:
    """Tokenise to fixed-length `input_ids` / `attention_mask` tensors (padding to max_length)."""
    batch = tokenizer(sentences, padding="max_length", truncation=True, max_length=max_length, return_tensors="pt")
    return TensorData({"input_ids": batch["input_ids"], "attention_mask": batch["attention_mask"]},
                      torch.tensor(labels, dtype=torch.long))


_POSITIVE = ["great", "wonderful", "moving", "brilliant", "charming", "funny", "sharp", "beautiful", "smart"]
_NEGATIVE = ["dull", "boring", "awful", "clumsy", "tedious", "flat", "lifeless", "messy", "stupid"]
_SUBJECTS = ["the film", "this movie", "the story", "the cast", "the script", "its ending", "the director"]
_LINKS = ["is", "was", "feels", "seems", "remains", "turns out"]
_ADVERBS = ["really", "quite", "very", "utterly", "somewhat", ""]


def synthetic_sentences(count: int, seed: int) -> tuple[list[str], list[int]]:
    rng = np.random.default_rng(seed)
    sentences, labels = [], []
    for _ in range(count):
        label = int(rng.integers(2))
        words = _POSITIVE if label else _NEGATIVE
        parts = [rng.choice(_SUBJECTS), rng.choice(_LINKS), rng.choice(_ADVERBS), rng.choice(words)]
        if rng.random() < 0.5:
            parts += ["and", rng.choice(_ADVERBS), rng.choice(words)]
        sentences.append(" ".join(p for p in parts if p))
        labels.append(label)
    return sentences, labels


def pool_sentences(data_path: str | Path | None, limit: int, synthetic: int, seed: int) -> tuple[list[str], list[int]]:
    """The tiny workloads' pool: SST-2's `train.tsv` of `data_path` (capped at `limit`) when given,
    else `synthetic` seeded template sentences, so tests need no files."""
    if data_path is not None:
        return read_tsv(Path(data_path) / "train.tsv", limit=limit)
    return synthetic_sentences(synthetic, seed)
