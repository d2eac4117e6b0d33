"""`text-tiny`: a tiny BERT-style classifier built from a config, for tests and quick runs (seconds on CPU).

Data: the SST-2 TSV files of `--data` when given (capped for speed), otherwise a seeded
synthetic sentiment set (template sentences with positive or negative words), so tests
need no files. The WordPiece tokenizer is trained on the pool with the `tokenizers` library;
training is deterministic, so every peer derives the same vocabulary. LoRA targets the
attention `query`/`value` projections; the `classifier` is trained fully.
"""

from __future__ import annotations

from pathlib import Path

from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, trainers
from transformers import BertConfig, BertForSequenceClassification, PreTrainedTokenizerFast

from peer.data import split
from peer.genesis import Genesis
from peer.workloads import SharedBase, Workload, seeded_init
from peer.workloads.text import encode, pool_sentences

POOL_LIMIT = 6000
MAX_LENGTH = 32


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
    sentences, labels = pool_sentences(data_path, POOL_LIMIT, 2400, seed)
    tokenizer = train_tokenizer(sentences)
    data = encode(tokenizer, sentences, labels, MAX_LENGTH)
    pool, test = split(data, 0.2, seed)
    config = BertConfig(vocab_size=len(tokenizer), hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                        intermediate_size=64, max_position_embeddings=MAX_LENGTH, num_labels=2,
                        pad_token_id=tokenizer.pad_token_id)
    def architecture() -> BertForSequenceClassification:
        return BertForSequenceClassification(config)

    return Workload("text-tiny", 2, SharedBase(architecture, seeded_init(seed, architecture)), pool, test)
