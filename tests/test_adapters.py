import subprocess
import sys

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from safetensors.torch import load_file

from peer.adapters import Adapter, AdapterError
from peer.genesis import Genesis
from peer.workloads import build_workload

GENESIS = Genesis()


def _adapter(scheme, **adapter):
    genesis = GENESIS.replace(adapter={"scheme": scheme, **adapter})
    return Adapter(build_workload(genesis).build_base(), genesis)


@pytest.mark.parametrize("scheme", ["ffa", "sb"])
def test_two_processes_hold_byte_identical_frozen_factors(scheme, tmp_path):
    out = tmp_path / "factors.safetensors"
    script = (
        "import torch; from safetensors.torch import save_file\n"
        "torch.manual_seed(12345); torch.randn(1000)  # a different global RNG state\n"
        "from peer.genesis import Genesis; from peer.workloads import build_workload\n"
        "from peer.adapters import Adapter\n"
        f"g = Genesis().replace(adapter={{'scheme': '{scheme}'}})\n"
        "a = Adapter(build_workload(g).build_base(), g)\n"
        f"save_file({{k: v.contiguous() for k, v in a.frozen_factors().items()}}, '{out}')\n"
    )
    subprocess.run([sys.executable, "-c", script], check=True, timeout=120)
    theirs = load_file(out)
    mine = _adapter(scheme).frozen_factors()
    assert mine.keys() == theirs.keys() and mine
    for name in mine:
        assert mine[name].numpy().tobytes() == theirs[name].numpy().tobytes()


def test_trainable_parts_per_scheme():
    ffa, sb, lora = _adapter("ffa"), _adapter("sb"), _adapter("lora")
    assert all("lora_B" in n or "head" in n for n in ffa.spec.names)
    assert all("parametrizations" in n or "head" in n for n in sb.spec.names)
    assert any("lora_A" in n for n in lora.spec.names) and any("lora_B" in n for n in lora.spec.names)
    core = [t for t in sb.spec.tensors if "parametrizations" in t.name]
    assert core and all(t.shape == (8, 8) for t in core)  # r² numbers per module
    assert sb.spec.numel < ffa.spec.numel < lora.spec.numel


@pytest.mark.parametrize("scheme", ["ffa", "sb", "lora"])
def test_vector_round_trip_and_zero_delta_at_start(scheme):
    adapter = _adapter(scheme)
    assert all(float(d.abs().max()) == 0 for d in adapter.delta_weights().values())
    v = torch.randn(adapter.spec.numel)
    adapter.set_vector(v)
    assert torch.equal(adapter.get_vector(), v)
    with pytest.raises(ValueError):
        adapter.set_vector(torch.zeros(3))


def _mean_delta_gap(scheme, vectors):
    adapter = _adapter(scheme)
    deltas = []
    for v in vectors:
        adapter.set_vector(v)
        deltas.append(adapter.delta_weights())
    adapter.set_vector(torch.stack(vectors).mean(dim=0))
    of_mean = adapter.delta_weights()
    return max(float((torch.stack([d[k] for d in deltas]).mean(dim=0) - of_mean[k]).abs().max()) for k in of_mean)


@settings(max_examples=15)
@given(peers=st.integers(2, 6), seed=st.integers(0, 10_000), scheme=st.sampled_from(["ffa", "sb"]))
def test_averaging_trainable_vectors_averages_delta_w_exactly(peers, seed, scheme):
    gen = torch.Generator().manual_seed(seed)
    numel = _adapter(scheme).spec.numel
    vectors = [torch.randn(numel, generator=gen) for _ in range(peers)]
    assert _mean_delta_gap(scheme, vectors) < 1e-4


def test_lora_averaging_is_inexact():
    gen = torch.Generator().manual_seed(0)
    numel = _adapter("lora").spec.numel
    vectors = [torch.randn(numel, generator=gen) for _ in range(4)]
    assert _mean_delta_gap("lora", vectors) > 0.1


def test_sb_svd_init_and_clear_errors():
    adapter = _adapter("sb", sb_init="svd")
    factors = adapter.frozen_factors()
    a = next(v for k, v in factors.items() if k.endswith(".A"))
    assert torch.allclose(a @ a.T, torch.eye(8), atol=1e-4)  # right singular vectors are orthonormal
    with pytest.raises(AdapterError, match="match no Linear module"):
        _adapter("ffa", target_modules=["query"])
