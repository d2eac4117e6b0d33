import pytest

from peer.genesis import Genesis, GenesisError, default_genesis_text, load_genesis, parse_genesis, to_toml


def test_default_file_parses_to_the_dataclass_defaults(tmp_path):
    path = tmp_path / "g.toml"
    path.write_text(default_genesis_text())
    assert load_genesis(path) == Genesis()
    assert len(Genesis().network_id) == 32


def test_id_ignores_key_order_comments_and_int_vs_float(tmp_path):
    a = tmp_path / "a.toml"
    b = tmp_path / "b.toml"
    a.write_text('[adapter]\nrank = 8\nalpha = 16.0\n[network]\nseed = 5\n')
    b.write_text('# a comment\n[network]\nseed = 5\n\n[adapter]\nalpha = 16   # int, in a float field\nrank = 8\n')
    assert load_genesis(a).network_id == load_genesis(b).network_id


def test_any_change_changes_the_id():
    base = Genesis()
    assert base.replace(adapter={"rank": 4}).network_id != base.network_id
    assert base.replace(aggregation={"params": {"iterations": 5}}).network_id != base.network_id


def test_to_toml_round_trips(tmp_path):
    genesis = Genesis().replace(aggregation={"rule": "krum", "params": {"f": 2}}, gossip={"codec": "int8"})
    path = tmp_path / "g.toml"
    path.write_text(to_toml(genesis))
    assert load_genesis(path).network_id == genesis.network_id


@pytest.mark.parametrize(
    ("raw", "fragment"),
    [
        ({"adapter": {"scheme": "dora"}}, "adapter.scheme: 'dora' is not one of ['ffa', 'sb', 'lora']"),
        ({"adapter": {"rank": 0}}, "adapter.rank: 0 is outside"),
        ({"adapter": {"rank": "8"}}, "adapter.rank: expected an integer"),
        ({"adapter": {"rank": True}}, "adapter.rank: expected an integer"),
        ({"gossip": {"codec": "zip"}}, "gossip.codec"),
        ({"gossip": {"topk_fraction": float("nan")}}, "finite"),
        ({"network": {"protocol": 2}}, "network.protocol"),
        ({"aggregation": {"rule": "average"}}, "aggregation.rule: 'average' is not one of"),
        ({"aggregation": {"params": {"f": [1]}}}, "aggregation.params.f"),
        ({"model": {"base_hash": "xyz"}}, "model.base_hash"),
        ({"adapter": {"colour": "red"}}, "unknown key(s) ['colour']"),
        ({"extras": {}}, "unknown section(s) ['extras']"),
        ({"adapter": []}, "[adapter]: expected a table"),
        ({"training": {"quasi_global_momentum": 1.0}}, "training.quasi_global_momentum: 1.0 is outside"),
    ],
)
def test_bad_fields_name_the_field_and_the_expectation(raw, fragment):
    with pytest.raises(GenesisError) as info:
        parse_genesis(raw)
    assert fragment in str(info.value)


def test_unreadable_and_invalid_files(tmp_path):
    with pytest.raises(GenesisError, match="cannot read genesis"):
        load_genesis(tmp_path / "missing.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("[network\n")
    with pytest.raises(GenesisError, match="not valid TOML"):
        load_genesis(bad)
