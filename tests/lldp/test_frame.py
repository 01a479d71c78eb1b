"""Ethernet framing: handbook examples, tags, 802.3 length frames, MAC helpers, corpus."""

from __future__ import annotations

from pathlib import Path

import pytest

from qbg.lldp.errors import DecodeError, EncodeError, LocalError
from qbg.lldp.frame import (
    LLDP_GROUP_MACS,
    NEAREST_BRIDGE,
    NEAREST_CUSTOMER_BRIDGE,
    NEAREST_NONTPMR_BRIDGE,
    EthernetFrame,
    EtherType,
    mac_str,
    pad,
    parse_mac,
)
from tests.strategies_lldp import corpus_frames, read_pcap, write_pcap

STATION = bytes.fromhex("02000000 5a01")
BRIDGE = bytes.fromhex("02000000b001")

# lldp.md 2: std-evb22-coldstart.pcap frame 4 (station, after negotiation), 60 octets.
COLDSTART_F4 = bytes.fromhex(
    "0180c200000002000000 5a0188cc0207"
    "04020000005a010407 03020000005a01"
    "06020078fe090080c20d03056eb43400"
    "000000000000000000000000"
)


def test_group_addresses() -> None:
    assert bytes.fromhex("0180c200000e") == NEAREST_BRIDGE
    assert bytes.fromhex("0180c2000003") == NEAREST_NONTPMR_BRIDGE
    assert bytes.fromhex("0180c2000000") == NEAREST_CUSTOMER_BRIDGE
    assert set(LLDP_GROUP_MACS) == {NEAREST_BRIDGE, NEAREST_NONTPMR_BRIDGE, NEAREST_CUSTOMER_BRIDGE}


def test_ethertype_values() -> None:
    assert int(EtherType.LLDP) == 0x88CC
    assert int(EtherType.ECP) == 0x8940
    assert int(EtherType.OUI_EXTENDED) == 0x88B7
    assert int(EtherType.VLAN) == 0x8100
    assert int(EtherType.SVLAN) == 0x88A8


def test_decode_handbook_lldp_frame() -> None:
    assert len(COLDSTART_F4) == 60
    f = EthernetFrame.decode(COLDSTART_F4)
    assert f.dst == NEAREST_CUSTOMER_BRIDGE
    assert f.src == STATION
    assert f.ethertype is EtherType.LLDP
    assert f.tags == ()
    assert f.payload == COLDSTART_F4[14:]
    assert len(f.payload) == 46
    assert f.encode() == COLDSTART_F4


def test_decode_s_and_c_tagged_frame() -> None:
    raw = (
        NEAREST_CUSTOMER_BRIDGE
        + STATION
        + bytes.fromhex("88a8 0005 8100 a064 88cc")
        + b"\x02\x07payload"
    )
    f = EthernetFrame.decode(raw)
    assert f.tags == ((0x88A8, 0x0005), (0x8100, 0xA064))
    assert f.vids == (5, 0x064)
    assert f.ethertype is EtherType.LLDP
    assert f.payload == b"\x02\x07payload"
    assert f.encode() == raw


def test_unknown_ethertype_stays_int() -> None:
    raw = BRIDGE + STATION + b"\x08\x00" + b"ip"
    f = EthernetFrame.decode(raw)
    assert f.ethertype == 0x0800
    assert type(f.ethertype) is int
    assert f.encode() == raw


def test_8023_length_frame_round_trips() -> None:
    # An LLC/STP BPDU from tcpdump-evb.pcap style: type/length 0x0069 is a length.
    raw = NEAREST_CUSTOMER_BRIDGE + STATION + b"\x00\x69" + b"\x42\x42\x03" + bytes(102)
    f = EthernetFrame.decode(raw)
    assert f.ethertype == 0x69
    assert f.encode() == raw


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        bytes(13),
        NEAREST_BRIDGE + STATION + b"\x81\x00",  # tag TPID without TCI and Ethertype
        NEAREST_BRIDGE + STATION + b"\x81\x00\x00\x01\x88",  # Ethertype cut in half
        NEAREST_BRIDGE + STATION + b"\x88\xa8\x00\x01\x81\x00\x00\x02",
    ],
)
def test_truncated_headers_raise_decode_error(raw: bytes) -> None:
    with pytest.raises(DecodeError) as exc:
        EthernetFrame.decode(raw)
    assert exc.value.layer == "ethernet"


