"""Draft 0.2 VDP against the constructed example of vdp.md §13.4 and the §13.1 rules."""

from __future__ import annotations

import pytest

from qbg.evb.ecpdu import DraftEcpdu
from qbg.lldp.errors import DecodeError, EncodeError
from qbg.vdp.draft02 import (
    DraftFilterEntry,
    DraftUnknownTlv,
    DraftVdpdu,
    DraftVdpMode,
    DraftVdpResponse,
    DraftVdpTlv,
)
from qbg.vdp.tlv import VdpEndTlv


def h(text: str) -> bytes:
    return bytes.fromhex(" ".join(text.split()))


FRAME = h(
    """01 80 c2 00 00 0e 52 54 00 12 34 56 88 b7 00 1b
       3f 00 00 00 00 00 01 fe 26 00 1b 3f 02 02 00 01
       12 34 56 01 5e 7a 3b 1c 9d 2f 4a 6b 8c 0d 1e 2f
       3a 4b 5c 6d 02 00 01 02 00 00 00 00 01 00 64 00
       00"""
)
INSTANCE = h("5e 7a 3b 1c 9d 2f 4a 6b 8c 0d 1e 2f 3a 4b 5c 6d")
TLV = DraftVdpTlv(
    mode=DraftVdpMode.ASSOC,
    response=0,
    mgrid=1,
    type_id=0x123456,
    type_version=1,
    instance=INSTANCE,
    filter_format=2,
    entries=(DraftFilterEntry(mac=h("02 00 00 00 00 01"), vid=100),),
)


def test_example_13_4_decodes() -> None:
    assert len(FRAME) == 65
    ecp = DraftEcpdu.decode(FRAME[14:])
    assert ecp.mode == 0 and ecp.seq == 1
    pdu = DraftVdpdu.decode(ecp.payload)
    assert pdu.tlvs == (TLV, VdpEndTlv())
    assert pdu.padding == b"" and pdu.has_end
    tlv = pdu.vsis[0]
    assert tlv.mode is DraftVdpMode.ASSOC and tlv.response is DraftVdpResponse.SUCCESS
    assert tlv.key() == (1, 0x123456, 1, INSTANCE)
    assert pdu.encode() == FRAME[23:]


def test_example_13_4_encodes() -> None:
    pdu = DraftVdpdu.build([TLV])
    assert TLV.encode()[:2] == h("fe 26")
    ecp = DraftEcpdu(mode=0, seq=1, payload=pdu.encode())
    assert FRAME[:14] + ecp.encode() == FRAME


def test_empty_request_and_zero_ack() -> None:
    # ecp.md §8.2: lldpad's first draft ECPDU has only the End TLV
    pdu = DraftVdpdu.decode(bytes(37))
    assert pdu.tlvs == (VdpEndTlv(),) and pdu.vsis == () and pdu.padding == bytes(35)
    assert pdu.encode() == bytes(37)
    assert DraftVdpdu.decode(b"") == DraftVdpdu(tlvs=())


def test_unvalidated_values_are_kept() -> None:
    odd = DraftVdpTlv(
        mode=7,
        response=9,
        mgrid=0,
        type_id=1,
        type_version=0,
        instance=bytes(16),
        filter_format=5,
        entries=(),
    )
    raw = odd.encode()
    assert raw[:2] == h("fe 1e")
    (back,) = DraftVdpdu.decode(raw).tlvs
    assert back == odd and type(back) is DraftVdpTlv
    assert type(back.mode) is int and type(back.response) is int


def test_malformed_and_foreign_tlvs_are_unknown() -> None:
    bad_len = bytearray(TLV.encode())
    bad_len[1] += 1
    bad = bytes(bad_len) + b"\x99"
    other_oui = h("fe 05 00 80 c2 0d 01")
    reserved = h("08 01 ff")
    raw = bad + other_oui + reserved + b"\x00\x00"
    pdu = DraftVdpdu.decode(raw)
    assert pdu.tlvs[:3] == (
        DraftUnknownTlv(tlv_type=127, value=bad[2:]),
        DraftUnknownTlv(tlv_type=127, value=other_oui[2:]),
        DraftUnknownTlv(tlv_type=4, value=b"\xff"),
    )
    assert pdu.encode() == raw


def test_running_past_end() -> None:
    with pytest.raises(DecodeError):
        DraftVdpdu.decode(TLV.encode()[:-1])


def test_single_tlv_decode_errors() -> None:
    with pytest.raises(DecodeError):
        DraftVdpTlv.decode(TLV.encode()[:31])
    with pytest.raises(DecodeError):
        DraftVdpTlv.decode(h("fe 26 00 1b 3f 03") + TLV.encode()[6:])


def test_build_validation() -> None:
    kw: dict[str, object] = {
        "mgrid": 1,
        "type_id": 1,
        "type_version": 1,
        "instance": INSTANCE,
        "entries": TLV.entries,
    }
    assert DraftVdpTlv.build(mode=2, **kw) == TLV.__class__(mode=2, filter_format=2, **kw)  # type: ignore[arg-type]
    for bad in ({"mode": 4}, {"mode": 0, "response": 7}, {"mode": 0, "entries": ()}):
        with pytest.raises(EncodeError):
            DraftVdpTlv.build(**{**kw, **bad})  # type: ignore[arg-type]
    with pytest.raises(EncodeError):
        DraftFilterEntry(mac=b"12345", vid=1)
    with pytest.raises(EncodeError):
        DraftVdpTlv(mode=256, mgrid=0, type_id=0, type_version=0, instance=INSTANCE, entries=())
    with pytest.raises(EncodeError):
        DraftVdpdu(tlvs=(VdpEndTlv(), TLV))
