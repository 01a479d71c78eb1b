"""Fixtures for the network-namespace tests (root; run in CI, never skipped)."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from qbg.interop.netns import Topology

GROUP_NB = bytes.fromhex("0180c2000000")
GROUP_NONTPMR = bytes.fromhex("0180c2000003")
GROUP_NCB = bytes.fromhex("0180c200000e")


@pytest.fixture
def topo() -> Iterator[Topology]:
    if os.geteuid() != 0:
        pytest.fail("netns tests need root (CI runs them as root)")
    with Topology() as t:
        yield t


def frame(dst: bytes, src: bytes, ethertype: int, payload: bytes = b"") -> bytes:
    """An Ethernet II frame padded to 60 octets."""
    raw = dst + src + ethertype.to_bytes(2, "big") + payload
    return raw + bytes(max(0, 60 - len(raw)))


def collect(into: list[Any], items: list[Any]) -> int:
    """Append ``items`` to ``into``; the new length (for ``wait_for`` predicates)."""
    into.extend(items)
    return len(into)


def wait_for(pred: Callable[[], object], timeout: float = 2.0) -> object:
    """Poll ``pred`` until truthy or ``timeout``; return its last value."""
    deadline = time.monotonic() + timeout
    while True:
        value = pred()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(0.02)
