"""The station and bridge daemons in network namespaces: association programs the Linux bridge,
de-association removes exactly that, restarts lose nothing, bad input changes nothing."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from qbg.interop.netns import Netns
from qbg.interop.testbed import Testbed

pytestmark = pytest.mark.netns

MAC1, MAC2 = "02:aa:00:00:00:01", "02:aa:00:00:00:02"
UUID2 = "00000000-0000-4000-8000-000000000002"


def _assoc_args(n: int, vid: int = 100) -> list[str]:
    return [
        "vsi", "assoc", "-i", "uplink", "--mgrid", "pkmgr", "--type-id", "5",
        "--type-version", "4", "--vsiid", f"00000000-0000-4000-8000-{n:012d}",
        "--filter", f"{vid}-02:aa:00:00:00:{n:02x}",
    ]  # fmt: skip


@pytest.fixture
def tb() -> Testbed:
    with Testbed(hypervisors=2) as bed:
        yield bed


def test_association_programs_and_deassociation_removes(tb: Testbed) -> None:
    tb.start_bridge()
    tb.start_station(0, vsis=[tb.vsi(1)])
    tb.wait_for(lambda: tb.fdb_macs() == {MAC1}, what="static FDB entry of vm1")
    tb.wait_for(lambda: tb.hairpin(0), what="hairpin on swp1")
    assert not tb.hairpin(1), "no hairpin on a port without an EVB station"
    tb.wait_for(
        lambda: tb.ctl("station0", "status")["interfaces"][0]["evb"].get("rr"),
        what="station sees reflective relay granted",
    )
    evb = tb.ctl("station0", "status")["interfaces"][0]["evb"]
    assert evb["state"] == "negotiated" and (evb["r"], evb["rte"], evb["rka"]) == (3, 8, 20)
    # a second VSI through the control API, waiting for the bridge's answer
    res = tb.ctl("station0", *_assoc_args(2))
    assert res["vsi"]["state"] == "WAIT_SYSCMD_2" or res["vsi"]["confirmed_mode"] == "assoc"
    tb.wait_for(lambda: tb.fdb_macs() == {MAC1, MAC2}, what="FDB entry of VSI 2")
    bridge_vsis = tb.ctl("bridge", "vsi", "list")["vsis"]
    assert {v["vsiid"] for v in bridge_vsis} == {
        "00000000-0000-4000-8000-000000000001",
        UUID2,
    }
    # station de-associates VSI 2: exactly its entry goes
    tb.ctl("station0", "vsi", "deassoc", "-i", "uplink", "--vsiid", UUID2)
    tb.wait_for(lambda: tb.fdb_macs() == {MAC1}, what="FDB entry of VSI 2 removed")
    # bridge-initiated de-associate of VSI 1: the station sees it end
    tb.ctl(
        "bridge", "vsi", "deassoc", "-i", "swp1", "--vsiid", "00000000-0000-4000-8000-000000000001"
    )
    tb.wait_for(lambda: tb.fdb_macs() == set(), what="all FDB entries removed")
    vsis = tb.ctl("station0", "vsi", "list")["vsis"]
    assert [v["state"] for v in vsis if v["name"] == "vm1"] == ["ENDED"]


def test_frames_from_one_hypervisor_never_reach_another(tb: Testbed) -> None:
    tb.start_bridge()
    capture = tb.hosts[1].spawn(
        "tcpdump", "-i", "uplink", "-nn", "-U", "-w", str(tb.dir / "hv1.pcap"),
        "ether proto 0x8940 or ether proto 0x88cc",
    )  # fmt: skip
    try:
        time.sleep(1.0)
        tb.start_station(0, vsis=[tb.vsi(1)])
        tb.wait_for(lambda: tb.fdb_macs() == {MAC1}, what="association on swp1")
        time.sleep(1.0)
    finally:
        tb.hosts[1].stop(capture)
    from qbg.pcapfile import read_pcap

    seen = [r.data[6:12].hex(":") for r in read_pcap(str(tb.dir / "hv1.pcap"))]
    # hv1 may hear the bridge agent on its own port (swp2), never hv0's station (5a:01)
    assert "02:00:00:00:5a:01" not in seen
    assert all(src == "02:00:00:00:b0:02" for src in seen), seen


def test_station_restart_loses_nothing_at_the_bridge(tb: Testbed) -> None:
    tb.start_bridge()
    st = tb.start_station(0, vsis=[tb.vsi(1)])
    tb.wait_for(lambda: tb.fdb_macs() == {MAC1}, what="association")
    tb.ctl("station0", *_assoc_args(2))  # an API VSI: must survive through the state file
    tb.wait_for(lambda: tb.fdb_macs() == {MAC1, MAC2}, what="second association")
    tb.stop(st, kill=True)
    tb.start_station(0, vsis=[tb.vsi(1)])
    # the bridge never dropped them, and the restarted station knows both again
    assert tb.fdb_macs() == {MAC1, MAC2}
    tb.wait_for(
        lambda: (
            sorted(v["confirmed_mode"] or "" for v in tb.ctl("station0", "vsi", "list")["vsis"])
            == ["assoc", "assoc"]
        ),
        what="both VSIs confirmed after restart",
    )
    assert len(tb.ctl("bridge", "vsi", "list")["vsis"]) == 2


def test_bridge_restart_reconciles_kernel_state(tb: Testbed) -> None:
    br = tb.start_bridge()
    tb.start_station(0, vsis=[tb.vsi(1), tb.vsi(2)])
    tb.wait_for(lambda: tb.fdb_macs() == {MAC1, MAC2}, what="associations")
    tb.stop(br, kill=True)
    # while the agent is dead: one of its entries vanishes, and an operator adds one of their own
    tb.switch.run("bridge", "fdb", "del", MAC2, "dev", "swp1", "master")
    tb.switch.run("bridge", "fdb", "add", "02:bb:00:00:00:99", "dev", "swp2", "master", "static")
    tb.start_bridge()
    tb.wait_for(lambda: tb.fdb_macs() == {MAC1, MAC2, "02:bb:00:00:00:99"}, what="reconciled FDB")
    assert len(tb.ctl("bridge", "vsi", "list")["vsis"]) == 2
    tb.wait_for(lambda: tb.hairpin(0), what="hairpin back on")


def test_bridge_sigkill_before_any_snapshot_loses_no_confirmed_vsi(
    tb: Testbed, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A VSI the bridge confirmed is in its state journal before the confirmation leaves: killed
    before it ever rewrote its state file, the restarted bridge has the VSIs at once (not only
    after the next keep-alive) and still owns their FDB entries (de-association removes them)."""
    import json

    monkeypatch.setenv("QBG_STATE_COMPACT_S", "3600")  # no snapshot after the start-up one
    br = tb.start_bridge()
    tb.start_station(0, vsis=[tb.vsi(1), tb.vsi(2)])
    tb.wait_for(lambda: tb.fdb_macs() == {MAC1, MAC2}, what="associations")
    tb.wait_for(
        lambda: (
            len(tb.ctl("station0", "vsi", "list")["vsis"]) == 2
            and all(
                v["confirmed_mode"] == "assoc" for v in tb.ctl("station0", "vsi", "list")["vsis"]
            )
        ),
        what="both VSIs confirmed to the station",
    )
    snapshot = json.loads((tb.dir / "bridge.state.json").read_text())
    assert snapshot["state"]["vsis"] == []  # only the journal knows them
    tb.stop(br, kill=True)
    monkeypatch.delenv("QBG_STATE_COMPACT_S")
    tb.start_bridge()
    assert len(tb.ctl("bridge", "vsi", "list")["vsis"]) == 2  # restored, not re-learned
    assert tb.fdb_macs() == {MAC1, MAC2}
    snapshot = json.loads((tb.dir / "bridge.state.json").read_text())
    assert len(snapshot["state"]["vsis"]) == 2  # start-up folded the journal in
    journals = [int(p.name.rsplit(".", 1)[1]) for p in tb.dir.glob("bridge.state.json.journal.*")]
    assert all(g >= snapshot["journal"] for g in journals)  # the replayed ones are gone
    tb.ctl("station0", "vsi", "deassoc", "-i", "uplink", "--vsiid", UUID2)
    tb.wait_for(lambda: tb.fdb_macs() == {MAC1}, what="the restored VSI's own entry removed")
    state = tb.dir / "bridge.state.json"
    tb.wait_for(
        lambda: len(json.loads(state.read_text())["state"]["vsis"]) == 1,
        what="once quiet, the state rewritten (by a forked writer) without VSI 2",
    )
    tb.wait_for(
        lambda: all(
            int(p.name.rsplit(".", 1)[1]) >= json.loads(state.read_text())["journal"]
            for p in tb.dir.glob("bridge.state.json.journal.*")
        ),
        what="the journal files it covers deleted",
    )


