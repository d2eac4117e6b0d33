import numpy as np
import pytest

from peer.partition import partition

LABELS = np.repeat(np.arange(10), 50)


@pytest.mark.parametrize("scheme", ["iid", "dirichlet", "pathological"])
def test_partitions_are_disjoint_cover_and_seeded(scheme):
    parts = partition(LABELS, 8, scheme, alpha=0.1, classes_per_peer=2, seed=1)
    joined = np.concatenate(parts)
    assert len(joined) == len(set(joined.tolist())) == len(LABELS)
    assert all(len(p) > 0 for p in parts)
    again = partition(LABELS, 8, scheme, alpha=0.1, classes_per_peer=2, seed=1)
    assert all(np.array_equal(a, b) for a, b in zip(parts, again, strict=True))


def test_skew():
    iid = partition(LABELS, 10, "iid", seed=0)
    skewed = partition(LABELS, 10, "dirichlet", alpha=0.05, seed=0)
    patho = partition(LABELS, 10, "pathological", classes_per_peer=2, seed=0)
    assert np.mean([len(np.unique(LABELS[p])) for p in iid]) > 8
    assert np.mean([len(np.unique(LABELS[p])) for p in skewed]) < 5
    assert all(len(np.unique(LABELS[p])) <= 2 for p in patho)


def test_sampled_shards_overlap_and_serve_more_peers_than_samples():
    parts = partition(LABELS, 2000, "sampled", samples_per_peer=16, seed=3)
    assert len(parts) == 2000 and all(len(p) == len(set(p.tolist())) == 16 for p in parts)
    assert len(set(np.concatenate(parts).tolist())) == len(LABELS)  # 32 000 draws from 500 reach them all
    again = partition(LABELS, 2000, "sampled", samples_per_peer=16, seed=3)
    assert all(np.array_equal(a, b) for a, b in zip(parts, again, strict=True))
    with pytest.raises(ValueError, match="samples_per_peer"):
        partition(LABELS, 2, "sampled", samples_per_peer=501)


def test_bad_arguments():
    with pytest.raises(ValueError, match="unknown partitioner"):
        partition(LABELS, 2, "zipf")
    with pytest.raises(ValueError, match=r"only 500 samples.*sampled"):
        partition(LABELS, 501)