def test_minimal_frame_empty_payload() -> None:
    f = EthernetFrame.decode(NEAREST_BRIDGE + STATION + b"\x88\xcc")
    assert f.payload == b""


@pytest.mark.parametrize(
    "kwargs",
    [
        {"dst": b"\x01" * 5},
        {"src": b"\x01" * 7},
        {"ethertype": 0x10000},
        {"ethertype": -1},
        {"ethertype": 0x8100},
        {"ethertype": 0x88A8},
        {"tags": ((0x0800, 1),)},
        {"tags": ((0x8100, 0x10000),)},
    ],
)
def test_invalid_frames_refused(kwargs: dict[str, object]) -> None:
    base: dict[str, object] = {
        "dst": NEAREST_CUSTOMER_BRIDGE,
        "src": STATION,
        "ethertype": EtherType.LLDP,
        "payload": b"",
    }
    base.update(kwargs)
    with pytest.raises(EncodeError):
        EthernetFrame(**base)  # type: ignore[arg-type]


def test_encode_builds_tagged_frame() -> None:
    f = EthernetFrame(
        dst=NEAREST_CUSTOMER_BRIDGE,
        src=STATION,
        ethertype=EtherType.ECP,
        payload=b"\x10\x01",
        tags=((0x88A8, 0x0064),),
    )
    assert f.encode().hex() == "0180c2000000020000005a0188a8006489401001"


def test_pad() -> None:
    short = bytes(range(18))
    padded = pad(short)
    assert len(padded) == 60
    assert padded[:18] == short
    assert padded[18:] == bytes(42)
    assert pad(bytes(60)) == bytes(60)
    assert pad(bytes(70)) == bytes(70)
    assert pad(b"ab", minimum=4) == b"ab\x00\x00"


def test_mac_helpers() -> None:
    assert mac_str(STATION) == "02:00:00:00:5a:01"
    for text in ("02:00:00:00:5a:01", "02-00-00-00-5A-01", "0200.0000.5a01", "020000005a01"):
        assert parse_mac(text) == STATION
    assert parse_mac(" 02:00:00:00:B0:01\n") == BRIDGE
    assert parse_mac(mac_str(NEAREST_BRIDGE)) == NEAREST_BRIDGE


@pytest.mark.parametrize(
    "text",
    ["", "02:00:00:00:5a", "02:00:00:00:5a:0g", "02:00-00:00:5a:01", "0200000005a01", "x" * 17],
)
def test_parse_mac_rejects(text: str) -> None:
    with pytest.raises(LocalError) as exc:
        parse_mac(text)
    assert exc.value.code == "EINVAL"


def test_every_corpus_frame_round_trips(corpus: Path) -> None:
    count = 0
    ethertypes: set[int] = set()
    for name, number, raw in corpus_frames(corpus):
        f = EthernetFrame.decode(raw)
        assert f.encode() == raw, f"{name} frame {number}"
        ethertypes.add(int(f.ethertype))
        count += 1
    assert count > 1500
    # LLDP and ECP22 from lldpad, plus the 802.3 (length) BPDUs of the tcpdump capture.
    assert {0x88CC, 0x8940, 0x69} <= ethertypes


def test_pcap_helper_reads_both_byte_orders(tmp_path: Path) -> None:
    frames = [COLDSTART_F4, NEAREST_BRIDGE + STATION + b"\x89\x40\x10\x01"]
    for order in ("<", ">"):
        p = tmp_path / f"x{order == '<'}.pcap"
        write_pcap(p, frames, order)
        assert read_pcap(p) == frames
