"""`text-tiny`: a tiny BERT-style classifier built from a config, for tests and quick runs (seconds on CPU).

Data: the SST-2 TSV files of `--data` when given (capped for speed), otherwise a seeded
synthetic sentiment set (template sentences with positive or negative words), so tests
need no files. The WordPiece vocabulary is derived from the pool here, in a fixed order (every
character, then the most frequent words, ties by spelling), so every peer, in every process,
derives the same one. `tokenizers`' own WordPiece trainer does not: it breaks ties between
equally frequent merges in its hash maps' order, which changes from process to process, so two
peers gave the same word different ids (measured: the encoded pool differed in each of three
processes). LoRA targets the attention `query`/`value` projections; the `classifier` is
trained fully.
"""

from __future__ import annotations

from collections import Counter
from functools import partial
from pathlib import Path

from tokenizers import Tokenizer, models, normalizers, pre_tokenizers
from transformers import BertConfig, BertForSequenceClassification, PreTrainedTokenizerFast

from peer.data import split
from peer.genesis import Genesis
from peer.workloads import SharedBase, Workload, seeded_init
from peer.workloads.text import encode, pool_sentences

POOL_LIMIT = 6000
MAX_LENGTH = 32


def train_tokenizer(sentences: list[str], vocab_size: int = 2000) -> PreTrainedTokenizerFast:
    normalizer, pre_tokenizer = normalizers.BertNormalizer(lowercase=True), pre_tokenizers.BertPreTokenizer()
    words: Counter[str] = Counter()
    for sentence in sentences:
        words.update(word for word, _ in pre_tokenizer.pre_tokenize_str(normalizer.normalize_str(sentence)))
    characters = sorted({c for word in words for c in word})
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", *characters, *(f"##{c}" for c in characters)]
    room = max(0, vocab_size - len(vocab))
    vocab += [w for w, _ in sorted(words.items(), key=lambda item: (-item[1], item[0])) if len(w) > 1][:room]
    tok = Tokenizer(models.WordPiece({token: i for i, token in enumerate(vocab)}, unk_token="[UNK]"))
    tok.normalizer, tok.pre_tokenizer = normalizer, pre_tokenizer
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
    architecture = partial(BertForSequenceClassification, config)  # a partial, not a closure: it pickles
    return Workload("text-tiny", 2, SharedBase(architecture, seeded_init(seed, architecture)), pool, test)
