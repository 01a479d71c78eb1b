"""VEPA macvlans on a hypervisor uplink: VM-to-VM traffic needs the bridge's hairpin."""

from __future__ import annotations

import pytest

from qbg.bridge.linux import Change, LinuxBridge
from qbg.interop.netns import Topology
from qbg.netlink import get_link, probe_kernel_caps
from qbg.station.vepa import VepaError, create_vepa, delete_vepa

pytestmark = pytest.mark.netns


def test_vepa_reflection_needs_hairpin(topo: Topology) -> None:
    hv, sw, vm1, vm2 = (topo.netns(t) for t in ("hv", "sw", "vm1", "vm2"))
    topo.veth(hv, "uplink", sw, "swp1")
    topo.bridge(sw, "br0", ports=["swp1"])
    p1 = create_vepa("uplink", "mv1", netns=hv.name, target_netns=vm1.name, mac="02:00:00:00:01:01")
    p2 = create_vepa("uplink", "mv2", netns=hv.name, target_netns=vm2.name, mac="02:00:00:00:01:02")
    assert p1.mac == bytes.fromhex("020000000101") and p1.target_netns == vm1.name
    assert "macvlan mode vepa" in vm1.ip("-d", "link", "show", "dev", "mv1")
    assert get_link("mv1", netns=hv.name) is None  # it lives in the VM namespace now
    vm1.addr("mv1", "10.97.0.1/24")
    vm2.addr("mv2", "10.97.0.2/24")
    br = LinuxBridge("br0", netns=sw.name)
    assert not vm1.ping("10.97.0.2", count=2, wait=0.5)  # VEPA: the frame leaves the uplink
    assert br.set_hairpin("swp1", True) is Change.ADDED
    assert vm1.ping("10.97.0.2")  # reflected by the bridge
    learned = [e.mac for e in br.fdb_entries("swp1")]
    assert "02:00:00:00:01:01" in learned and "02:00:00:00:01:02" in learned  # same port
    assert br.set_hairpin("swp1", False) is Change.REMOVED
    sw.run("ip", "neigh", "flush", "all", check=False)
    vm1.run("ip", "neigh", "flush", "all")
    assert not vm1.ping("10.97.0.2", count=2, wait=0.5)
    delete_vepa(p1)
    delete_vepa(p2)
    delete_vepa(p1)  # idempotent
    assert get_link("mv1", netns=vm1.name) is None and get_link("mv2", netns=vm2.name) is None
    assert get_link("uplink", netns=hv.name) is not None


def test_macvtap_in_vepa_mode(topo: Topology) -> None:
    hv, sw = topo.netns("hv"), topo.netns("sw")
    topo.veth(hv, "uplink", sw, "swp1")
    port = create_vepa("uplink", "mvt0", kind="macvtap", netns=hv.name)
    assert "macvtap mode vepa" in hv.ip("-d", "link", "show", "dev", "mvt0")
    delete_vepa(port)
    assert get_link("mvt0", netns=hv.name) is None


def test_uplink_that_is_a_bridge_port_is_refused(topo: Topology) -> None:
    sw, hv = topo.netns("sw"), topo.netns("hv")
    topo.veth(hv, "x", sw, "swp1")
    topo.bridge(sw, "br0", ports=["swp1"])
    with pytest.raises(VepaError) as exc:
        create_vepa("swp1", "mv0", netns=sw.name)
    assert exc.value.code == "EBUSY"
    with pytest.raises(VepaError) as exc:
        create_vepa("nosuch", "mv0", netns=sw.name)
    assert exc.value.code == "ENODEV"


def test_vlan_subinterface_follows_the_kernel_capability(topo: Topology) -> None:
    """No skip: without 802.1Q the request fails cleanly and leaves nothing behind."""
    hv, sw = topo.netns("hv"), topo.netns("sw")
    topo.veth(hv, "uplink", sw, "swp1")
    before = hv.ip("-br", "link")
    if not probe_kernel_caps().vlan_8021q:
        with pytest.raises(VepaError) as exc:
            create_vepa("uplink", "mv1", netns=hv.name, vid=100)
        assert exc.value.code in ("ENOTSUP", "EOPNOTSUPP")
        assert hv.ip("-br", "link") == before
        return
    port = create_vepa("uplink", "mv1", netns=hv.name, vid=100)
    assert port.vlan_ifname == "uplink.100" and port.created_vlan
    assert "vlan protocol 802.1Q id 100" in hv.ip("-d", "link", "show", "dev", "uplink.100")
    delete_vepa(port)
    assert get_link("uplink.100", netns=hv.name) is None
