"""The VLAN paths of the Linux I/O layer on a VLAN-capable kernel (bridge VLAN filtering, 802.1Q).

Kernel state (``bridge vlan show``, ``bridge fdb show``, ``ip -d link``) is the oracle.  The host
kernel of the CI machines has neither feature, so conftest deselects these tests there and
tests/vm/test_vlan_in_guest.py runs them inside a QEMU guest with Debian's kernel (TCG, about
10x slower: keep the set lean and the negative pings short).
"""

from __future__ import annotations

import json

import pytest

from qbg.bridge.linux import BridgeError, BridgeRecords, Change, FdbRecord, LinuxBridge
from qbg.interop.netns import Netns, Topology
from qbg.netlink import get_link, probe_kernel_caps
from qbg.station.vepa import create_vepa, delete_vepa

pytestmark = [pytest.mark.netns, pytest.mark.vlan]

VM1 = "02:aa:bb:cc:dd:01"
VM2 = "02:aa:bb:cc:dd:02"


def vlan_switch(topo: Topology, nports: int = 2) -> tuple[Netns, LinuxBridge]:
    """``br0`` with ``vlan_filtering 1`` and ports swp1..N; the veth peers live in one ns."""
    sw, hv = topo.netns("sw"), topo.netns("hv")
    for i in range(1, nports + 1):
        topo.veth(hv, f"up{i}", sw, f"swp{i}")
    topo.bridge(sw, "br0", ports=[f"swp{i}" for i in range(1, nports + 1)], vlan_filtering=True)
    br = LinuxBridge("br0", netns=sw.name)
    assert br.vlan_filtering
    return sw, br


def kernel_vlans(sw: Netns, port: str) -> set[int]:
    """VIDs on ``port`` as ``bridge -j vlan show`` prints them."""
    out = json.loads(sw.run("bridge", "-j", "vlan", "show", "dev", port).stdout or "[]")
    return {int(v["vlan"]) for entry in out for v in entry.get("vlans", [])}


def kernel_fdb(sw: Netns, mac: str) -> list[str]:
    out = sw.run("bridge", "fdb", "show", "br", "br0").stdout
    return [line for line in out.splitlines() if line.startswith(mac)]


def test_vlan_add_del_visible_in_kernel(topo: Topology) -> None:
    sw, br = vlan_switch(topo)
    assert kernel_vlans(sw, "swp1") == {1}  # the default PVID only
    assert br.vlan_add("swp1", 100, "vsi-a") is Change.ADDED
    assert kernel_vlans(sw, "swp1") == {1, 100}
    assert kernel_vlans(sw, "swp2") == {1}
    assert br.port_vlans("swp1") == {1: 0x2 | 0x4, 100: 0}  # pyroute2 get_vlans: tagged
    assert br.vlan_add("swp1", 100, "vsi-a") is Change.UNCHANGED  # idempotent
    assert br.records.vlans == {("swp1", 100): {"vsi-a"}}
    assert br.vlan_del("swp1", 100, "vsi-a") is Change.REMOVED
    assert kernel_vlans(sw, "swp1") == {1}
    assert br.vlan_del("swp1", 100, "vsi-a") is Change.UNCHANGED
    assert br.records.vlans == {}
    with pytest.raises(ValueError):
        br.vlan_add("swp1", 4095, "vsi-a")


def test_vlan_reference_counting_and_foreign_vlans(topo: Topology) -> None:
    sw, br = vlan_switch(topo)
    assert br.vlan_add("swp1", 100, "vsi-a") is Change.ADDED
    assert br.vlan_add("swp1", 100, "vsi-b") is Change.UNCHANGED
    assert br.records.vlans == {("swp1", 100): {"vsi-a", "vsi-b"}}
    assert br.vlan_del("swp1", 100, "vsi-a") is Change.UNCHANGED  # vsi-b still needs it
    assert 100 in kernel_vlans(sw, "swp1")
    assert br.vlan_del("swp1", 100, "vsi-b") is Change.REMOVED
    assert 100 not in kernel_vlans(sw, "swp1")
    # the operator's VLANs (a hand-added one and the default PVID) are never ours to remove
    sw.run("bridge", "vlan", "add", "dev", "swp2", "vid", "300")
    for vid in (300, 1):
        assert br.vlan_add("swp2", vid, "vsi-a") is Change.UNCHANGED
        assert br.vlan_del("swp2", vid, "vsi-a") is Change.UNCHANGED
    assert kernel_vlans(sw, "swp2") == {1, 300}
    assert br.records.vlans == {}


