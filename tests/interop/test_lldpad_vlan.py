"""The VLAN part of the lldpad interop suite: lldpad station (vdptool) ↔ qbg bridge on a
VLAN-filtering Linux bridge, run through ``qbg interop lldpad --vlan-only --json``.

Kernel state is the oracle (``bridge vlan show``, ``bridge fdb show``): our bridge puts each
associated VSI's VIDs on the port, keeps a VID while another VSI still uses it, and removes it
on de-associate and on keep-alive timeout (lldpad's ECP egress dropped).  The CI machines'
kernel has no bridge VLAN filtering, so conftest deselects this module there and
tests/vm/test_vlan_in_guest.py runs it inside the QEMU guest with Debian's kernel (≈ 80 s of
guest time).  Needs root, lldpad/vdptool, dumpcap, tshark and nftables; fails, never skips.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from qbg.interop.lldpad import LldpadError, require_tools

pytestmark = [pytest.mark.interop, pytest.mark.netns, pytest.mark.vlan]

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> tuple[int, dict[str, Any], str]:
    if os.geteuid() != 0:
        pytest.fail("the lldpad interop suite needs root (CI runs it as root)")
    try:
        require_tools()
    except LldpadError as err:
        pytest.fail(str(err))
    caps = tmp_path_factory.mktemp("vlan-captures")
    cmd = [sys.executable, "-m", "qbg.interopcli", "--vlan-only", "--json", "--captures"]
    p = subprocess.run(
        [*cmd, str(caps)],
        capture_output=True,
        text=True,
        timeout=900,
        cwd=ROOT,
        check=False,
    )
    print(p.stderr[-6000:])
    try:
        out = json.loads(p.stdout)
    except ValueError:
        pytest.fail(f"no JSON on stdout (rc {p.returncode}):\n{p.stdout[-2000:]}")
    return p.returncode, out, p.stderr


def rows(out: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {r["scenario"]: r for r in out["results"]}


def row(out: dict[str, Any], needle: str) -> dict[str, Any]:
    found = [r for name, r in rows(out).items() if needle in name]
    assert len(found) == 1, (needle, list(rows(out)))
    return found[0]


def test_every_vlan_row_passes(run: tuple[int, dict[str, Any], str]) -> None:
    rc, out, _ = run
    bad = [r for r in out["results"] if r["result"] != "pass"]
    assert not bad, json.dumps(bad, indent=2)
    assert rc == 0 and out["ok"] is True
    assert out["vlan"]["kernel_vlan_filtering"] is True
    assert out["vlan"]["checked"] is True
    assert all(r["role"] == "bridge" and r["variant"] == "std" for r in out["results"])


def test_vids_follow_the_associations(run: tuple[int, dict[str, Any], str]) -> None:
    _, out, _ = run
    first = row(out, "VLAN: EVB negotiated")["evidence"]
    assert "vlan_filtering 1" in first and "vlan_enforced True" in first
    assert "bridge vlan show dev swp1: [1] " in first
    assoc = row(out, "associate puts the VID on the port")["evidence"]
    assert "bridge vlan show dev swp1: [1, 100]" in assoc
    assert "filters=100-02:aa:00:00:00:0b" in assoc  # vdptool's echo of lldpad's request
    assert "vlan 100 static" in assoc
    more = row(out, "second VSI on VID 100")["evidence"]
    assert "port VIDs [1, 100] (no 200)" in more  # pre-associate programs nothing
    assert "bridge vlan show dev swp1: [1, 100, 200, 201]" in more


def test_shared_vid_is_reference_counted(run: tuple[int, dict[str, Any], str]) -> None:
    _, out, _ = run
    kept = row(out, "one of two VSIs on VID 100 keeps")["evidence"]
    assert "bridge vlan show dev swp1: [1, 100, 200, 201]" in kept
    gone = row(out, "last VSI on VID 100 removes")["evidence"]
    assert "bridge vlan show dev swp1: [1, 200, 201]" in gone


def test_keep_alive_timeout_removes_the_vids(run: tuple[int, dict[str, Any], str]) -> None:
    _, out, _ = run
    ev = row(out, "keep-alive timeout removes the VIDs")["evidence"]
    assert "VIDs [1, 200, 201] → [1] and fdb empty" in ev


def test_capture_passes_pcap_check_and_tshark(run: tuple[int, dict[str, Any], str]) -> None:
    _, out, _ = run
    (cap,) = out["captures"]
    assert Path(cap).name == "lldpad-station-vs-qbg-bridge-vlan.pcap"
    assert Path(cap).stat().st_size > 24
    ev = row(out, "capture: qbg pcap check")["evidence"]
    assert "0 violations in qbg frames" in ev and "tshark malformed/errors: 0" in ev
