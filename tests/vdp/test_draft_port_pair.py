"""S22: a draft 0.2 station port and a draft 0.2 bridge port over a fake link, cold start to
association — draft EVB TLV, draft ECP (0x88B7 to 01-80-C2-00-00-0E) and draft VDP together."""

from __future__ import annotations

import uuid

from qbg.evb.negotiation import EvbConfig, EvbRole, EvbVariant
from qbg.lldp.frame import NEAREST_BRIDGE
from qbg.vdp.draft02 import DraftFilterEntry, DraftVdpTlv
from qbg.vdp.draft_station import DraftProfileConfirmed
from qbg.vdp.port import DraftBridgePort, DraftStationPort
from tests.helpers import Clock, Link

STATION_MAC = bytes.fromhex("525400123456")
BRIDGE_MAC = bytes.fromhex("525400abcdef")


def profile(mode: int = 2) -> DraftVdpTlv:
    return DraftVdpTlv(
        mode=mode,
        mgrid=1,
        type_id=0x123456,
        type_version=1,
        instance=uuid.UUID("5e7a3b1c-9d2f-4a6b-8c0d-1e2f3a4b5c6d").bytes,
        entries=(DraftFilterEntry(mac=bytes.fromhex("020000000001"), vid=100),),
    )


def test_draft_association_end_to_end() -> None:
    clock = Clock()
    evb = {"variant": EvbVariant.DRAFT, "rte": 15}
    station = DraftStationPort(
        "sta0", STATION_MAC, EvbConfig(role=EvbRole.STATION, **evb), initial_seq=0
    )
    bridge = DraftBridgePort(
        "brp0", BRIDGE_MAC, EvbConfig(role=EvbRole.BRIDGE, **evb), initial_seq=0
    )
    link = Link(clock, station, bridge, delay=0.0001)
    link.inject("b", bridge.link_up(clock.now))
    link.inject("a", station.link_up(clock.now))
    clock.run_until(3.0)
    n = station.negotiated
    assert n is not None and n.peer_seen and n.rr_enabled and n.vdp
    link.inject("a", station.command(profile(), clock.now))
    clock.run_until(4.0)
    confirmed = [e for _, e in link.events["a"] if isinstance(e, DraftProfileConfirmed)]
    assert [e.mode for e in confirmed] == [2]
    assert len(bridge.vdp) == 1
    draft_ecp = [s.frame for s in link.wire if s.frame[12:14] == b"\x88\xb7"]
    assert draft_ecp and all(f[:6] == NEAREST_BRIDGE for f in draft_ecp)