def test_fdb_entries_with_vid(topo: Topology) -> None:
    sw, br = vlan_switch(topo)
    assert br.vlan_add("swp1", 100, "vsi-a") is Change.ADDED
    assert br.fdb_add("swp1", VM1, vid=100) is Change.ADDED
    (line,) = kernel_fdb(sw, VM1)
    assert "dev swp1 vlan 100 master br0 static" in line
    (entry,) = [e for e in br.fdb_entries("swp1") if e.mac == VM1]
    assert entry.vid == 100 and entry.static
    assert br.fdb_add("swp1", VM1, vid=100) is Change.UNCHANGED
    assert br.fdb_del("swp1", VM1) is Change.UNCHANGED  # the VID-less entry is not ours
    assert br.records.fdb == {FdbRecord("swp1", VM1, 100)}
    assert br.fdb_del("swp1", VM1, vid=100) is Change.REMOVED
    assert kernel_fdb(sw, VM1) == []
    assert br.fdb_del("swp1", VM1, vid=100) is Change.UNCHANGED
    assert br.records.fdb == set()
    # the kernel refuses an entry for a VID the port lacks
    with pytest.raises(BridgeError) as exc:
        br.fdb_add("swp1", VM2, vid=200)
    assert exc.value.code == "EINVAL" and br.records.fdb == set()
    # our entries on a VID go with it (the kernel would keep them, then refuse to delete them)
    assert br.fdb_add("swp1", VM2, vid=100) is Change.ADDED
    assert br.vlan_del("swp1", 100, "vsi-a") is Change.REMOVED
    assert kernel_fdb(sw, VM2) == [] and br.records.fdb == set()


def test_reconcile_with_vlans(topo: Topology) -> None:
    sw, br = vlan_switch(topo)
    assert br.vlan_add("swp1", 100, "vsi-a") is Change.ADDED
    assert br.vlan_add("swp1", 200, "vsi-b") is Change.ADDED
    assert br.fdb_add("swp1", VM1, vid=100) is Change.ADDED
    sw.run("bridge", "vlan", "add", "dev", "swp2", "vid", "300")  # the operator's
    saved = BridgeRecords.from_dict(json.loads(json.dumps(br.records.to_dict())))
    # while we were down: somebody removed our FDB entry and our VID 100
    sw.run("bridge", "fdb", "del", VM1, "dev", "swp1", "vlan", "100", "master")
    sw.run("bridge", "vlan", "del", "dev", "swp1", "vid", "100")
    assert 100 not in kernel_vlans(sw, "swp1") and kernel_fdb(sw, VM1) == []
    # restart: the new state no longer has vsi-b's VID 200
    restarted = LinuxBridge("br0", netns=sw.name, records=saved)
    wanted = saved.copy()
    del wanted.vlans[("swp1", 200)]
    report = restarted.reconcile(wanted)
    assert report.failed == []
    assert "vlan 100 swp1" in report.added
    assert f"fdb {VM1} vid 100 swp1" in report.added
    assert "vlan 200 swp1" in report.removed
    assert kernel_vlans(sw, "swp1") == {1, 100}
    assert kernel_vlans(sw, "swp2") == {1, 300}  # foreign: untouched
    assert "vlan 100 master br0 static" in kernel_fdb(sw, VM1)[0]
    assert restarted.reconcile(wanted).added == []  # idempotent
    report = restarted.release()
    assert report.failed == []
    assert kernel_vlans(sw, "swp1") == {1} and kernel_vlans(sw, "swp2") == {1, 300}
    assert kernel_fdb(sw, VM1) == []


def test_probe_reports_vlan_features() -> None:
    caps = probe_kernel_caps()
    assert caps.bridge_vlan_filtering is True
    assert caps.vlan_8021q is True
    assert caps.macvlan_vepa is True


