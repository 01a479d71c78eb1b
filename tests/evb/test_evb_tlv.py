"""Ratified EVB TLV codec: evb-tlv.md 1.1 table, 2.4 examples, the coldstart capture
against the MANIFEST table, the tcpdump vector, reserved bits, extra octets, short TLVs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from qbg.evb.tlv import RRSTAT_ENABLED, RRSTAT_UNKNOWN, EvbMode, EvbTlv
from qbg.lldp.errors import DecodeError, EncodeError
from qbg.lldp.frame import EthernetFrame
from qbg.lldp.tlv import Lldpdu, UnknownOrgTlv, org_tlv_class
from tests.strategies_lldp import read_pcap

B, S = EvbMode.BRIDGE, EvbMode.STATION

# evb-tlv.md 1.1 / MANIFEST: octets -> (bridge flags, station flags, R, RTE, mode, ROL, RWD,
# ROL, RKA).  Flags: (bgid, rrcap, rrctr) and (sgid, rrreq, rrstat).
TABLE: list[tuple[str, dict[str, Any]]] = [
    (
        "02006e5414",  # bridge, nothing heard
        dict(rrcap=True, rrctr=False, rrreq=False, rrstat=0, mode=B, rol_rwd=False, rol_rka=False),
    ),
    (
        "00076e9414",  # station, nothing heard
        dict(rrcap=False, rrctr=False, rrreq=True, rrstat=3, mode=S, rol_rwd=False, rol_rka=False),
    ),
    (
        "03076e7434",  # bridge grants RR, echoes 07
        dict(rrcap=True, rrctr=True, rrreq=True, rrstat=3, mode=B, rol_rwd=True, rol_rka=True),
    ),
    (
        "03056eb434",  # station sees RRCTR
        dict(rrcap=True, rrctr=True, rrreq=True, rrstat=1, mode=S, rol_rwd=True, rol_rka=True),
    ),
    (
        "03056e7434",  # bridge steady state
        dict(rrcap=True, rrctr=True, rrreq=True, rrstat=1, mode=B, rol_rwd=True, rol_rka=True),
    ),
]


@pytest.mark.parametrize(("octets", "fields"), TABLE)
def test_handbook_table(octets: str, fields: dict[str, Any]) -> None:
    info = bytes.fromhex(octets)
    tlv = EvbTlv.decode_info(info, 0)
    for name, value in fields.items():
        assert getattr(tlv, name) == value, name
    assert (tlv.r, tlv.rte, tlv.rwd, tlv.rka) == (3, 14, 20, 20)
    assert not tlv.bgid and not tlv.sgid
    assert (tlv.bridge_reserved, tlv.station_reserved, tlv.rka_reserved, tlv.extra) == (
        0,
        0,
        0,
        b"",
    )
    assert tlv.encode_info() == info
    assert tlv.encode() == bytes.fromhex("fe090080c20d") + info
    assert EvbTlv.decode(tlv.encode()) == tlv
    assert EvbTlv(**fields, r=3, rte=14, rwd=20, rka=20) == tlv


def test_field_construction_matches_handbook_bytes() -> None:
    station = EvbTlv(rrreq=True, rrstat=RRSTAT_UNKNOWN, r=3, rte=8, mode=S, rwd=20, rka=20)
    assert station.encode_info().hex() == "0007689414"  # evb-tlv.md 2.4 step 1
    bridge = EvbTlv(rrcap=True, r=3, rte=14, mode=B, rwd=20, rka=20)
    assert bridge.encode_info().hex() == "02006e5414"  # step 2
    assert (
        EvbTlv(
            rrcap=True,
            rrctr=True,
            rrreq=True,
            rrstat=3,
            r=3,
            rte=14,
            mode=B,
            rol_rwd=True,
            rwd=20,
            rol_rka=True,
            rka=20,
        )
        .encode_info()
        .hex()
        == "03076e7434"
    )  # step 3
    # 2.4 "another": station RWD 25 own -> 0x99; bridge adopts it -> 0x79.
    assert EvbTlv(mode=S, rwd=25).encode_info()[3] == 0x99
    assert EvbTlv(mode=B, rol_rwd=True, rwd=25).encode_info()[3] == 0x79
    # 1.1: lldpad's default RTE 8 gives octet 0x68.
    assert EvbTlv.decode_info(bytes.fromhex("030568b434"), 0).rte == 8


def test_tcpdump_vector() -> None:
    tlv = EvbTlv.decode(bytes.fromhex("fe090080c20d0200f45f1f"))
    assert tlv == EvbTlv(rrcap=True, r=7, rte=20, mode=B, rwd=31, rka=31)


def test_every_bit_including_reserved_round_trips() -> None:
    info = bytes.fromhex("ffffffffff")
    tlv = EvbTlv.decode_info(info, 0)
    assert (tlv.bridge_reserved, tlv.station_reserved, tlv.rka_reserved) == (31, 15, 3)
    assert tlv.bgid and tlv.rrcap and tlv.rrctr and tlv.sgid and tlv.rrreq
    assert (tlv.rrstat, tlv.r, tlv.rte, tlv.rwd, tlv.rka) == (3, 7, 31, 31, 31)
    assert tlv.mode is EvbMode.RESERVED and tlv.rol_rwd and tlv.rol_rka
    assert tlv.encode_info() == info
    # one bit at a time
    for octet in range(5):
        for bit in range(8):
            b = bytearray(5)
            b[octet] = 1 << bit
            assert EvbTlv.decode_info(bytes(b), 0).encode_info() == bytes(b)


def test_bit_positions() -> None:
    d = EvbTlv.decode_info
    assert d(b"\x04\0\0\0\0", 0).bgid
    assert d(b"\x02\0\0\0\0", 0).rrcap
    assert d(b"\x01\0\0\0\0", 0).rrctr
    assert d(b"\x08\0\0\0\0", 0).bridge_reserved == 1
    assert d(b"\0\x08\0\0\0", 0).sgid
    assert d(b"\0\x04\0\0\0", 0).rrreq
    assert d(b"\0\x10\0\0\0", 0).station_reserved == 1
    assert d(b"\0\0\x20\0\0", 0).r == 1
    assert d(b"\0\0\0\x40\0", 0).mode is EvbMode.BRIDGE
    assert d(b"\0\0\0\0\x40", 0).rka_reserved == 1


def test_extra_octets_are_kept() -> None:
    raw = bytes.fromhex("fe0b0080c20d03056eb434abcd")
    tlv = EvbTlv.decode(raw)
    assert tlv.extra == b"\xab\xcd" and tlv.rrstat == RRSTAT_ENABLED
    assert tlv.encode() == raw


@pytest.mark.parametrize("n", range(0, 5))
def test_short_tlv_is_a_decode_error(n: int) -> None:
    with pytest.raises(DecodeError) as exc:
        EvbTlv.decode_info(bytes(n), 6)
    assert exc.value.offset == 6 and exc.value.layer == "EVB TLV"
    with pytest.raises(DecodeError):
        EvbTlv.decode(bytes((0xFE, 4 + n, 0x00, 0x80, 0xC2, 0x0D)) + bytes(n))


def test_decode_whole_tlv_checks_header() -> None:
    for bad in (
        "fe090080c20e03056eb434",  # CDCP subtype
        "fe09001b3f0d03056eb434",  # other OUI
        "fc090080c20d03056eb434",  # type 126
        "fe0a0080c20d03056eb434",  # length mismatch
        "fe09",
    ):
        with pytest.raises(DecodeError):
            EvbTlv.decode(bytes.fromhex(bad))


def test_short_tlv_inside_lldpdu_is_ignored() -> None:
    payload = bytes.fromhex(
        "020704020000005a01 040703020000005a01 06020078 fe070080c20d03056e 0000"
    )
    lldpdu = Lldpdu.decode(payload)
    assert lldpdu.org(EvbTlv) is None
    org = lldpdu.org(UnknownOrgTlv)
    assert org is not None and org.error is not None and org.subtype == 0x0D
    assert lldpdu.encode() == payload


@pytest.mark.parametrize(
    "field",
    [
        {"bridge_reserved": 32},
        {"station_reserved": 16},
        {"rrstat": 4},
        {"r": 8},
        {"rte": 32},
        {"mode": 4},
        {"rwd": -1},
        {"rka": 32},
        {"rka_reserved": 4},
        {"extra": bytes(503)},
    ],
)
def test_out_of_range_fields_refused(field: dict[str, Any]) -> None:
    with pytest.raises(EncodeError):
        EvbTlv(**field)


def test_status_octets_and_echo() -> None:
    bridge = EvbTlv.decode_info(bytes.fromhex("03076e7434"), 0)
    station = EvbTlv.decode_info(bytes.fromhex("00076e9414"), 0)
    assert bridge.bridge_status == 0x03 and bridge.station_status == 0x07
    # The station copies the bridge's octet 4 verbatim (reserved bits too).
    echoed = station.with_bridge_status(0xFB)
    assert echoed.bridge_status == 0xFB and echoed.bridge_reserved == 0x1F
    assert echoed.station_status == station.station_status
    assert bridge.with_station_status(0x05).encode_info().hex() == "03056e7434"
    with pytest.raises(EncodeError):
        station.with_bridge_status(256)


def test_default_is_the_all_zero_tlv() -> None:
    assert EvbTlv().encode_info() == bytes(5)
    assert EvbTlv.decode_info(bytes(5), 0) == EvbTlv()
    assert org_tlv_class(0x0080C2, 0x0D) is EvbTlv


# MANIFEST "std-evb22-coldstart.pcap": EVB value octets of frames 1..14.
COLDSTART = [
    ("bridge", "02006e5414"),
    ("station", "00076e9414"),
    ("bridge", "03076e7434"),
    ("station", "03056eb434"),
] + [("bridge", "03056e7434"), ("station", "03056eb434")] * 5

MACS = {"bridge": bytes.fromhex("02000000b001"), "station": bytes.fromhex("020000005a01")}


def test_coldstart_capture_matches_manifest(corpus: Path) -> None:
    frames = read_pcap(corpus / "std-evb22-coldstart.pcap")
    assert len(frames) == len(COLDSTART) == 14
    for number, (raw, (sender, octets)) in enumerate(zip(frames, COLDSTART, strict=True), 1):
        eth = EthernetFrame.decode(raw)
        assert eth.src == MACS[sender], number
        lldpdu = Lldpdu.decode(eth.payload)
        evb = lldpdu.org(EvbTlv)
        assert evb is not None
        assert evb.encode_info().hex() == octets, number
        assert evb.mode == (B if sender == "bridge" else S)
        assert (evb.r, evb.rte, evb.rwd, evb.rka) == (3, 14, 20, 20)
        assert lldpdu.encode() == eth.payload
