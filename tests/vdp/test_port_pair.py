"""A station port and a bridge port over a fake link: the whole stack, cold start to association.

Covers the composition in vdp/port.py: LLDP/EVB negotiation feeding ECP and VDP, the station's
hold until the bridge's EVB TLV arrives, ECP pulling batched VDPDUs, and the 1,000-VSI
scenario of the protocol-core issue (as few ECP round trips as the MTU allows).
"""

from __future__ import annotations

import itertools
import math
import uuid

from qbg.evb.ecp import EcpAcked
from qbg.evb.negotiation import EvbConfig, EvbRole
from qbg.evb.port import EvbNegotiated
from qbg.lldp.events import FrameDropped, Output
from qbg.lldp.frame import EthernetFrame
from qbg.vdp.bridge import VsiAdded
from qbg.vdp.filters import FilterEntry
from qbg.vdp.port import BridgePort, PortOptions, StationPort
from qbg.vdp.station import VsiAssociated
from qbg.vdp.tlv import VdpTlvType, VsiIdFormat, VsiTlv, parse_mgrid
from tests.helpers import Clock, Link

STATION_MAC = bytes.fromhex("020000005a01")
BRIDGE_MAC = bytes.fromhex("02000000b001")
MGRID = parse_mgrid("pkmgr")


def vsi(n: int) -> VsiTlv:
    return VsiTlv(
        mode=VdpTlvType.ASSOC,
        status=0,
        type_id=5,
        type_version=4,
        vsiid_format=VsiIdFormat.UUID,
        vsiid=uuid.UUID(f"00000000-0000-4000-8000-{n:012d}").bytes,
        filter_format=2,
        filters=(
            FilterEntry(
                ps=False,
                pcp=0,
                vid=100 + n % 3000,
                mac=bytes([2, 0xAA, 0, n >> 16 & 255, n >> 8 & 255, n & 255]),
            ),
        ),
    )


def pair(options: PortOptions | None = None) -> tuple[Clock, Link, StationPort, BridgePort]:
    clock = Clock()
    station = StationPort(
        "sta0", STATION_MAC, EvbConfig(role=EvbRole.STATION), options, initial_seq=0x1000
    )
    bridge = BridgePort(
        "brp0", BRIDGE_MAC, EvbConfig(role=EvbRole.BRIDGE), options, initial_seq=0x2000
    )
    link = Link(clock, station, bridge, delay=0.0001)
    link.inject("b", bridge.link_up(clock.now))
    link.inject("a", station.link_up(clock.now))
    return clock, link, station, bridge


def test_cold_start_negotiates_rr_on_both_sides() -> None:
    clock, link, station, bridge = pair()
    clock.run_until(5.0)
    assert station.negotiated is not None and station.negotiated.rr_enabled
    assert bridge.negotiated is not None and bridge.negotiated.rr_enabled
    assert station.peer_seen and bridge.peer_seen
    kinds = [type(e) for _, e in link.events["a"]]
    assert EvbNegotiated in kinds


def test_one_association_end_to_end() -> None:
    clock, link, station, _ = pair()
    clock.run_until(3.0)
    link.inject("a", station.associate(MGRID, vsi(1), clock.now))
    clock.run_until(3.1)
    assoc = [e for _, e in link.events["a"] if isinstance(e, VsiAssociated)]
    added = [e for _, e in link.events["b"] if isinstance(e, VsiAdded)]
    assert len(assoc) == 1 and assoc[0].filters[0].vid == 101
    assert len(added) == 1 and added[0].mode == 3
    ecp = [s for s in link.wire if EthernetFrame.decode(s.frame).ethertype == 0x8940]
    # request, ack, response, ack
    assert len(ecp) == 4


def test_station_holds_vdp_until_bridge_evb_tlv() -> None:
    clock = Clock()
    station = StationPort("sta0", STATION_MAC, options=PortOptions(vdp_hold=2.0), initial_seq=1)
    link = Link(clock, station, BridgePort("brp0", BRIDGE_MAC, initial_seq=1), delay=0.0001)
    link.inject("a", station.link_up(0.0))  # bridge port still down: it hears nothing
    link.inject("a", station.associate(MGRID, vsi(1), clock.now))
    clock.run_until(1.9)
    assert not [s for s in link.wire if EthernetFrame.decode(s.frame).ethertype == 0x8940]
    clock.run_until(2.1)  # hold expired: proceeds with local values
    assert [s for s in link.wire if EthernetFrame.decode(s.frame).ethertype == 0x8940]


