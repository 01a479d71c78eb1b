"""decode_frame / encode_frame on the complete frames of ecp.md and vdp.md (§14.3 et al.)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from qbg.evb.ecpdu import DraftEcpdu, Ecpdu, EcpOp
from qbg.lldp.errors import DecodeError
from qbg.lldp.frame import EthernetFrame
from qbg.vdp.draft02 import DraftVdpdu
from qbg.vdp.frames import (
    DraftEcpFrame,
    EcpFrame,
    LldpFrame,
    OtherFrame,
    decode_frame,
    encode_frame,
)
from qbg.vdp.tlv import (
    FilterEntry,
    MalformedVsiTlv,
    Vdpdu,
    VsiIdFormat,
    VsiTlv,
    parse_mgrid,
    parse_vsiid,
)


def h(text: str) -> bytes:
    return bytes.fromhex(" ".join(text.split()))


STATION = h("52 54 00 12 34 56")
NCB = h("01 80 c2 00 00 00")

# vdp.md §14.3, first frame (73 octets, End TLV)
ASSOC_1234 = h(
    """01 80 c2 00 00 00 52 54 00 12 34 56 89 40 10 01
       12 34 0a 10 01 00 00 00 00 00 00 00 00 00 00 00
       00 00 00 00 06 21 00 12 34 56 01 05 5e 7a 3b 1c
       9d 2f 4a 6b 8c 0d 1e 2f 3a 4b 5c 6d 02 00 01 02
       00 00 00 00 01 00 64 00 00"""
)
# vdp.md §14.3, second frame (67 octets)
DEASSOC_IPV4 = h(
    """01 80 c2 00 00 00 52 54 00 12 34 56 89 40 10 01
       12 34 0a 10 01 00 00 00 00 00 00 00 00 00 00 00
       00 00 00 00 08 1b 20 12 34 56 01 01 00 00 00 00
       00 00 00 00 00 00 ff ff 0a 00 00 05 01 00 01 01
       2c 00 00"""
)
# vdp.md §5.4 / std-vdp22-bridge-ka-timeout.pcap frame 7
BRIDGE_DEASSOC = h(
    """01 80 c2 00 00 00 02 00 00 00 b0 01 89 40 10 01
       00 3b 0a 10 70 6b 6d 67 72 00 00 00 00 00 00 00
       00 00 00 00 08 21 00 00 00 05 04 05 00 00 00 00
       00 00 40 00 80 00 00 00 00 00 00 32 02 00 01 02
       aa 00 00 00 20 02 be"""
)
# ecp.md §1.3 frame 4
ACK = h("01 80 c2 00 00 00 02 00 00 00 b0 01 89 40 14 01 00 01")
# ecp.md §8.3
DRAFT_ACK = h("01 80 c2 00 00 0e 52 54 00 ab cd ef 88 b7 00 1b 3f 00 00 00 01 00 01") + bytes(42)
# lldp.md §2 / std-evb22-coldstart.pcap frame 4
LLDP = h(
    """01 80 c2 00 00 00 02 00 00 00 5a 01 88 cc 02 07
       04 02 00 00 00 5a 01 04 07 03 02 00 00 00 5a 01
       06 02 00 78 fe 09 00 80 c2 0d 03 05 6e b4 34 00
       00 00 00 00 00 00 00 00 00 00 00 00"""
)


def test_station_associate_frame_14_3() -> None:
    vsi = VsiTlv.build(
        mode=3,
        type_id=0x123456,
        type_version=1,
        vsiid_format=VsiIdFormat.UUID,
        vsiid=parse_vsiid(5, "5e7a3b1c-9d2f-4a6b-8c0d-1e2f3a4b5c6d"),
        filter_format=2,
        filters=(FilterEntry(vid=100, mac=h("02 00 00 00 00 01")),),
    )
    vdpdu = Vdpdu.build(parse_mgrid("1"), [vsi])
    eth = EthernetFrame(dst=NCB, src=STATION, ethertype=0x8940)
    frame = EcpFrame(eth=eth, ecpdu=Ecpdu(op=0, subtype=1, seq=0x1234), vdpdu=vdpdu)
    assert encode_frame(frame) == ASSOC_1234
    back = decode_frame(ASSOC_1234)
    assert isinstance(back, EcpFrame) and back.vdpdu == vdpdu and back.vdpdu.has_end
    assert back.ecpdu.seq == 0x1234 and back.ecpdu.payload == vdpdu.encode()
    assert encode_frame(back) == ASSOC_1234


def test_station_deassociate_frame_14_3() -> None:
    vsi = VsiTlv.build(
        mode=4,
        status=0x20,
        type_id=0x123456,
        type_version=1,
        vsiid_format=VsiIdFormat.IPV4,
        vsiid=parse_vsiid(1, "10.0.0.5"),
        filter_format=1,
        filters=(FilterEntry(vid=300),),
    )
    frame = decode_frame(DEASSOC_IPV4)
    assert isinstance(frame, EcpFrame) and frame.vdpdu is not None
    assert frame.vdpdu.vsis == (vsi,) and frame.vdpdu.vsis[0].suspended
    assert len(DEASSOC_IPV4) == 67
    built = EcpFrame(
        eth=EthernetFrame(dst=NCB, src=STATION, ethertype=0x8940),
        ecpdu=Ecpdu(op=0, subtype=1, seq=0x1234),
        vdpdu=Vdpdu.build(parse_mgrid("1"), [vsi]),
    )
    assert encode_frame(built) == DEASSOC_IPV4


def test_bridge_deassociate_frame() -> None:
    frame = decode_frame(BRIDGE_DEASSOC)
    assert isinstance(frame, EcpFrame) and frame.vdpdu is not None
    assert frame.ecpdu.seq == 0x3B and frame.eth.src == h("02 00 00 00 b0 01")
    (vsi,) = frame.vdpdu.vsis
    assert vsi.mode == 4 and vsi.status == 0 and vsi.filters[0].vid == 702
    assert encode_frame(frame) == BRIDGE_DEASSOC


def test_ack_frames_have_no_vdpdu() -> None:
    for raw in (ACK, ACK + bytes(42)):
        frame = decode_frame(raw)
        assert isinstance(frame, EcpFrame) and frame.vdpdu is None
        assert frame.ecpdu.op is EcpOp.ACK and frame.ecpdu.seq == 1
        assert encode_frame(frame) == raw


@pytest.mark.parametrize("word", ["10 02", "20 01", "18 01", "10 05"])
def test_non_vdp_requests_keep_raw_payload(word: str) -> None:
    raw = ASSOC_1234[:14] + h(word) + ASSOC_1234[16:]
    frame = decode_frame(raw)
    assert isinstance(frame, EcpFrame) and frame.vdpdu is None
    assert encode_frame(frame) == raw


def test_draft_frames() -> None:
    ack = decode_frame(DRAFT_ACK)
    assert isinstance(ack, DraftEcpFrame) and ack.vdpdu is None and ack.ecpdu.mode == 1
    assert encode_frame(ack) == DRAFT_ACK
    req = decode_frame(DRAFT_ACK[:20] + b"\x00" + DRAFT_ACK[21:])
    assert isinstance(req, DraftEcpFrame) and isinstance(req.vdpdu, DraftVdpdu)
    assert req.vdpdu.has_end and req.vdpdu.vsis == ()


def test_lldp_and_other_frames() -> None:
    frame = decode_frame(LLDP)
    assert isinstance(frame, LldpFrame) and frame.lldpdu.ttl == 120
    assert encode_frame(frame) == LLDP
    other_oui = DRAFT_ACK[:14] + h("00 80 c2") + DRAFT_ACK[17:]
    ipv4 = LLDP[:12] + h("08 00") + LLDP[14:]
    llc = LLDP[:12] + h("00 26") + bytes(46)
    for raw in (other_oui, ipv4, llc):
        f = decode_frame(raw)
        assert isinstance(f, OtherFrame) and encode_frame(f) == raw


def test_s_tagged_ecp_frame() -> None:
    raw = ASSOC_1234[:12] + h("88 a8 00 05") + ASSOC_1234[12:]
    frame = decode_frame(raw)
    assert isinstance(frame, EcpFrame) and frame.eth.tags == ((0x88A8, 5),)
    assert frame.vdpdu is not None and encode_frame(frame) == raw


def test_replacing_the_vdpdu_reencodes() -> None:
    frame = decode_frame(BRIDGE_DEASSOC)
    assert isinstance(frame, EcpFrame) and frame.vdpdu is not None
    vsi = replace(frame.vdpdu.vsis[0], status=0x40)
    new = replace(frame, vdpdu=replace(frame.vdpdu, tlvs=(frame.vdpdu.tlvs[0], vsi)))
    raw = encode_frame(new)
    assert raw[:0x26] == BRIDGE_DEASSOC[:0x26] and raw[0x26] == 0x40
    assert raw[0x27:] == BRIDGE_DEASSOC[0x27:]


def test_errors_carry_frame_offsets() -> None:
    with pytest.raises(DecodeError) as info:
        decode_frame(BRIDGE_DEASSOC[:-1])
    assert info.value.offset == 0x24  # the VSI TLV header that runs past the end
    with pytest.raises(DecodeError):
        decode_frame(ACK[:17])
    with pytest.raises(DecodeError):
        decode_frame(DRAFT_ACK[:22])
    with pytest.raises(DecodeError):
        decode_frame(LLDP[:20])
    with pytest.raises(DecodeError):
        decode_frame(ACK[:10])


def test_lenient_keeps_malformed_vsi() -> None:
    bad = bytearray(BRIDGE_DEASSOC + b"\x00")
    bad[0x25] += 1  # length 34 with N = 1
    with pytest.raises(DecodeError):
        decode_frame(bytes(bad))
    frame = decode_frame(bytes(bad), lenient=True)
    assert isinstance(frame, EcpFrame) and frame.vdpdu is not None
    assert type(frame.vdpdu.tlvs[1]) is MalformedVsiTlv
    assert encode_frame(frame) == bytes(bad)


def test_draft_header_encode_uses_inner_values() -> None:
    frame = decode_frame(DRAFT_ACK)
    assert isinstance(frame, DraftEcpFrame)
    rebuilt = DraftEcpFrame(
        eth=frame.eth, ecpdu=DraftEcpdu(mode=0, seq=1), vdpdu=DraftVdpdu(tlvs=(), padding=bytes(42))
    )
    assert encode_frame(rebuilt) == DRAFT_ACK[:20] + b"\x00" + DRAFT_ACK[21:]
