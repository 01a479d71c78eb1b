"""Draft 0.2 VDP station and bridge (vdp.md §13.2/§13.3, scenarios.md S22)."""

from __future__ import annotations

import dataclasses

import pytest

from qbg.lldp.errors import LocalError
from qbg.vdp.draft import (
    DraftBridgeState,
    DraftProfileConfirmed,
    DraftProfileEnded,
    DraftStationState,
    DraftVdpBridge,
    DraftVdpStation,
    DraftVsiBound,
    DraftVsiReleased,
)
from qbg.vdp.draft02 import DraftFilterEntry, DraftVdpdu, DraftVdpTlv
from qbg.vdp.policy import Decision, PolicyRequest

INSTANCE = bytes.fromhex("5e7a3b1c9d2f4a6b8c0d1e2f3a4b5c6d")


def profile(mode: int = 2, n: int = 1, vid: int = 100) -> DraftVdpTlv:
    return DraftVdpTlv.build(
        mode=mode,
        mgrid=1,
        type_id=0x123456,
        type_version=1,
        instance=INSTANCE[:-1] + bytes([n]),
        entries=(DraftFilterEntry(mac=bytes([2, 0, 0, 0, 0, n]), vid=vid),),
    )


def test_s22_station_associate_bytes() -> None:
    st = DraftVdpStation()
    st.command(profile(), 0.0)
    wire = st.pull(1500, 0.0)
    # vdp.md §13.4 from frame offset 0x17: the TLV, then the End TLV.
    assert wire == bytes.fromhex(
        "fe26001b3f0202000112345601"
        + "5e7a3b1c9d2f4a6b8c0d1e2f3a4b5c01"
        + "020001020000000001006400 00".replace(" ", "")
    )
    assert st.state(profile().key()) is DraftStationState.ASSOC_PROCESSING
    assert st.next_deadline() == pytest.approx(3.0)


def test_station_and_bridge_pair_keepalive_and_deassociate() -> None:
    st, br = DraftVdpStation(), DraftVdpBridge()
    p = profile()
    st.command(p, 0.0)
    out = br.receive_payload(st.pull(1500, 0.0) or b"", 0.0)
    assert [type(e) for e in out.events] == [DraftVsiBound]
    out = st.receive_payload(br.pull(1500, 0.0) or b"", 0.001)
    assert out.events == (DraftProfileConfirmed(port="", key=p.key(), mode=2),)
    assert st.next_deadline() == pytest.approx(10.001)
    assert br.next_deadline() == pytest.approx(17.25)
    st.timer(10.001)
    assert st.state(p.key()) is DraftStationState.ASSOC_PROCESSING
    assert br.receive_payload(st.pull(1500, 10.001) or b"", 10.001).events == ()
    st.receive_payload(br.pull(1500, 10.001) or b"", 10.002)
    assert st.state(p.key()) is DraftStationState.ASSOCIATED
    st.command(dataclasses.replace(p, mode=3), 12.0)
    out = br.receive_payload(st.pull(1500, 12.0) or b"", 12.0)
    assert out.events == (DraftVsiReleased(port="", key=p.key(), reason="station"),)
    out = st.receive_payload(br.pull(1500, 12.0) or b"", 12.001)
    assert out.events == (DraftProfileEnded(port="", key=p.key(), reason="station"),)
    assert len(st) == 0 and len(br) == 0


def test_station_times_out_after_3s_against_a_stub_bridge() -> None:
    st = DraftVdpStation()
    st.command(profile(), 0.0)
    st.pull(1500, 0.0)
    assert st.timer(2.999).events == ()
    out = st.timer(3.0)
    assert out.events == (DraftProfileEnded(port="", key=profile().key(), reason="timeout"),)


def test_station_batches_all_pending_profiles() -> None:
    st = DraftVdpStation()
    for n in (1, 2, 3):
        st.command(profile(n=n), 0.0)
    pdu = DraftVdpdu.decode(st.pull(1500, 0.0) or b"")
    assert len(pdu.vsis) == 3 and pdu.has_end
    assert st.pull(1500, 0.0) is None


