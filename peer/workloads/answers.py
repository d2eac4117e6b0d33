"""Classification as instruction following for a causal language model (SST-2 as a chat).

A sentence becomes one chat turn, the model's chat template with a fixed question, and the label
word is the answer the assistant should give:

    <|im_start|>system\\nAnswer with one word.<|im_end|>\\n<|im_start|>user\\n{sentence}\\n
    Is the sentiment of this sentence positive or negative?<|im_end|>\\n<|im_start|>assistant\\n  → " positive"

Each label word must be one token, so the answer is the single next token after the prompt and
"loss on the answer tokens only" is the cross-entropy of the model's next-token distribution at
the prompt's last position (every prompt token is masked out). `AnswerScorer` returns, per
sentence, the log-probabilities of the label words plus one more column, log P(any other token),
so that cross-entropy over its columns is exactly the language model's answer loss, and a
prediction compares the label words' log-likelihoods alone (`peer.trainer.class_predictions`).

Prompts are right-padded (positions stay those of an unpadded prompt, so the logits do not depend
on the padding) and each batch is cut to its longest prompt before the model runs.
"""

from __future__ import annotations

import torch
from torch import nn

from peer.data import TensorData
from peer.workloads import WorkloadError

LABEL_WORDS = (" negative", " positive")  # SST-2: 0 = negative, 1 = positive
SYSTEM = "Answer with one word."
QUESTION = "Is the sentiment of this sentence positive or negative?"
MAX_LENGTH = 128


def prompt_text(tokenizer, sentence: str) -> str:
    """The chat-templated prompt for one sentence, ending where the assistant's answer begins."""
    messages = [{"role": "system", "content": SYSTEM}, {"role": "user", "content": f"{sentence}\n{QUESTION}"}]
    return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)


def label_token_ids(tokenizer) -> list[int]:
    """The one token of each label word; a tokenizer that splits one is refused."""
    ids = []
    for word in LABEL_WORDS:
        tokens = tokenizer.encode(word, add_special_tokens=False)
        if len(tokens) != 1:
            raise WorkloadError(f"the label word {word!r} is {len(tokens)} tokens for this tokenizer; "
                                "the answer must be one token")
        ids.append(tokens[0])
    return ids


def _prompt_ids(tokenizer, sentence: str, max_length: int) -> list[int]:
    """Token ids of the prompt; a sentence too long for `max_length` loses words from its end
    (never the question or the answer position)."""
    words = sentence.split()
    keep = len(words)
    ids = tokenizer.encode(prompt_text(tokenizer, sentence), add_special_tokens=False)
    while len(ids) > max_length and keep > 0:
        keep = keep * 3 // 4 if keep > 4 else keep - 1
        ids = tokenizer.encode(prompt_text(tokenizer, " ".join(words[:keep])), add_special_tokens=False)
    if len(ids) > max_length:
        raise WorkloadError(f"the prompt alone is {len(ids)} tokens, more than max_length {max_length}")
    return ids


def encode_prompts(tokenizer, sentences: list[str], labels: list[int], max_length: int = MAX_LENGTH) -> TensorData:
    """Right-padded `input_ids` / `attention_mask` of the prompts (padded to the longest), labels as classes."""
    rows = [_prompt_ids(tokenizer, s, max_length) for s in sentences]
    width = max((len(r) for r in rows), default=1)
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    input_ids = torch.full((len(rows), width), pad, dtype=torch.long)
    attention_mask = torch.zeros((len(rows), width), dtype=torch.long)
    for i, row in enumerate(rows):
        input_ids[i, :len(row)] = torch.tensor(row, dtype=torch.long)
        attention_mask[i, :len(row)] = 1
    return TensorData({"input_ids": input_ids, "attention_mask": attention_mask},
                      torch.tensor(labels, dtype=torch.long))


class AnswerScorer(nn.Module):
    """A causal LM read as a classifier over its answer token: `[batch, classes + 1]` log-probabilities
    (the label words', then every other token's together). `lm` is the plain Hugging Face model, so
    its LoRA layers are named as peft names them on that model (`peer.export` relies on it)."""

    def __init__(self, lm: nn.Module, answer_ids: list[int]) -> None:
        super().__init__()
        self.lm = lm
        self.register_buffer("answer_ids", torch.tensor(answer_ids, dtype=torch.long), persistent=False)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        width = int(attention_mask.sum(dim=1).max())  # right padding: the columns after it are padding alone
        input_ids, attention_mask = input_ids[:, :width], attention_mask[:, :width]
        hidden = self.lm.model(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        last = attention_mask.sum(dim=1) - 1
        at_answer = hidden[torch.arange(hidden.shape[0], device=hidden.device), last]
        log_probs = torch.log_softmax(self.lm.lm_head(at_answer).float(), dim=-1)
        words = log_probs[:, self.answer_ids]
        # log(1 - Σ p_word), kept finite when the words hold (almost) all the mass
        rest = torch.log(-torch.expm1(torch.logsumexp(words, dim=-1).clamp(max=-1e-6)))
        return torch.cat([words, rest[:, None]], dim=1)


def answer_workload_data(tokenizer, train: tuple[list[str], list[int]], test: tuple[list[str], list[int]],
                         max_length: int = MAX_LENGTH) -> tuple[TensorData, TensorData]:
    """(pool, test) as prompt tensors. The test set is ordered by prompt length: an evaluation pass then
    holds prompts of similar length, and cutting it to its longest prompt wastes little (a mean over
    the set does not depend on its order)."""
    test_data = encode_prompts(tokenizer, *test, max_length)
    order = torch.argsort(test_data.features["attention_mask"].sum(dim=1), stable=True)
    return encode_prompts(tokenizer, *train, max_length), test_data.subset(order)
