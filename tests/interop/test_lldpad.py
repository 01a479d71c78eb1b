"""The lldpad interoperability suite (interop/suite.py) in CI: both roles, std and draft.

Needs root, lldpad/lldptool/vdptool, dumpcap, tshark and nftables; fails (never skips) when any
of them is missing.  One suite run is shared by all tests of this module (≈ 3 minutes).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from qbg.interop import suite as suite_mod
from qbg.interop.lldpad import (
    LldpadError,
    lldpad_conf,
    parse_evb,
    parse_neighbor,
    parse_vdp_reply,
    require_tools,
)
from qbg.interop.suite import GUEST_TEST, VLAN_SCENARIO, Suite, format_table, run_suite

pytestmark = [pytest.mark.interop, pytest.mark.netns]

EVB_TEXT = """EVB Configuration TLV
\tbridge:rrcap,rrctr(0x3)
\tstation:rrreq,rrstat(0x5)
\tretries:3 rte:14
\tmode:station r/l:1 rwd:20
\tr/l:1 rka:20
"""


def test_parsers() -> None:
    ev = parse_evb(EVB_TEXT)
    assert ev is not None
    assert ev["bridge_status"] == 3 and ev["station_status"] == 5
    assert (ev["retries"], ev["rte"], ev["rwd"], ev["rka"]) == (3, 14, 20, 20)
    nb = parse_neighbor(
        "Chassis ID TLV\n\tMAC: 02:00:00:00:b0:01\nPort ID TLV\n\tMAC: 02:00:00:00:b0:01\n"
        "Time to Live TLV\n\t120\n"
    )
    assert nb == {
        "evb": False,
        "chassis_id": "02:00:00:00:b0:01",
        "port_id": "02:00:00:00:b0:01",
        "ttl": 120,
    }
    r = parse_vdp_reply(0, "Response from VDP\n\tmode = assoc\n\tfilter = 100-02:aa:00:00:00:01\n")
    assert r.answered and r.fields["mode"] == "assoc" and r.filters == ["100-02:aa:00:00:00:01"]
    silent = parse_vdp_reply(0, "")
    assert not silent.answered  # Q-T6: exit status 0, nothing printed
    assert parse_vdp_reply(1, "FAILED: Invalid parameters\n").failed == "Invalid parameters"
    conf = lldpad_conf("veth-br", "bridge", ecprte=8)
    assert 'evbmode = "bridge";' in conf and "ecprte = 8;" in conf and "adminStatus = 3;" in conf
    assert 'rte = "15";' in lldpad_conf("x", "station", "draft")


@pytest.fixture(scope="module")
def suite(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Suite]:
    if os.geteuid() != 0:
        pytest.fail("the lldpad interop suite needs root (CI runs it as root)")
    try:
        require_tools()
    except LldpadError as err:
        pytest.fail(str(err))
    caps = tmp_path_factory.mktemp("captures")
    s = run_suite(["station", "bridge"], ["std", "draft"], captures=caps, log=print)
    print(format_table(s.results))
    yield s


def test_suite_has_every_scenario(suite: Suite) -> None:
    names = {(r.role, r.variant, r.scenario) for r in suite.results}
    for role in ("station", "bridge"):
        for needle in (
            "EVB negotiation",
            "LLDP: each side",
            "associate",
            "keep-alives",
            "50 VSIs",
            "Cisco OUI",
            "LLDP shutdown",
            "capture: qbg pcap check",
        ):
            assert any(r == role and v == "std" and needle in n for r, v, n in names), (
                role,
                needle,
            )
    assert any(r == "bridge" and "policy rejection" in n for r, _, n in names)
    assert any(r == "bridge" and "keep-alive timeout" in n for r, _, n in names)
    assert any(v == "draft" for _, v, _ in names)


def test_no_failures(suite: Suite) -> None:
    failed = [r for r in suite.results if r.result == "fail"]
    assert not failed, "\n" + format_table(failed)


def test_vlan_part_checked_or_reported(suite: Suite) -> None:
    """On a kernel with bridge VLAN filtering the VLAN session ran and passed; without it one
    pending row says it could not be checked here and names where it is covered."""
    vlan_rows = [r for r in suite.results if r.scenario.startswith("VLAN")]
    if suite_mod.kernel_vlan_filtering():
        assert suite.vlan["checked"] is True
        assert len(vlan_rows) >= 5 and all(r.result == "pass" for r in vlan_rows)
    else:
        assert suite.vlan["checked"] is False and suite.vlan["kernel_vlan_filtering"] is False
        (r,) = vlan_rows
        assert r.scenario == VLAN_SCENARIO and r.result == "pending" and r.role == "bridge"
        assert "not checkable on this kernel" in r.evidence and GUEST_TEST in r.evidence


def test_vlan_part_without_vlan_filtering_is_pending(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The report without VLAN filtering (forced here, whatever this kernel has)."""
    monkeypatch.setattr(suite_mod, "kernel_vlan_filtering", lambda: False)
    s = Suite(tmp_path)
    s.run_bridge_vlan()
    (r,) = s.results
    assert (r.scenario, r.role, r.variant, r.result) == (VLAN_SCENARIO, "bridge", "std", "pending")
    assert "not checkable on this kernel" in r.evidence
    assert GUEST_TEST in r.evidence and "--guest" in r.evidence
    assert s.vlan == {"kernel_vlan_filtering": False, "checked": False, "note": r.evidence}
    assert s.capture_files == []


def test_captures_pass_pcap_check_and_tshark(suite: Suite) -> None:
    n = 5 if suite.vlan.get("checked") else 4
    assert len(suite.capture_files) == n
    rows = [r for r in suite.results if r.scenario == "capture: qbg pcap check + tshark"]
    assert len(rows) == n
    for r in rows:
        assert r.result == "pass", r.evidence
    for f in suite.capture_files:
        assert Path(f).stat().st_size > 24


def test_cli_json_contract() -> None:
    """`qbg interop lldpad --json` prints one JSON object (a short run: bridge role, draft)."""
    if os.geteuid() != 0:
        pytest.fail("needs root")
    p = subprocess.run(
        [
            sys.executable,
            "-m",
            "qbg.interopcli",
            "--role",
            "bridge",
            "--variant",
            "draft",
            "--json",
            "-q",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    out = json.loads(p.stdout)
    assert set(out) >= {"suite", "ok", "results", "passed", "failed", "pending", "captures"}
    assert set(out["vlan"]) == {"kernel_vlan_filtering", "checked", "note"}
    assert out["vlan"]["checked"] is False  # draft only: the VLAN part is not selected
    assert out["suite"] == "lldpad"
    assert p.returncode == (0 if out["ok"] else 1)
    for r in out["results"]:
        assert set(r) == {"scenario", "role", "variant", "result", "evidence", "seconds"}
        assert r["result"] in ("pass", "fail", "pending")
