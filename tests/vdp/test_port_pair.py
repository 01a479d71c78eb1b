"""A station port and a bridge port over a fake link: the whole stack, cold start to association.

Covers the composition in vdp/port.py: LLDP/EVB negotiation feeding ECP and VDP, the station's
hold until the bridge's EVB TLV arrives, ECP pulling batched VDPDUs, and the 1,000-VSI
scenario of the protocol-core issue (as few ECP round trips as the MTU allows).
"""

from __future__ import annotations

import math
import uuid

from qbg.evb.ecp import EcpAcked
from qbg.evb.negotiation import EvbConfig, EvbRole
from qbg.evb.port import EvbNegotiated
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