def test_garbage_frames_are_counted_and_change_nothing(tb: Testbed) -> None:
    tb.start_bridge()
    tb.start_station(0, vsis=[tb.vsi(1)])
    tb.wait_for(lambda: tb.fdb_macs() == {MAC1}, what="association")
    before = tb.ctl("bridge", "vsi", "list")["vsis"]
    # a third party on the station side sends malformed LLDP and ECP frames
    junk = Netns(tb.hosts[0].name)
    script = (
        "import socket,os\n"
        "s=socket.socket(socket.AF_PACKET,socket.SOCK_RAW)\n"
        "s.bind(('uplink',0))\n"
        "dst=bytes.fromhex('0180c2000000'); src=bytes.fromhex('02deadbeef01')\n"
        "for i in range(200):\n"
        "    et=b'\\x88\\xcc' if i%2 else b'\\x89\\x40'\n"
        "    s.send(dst+src+et+os.urandom(i%60+1))\n"
    )
    junk.run(sys.executable, "-c", script)
    time.sleep(1.0)
    status = tb.ctl("bridge", "status")
    drops = status["interfaces"][0]["drops"]
    assert sum(drops.values()) > 0, status
    assert tb.daemons["bridge"].alive() and tb.daemons["station0"].alive()
    assert tb.ctl("bridge", "vsi", "list")["vsis"] == before
    assert tb.fdb_macs() == {MAC1}


