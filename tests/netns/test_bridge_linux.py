"""LinuxBridge against a real kernel bridge in a namespace: kernel state is the oracle."""

from __future__ import annotations

import asyncio
import json
import subprocess

import pytest

from qbg.bridge.linux import BridgeError, BridgeRecords, Change, FdbRecord, LinuxBridge
from qbg.interop.netns import Netns, Topology
from qbg.netlink import probe_kernel_caps

pytestmark = pytest.mark.netns

VM1 = "02:aa:bb:cc:dd:01"
VM2 = "02:aa:bb:cc:dd:02"


def switch(topo: Topology, nports: int = 2) -> tuple[Netns, LinuxBridge]:
    sw = topo.netns("sw")
    for i in range(1, nports + 1):
        hv = topo.netns(f"hv{i}")
        topo.veth(hv, "uplink", sw, f"swp{i}")
    topo.bridge(sw, "br0", ports=[f"swp{i}" for i in range(1, nports + 1)])
    return sw, LinuxBridge("br0", netns=sw.name)


def kernel_hairpin(sw: Netns, port: str) -> bool:
    info = json.loads(sw.run("bridge", "-j", "-d", "link", "show", "dev", port).stdout)
    return bool(info[0]["hairpin"])


def kernel_fdb(sw: Netns, mac: str) -> list[str]:
    out = sw.run("bridge", "fdb", "show", "br", "br0").stdout
    return [line for line in out.splitlines() if line.startswith(mac)]


def test_hairpin_on_off_visible_in_kernel(topo: Topology) -> None:
    sw, br = switch(topo)
    assert not kernel_hairpin(sw, "swp1")
    assert br.set_hairpin("swp1", True) is Change.ADDED
    assert kernel_hairpin(sw, "swp1") and br.hairpin("swp1")
    assert not kernel_hairpin(sw, "swp2")
    assert br.set_hairpin("swp1", True) is Change.UNCHANGED  # idempotent
    assert br.records.hairpin == {"swp1"}
    assert br.set_hairpin("swp1", False) is Change.REMOVED
    assert not kernel_hairpin(sw, "swp1")
    assert br.set_hairpin("swp1", False) is Change.UNCHANGED


def test_foreign_hairpin_is_never_turned_off(topo: Topology) -> None:
    sw, br = switch(topo)
    sw.run("bridge", "link", "set", "dev", "swp2", "hairpin", "on")
    assert br.set_hairpin("swp2", True) is Change.UNCHANGED
    assert br.set_hairpin("swp2", False) is Change.UNCHANGED
    assert kernel_hairpin(sw, "swp2") and br.records.hairpin == set()


def test_static_fdb_add_remove(topo: Topology) -> None:
    sw, br = switch(topo)
    assert br.fdb_add("swp1", VM1) is Change.ADDED
    (line,) = kernel_fdb(sw, VM1)
    assert "dev swp1" in line and "master br0" in line and "static" in line
    assert next(e for e in br.fdb_entries("swp1") if e.mac == VM1).static
    assert br.fdb_add("swp1", VM1) is Change.UNCHANGED
    assert br.records.fdb == {FdbRecord("swp1", VM1, None)}
    assert br.fdb_del("swp1", VM1) is Change.REMOVED
    assert kernel_fdb(sw, VM1) == []
    assert br.fdb_del("swp1", VM1) is Change.UNCHANGED


