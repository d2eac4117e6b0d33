"""`text-tiny`: a tiny BERT-style classifier built from a config, for tests and quick runs (seconds on CPU).

Data: the SST-2 TSV files of `--data` when given (capped for speed), otherwise a seeded
synthetic sentiment set (template sentences with positive or negative words), so tests
need no files. The WordPiece tokenizer is trained on the pool with the `tokenizers` library;
training is deterministic, so every peer derives the same vocabulary. LoRA targets the
attention `query`/`value` projections; the `classifier` is trained fully.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, trainers
from transformers import BertConfig, BertForSequenceClassification, PreTrainedTokenizerFast

from peer.data import split
from peer.genesis import Genesis
from peer.workloads import SharedBase, Workload, seeded_init
from peer.workloads.text import encode, read_tsv

POOL_LIMIT = 6000
MAX_LENGTH = 32
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


def train_tokenizer(sentences: list[str], vocab_size: int = 2000) -> PreTrainedTokenizerFast:
    tok = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tok.normalizer = normalizers.BertNormalizer(lowercase=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    trainer = trainers.WordPieceTrainer(vocab_size=vocab_size, special_tokens=["[PAD]", "[UNK]", "[CLS]", "[SEP]"],
                                        show_progress=False)
    tok.train_from_iterator(sentences, trainer)
    return PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="[PAD]", unk_token="[UNK]", cls_token="[CLS]",
                                   sep_token="[SEP]")


def build(genesis: Genesis, data_path: str | Path | None = None) -> Workload:
    seed = genesis.network.seed % (2**31)
    if data_path is not None:
        sentences, labels = read_tsv(Path(data_path) / "train.tsv", limit=POOL_LIMIT)
    else:
        sentences, labels = synthetic_sentences(2400, seed)
    tokenizer = train_tokenizer(sentences)
    data = encode(tokenizer, sentences, labels, MAX_LENGTH)
    pool, test = split(data, 0.2, seed)
    config = BertConfig(vocab_size=len(tokenizer), hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                        intermediate_size=64, max_position_embeddings=MAX_LENGTH, num_labels=2,
                        pad_token_id=tokenizer.pad_token_id)
    def architecture() -> BertForSequenceClassification:
        return BertForSequenceClassification(config)

    return Workload("text-tiny", 2, SharedBase(architecture, seeded_init(seed, architecture)), pool, test)