def test_station_rules() -> None:
    st = DraftVdpStation()
    with pytest.raises(LocalError):
        st.command(profile(mode=3), 0)
    st.command(profile(mode=0), 0)
    with pytest.raises(LocalError) as exc:
        st.command(profile(mode=2), 0)
    assert exc.value.code == "EBUSY"
    br = DraftVdpBridge()
    br.receive_payload(st.pull(1500, 0) or b"", 0)
    st.receive_payload(br.pull(1500, 0) or b"", 0)
    assert st.state(profile().key()) is DraftStationState.PREASSOCIATED
    with pytest.raises(LocalError):
        st.command(profile(mode=2, vid=101), 1)
    st.command(profile(mode=2), 1)
    br.receive_payload(st.pull(1500, 1) or b"", 1)
    st.receive_payload(br.pull(1500, 1) or b"", 1)
    with pytest.raises(LocalError):
        st.command(profile(mode=0), 2)  # associated -> pre-associate refused


def test_bridge_deassociate_ignored_while_preassociating_then_honoured() -> None:
    st = DraftVdpStation()
    p = profile(mode=0)
    st.command(p, 0)
    st.pull(1500, 0)
    withdraw = DraftVdpdu.build([dataclasses.replace(p, mode=3)]).encode()
    assert st.receive_payload(withdraw, 0.1).events == ()
    st.receive_payload(DraftVdpdu.build([p]).encode(), 0.2)
    out = st.receive_payload(withdraw, 0.3)
    assert out.events == (DraftProfileEnded(port="", key=p.key(), reason="bridge"),)


def test_error_response_ends_profile() -> None:
    st = DraftVdpStation()
    p = profile()
    st.command(p, 0)
    st.pull(1500, 0)
    out = st.receive_payload(DraftVdpdu.build([dataclasses.replace(p, response=2)]).encode(), 0.1)
    assert out.events == (DraftProfileEnded(port="", key=p.key(), reason="error", response=2),)


class _Refuse:
    def decide(self, req: PolicyRequest) -> Decision:
        return Decision.refuse(2)

    def bound(self, req: PolicyRequest, filters: tuple[object, ...]) -> None:
        pass

    def released(self, port: str, key: object) -> None:
        pass


def test_bridge_refusal_invalid_and_supervision() -> None:
    br = DraftVdpBridge(policy=_Refuse())  # type: ignore[arg-type]
    br.receive_vdpdu(DraftVdpdu.build([profile()]), 0)
    [reply] = DraftVdpdu.decode(br.pull(1500, 0) or b"").vsis
    assert reply.response == 2 and reply.mode == 2 and len(br) == 0
    br = DraftVdpBridge()
    bad = dataclasses.replace(profile(), entries=(DraftFilterEntry(mac=bytes(6), vid=100),))
    br.receive_vdpdu(DraftVdpdu.build([bad]), 0)
    assert DraftVdpdu.decode(br.pull(1500, 0) or b"").vsis[0].response == 1
    br.receive_vdpdu(DraftVdpdu.build([profile()]), 0)
    br.pull(1500, 0)
    assert br.state(profile().key()) is DraftBridgeState.ASSOCIATED
    out = br.timer(17.25)
    assert out.events == (DraftVsiReleased(port="", key=profile().key(), reason="supervision"),)
    [w] = DraftVdpdu.decode(br.pull(1500, 17.25) or b"").vsis
    assert w.mode == 3 and w.response == 0


def test_bridge_withdraw() -> None:
    br = DraftVdpBridge()
    br.receive_vdpdu(DraftVdpdu.build([profile()]), 0)
    br.pull(1500, 0)
    out = br.withdraw(profile().key(), 1)
    assert out.events == (DraftVsiReleased(port="", key=profile().key(), reason="withdrawn"),)
    with pytest.raises(LocalError):
        br.withdraw(profile().key(), 2)
