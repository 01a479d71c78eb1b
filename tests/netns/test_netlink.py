"""Link lookups, link events and the capability probe, in throwaway namespaces."""

from __future__ import annotations

import asyncio

import pytest

from qbg.interop.netns import Topology
from qbg.netlink import LinkEvent, LinkMonitor, aget_link, get_link, probe_kernel_caps

pytestmark = pytest.mark.netns


def test_get_link_facts(topo: Topology) -> None:
    a, b = topo.netns("a"), topo.netns("b")
    topo.veth(a, "va", b, "vb", mac_a="02:00:00:00:0a:01")
    a.ip("link", "set", "dev", "va", "mtu", "1400")
    info = get_link("va", netns=a.name)
    assert info is not None
    assert info.mac == bytes.fromhex("020000000a01") and info.mtu == 1400
    assert info.kind == "veth" and info.admin_up and info.oper_up
    assert info.ifindex == a.ifindex("va")
    assert get_link("nosuch", netns=a.name) is None
    assert asyncio.run(aget_link("va", netns=a.name)) == info


def test_monitor_reports_add_up_down_change_remove(topo: Topology) -> None:
    a, b = topo.netns("a"), topo.netns("b")
    topo.veth(a, "va", b, "vb")

    async def main() -> list[tuple[str, str]]:
        events: list[LinkEvent] = []
        async with LinkMonitor(events.append, netns=a.name, ifnames={"va", "d0"}):
            steps = [
                ("link", "set", "dev", "va", "down"),
                ("link", "set", "dev", "va", "up"),
                ("link", "set", "dev", "va", "mtu", "1400"),
                ("link", "add", "name", "d0", "type", "veth", "peer", "name", "d1"),
                ("link", "del", "dev", "d0"),
            ]
            for step in steps:
                a.ip(*step)
                await asyncio.sleep(0.15)
        return [(e.kind, e.link.ifname) for e in events]

    assert asyncio.run(main()) == [
        ("down", "va"),
        ("up", "va"),
        ("changed", "va"),
        ("added", "d0"),
        ("removed", "d0"),
    ]


def test_monitor_initial_dump(topo: Topology) -> None:
    a, b = topo.netns("a"), topo.netns("b")
    topo.veth(a, "va", b, "vb")

    async def main() -> set[str]:
        events: list[LinkEvent] = []
        async with LinkMonitor(events.append, netns=a.name, initial=True):
            pass
        return {e.link.ifname for e in events if e.kind == "added"}

    assert asyncio.run(main()) == {"lo", "va"}


def test_capability_probe_is_consistent_with_the_kernel(topo: Topology) -> None:
    caps = probe_kernel_caps()
    assert caps.macvlan_vepa and caps.macvtap_vepa and caps.packet_ignore_outgoing
    a = topo.netns("probe")
    vlanf = (
        a.run(
            "ip", "link", "add", "name", "b0", "type", "bridge", "vlan_filtering", "1", check=False
        ).returncode
        == 0
    )
    assert caps.bridge_vlan_filtering == vlanf
    a.ip("link", "add", "name", "v0", "type", "veth", "peer", "name", "v1")
    dot1q = (
        a.run(
            "ip",
            "link",
            "add",
            "link",
            "v0",
            "name",
            "v0.5",
            "type",
            "vlan",
            "id",
            "5",
            check=False,
        ).returncode
        == 0
    )
    assert caps.vlan_8021q == dot1q
    assert caps.nft_bridge == (
        a.run("nft", "add", "table", "bridge", "t", check=False).returncode == 0
    )
    assert not any(n.startswith("qbgp-") for n in a.run("ip", "netns", "list").stdout.split())
