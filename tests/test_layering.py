"""The rooms import each other one way only, and the node knows no rule and no transport by name.

robust and topology are pure mathematics at the bottom; gossip (wire, codecs, transports)
may use robust's record types; peer builds on both; sim runs peers; the `loragossip`
command sits on top and may import them all.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import robust

ROOT = Path(__file__).resolve().parent.parent
ALLOWED = {
    "robust": set(),
    "topology": set(),
    "gossip": {"robust"},
    "peer": {"gossip", "robust", "topology"},
    "sim": {"peer", "gossip", "robust", "topology"},
    "loragossip": {"peer", "gossip", "robust", "topology", "sim"},
}


def modules(package: str) -> list[Path]:
    return sorted((ROOT / package).rglob("*.py"))


def imported_rooms(path: Path) -> set[str]:
    rooms = set()
    for node in ast.walk(ast.parse(path.read_text())):
        names = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        rooms.update(name.split(".")[0] for name in names if name.split(".")[0] in ALLOWED)
    return rooms


@pytest.mark.parametrize("package", sorted(ALLOWED))
def test_each_room_imports_only_the_rooms_below_it(package):
    crossing = {str(path.relative_to(ROOT)): sorted(imported_rooms(path) - ALLOWED[package] - {package})
                for path in modules(package)}
    assert {path: rooms for path, rooms in crossing.items() if rooms} == {}


def test_the_node_side_never_asks_which_rule_or_transport_it_has():
    rule_classes = {cls.__name__ for cls in robust.RULES.values()}
    found = []
    for path in modules("peer"):
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, ast.Call) or not isinstance(node.func, ast.Name) or len(node.args) < 2:
                continue
            if node.func.id == "isinstance" and rule_classes & {n.id for n in ast.walk(node.args[1])
                                                                if isinstance(n, ast.Name)}:
                found.append(f"{path.name}:{node.lineno} isinstance on a rule")
            if node.func.id in ("getattr", "hasattr") and "transport" in ast.unparse(node.args[0]):
                found.append(f"{path.name}:{node.lineno} {node.func.id} on a transport")
    assert found == []
