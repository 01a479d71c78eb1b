"""802.1Qbg frames from one hypervisor port must never reach another port of the bridge.

The control experiment (no isolation) shows the Linux bridge with STP off does flood them, so
the nftables isolation is what keeps the protocol within its scope."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from qbg.bridge.linux import Change, LinuxBridge
from qbg.interop.netns import Netns, Topology
from qbg.link import RawLink

from .conftest import GROUP_NB, GROUP_NCB, GROUP_NONTPMR, collect, frame, wait_for

pytestmark = pytest.mark.netns

HV1_MAC = bytes.fromhex("020000000101")


@dataclass
class Rig:
    sw: Netns
    hv1: Netns
    hv2: Netns
    bridge: LinuxBridge
    tx: RawLink  # hypervisor 1's uplink
    rx: RawLink  # hypervisor 2's uplink: must see nothing
    agent: RawLink  # the bridge agent's socket on swp1: must see everything
    br0: RawLink  # the bridge device itself


@pytest.fixture
def rig(topo: Topology) -> Iterator[Rig]:
    sw, hv1, hv2 = topo.netns("sw"), topo.netns("hv1"), topo.netns("hv2")
    topo.veth(hv1, "uplink", sw, "swp1", mac_a="02:00:00:00:01:01")
    topo.veth(hv2, "uplink", sw, "swp2", mac_a="02:00:00:00:02:01")
    topo.bridge(sw, "br0", ports=["swp1", "swp2"], stp=False)
    hv1.addr("uplink", "10.98.0.1/24")
    hv2.addr("uplink", "10.98.0.2/24")
    links = [
        RawLink("uplink", netns=hv1.name).open(),
        RawLink("uplink", netns=hv2.name).open(),
        RawLink("swp1", netns=sw.name).open(),
        RawLink("br0", netns=sw.name).open(),
    ]
    yield Rig(sw, hv1, hv2, LinuxBridge("br0", netns=sw.name), *links)
    for link in links:
        link.close()


QBG_FRAMES = [
    frame(GROUP_NB, HV1_MAC, 0x88CC, b"LLDPDU"),
    frame(GROUP_NB, HV1_MAC, 0x8940, b"\x10\x01\x00\x01 ECPDU with VDP"),
    frame(GROUP_NB, HV1_MAC, 0x88B7, b"OUI extended"),
]


def send_and_collect(rig: Rig, frames: list[bytes]) -> tuple[list[bytes], list[bytes], list[bytes]]:
    for link in (rig.rx, rig.agent, rig.br0):
        link.recv_ready()
    for f in frames:
        assert rig.tx.send(f)
    agent: list[bytes] = []
    wait_for(lambda: collect(agent, rig.agent.recv_ready()) >= len(frames))
    wait_for(lambda: False, 0.3)  # give a leak time to show up
    return agent, rig.rx.recv_ready(), rig.br0.recv_ready()


def test_without_isolation_the_bridge_floods_qbg_frames(rig: Rig) -> None:
    agent, leaked, to_br0 = send_and_collect(rig, QBG_FRAMES)
    assert agent == QBG_FRAMES
    assert leaked == QBG_FRAMES, "control experiment: STP-off bridge forwards 01-80-C2-00-00-00"
    assert to_br0 == QBG_FRAMES


def test_with_isolation_no_port_sees_another_ports_qbg_frames(rig: Rig) -> None:
    assert rig.bridge.isolate() is Change.ADDED
    assert rig.bridge.isolated_ports() == {"swp1", "swp2"}
    agent, leaked, to_br0 = send_and_collect(rig, QBG_FRAMES)
    assert agent == QBG_FRAMES  # the agent's ETH_P_ALL tap still gets every frame
    assert leaked == [] and to_br0 == []
    # ordinary traffic is still bridged
    assert rig.hv1.ping("10.98.0.2")
    # and the same holds in the other direction
    rig.rx.send(frame(GROUP_NB, bytes.fromhex("020000000201"), 0x8940, b"from hv2"))
    assert wait_for(lambda: rig.tx.recv_ready(), 0.5) == []


def test_isolation_also_covers_group_fwd_mask(rig: Rig) -> None:
    """If an operator makes the bridge forward 01-80-C2-00-00-03/0E, the rule still holds."""
    rig.sw.ip("link", "set", "dev", "br0", "type", "bridge", "group_fwd_mask", "0x4008")
    frames = [
        frame(GROUP_NONTPMR, HV1_MAC, 0x8940, b"ECP to nearest non-TPMR bridge"),
        frame(GROUP_NCB, HV1_MAC, 0x88CC, b"LLDP to nearest customer bridge"),
    ]
    _, leaked, _ = send_and_collect(rig, frames)
    assert leaked == frames  # control: forwarded now
    rig.bridge.isolate()
    agent, leaked, _ = send_and_collect(rig, frames)
    assert agent == frames and leaked == []


def test_removing_isolation_restores_the_bridge_exactly(rig: Rig) -> None:
    rig.bridge.isolate()
    assert rig.bridge.unisolate() is Change.REMOVED
    assert rig.bridge.isolated_ports() is None
    assert "qbg_br0" not in rig.sw.run("nft", "list", "tables").stdout
    _, leaked, _ = send_and_collect(rig, QBG_FRAMES[:1])
    assert leaked == QBG_FRAMES[:1]


def test_isolation_is_per_port_set_and_idempotent(rig: Rig) -> None:
    assert rig.bridge.isolate(["swp1"]) is Change.ADDED
    assert rig.bridge.isolate(["swp1"]) is Change.UNCHANGED
    _, leaked, _ = send_and_collect(rig, QBG_FRAMES[:1])
    assert leaked == []
    # frames entering a port outside the set are not ours to police
    rig.rx.send(frame(GROUP_NB, bytes.fromhex("020000000201"), 0x88CC, b"from swp2"))
    assert wait_for(lambda: rig.tx.recv_ready(), 1.0)
    assert rig.bridge.unisolate(["swp1"]) is Change.REMOVED