def test_fdb_converts_learned_moves_own_and_respects_foreign(topo: Topology) -> None:
    sw, br = switch(topo)
    # a learned-like dynamic entry on swp2 becomes our static entry on swp1 ("replace")
    sw.run("bridge", "fdb", "add", VM1, "dev", "swp2", "master", "dynamic")
    assert br.fdb_add("swp1", VM1) is Change.ADDED
    (line,) = kernel_fdb(sw, VM1)
    assert "dev swp1" in line and "static" in line
    # own entry moves with the VM (migration)
    assert br.fdb_add("swp2", VM1) is Change.ADDED
    assert "dev swp2" in kernel_fdb(sw, VM1)[0]
    assert br.records.fdb == {FdbRecord("swp2", VM1, None)}
    # a foreign static entry is neither moved nor deleted
    sw.run("bridge", "fdb", "add", VM2, "dev", "swp2", "master", "static")
    assert br.fdb_add("swp1", VM2) is Change.CONFLICT
    assert br.fdb_add("swp2", VM2) is Change.UNCHANGED
    assert br.fdb_del("swp2", VM2) is Change.UNCHANGED
    assert "dev swp2" in kernel_fdb(sw, VM2)[0]


def test_errors_for_non_ports_and_missing_interfaces(topo: Topology) -> None:
    sw, br = switch(topo, 1)
    sw.ip("link", "add", "name", "loner", "type", "veth", "peer", "name", "loner1")
    with pytest.raises(BridgeError) as exc:
        br.set_hairpin("loner", True)
    assert exc.value.code == "EINVAL"
    with pytest.raises(BridgeError) as exc:
        br.fdb_add("nosuch", VM1)
    assert exc.value.code == "ENODEV"
    with pytest.raises(BridgeError):
        LinuxBridge("swp1", netns=sw.name)


def test_vlan_operations_match_the_kernel_capability(topo: Topology) -> None:
    """No skip: on a kernel without VLAN filtering, the probe says so and every VLAN operation
    reports UNSUPPORTED cleanly; with it, membership and refcounting are checked."""
    caps = probe_kernel_caps()
    sw, br = switch(topo)
    if not caps.bridge_vlan_filtering:
        with pytest.raises(subprocess.CalledProcessError):  # the kernel refuses it outright
            sw.ip("link", "add", "name", "brv", "type", "bridge", "vlan_filtering", "1")
        assert br.vlan_filtering is False
        assert br.vlan_add("swp1", 100, "vsi-a") is Change.UNSUPPORTED
        assert br.vlan_del("swp1", 100, "vsi-a") is Change.UNSUPPORTED
        assert br.fdb_add("swp1", VM1, vid=100) is Change.UNSUPPORTED
        assert br.fdb_del("swp1", VM1, vid=100) is Change.UNSUPPORTED
        assert br.port_vlans("swp1") == {}
        assert br.records.vlans == {} and br.records.fdb == set()
        rep = br.reconcile(BridgeRecords(vlans={("swp1", 100): {"vsi-a"}}))
        assert rep.failed == [("vlan 100 swp1", "unsupported")] and rep.added == []
        return
    sw.ip("link", "set", "dev", "br0", "type", "bridge", "vlan_filtering", "1")
    br = LinuxBridge("br0", netns=sw.name)
    assert br.vlan_filtering
    assert br.vlan_add("swp1", 100, "vsi-a") is Change.ADDED
    assert br.vlan_add("swp1", 100, "vsi-b") is Change.UNCHANGED
    assert 100 in br.port_vlans("swp1")
    assert br.vlan_del("swp1", 100, "vsi-a") is Change.UNCHANGED
    assert 100 in br.port_vlans("swp1")
    assert br.vlan_del("swp1", 100, "vsi-b") is Change.REMOVED
    assert 100 not in br.port_vlans("swp1")
    assert br.fdb_add("swp1", VM1, vid=100) in (Change.ADDED,)
    assert any("vlan 100" in line for line in kernel_fdb(sw, VM1))


def test_records_round_trip_through_json(topo: Topology) -> None:
    _, br = switch(topo)
    br.set_hairpin("swp1", True)
    br.fdb_add("swp1", VM1)
    br.isolate()
    text = json.dumps(br.records.to_dict())
    assert BridgeRecords.from_dict(json.loads(text)) == br.records