def test_bad_config_refused_with_file_and_line(tb: Testbed) -> None:
    bad = tb.dir / "bad.yaml"
    bad.write_text("role: station\ndaemon: {state_file: /tmp/x, control_socket: /tmp/y}\n"
                   "interfaces:\n  - name: uplink\n    evb: {rte: fast}\n")  # fmt: skip
    p = subprocess.run(
        [sys.executable, "-m", "qbg.cli", "station", "-c", str(bad)], capture_output=True, text=True
    )
    assert p.returncode == 2
    assert "bad.yaml:5" in p.stderr and "rte" in p.stderr


def test_sigterm_sends_lldp_shutdown_and_exits_cleanly(tb: Testbed) -> None:
    tb.start_bridge()
    st = tb.start_station(0, vsis=[tb.vsi(1)])
    tb.wait_for(lambda: tb.fdb_macs() == {MAC1}, what="association")
    assert st.proc is not None
    os.kill(st.proc.pid, signal.SIGTERM)
    assert st.proc.wait(10) == 0
    # the bridge forgets the station's EVB TLV at once (TTL 0) and turns hairpin off
    tb.wait_for(lambda: not tb.hairpin(0), timeout=5, what="hairpin off after shutdown PDU")


def test_bulk_association_policy_change_and_metrics(tb: Testbed) -> None:
    """``vsi.assoc_many`` associates many VSIs in one request; ``policy.set`` withdraws what
    the new policy refuses; the Prometheus endpoint reports VSIs by state."""
    import json as _json

    bridge_yaml = tb.bridge_config().replace(
        "  log: {level: debug}\n", "  log: {level: debug}\n  metrics: {listen: '127.0.0.1:9489'}\n"
    )
    tb.start_bridge(config=bridge_yaml)
    station_yaml = tb.station_config(0).replace(
        "  log: {level: debug}\n", "  log: {level: debug}\n  metrics: {listen: '127.0.0.1:9490'}\n"
    )
    tb.start_station(0, config=station_yaml)
    tb.wait_for(
        lambda: tb.ctl("station0", "status")["interfaces"][0]["evb"].get("state") == "negotiated",
        what="EVB negotiated",
    )
    vsis = [
        {
            "manager_id": "pkmgr",
            "type_id": 5,
            "type_version": 4,
            "vsiid": f"00000000-0000-4000-8000-{n:012d}",
            "filter_format": "mac-vid",
            "filters": [{"vid": 100 + n % 2, "mac": f"02:aa:00:00:01:{n:02x}"}],
        }
        for n in range(1, 41)
    ]
    script = (
        "import json,sys\n"
        "from qbg.control import ControlClient\n"
        f"r=ControlClient({str(tb.daemons['station0'].socket)!r}).call('vsi.assoc_many',"
        " interface='uplink', vsis=json.loads(sys.stdin.read()))\n"
        "print(json.dumps(r))\n"
    )
    p = subprocess.run(
        [sys.executable, "-c", script], input=_json.dumps(vsis), capture_output=True, text=True
    )
    assert p.returncode == 0, p.stderr
    res = _json.loads(p.stdout)
    assert res["errors"] == [None] * 40
    assert all(v["confirmed_mode"] == "assoc" for v in res["vsis"])
    tb.wait_for(lambda: len(tb.fdb_macs()) == 40, what="40 FDB entries")
    # Prometheus text from inside the switch namespace (loopback only)
    fetch = "import urllib.request;print(urllib.request.urlopen('http://127.0.0.1:9489/metrics').read().decode())"
    text = tb.switch.run(sys.executable, "-c", fetch).stdout
    assert 'qbg_vsis{interface="swp1",state="ASSOCIATED"} 40' in text
    assert 'qbg_evb_reflective_relay{interface="swp1"} 1' in text
    # the station's series: its learned window, and the loss counters (none on this link)
    st_fetch = fetch.replace("9489", "9490")
    text = tb.hosts[0].run(sys.executable, "-c", st_fetch).stdout
    window = tb.ctl("station0", "status")["interfaces"][0]["vdp"]["window"]
    assert f'qbg_vdp_window{{interface="uplink"}} {window}' in text
    assert "# TYPE qbg_vdp_resends_total counter" in text
    assert 'qbg_vdp_losses_total{interface="uplink"' not in text  # a clean link loses nothing
    # a bad policy change is refused whole; a good one withdraws what it now refuses
    bad = tb.ctl("bridge", "policy", "set", "nonsense=1", ok=False)
    assert "bad_args" in _json.dumps(bad)
    assert len(tb.ctl("bridge", "vsi", "list")["vsis"]) == 40  # nothing half-applied
    r = tb.ctl("bridge", "policy", "set", "max_vsis_per_port=10")
    assert r["withdrawn"] == 30
    assert tb.ctl("bridge", "policy", "show")["max_vsis_per_port"] == 10
    tb.wait_for(lambda: len(tb.fdb_macs()) == 10, what="FDB entries of withdrawn VSIs removed")
    tb.wait_for(
        lambda: sum(v["state"] == "ENDED" for v in tb.ctl("station0", "vsi", "list")["vsis"]) == 30,
        what="station sees 30 bridge de-associations",
    )