def test_thousand_vsis_in_minimal_round_trips() -> None:
    n = 1000
    clock, link, station, _ = pair(PortOptions(min_gap_ms=0, window=n))
    clock.run_until(3.0)
    start = clock.now
    out, errors = station.commands([(MGRID, vsi(i + 1)) for i in range(n)], clock.now)
    assert errors == [None] * n
    link.inject("a", out)
    clock.run_until(start + 2.0)
    assoc = [e for _, e in link.events["a"] if isinstance(e, VsiAssociated)]
    assert len(assoc) == n
    requests = [
        s
        for s in link.wire
        if s.side == "a"
        and EthernetFrame.decode(s.frame).ethertype == 0x8940
        and s.frame[14] & 0x0C == 0
    ]
    per_pdu = (station.ecp.max_ulpdu - 18 - 2) // 35  # MgrID + End; 35-octet format-2 TLVs
    minimum = math.ceil(n / per_pdu)
    acked = [e for _, e in link.events["a"] if isinstance(e, EcpAcked)]
    print(f"{n} VSIs associated in {len(requests)} ECP round trips (MTU minimum {minimum})")
    assert len(requests) == minimum
    assert len(acked) == minimum


def _ecp_frames(link: Link, side: str) -> list[bytes]:
    return [s.frame for s in link.wire if s.side == side and s.frame[12:14] == b"\x89\x40"]


def test_bad_frames_are_dropped_with_typed_errors() -> None:
    _, _, station, _ = pair()
    out = station.receive(b"\x01\x02", 0.5)
    assert [type(e) for e in out.events] == [FrameDropped]
    tagged_truncated = bytes(12) + b"\x81\x00\x00"
    assert isinstance(station.receive(tagged_truncated, 0.5).events[0], FrameDropped)
    other = bytes(12) + b"\x08\x00" + bytes(46)
    assert station.receive(other, 0.5) == Output()
    assert station.frames_other == 1


def test_vlan_tagged_lldp_is_demultiplexed_by_inner_ethertype() -> None:
    clock, link, station, _bridge = pair()
    clock.run_until(0.5)
    lldp = next(s.frame for s in link.wire if s.side == "b" and s.frame[12:14] == b"\x88\xcc")
    tagged = lldp[:12] + b"\x81\x00\x00\x64" + lldp[12:]
    out = station.receive(tagged, clock.now)
    assert all(not isinstance(e, FrameDropped) for e in out.events)


def test_frames_are_ignored_while_the_port_is_down() -> None:
    clock, link, station, _bridge = pair()
    clock.run_until(3.0)
    frame = link.wire[-1].frame
    link.inject("a", station.link_down(clock.now))
    assert not station.up
    assert station.receive(frame, clock.now) == Output()


def test_link_flap_renegotiates_and_resends_every_vsi() -> None:
    """S17: after link down/up each VSI's current request is sent again and re-confirmed."""
    clock, link, station, bridge = pair()
    clock.run_until(3.0)
    out, _ = station.commands([(MGRID, vsi(i)) for i in (1, 2, 3)], clock.now)
    link.inject("a", out)
    clock.run_until(3.5)
    before = len(_ecp_frames(link, "a"))
    link.inject("a", station.link_down(clock.now))
    clock.run_until(4.0)
    link.inject("a", station.link_up(clock.now, initial_seq=0x4000))
    clock.run_until(6.0)
    from qbg.vdp.frames import decode_frame

    resent = [
        t
        for f in _ecp_frames(link, "a")[before:]
        if (vd := getattr(decode_frame(f), "vdpdu", None)) is not None
        for t in vd.vsis
    ]
    assert sorted(t.filters[0].mac[-1] for t in resent) == [1, 2, 3]  # each re-sent once
    assert {station.vdp.state(vsi(i).key(MGRID)).name for i in (1, 2, 3)} == {"WAIT_SYSCMD_2"}
    assert len(bridge.vdp) == 3


def test_shutdown_sends_ttl0_and_stops() -> None:
    clock, _link, station, _bridge = pair()
    clock.run_until(2.0)
    out = station.shutdown(clock.now)
    ttl0 = [f for f in out.frames if f[12:14] == b"\x88\xcc"]
    assert ttl0 and b"\x06\x02\x00\x00" in ttl0[0]
    assert not station.up