def test_create_vepa_on_a_vlan_subinterface(topo: Topology) -> None:
    hv, sw, vm = topo.netns("hv"), topo.netns("sw"), topo.netns("vm")
    topo.veth(hv, "uplink", sw, "swp1")
    port = create_vepa("uplink", "mv1", netns=hv.name, vid=100, mac="02:00:00:00:64:01")
    assert port.vlan_ifname == "uplink.100" and port.created_vlan and port.vid == 100
    vlan = hv.ip("-d", "link", "show", "dev", "uplink.100")
    assert "uplink.100@uplink" in vlan and "vlan protocol 802.1Q id 100" in vlan
    assert ",UP" in vlan
    mv = hv.ip("-d", "link", "show", "dev", "mv1")
    assert "mv1@uplink.100" in mv and "macvlan mode vepa" in mv
    # more ports on the same VID reuse the sub-interface, here and from a VM namespace
    other = create_vepa("uplink", "mv2", netns=hv.name, vid=100)
    moved = create_vepa("uplink", "mv3", netns=hv.name, vid=100, target_netns=vm.name)
    assert other.vlan_ifname == moved.vlan_ifname == "uplink.100"
    assert not other.created_vlan and not moved.created_vlan
    # the creator goes first: the kernel would delete mv2 and mv3 with the sub-interface
    delete_vepa(port)
    assert get_link("mv1", netns=hv.name) is None
    assert get_link("uplink.100", netns=hv.name) is not None
    assert get_link("mv2", netns=hv.name) is not None
    delete_vepa(other)
    assert get_link("uplink.100", netns=hv.name) is not None  # mv3 (in the VM) still on it
    assert get_link("mv3", netns=vm.name) is not None
    delete_vepa(moved)  # the last one out removes it
    assert get_link("uplink.100", netns=hv.name) is None
    assert get_link("uplink", netns=hv.name) is not None
    # a sub-interface the operator made is used but never deleted
    hv.ip("link", "add", "link", "uplink", "name", "uplink.300", "type", "vlan", "id", "300")
    theirs = create_vepa("uplink", "mv4", netns=hv.name, vid=300)
    assert not theirs.created_vlan and "mv4@uplink.300" in hv.ip("link", "show", "dev", "mv4")
    delete_vepa(theirs)
    assert get_link("uplink.300", netns=hv.name) is not None


def test_vepa_vlan_traffic_needs_the_vid_on_the_port(topo: Topology) -> None:
    """linux.md §4.2 with our API: VMs on macvlan VEPA over ``uplink.<vid>``; the switch port
    reflects (hairpin) only the VLANs it is a member of."""
    hv, sw = topo.netns("hv"), topo.netns("sw")
    vms = [topo.netns(f"vm{i}") for i in range(1, 5)]
    topo.veth(hv, "uplink", sw, "swp1")
    topo.bridge(sw, "br0", ports=["swp1"], vlan_filtering=True)
    br = LinuxBridge("br0", netns=sw.name)
    assert br.set_hairpin("swp1", True) is Change.ADDED
    plan = [(100, "10.96.100.1"), (100, "10.96.100.2"), (200, "10.96.200.3"), (200, "10.96.200.4")]
    for i, (vm, (vid, ip)) in enumerate(zip(vms, plan, strict=True), start=1):
        create_vepa(
            "uplink",
            f"mv{i}",
            netns=hv.name,
            vid=vid,
            target_netns=vm.name,
            mac=f"02:00:00:00:{vid // 100:02x}:{i:02x}",
        )
        vm.addr(f"mv{i}", f"{ip}/24")
    vm1, _, vm3, _ = vms

    def quick(vm: Netns, ip: str) -> bool:
        return vm.ping(ip, count=2, wait=0.5)

    assert not quick(vm1, "10.96.100.2")  # only VLAN 1 on swp1: tagged frames dropped
    assert br.vlan_add("swp1", 100, "vsi-1") is Change.ADDED
    assert vm1.ping("10.96.100.2", count=3, wait=1.0)
    learned = {
        line.split()[0]
        for line in sw.run("bridge", "fdb", "show", "br", "br0").stdout.splitlines()
        if "vlan 100 master br0" in line
    }
    assert {"02:00:00:00:01:01", "02:00:00:00:01:02"} <= learned  # both on swp1, VID 100
    assert not quick(vm3, "10.96.200.4")  # VLAN 200 is not on the port: not reflected
    assert br.vlan_del("swp1", 100, "vsi-1") is Change.REMOVED
    for vm in vms:
        vm.run("ip", "neigh", "flush", "all")
    assert not quick(vm1, "10.96.100.2")
    assert br.vlan_add("swp1", 200, "vsi-3") is Change.ADDED  # control: VLAN 200 can work
    assert vm3.ping("10.96.200.4", count=3, wait=1.0)
    assert not quick(vm1, "10.96.100.2")
