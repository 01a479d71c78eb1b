"""The protocol core stays sans-IO: every module of lldp/, evb/, vdp/ imports only pure stdlib
modules and its own siblings (STYLE habit 1)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CORE = ("lldp", "evb", "vdp")
ALLOWED = {
    "__future__",
    "struct",
    "dataclasses",
    "enum",
    "typing",
    "collections",
    "ipaddress",
    "uuid",
    "heapq",
    "bisect",
    "itertools",
    "functools",
    "contextlib",
    "abc",
    "math",
    "re",
    "operator",
}
ORDER = {"lldp": 0, "evb": 1, "vdp": 2}


def core_modules() -> list[Path]:
    return sorted(p for d in CORE for p in (ROOT / d).rglob("*.py"))


@pytest.mark.parametrize("path", core_modules(), ids=lambda p: str(p.relative_to(ROOT)))
def test_core_imports_only_pure_stdlib(path: Path) -> None:
    tree = ast.parse(path.read_text(), str(path))
    package = path.relative_to(ROOT).parts[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                top = alias.name.split(".")[0]
                assert top in ALLOWED, f"{path.name}: import {alias.name}"
        elif isinstance(node, ast.ImportFrom):
            if node.level == 0:
                top = (node.module or "").split(".")[0]
                assert top in ALLOWED, f"{path.name}: from {node.module} import"
            elif node.level >= 2:
                sibling = (node.module or "").split(".")[0]
                assert sibling in ORDER, f"{path.name}: relative import of {node.module}"
                assert ORDER[sibling] <= ORDER[package], (
                    f"{path.name}: {package} may not import {sibling} (lldp <- evb <- vdp)"
                )


def test_core_reads_no_clock() -> None:
    for path in core_modules():
        text = path.read_text()
        for bad in ("time.time(", "time.monotonic(", "time.sleep(", "random."):
            assert bad not in text, f"{path.name} uses {bad}"
