"""``qbg demo`` end to end: the real daemons in namespaces, every claim checked.

Runs the demo as a subprocess (``python -m qbg.democli``, the same code ``qbg demo`` runs) and
reads its ``--json`` object.  The VLAN variant is marked ``vlan``: where this kernel lacks VLAN
filtering/802.1Q it runs inside the QEMU guest (tests/vm/test_vlan_in_guest.py).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from qbg.config import load_config_text
from qbg.interop.demo import DemoOptions, bridge_config, station_config

ROOT = Path(__file__).resolve().parents[2]
KEYS = ("vms", "associated", "ping_before_ok", "ping_after_ok", "fdb_entries", "hairpin")


def _root() -> None:
    if os.geteuid() != 0:
        pytest.fail("the demo needs root (CI runs the netns tests as root)")


def run_demo(*args: str, timeout: float = 300) -> tuple[subprocess.CompletedProcess[str], Any]:
    proc = subprocess.run(
        [sys.executable, "-m", "qbg.democli", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=ROOT,
    )
    lines = proc.stdout.strip().splitlines()
    assert lines, f"no JSON on stdout (rc {proc.returncode}):\n{proc.stderr[-4000:]}"
    return proc, json.loads(lines[-1])


def namespaces() -> set[str]:
    out = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    return {line.split()[0] for line in out.splitlines() if line.strip()}


def assert_all_claims(proc: subprocess.CompletedProcess[str], res: dict[str, Any]) -> None:
    failed = [c for c in res["claims"] if not c["ok"]]
    assert proc.returncode == 0 and res["ok"] and not failed, (
        f"rc {proc.returncode}, error {res['error']}, failed {failed}\n{proc.stderr[-4000:]}"
    )


@pytest.mark.netns
def test_demo_two_vms_every_claim_holds() -> None:
    _root()
    proc, res = run_demo("--vms", "2", "--json")
    for key in (*KEYS, "deassoc_cut"):
        assert key in res, key
    assert_all_claims(proc, res)
    pairs = 1  # two VMs on one segment (untagged, or both on the first VLAN)
    assert res["vms"] == 2
    assert res["associated"] == res["vms"]
    assert res["pairs"] == pairs
    assert res["ping_before_ok"] == 0
    assert res["ping_after_ok"] == pairs
    assert res["fdb_entries"] >= res["vms"]
    assert res["hairpin"] is True
    assert res["deassoc_cut"] is True
    assert res["clean_after"] is True
    # shown on stderr with --json: the human steps and the summary
    assert "[6] de-associate vm2" in proc.stderr
    assert "Summary" in proc.stderr
    # everything torn down: namespaces and the work dir
    assert not set(res["namespaces"].values()) & namespaces()
    assert not Path(res["workdir"]).exists()


@pytest.mark.netns
def test_daemon_that_fails_to_start_is_reported_and_cleaned_up() -> None:
    _root()
    before = namespaces()
    proc, res = run_demo("--vms", "2", "--json", "--extra-bridge-config", "{bogus_key: 1}")
    try:
        assert proc.returncode == 1
        assert res["ok"] is False
        assert "qbg bridge exited with status" in res["error"]
        assert "bogus_key" in res["error"]  # the daemon's own config error is shown
        assert "ERROR: qbg bridge exited" in proc.stderr
        assert not set(res["namespaces"].values()) & namespaces()
        assert not {n for n in namespaces() - before if n.startswith("qbgt-demo-")}
        assert Path(res["workdir"], "bridge.log").exists()  # kept for the post-mortem
    finally:
        if res.get("workdir", "").startswith("/tmp/qbgdemo-"):
            shutil.rmtree(res["workdir"], ignore_errors=True)


@pytest.mark.netns
def test_keep_leaves_the_testbed_up_and_teardown_removes_it() -> None:
    _root()
    proc, res = run_demo("--vms", "2", "--json", "--keep")
    work = Path(res["workdir"])
    try:
        assert_all_claims(proc, res)
        assert set(res["namespaces"].values()) <= namespaces()
        assert f"demo --teardown {work}" in proc.stderr
        assert "ip netns exec" in proc.stderr
        st = subprocess.run(
            [sys.executable, "-m", "qbg.cli", "ctl", "--json", "status"],
            capture_output=True,
            text=True,
            timeout=30,
            cwd=ROOT,
            env=dict(os.environ, QBG_CONTROL_SOCKET=str(work / "station.sock")),
        )
        assert st.returncode == 0, st.stderr
        assert json.loads(st.stdout)["role"] == "station"
    finally:
        td = subprocess.run(
            [sys.executable, "-m", "qbg.democli", "--teardown", str(work)],
            capture_output=True,
            text=True,
            timeout=60,
            cwd=ROOT,
        )
    assert td.returncode == 0, td.stdout + td.stderr
    assert not set(res["namespaces"].values()) & namespaces()
    assert not work.exists()


@pytest.mark.vlan
@pytest.mark.netns
def test_demo_vlans_added_and_removed() -> None:
    _root()
    # vm1 + vm2 on VLAN 100, vm3 alone on VLAN 200: one pair, two cross-VLAN pairs
    proc, res = run_demo("--vms", "3", "--vlans", "100,200", "--json", timeout=1200)
    assert_all_claims(proc, res)
    assert res["vlan_mode"] is True
    assert res["vlans"] == [100, 200]
    assert res["vlans_added"] == [100, 200]
    assert res["vlans_removed"] == [100, 200]
    assert res["pairs"] == 1
    assert res["ping_after_ok"] == 1
    assert res["cross_vlan_ok"] == 0
    assert {(e["mac"], e["vid"]) for e in res["fdb"]} >= {
        ("02:51:00:00:00:01", 100),
        ("02:51:00:00:00:02", 100),
        ("02:51:00:00:00:03", 200),
    }
    assert res["deassoc_vm"] == "vm2"
    assert res["deassoc_cut"] is True
    assert "bridge vlan show dev swp1" in proc.stderr


def test_generated_configs_pass_the_config_checker(tmp_path: Path) -> None:
    for lldp in ("own", "lldpd"):
        opts = DemoOptions(lldp=lldp)
        sock = "/run/lldpd/lldpd.socket" if lldp == "lldpd" else None
        b = bridge_config(opts, tmp_path, lock=False, lldpd_socket=sock)
        s = station_config(opts, tmp_path, lldpd_socket=sock)
        for cfg in (b, s):
            parsed = load_config_text(yaml.safe_dump(cfg), "<demo>", cfg["role"])
            assert parsed.interfaces[0].lldp.transport == lldp
            if lldp == "lldpd":
                assert cfg["interfaces"][0]["lldp"] == {
                    "transport": "lldpd",
                    "socket": "/run/lldpd/lldpd.socket",
                }


@pytest.mark.netns
def test_demo_over_lldpd() -> None:
    """``qbg demo --lldp lldpd``: one lldpd per namespace carries the EVB TLV; every claim
    holds and nothing is left behind."""
    _root()
    before = namespaces()
    proc, res = run_demo("--vms", "2", "--json", "--lldp", "lldpd")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert res["associated"] == 2 and res["hairpin"] is True and res["deassoc_cut"] is True
    assert "lldpd on the switch" in proc.stderr and "lldpd on the hypervisor" in proc.stderr
    assert namespaces() <= before


@pytest.mark.netns
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_interrupt_tears_everything_down(sig: signal.Signals) -> None:
    _root()
    before = namespaces()
    proc = subprocess.Popen(
        [sys.executable, "-m", "qbg.democli", "--vms", "2", "--json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    assert proc.stderr is not None
    seen = ""
    for line in proc.stderr:  # wait until the daemons run and the VMs exist
        seen += line
        if line.startswith("[3]"):
            break
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=60)
    res = json.loads(out.strip().splitlines()[-1])
    try:
        assert proc.returncode == 1, seen + err
        assert res["error"] == "interrupted"
        assert "interrupted, tearing down" in err
        assert not {n for n in namespaces() - before if n.startswith("qbgt-demo-")}
        ps = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True).stdout
        assert res["workdir"] not in ps  # no daemon of this run is left
    finally:
        shutil.rmtree(res["workdir"], ignore_errors=True)


@pytest.mark.slow
@pytest.mark.netns
def test_vm_flag_runs_the_demo_in_the_guest_with_vlans() -> None:
    _root()
    if os.environ.get("QBG_IN_GUEST"):
        pytest.skip("already inside the QEMU guest (no nested guest)")
    from qbg.interop.vm import available

    reason = available()
    if reason:
        pytest.fail(f"QEMU harness unavailable: {reason}")
    proc, res = run_demo("--vm", "--vms", "2", "--json", timeout=1200)
    assert_all_claims(proc, res)
    assert res["vlan_mode"] is True  # the guest kernel has VLAN filtering and 802.1Q
    assert res["vlans_added"] == [100] and res["vlans_removed"] == [100]
    assert "booting Linux" in proc.stderr and "Summary" in proc.stderr