def test_draft_variant_daemons_associate_and_program(tb: Testbed) -> None:
    """Both daemons run draft 0.2 on an interface: draft EVB, ECP 0x88B7, draft VDP."""
    draft_vsi = (
        "    vsis:\n"
        "      - name: vmd\n"
        "        manager_id: '1'\n"
        "        type_id: 1193046\n"
        "        type_version: 1\n"
        "        vsiid: 5e7a3b1c-9d2f-4a6b-8c0d-1e2f3a4b5c6d\n"
        "        filters: [{vid: 100, mac: '02:aa:00:00:00:d1'}]\n"
    )
    bridge_yaml = tb.bridge_config().replace(
        "  - name: swp1\n", "  - name: swp1\n    variant: draft\n"
    )
    bridge_yaml = bridge_yaml.replace("    evb: {rte: 8, rka: 20}\n", "    evb: {rte: 15}\n", 1)
    tb.start_bridge(config=bridge_yaml)
    station_yaml = (
        tb.station_config(0)
        .replace("  - name: uplink\n", "  - name: uplink\n    variant: draft\n")
        .replace("    evb: {rte: 8, rka: 20}\n", "    evb: {rte: 15}\n")
        + draft_vsi
    )
    tb.start_station(0, config=station_yaml)
    tb.wait_for(lambda: tb.fdb_macs() == {"02:aa:00:00:00:d1"}, what="draft association programmed")
    vsis = tb.ctl("station0", "vsi", "list")["vsis"]
    assert [v["confirmed_mode"] for v in vsis] == ["assoc"]
    assert tb.ctl("station0", "status")["interfaces"][0]["variant"] == "draft"
    listed = tb.ctl("bridge", "vsi", "list")["vsis"]
    assert [(v["variant"], v["vsiid"], v["state"]) for v in listed] == [
        ("draft", "5e7a3b1c-9d2f-4a6b-8c0d-1e2f3a4b5c6d", "ASSOCIATED")
    ]
