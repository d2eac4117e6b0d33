"""Shared text plumbing: read SST-2-style TSV files and tokenise sentences into tensors."""

from __future__ import annotations

import csv
from pathlib import Path

import torch

from peer.data import TensorData
from peer.workloads import WorkloadError

MAX_LENGTH = 64


def read_tsv(path: Path, limit: int | None = None) -> tuple[list[str], list[int]]:
    """A TSV with a header naming a `label` column and a `sentence` (or `content`) column."""
    try:
        text = path.read_text(encoding="utf-8")
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
