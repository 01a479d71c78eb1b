"""Hypothesis strategies for the lldp/ and evb/ TLV values, plus a tiny classic-pcap reader.

One strategy per value type (STYLE habit 14), reusable by other test modules:
``from tests.strategies_lldp import lldpdus, evb_tlvs``.  Every strategy yields only values
whose ``__post_init__`` accepts them, so ``decode(encode(v)) == v`` must hold for each.

The pcap helpers read the corpus without the project's own pcap module (classic libpcap
format, both byte orders, microsecond or nanosecond magic; Ethernet link type only).
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from pathlib import Path

from hypothesis import strategies as st

import qbg.evb  # noqa: F401  (registers the EVB, draft EVB and CDCP TLV classes)
from qbg.evb.cdcp import CDCP_MAX_CHANNELS, CdcpTlv, SChannel
from qbg.evb.draft02 import DraftEvbTlv
from qbg.evb.tlv import EvbMode, EvbTlv
from qbg.lldp.frame import TAG_TPIDS, EthernetFrame, EtherType
from qbg.lldp.tlv import (
    ChassisIdSubtype,
    ChassisIdTlv,
    EndTlv,
    Lldpdu,
    PortIdSubtype,
    PortIdTlv,
    Tlv,
    TtlTlv,
    UnknownOrgTlv,
    UnknownTlv,
    org_tlv_class,
)

__all__ = [
    "cdcp_tlvs",
    "chassis_id_tlvs",
    "corpus_frames",
    "draft_evb_tlvs",
    "ethernet_frames",
    "evb_tlvs",
    "lldpdus",
    "macs",
    "optional_tlvs",
    "port_id_tlvs",
    "read_pcap",
    "schannels",
    "ttl_tlvs",
    "unknown_org_tlvs",
    "unknown_tlvs",
    "write_pcap",
]

# ------------------------------------------------------------------------------------------
# pcap (classic format) — local helper, independent of the project's pcap reader

_MAGIC_BE = (b"\xa1\xb2\xc3\xd4", b"\xa1\xb2\x3c\x4d")
_MAGIC_LE = (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1")


def read_pcap(path: Path) -> list[bytes]:
    """Every packet of a classic pcap file with link type Ethernet (1)."""
    data = path.read_bytes()
    magic = data[:4]
    if magic in _MAGIC_BE:
        order = ">"
    elif magic in _MAGIC_LE:
        order = "<"
    else:
        raise ValueError(f"{path}: not a classic pcap file (magic {magic.hex()})")
    (linktype,) = struct.unpack_from(order + "I", data, 20)
    if linktype != 1:
        raise ValueError(f"{path}: link type {linktype}, expected Ethernet")
    rec = struct.Struct(order + "IIII")
    frames: list[bytes] = []
    pos = 24
    while pos + rec.size <= len(data):
        _sec, _frac, incl, _orig = rec.unpack_from(data, pos)
        pos += rec.size
        frames.append(data[pos : pos + incl])
        pos += incl
    if pos != len(data):
        raise ValueError(f"{path}: truncated record at {pos}")
    return frames


def write_pcap(path: Path, frames: list[bytes], order: str = ">") -> None:
    """Write ``frames`` as a classic microsecond pcap in byte order ``order`` ('<' or '>')."""
    out = bytearray(struct.pack(order + "IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
    for i, f in enumerate(frames):
        out += struct.pack(order + "IIII", i, 0, len(f), len(f)) + f
    path.write_bytes(bytes(out))


def corpus_frames(corpus: Path) -> Iterator[tuple[str, int, bytes]]:
    """(file name, 1-based frame number, frame) for every frame of every corpus capture."""
    for path in sorted(corpus.glob("*.pcap")):
        for i, frame in enumerate(read_pcap(path), 1):
            yield path.name, i, frame


# ------------------------------------------------------------------------------------------
# Ethernet


def macs() -> st.SearchStrategy[bytes]:
    return st.binary(min_size=6, max_size=6)


@st.composite
def ethernet_frames(draw: st.DrawFn) -> EthernetFrame:
    tags = draw(
        st.lists(st.tuples(st.sampled_from(sorted(TAG_TPIDS)), st.integers(0, 0xFFFF)), max_size=3)
    )
    etype = draw(
        st.one_of(
            st.sampled_from([EtherType.LLDP, EtherType.ECP, EtherType.OUI_EXTENDED]),
            st.integers(0, 0xFFFF).filter(lambda v: v not in TAG_TPIDS),
        )
    )
    if etype in EtherType._value2member_map_:
        etype = EtherType(etype)
    return EthernetFrame(
        dst=draw(macs()),
        src=draw(macs()),
        ethertype=etype,
        payload=draw(st.binary(max_size=64)),
        tags=tuple(tags),
    )


# ------------------------------------------------------------------------------------------
# LLDP TLVs


def _subtype(enum: type[ChassisIdSubtype] | type[PortIdSubtype]) -> st.SearchStrategy[int]:
    return st.integers(0, 255).map(lambda v: enum(v) if v in enum._value2member_map_ else v)


def chassis_id_tlvs() -> st.SearchStrategy[ChassisIdTlv]:
    return st.builds(
        ChassisIdTlv,
        subtype=_subtype(ChassisIdSubtype),
        value=st.binary(min_size=1, max_size=255),
    )


def port_id_tlvs() -> st.SearchStrategy[PortIdTlv]:
    return st.builds(
        PortIdTlv, subtype=_subtype(PortIdSubtype), value=st.binary(min_size=1, max_size=255)
    )


def ttl_tlvs() -> st.SearchStrategy[TtlTlv]:
    return st.builds(TtlTlv, ttl=st.integers(0, 0xFFFF))


def unknown_tlvs() -> st.SearchStrategy[UnknownTlv]:
    return st.builds(
        UnknownTlv, tlv_type=st.integers(4, 126), value=st.binary(min_size=1, max_size=64)
    )


def unknown_org_tlvs() -> st.SearchStrategy[UnknownOrgTlv]:
    """Org TLVs whose (OUI, subtype) has no registered class (else they'd decode as it)."""
    return st.builds(
        UnknownOrgTlv,
        oui=st.one_of(st.sampled_from([0x0080C2, 0x001B3F, 0x00000C]), st.integers(0, 0xFFFFFF)),
        subtype=st.integers(0, 255),
        info=st.binary(max_size=40),
    ).filter(lambda t: org_tlv_class(t.oui, t.subtype) is None)


# ------------------------------------------------------------------------------------------
# EVB, draft EVB, CDCP


def evb_tlvs() -> st.SearchStrategy[EvbTlv]:
    return st.builds(
        EvbTlv,
        bridge_reserved=st.integers(0, 31),
        bgid=st.booleans(),
        rrcap=st.booleans(),
        rrctr=st.booleans(),
        station_reserved=st.integers(0, 15),
        sgid=st.booleans(),
        rrreq=st.booleans(),
        rrstat=st.integers(0, 3),
        r=st.integers(0, 7),
        rte=st.integers(0, 31),
        mode=st.sampled_from(list(EvbMode)),
        rol_rwd=st.booleans(),
        rwd=st.integers(0, 31),
        rka_reserved=st.integers(0, 3),
        rol_rka=st.booleans(),
        rka=st.integers(0, 31),
        extra=st.one_of(st.just(b""), st.binary(max_size=8)),
    )


def draft_evb_tlvs() -> st.SearchStrategy[DraftEvbTlv]:
    octet = st.integers(0, 255)
    return st.builds(
        DraftEvbTlv,
        supported_mode=octet,
        supported_caps=octet,
        configured_mode=octet,
        configured_caps=octet,
        supported_vsis=st.integers(0, 0xFFFF),
        configured_vsis=st.integers(0, 0xFFFF),
        rte=octet,
        extra=st.one_of(st.just(b""), st.binary(max_size=8)),
    )


def schannels() -> st.SearchStrategy[SChannel]:
    return st.builds(SChannel, scid=st.integers(0, 0xFFF), svid=st.integers(0, 0xFFF))


def cdcp_tlvs(max_channels: int = 8) -> st.SearchStrategy[CdcpTlv]:
    return st.builds(
        CdcpTlv,
        role=st.integers(0, 1),
        reserved1=st.integers(0, 7),
        scomp=st.booleans(),
        reserved2=st.integers(0, 0x7FF),
        reserved3=st.integers(0, 15),
        chncap=st.integers(0, 0xFFF),
        channels=st.lists(schannels(), max_size=min(max_channels, CDCP_MAX_CHANNELS)).map(tuple),
    )


# ------------------------------------------------------------------------------------------
# LLDPDU


def optional_tlvs() -> st.SearchStrategy[Tlv]:
    """Any TLV allowed after the mandatory three (End excluded)."""
    return st.one_of(unknown_tlvs(), unknown_org_tlvs(), evb_tlvs(), draft_evb_tlvs(), cdcp_tlvs())


@st.composite
def lldpdus(draw: st.DrawFn) -> Lldpdu:
    tlvs: list[Tlv] = [draw(chassis_id_tlvs()), draw(port_id_tlvs()), draw(ttl_tlvs())]
    tlvs += draw(st.lists(optional_tlvs(), max_size=5))
    padding = b""
    if draw(st.booleans()):
        tlvs.append(EndTlv())
        padding = draw(
            st.one_of(
                st.just(b""),
                st.binary(max_size=16).map(lambda b: bytes(len(b))),
                st.binary(max_size=16),
            )
        )
    return Lldpdu(tlvs=tuple(tlvs), padding=padding)