def test_reconcile_readds_missing_and_removes_own_stale(topo: Topology) -> None:
    sw, br = switch(topo)
    br.set_hairpin("swp1", True)
    br.fdb_add("swp1", VM1)
    br.fdb_add("swp2", VM2)
    br.isolate(["swp1", "swp2"])
    saved = BridgeRecords.from_dict(json.loads(json.dumps(br.records.to_dict())))

    # somebody flushed things behind our back; a foreign static entry appears too
    sw.run("bridge", "link", "set", "dev", "swp1", "hairpin", "off")
    sw.run("bridge", "fdb", "del", VM1, "dev", "swp1", "master")
    sw.run("nft", "delete", "table", "bridge", "qbg_br0")
    sw.run("bridge", "fdb", "add", "02:ee:ee:ee:ee:ee", "dev", "swp2", "master", "static")

    # a restarted agent loads the record and reconciles to the desired state, in which VM2
    # has gone away meanwhile
    br2 = LinuxBridge("br0", netns=sw.name, records=saved)
    desired = saved.copy()
    desired.fdb.discard(FdbRecord("swp2", VM2, None))
    rep = br2.reconcile(desired)
    assert rep.failed == []
    assert sorted(rep.added) == sorted(
        ["hairpin swp1", f"fdb {VM1} vid None swp1", "isolate swp1", "isolate swp2"]
    )
    assert rep.removed == [f"fdb {VM2} vid None swp2"]
    assert kernel_hairpin(sw, "swp1")
    assert "static" in kernel_fdb(sw, VM1)[0] and kernel_fdb(sw, VM2) == []
    assert br2.isolated_ports() == {"swp1", "swp2"}
    assert br2.reconcile(desired).added == []  # idempotent

    rep = br2.release()
    assert not kernel_hairpin(sw, "swp1") and kernel_fdb(sw, VM1) == []
    assert br2.isolated_ports() is None
    assert kernel_fdb(sw, "02:ee:ee:ee:ee:ee")  # never touched what we did not create


def test_reconcile_reports_vanished_ports(topo: Topology) -> None:
    _, br = switch(topo)
    rep = br.reconcile(BridgeRecords(hairpin={"swp9"}, fdb={FdbRecord("swp9", VM1, None)}))
    assert {item for item, _ in rep.failed} == {"hairpin swp9", f"fdb {VM1} vid None swp9"}


def test_usable_from_a_worker_thread_of_a_running_loop(topo: Topology) -> None:
    sw, br = switch(topo)

    async def main() -> Change:
        return await asyncio.to_thread(br.set_hairpin, "swp2", True)

    assert asyncio.run(main()) is Change.ADDED
    assert kernel_hairpin(sw, "swp2")


@pytest.mark.netns
def test_fdb_add_many_matches_fdb_add(topo: Topology) -> None:
    """The batched add gives the same results and kernel state as one add at a time, with one
    FDB dump: new entries ADDED, existing own ones UNCHANGED, foreign static ones CONFLICT."""
    sw = topo.netns("fab")
    hv = topo.netns("fah")
    topo.veth(sw, "p1", hv, "u1")
    topo.veth(sw, "p2", hv, "u2")
    topo.bridge(sw, "br0", ports=["p1", "p2"])
    sw.run("bridge", "fdb", "add", "02:bb:00:00:00:01", "dev", "p2", "master", "static")
    lb = LinuxBridge("br0", netns=sw.name)
    items = [("p1", f"02:aa:00:00:00:{i:02x}", None) for i in range(1, 21)]
    items.append(("p1", "02:bb:00:00:00:01", None))  # someone else's static entry on p2
    items.append(("p1", "02:aa:00:00:00:01", None))  # already ours (added earlier in the batch)
    results = lb.fdb_add_many(items)
    assert results[:20] == [Change.ADDED] * 20
    assert results[20:] == [Change.CONFLICT, Change.UNCHANGED]
    ours = {e.mac for e in lb.fdb_entries("p1") if e.static}
    assert ours == {f"02:aa:00:00:00:{i:02x}" for i in range(1, 21)}
    assert len(lb.records.fdb) == 20
    assert lb.fdb_add("p1", "02:aa:00:00:00:05") is Change.UNCHANGED
