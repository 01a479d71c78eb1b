"""Shared fixtures: corpus location, root/netns checks."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest
from hypothesis import settings

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared"
# The CI machine has 2 cores shared with network-namespace daemons and QEMU: per-example time
# limits would make property tests flaky without testing anything about qbg.
settings.register_profile("qbg", deadline=None)
settings.load_profile("qbg")

# A shell that starts a job in the background without job control (`.ci/run &`, nohup, some CI
# runners) starts it with SIGINT ignored, and every child inherits that: the demo and topology
# children would then never see the SIGINT the interrupt tests send them.  A handler (unlike
# SIG_IGN) is reset to the default across exec, so installing Python's own gives each child the
# SIGINT a terminal would.
if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)

CORPUS = Path(os.environ.get("QBG_CORPUS", SHARED / "corpus"))


def corpus_files() -> list[Path]:
    """Every capture of the corpus (the tests iterate the directory, not a hand-picked list)."""
    return sorted(CORPUS.glob("*.pcap"))


@pytest.fixture
def corpus() -> Path:
    if not CORPUS.is_dir():
        pytest.fail(f"corpus not found at {CORPUS} (set QBG_CORPUS)")
    return CORPUS


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Tests marked ``vlan`` need bridge VLAN filtering and 802.1Q.  Where this kernel lacks them
    they are deselected here and run inside the QEMU guest by tests/vm/test_vlan_in_guest.py."""
    from tests.kernelcaps import vlan_capable

    if not any(item.get_closest_marker("vlan") for item in items):
        return
    if os.environ.get("QBG_IN_GUEST") or vlan_capable():
        return
    keep: list[pytest.Item] = []
    moved: list[pytest.Item] = []
    for item in items:
        (moved if item.get_closest_marker("vlan") else keep).append(item)
    if moved:
        config.hook.pytest_deselected(items=moved)
        items[:] = keep
