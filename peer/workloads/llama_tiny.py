"""`llama-tiny`: a tiny Llama from a config (random weights, small vocabulary), for tests and CI.

It runs the `smollm2` code path end to end (chat template, answer-token scoring, LoRA on
`q_proj`/`v_proj`, export to a peft folder) in seconds and without the `lm` extra. Data: SST-2 from
`--data` when given (capped), otherwise the seeded synthetic sentiment sentences of `text-tiny`.
The byte-level BPE tokenizer is trained on the prompts themselves, deterministically, so every peer
derives the same vocabulary and each label word is one token; its chat template is ChatML, as
SmolLM2's is. The weights are seeded from the genesis.
"""

from __future__ import annotations

from functools import partial
from pathlib import Path

from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from torch import nn
from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

from peer.data import split
from peer.genesis import Genesis
from peer.workloads import SharedBase, Workload, seeded_init
from peer.workloads.answers import LABEL_WORDS, QUESTION, SYSTEM, AnswerScorer, encode_prompts, label_token_ids
from peer.workloads.text import pool_sentences

POOL_LIMIT = 3000
MAX_LENGTH = 64
SPECIALS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
CHATML = ("{% for message in messages %}<|im_start|>{{ message['role'] }}\n{{ message['content'] }}<|im_end|>\n"
          "{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}")


def train_tokenizer(sentences: list[str], vocab_size: int = 1024) -> PreTrainedTokenizerFast:
    """A byte-level BPE over the chat-formatted corpus and the answers, with a ChatML template."""
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    corpus = [f"system\n{SYSTEM}\nuser\n{s}\n{QUESTION}\nassistant\n{LABEL_WORDS[i % 2]}"
              for i, s in enumerate(sentences)]
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=SPECIALS, show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(corpus, trainer)
    return PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<|im_start|>", eos_token="<|im_end|>",
                                   pad_token="<|endoftext|>", chat_template=CHATML)


def tiny_config(tokenizer: PreTrainedTokenizerFast) -> LlamaConfig:
    return LlamaConfig(vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                       num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=128,
                       tie_word_embeddings=True, pad_token_id=tokenizer.pad_token_id,
                       bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id, use_cache=False)


def _scorer(config: LlamaConfig, answers: list[int]) -> nn.Module:
    return AnswerScorer(LlamaForCausalLM(config), answers)


def build(genesis: Genesis, data_path: str | Path | None = None) -> Workload:
    seed = genesis.network.seed % (2**31)
    sentences, labels = pool_sentences(data_path, POOL_LIMIT, 1200, seed)
    tokenizer = train_tokenizer(sentences)
    answers = label_token_ids(tokenizer)
    pool, test = split(encode_prompts(tokenizer, sentences, labels, MAX_LENGTH), 0.2, seed)
    config = tiny_config(tokenizer)

    architecture = partial(_scorer, config, answers)  # a partial, not a closure: a resumable run pickles it
    loaded = seeded_init(seed, architecture)
    return Workload("llama-tiny", 2, SharedBase(architecture, loaded), pool, test, tokenizer=tokenizer)
