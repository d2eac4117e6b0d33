"""`loragossip export`: a peft folder that plain transformers + peft load to the same logits."""

from __future__ import annotations

import pytest
import torch
from peft import PeftModel

from loragossip.main import main
from peer.adapters import Adapter
from peer.checkpoint import CheckpointStore
from peer.export import export_adapter, plain_base
from peer.genesis import Genesis, to_toml
from peer.trainer import Trainer
from peer.workloads import build_workload

LM = Genesis().replace(model={"workload": "llama-tiny", "base": "tiny-llama"},
                       adapter={"target_modules": ["q_proj", "v_proj"], "modules_to_save": []})
DIGITS = Genesis()


def _random_adapter(workload, genesis: Genesis, seed: int) -> tuple[Adapter, torch.Tensor]:
    adapter = Adapter(workload.build_base(), genesis)
    vector = torch.randn(adapter.spec.numel, generator=torch.Generator().manual_seed(seed)) * 0.2
    adapter.set_vector(vector)
    return adapter, vector


@pytest.mark.parametrize("scheme", ["ffa", "sb", "lora"])
def test_a_tiny_llama_adapter_loads_in_plain_peft_with_equal_logits(tmp_path, scheme):
    genesis = LM.replace(adapter={"scheme": scheme})
    workload = build_workload(genesis)
    adapter, vector = _random_adapter(workload, genesis, seed=1)
    folder = export_adapter(vector, genesis, workload, tmp_path / scheme)
    assert {"adapter_config.json", "adapter_model.safetensors"} <= {p.name for p in folder.iterdir()}
    plain = plain_base(workload.build_base())[0]
    loaded = PeftModel.from_pretrained(plain_base(workload.build_base())[0], folder).eval()
    inputs = {k: v[:4] for k, v in workload.test.features.items()}
    with torch.no_grad():
        ours = adapter.model.eval().base_model.model.lm(**inputs).logits
        theirs = loaded(**inputs).logits
        untouched = plain.eval()(**inputs).logits
    assert torch.allclose(ours, theirs, atol=1e-5)
    assert not torch.allclose(ours, untouched, atol=1e-3)  # the adapter does change the model


def test_a_digits_adapter_with_its_head_loads_in_plain_peft(tmp_path):
    workload = build_workload(DIGITS)
    adapter, vector = _random_adapter(workload, DIGITS, seed=2)
    folder = export_adapter(vector, DIGITS, workload, tmp_path / "digits")
    loaded = PeftModel.from_pretrained(workload.build_base(), folder).eval()
    x = workload.test.features["x"][:16]
    with torch.no_grad():
        assert torch.allclose(adapter.model.eval()(x), loaded(x), atol=1e-6)


@pytest.fixture(scope="module")
def simulation_run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("run")
    config = folder / "run.toml"
    config.write_text('[run]\nname = "x"\nmode = "sync"\nrounds = 2\neval_every = 2\n[peers]\ncount = 4\n'
                      '[topology]\ngraph = "regular"\ndegree = 2\n', encoding="utf-8")
    assert main(["sim", str(config), "--out", str(folder / "out"), "--no-progress"]) == 0
    return folder / "out"


def test_export_from_a_simulation_takes_the_honest_average_or_one_peer(simulation_run, tmp_path, capsys):
    from sim.adapters_file import read_adapters

    vectors, honest, _ = read_adapters(simulation_run)
    workload = build_workload(DIGITS)
    x = workload.test.features["x"][:16]
    for flags, vector in (([], vectors.mean(dim=0)), (["--peer", "2"], vectors[2])):
        out = tmp_path / f"adapter{len(flags)}"
        assert main(["export", str(simulation_run), "--out", str(out), *flags]) == 0
        reference = Adapter(workload.build_base(), DIGITS)
        reference.set_vector(vector)
        loaded = PeftModel.from_pretrained(workload.build_base(), out).eval()
        with torch.no_grad():
            assert torch.allclose(reference.model.eval()(x), loaded(x), atol=1e-6)
    assert all(honest) and "PeftModel.from_pretrained" in capsys.readouterr().out


def test_export_refuses_what_it_cannot_do_in_one_line(simulation_run, tmp_path, capsys):
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "keep.txt").write_text("mine", encoding="utf-8")
    (tmp_path / "damaged").mkdir()
    (tmp_path / "damaged" / "adapters.safetensors").write_bytes(b"\x00garbage")
    cases = [
        ([str(tmp_path / "damaged"), "--out", str(tmp_path / "c")], "not a simulation's adapters file"),
        ([str(simulation_run), "--out", str(tmp_path / "full")], "--force"),
        ([str(simulation_run), "--out", str(tmp_path / "a"), "--peer", "9"], "peers 0..3"),
        ([str(tmp_path), "--out", str(tmp_path / "b")], "neither a simulation"),
    ]
    for argv, message in cases:
        assert main(["export", *argv]) == 2
        err = capsys.readouterr().err
        assert message in err and len(err.strip().splitlines()) == 1
    assert (tmp_path / "full" / "keep.txt").read_text(encoding="utf-8") == "mine"


def test_export_from_a_daemon_state_directory(tmp_path, capsys):
    workload = build_workload(DIGITS)
    trainer = Trainer(Adapter(workload.build_base(), DIGITS), workload.train.subset(range(64)), DIGITS.training,
                      torch.device("cpu"), 0)
    trainer.train_steps(3)
    tensors, state = trainer.state()
    state.update(round=7, seq=1, network_id=DIGITS.network_id.hex())
    CheckpointStore(tmp_path / "state" / "checkpoints").save(tensors, state)
    genesis = tmp_path / "genesis.toml"
    genesis.write_text(to_toml(DIGITS), encoding="utf-8")
    assert main(["export", str(tmp_path / "state"), "--out", str(tmp_path / "out")]) == 2
    assert "needs --genesis" in capsys.readouterr().err
    other = tmp_path / "other.toml"
    other.write_text(to_toml(DIGITS.replace(network={"seed": 5})), encoding="utf-8")
    assert main(["export", str(tmp_path / "state"), "--out", str(tmp_path / "out"), "--genesis", str(other)]) == 2
    assert "belongs to network" in capsys.readouterr().err
    assert main(["export", str(tmp_path / "state"), "--out", str(tmp_path / "out"), "--genesis", str(genesis)]) == 0
    assert "round 7" in capsys.readouterr().out
    loaded = PeftModel.from_pretrained(workload.build_base(), tmp_path / "out").eval()
    x = workload.test.features["x"][:16]
    with torch.no_grad():
        assert torch.allclose(trainer.model.eval()(x), loaded(x), atol=1e-6)
