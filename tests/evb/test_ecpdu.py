"""ECPDU header codecs against ecp.md §1 and §8 (every hex example there)."""

from __future__ import annotations

import pytest

from qbg.evb.ecpdu import DRAFT_OUI, DraftEcpdu, DraftEcpMode, Ecpdu, EcpOp, EcpSubtype
from qbg.lldp.errors import DecodeError, EncodeError


def h(text: str) -> bytes:
    return bytes.fromhex(text.replace("\n", " "))


# ecp.md §1.3: std-vdp22-assoc.pcap frames 3 and 4 (Ethernet payloads).
REQUEST_PAYLOAD = h(
    "10 01 00 01 0a 10 70 6b 6d 67 72 00 00 00 00 00 00 00 00 00 00 00 06 21 00 00 00 05 04 05"
    " 00 00 00 00 00 00 40 00 80 00 00 00 00 00 00 01 02 00 01 02 aa 00 00 00 01 00 64"
)
ACK_PAYLOAD = h("14 01 00 01")


def test_request_header_fields() -> None:
    pdu = Ecpdu.decode(REQUEST_PAYLOAD)
    assert (pdu.version, pdu.op, pdu.subtype, pdu.seq) == (1, EcpOp.REQUEST, EcpSubtype.VDP, 1)
    assert type(pdu.op) is EcpOp and type(pdu.subtype) is EcpSubtype
    assert pdu.payload == REQUEST_PAYLOAD[4:]
    assert pdu.payload[:2] == b"\x0a\x10"
    assert pdu.is_request and not pdu.is_ack
    assert pdu.encode() == REQUEST_PAYLOAD


def test_ack_header_fields() -> None:
    ack = Ecpdu.decode(ACK_PAYLOAD)
    assert (ack.version, ack.op, ack.subtype, ack.seq, ack.payload) == (1, 1, 1, 1, b"")
    assert ack.is_ack
    assert ack.encode() == ACK_PAYLOAD
    assert Ecpdu.decode(REQUEST_PAYLOAD).ack() == ack


@pytest.mark.parametrize(
    ("word", "version", "op", "subtype"),
    [
        ("1001", 1, 0, 1),
        ("1401", 1, 1, 1),
        ("1002", 1, 0, 2),
        ("2001", 2, 0, 1),  # version 2: decodes, the machine drops it
        ("1801", 1, 2, 1),  # reserved op 2
        ("1c01", 1, 3, 1),  # reserved op 3
        ("1000", 1, 0, 0),  # subtype 0
        ("13ff", 1, 0, 1023),
        ("f7ff", 15, 1, 1023),
    ],
)
def test_header_word_split(word: str, version: int, op: int, subtype: int) -> None:
    raw = h(word) + b"\xab\xcd" + b"\x00" * 3
    pdu = Ecpdu.decode(raw)
    assert (pdu.version, pdu.op, pdu.subtype, pdu.seq) == (version, op, subtype, 0xABCD)
    assert pdu.payload == b"\x00" * 3
    assert pdu.encode() == raw


def test_unknown_values_stay_int() -> None:
    pdu = Ecpdu.decode(h("1c05 0000"))
    assert type(pdu.op) is int and pdu.op == 3
    assert type(pdu.subtype) is int and pdu.subtype == 5


def test_padding_is_part_of_payload() -> None:
    # an 18-octet ack padded to 60 by a real NIC: 42 zero octets stay in the payload
    raw = ACK_PAYLOAD + bytes(42)
    pdu = Ecpdu.decode(raw)
    assert pdu.payload == bytes(42)
    assert pdu.encode() == raw


@pytest.mark.parametrize("n", [0, 1, 2, 3])
def test_truncated_header(n: int) -> None:
    with pytest.raises(DecodeError) as info:
        Ecpdu.decode(ACK_PAYLOAD[:n], offset=14)
    assert info.value.offset == 14
    assert info.value.layer == "ecp"


@pytest.mark.parametrize(
    "kwargs",
    [
        {"version": 16, "op": 0, "subtype": 1, "seq": 0},
        {"op": 4, "subtype": 1, "seq": 0},
        {"op": 0, "subtype": 1024, "seq": 0},
        {"op": 0, "subtype": 1, "seq": 0x10000},
        {"op": 0, "subtype": 1, "seq": -1},
    ],
)
def test_out_of_range_values_refused(kwargs: dict[str, int]) -> None:
    with pytest.raises(EncodeError):
        Ecpdu(**kwargs)  # type: ignore[arg-type]


# ecp.md §8.3: the constructed draft ack (Ethernet payload after 0x88B7).
DRAFT_ACK = h("00 1b 3f 00 00 00 01 00 01" + " 00" * 42)


def test_draft_ack_example() -> None:
    pdu = DraftEcpdu.decode(DRAFT_ACK)
    assert (pdu.oui, pdu.pad, pdu.subtype, pdu.mode, pdu.seq) == (DRAFT_OUI, 0, 0, 1, 1)
    assert pdu.mode is DraftEcpMode.ACK and pdu.is_ack
    assert pdu.payload == bytes(42)
    assert pdu.encode() == DRAFT_ACK


def test_draft_request_and_ack_helper() -> None:
    # vdp.md §13.4 payload: header + one draft VDP TLV + End TLV
    req = DraftEcpdu.decode(h("00 1b 3f 00 00 00 00 00 01 fe 26") + bytes(38) + b"\x00\x00")
    assert req.is_request and req.seq == 1 and len(req.payload) == 42
    ack = req.ack()
    assert ack.encode() == DRAFT_ACK


def test_draft_nonzero_reserved_fields_are_kept() -> None:
    raw = h("00 1b 3f 7f 12 34 05 ff fe")
    pdu = DraftEcpdu.decode(raw)
    assert (pdu.pad, pdu.subtype, pdu.mode, pdu.seq) == (0x7F, 0x1234, 5, 0xFFFE)
    assert type(pdu.mode) is int
    assert pdu.encode() == raw


@pytest.mark.parametrize("n", range(9))
def test_draft_truncated(n: int) -> None:
    with pytest.raises(DecodeError):
        DraftEcpdu.decode(DRAFT_ACK[:n])


def test_draft_out_of_range_refused() -> None:
    with pytest.raises(EncodeError):
        DraftEcpdu(mode=0, seq=0x10000)
    with pytest.raises(EncodeError):
        DraftEcpdu(oui=1 << 24, mode=0, seq=0)