def test_bridge_withdraw_and_revalidate_through_the_port() -> None:
    from qbg.vdp.events import VsiDeassociated, VsiRemoved
    from qbg.vdp.policy import Decision, PolicyRequest

    clock, link, station, bridge = pair()
    clock.run_until(3.0)
    out, _ = station.commands([(MGRID, vsi(i)) for i in (1, 2)], clock.now)
    link.inject("a", out)
    clock.run_until(3.5)
    link.inject("b", bridge.withdraw(vsi(1).key(MGRID), clock.now))
    clock.run_until(4.0)
    gone = [e for _, e in link.events["a"] if isinstance(e, VsiDeassociated)]
    assert [e.key for e in gone] == [vsi(1).key(MGRID)]

    class RefuseAll:
        def decide(self, req: PolicyRequest) -> Decision:
            return Decision.refuse(2)

        def bound(self, req: PolicyRequest, filters: object) -> None:
            pass

        def released(self, port: str, key: object) -> None:
            pass

    bridge.vdp.policy = RefuseAll()
    link.inject("b", bridge.revalidate(clock.now))
    clock.run_until(4.5)
    removed = [e for _, e in link.events["b"] if isinstance(e, VsiRemoved)]
    assert len(removed) == 2 and len(bridge.vdp) == 0


def test_station_preassociate_then_deassociate_through_the_port() -> None:
    from qbg.vdp.events import VsiDeassociated, VsiPreassociated

    clock, link, station, bridge = pair()
    clock.run_until(3.0)
    link.inject("a", station.preassociate(MGRID, vsi(7), clock.now, rr=True))
    clock.run_until(3.1)
    pre = [e for _, e in link.events["a"] if isinstance(e, VsiPreassociated)]
    assert len(pre) == 1 and pre[0].rr
    link.inject("a", station.deassociate(MGRID, vsi(7), clock.now))
    clock.run_until(3.2)
    assert [e for _, e in link.events["a"] if isinstance(e, VsiDeassociated)]
    assert len(bridge.vdp) == 0


def test_port_roles_are_checked() -> None:
    import pytest

    from qbg.lldp.errors import LocalError

    with pytest.raises(LocalError):
        StationPort("x", STATION_MAC, EvbConfig(role=EvbRole.BRIDGE))
    with pytest.raises(LocalError):
        BridgePort("x", BRIDGE_MAC, EvbConfig(role=EvbRole.STATION))


def test_org_tlvs_follow_their_vsi_in_requests_and_keepalives() -> None:
    """Cisco VM-name TLV (vdp.md §8) travels after its VSI TLV, also in keep-alives."""
    from qbg.station.daemon import org_tlvs
    from qbg.vdp.frames import decode_frame
    from qbg.vdp.orgtlv import CiscoVmNameTlv

    clock, link, station, _ = pair()
    clock.run_until(3.0)
    t = vsi(9)
    org = org_tlvs(["cisco,vm_name=web9"], t)
    link.inject("a", station.command(MGRID, t, clock.now, org=org))
    clock.run_until(3.0 + station.vdp.keepalive_us / 1e6 + 1.0)
    pdus = [vd for f in _ecp_frames(link, "a") if (vd := getattr(decode_frame(f), "vdpdu", None))]
    assert len(pdus) >= 2  # the request and at least one keep-alive
    for vd in pdus:
        kinds = [type(x).__name__ for x in vd.tlvs]
        assert kinds[:3] == ["ManagerIdTlv", "VsiTlv", "CiscoVmNameTlv"]
        name = next(x for x in vd.tlvs if isinstance(x, CiscoVmNameTlv))
        assert name.name == b"web9" and name.vsiid == t.vsiid


def test_min_gap_spaces_new_ecpdus_to_an_lldpad_peer() -> None:
    """minGap (ecp.md §3.2): with 3 ms, new ECPDUs leave at least 3 ms apart however fast the
    peer acks; retransmissions aside."""
    clock, link, station, _ = pair(PortOptions(min_gap_ms=3.0))
    clock.run_until(3.0)
    out, _ = station.commands([(MGRID, vsi(i + 1)) for i in range(200)], clock.now)
    link.inject("a", out)
    clock.run_until(4.0)
    new = {}
    for s in link.wire:
        if s.side == "a" and s.frame[12:14] == b"\x89\x40" and s.frame[14] & 0x0C == 0:
            new.setdefault(s.frame[16:18], s.t)
    times = sorted(new.values())
    assert len(times) >= 5
    assert min(b - a for a, b in itertools.pairwise(times)) >= 3000
