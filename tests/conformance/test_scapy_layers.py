"""qbg.scapy against the corpus and against qbg's own codecs.

For every frame of every capture in the corpus directory: ``Ether(raw)`` dissects to our layers,
rebuilds byte for byte, and its fields equal those of :func:`qbg.vdp.frames.decode_frame`.
Frames the corpus lacks (draft 0.2, filter formats 1/3/4, Cisco and CDCP TLVs, ...) are built
with qbg's encoders and checked the same way, and the handbook's constructed vectors are
crafted with scapy.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any, cast

import pytest
import scapy.contrib.lldp as lldp
from scapy.compat import raw
from scapy.layers.l2 import Dot1AD, Dot1Q, Ether
from scapy.packet import Packet, Padding, Raw
from scapy.utils import rdpcap

import qbg.scapy as qs
from qbg.evb.cdcp import CdcpTlv, SChannel
from qbg.evb.draft02 import DraftEvbTlv
from qbg.evb.ecpdu import DraftEcpdu, Ecpdu
from qbg.evb.tlv import EvbTlv
from qbg.lldp.frame import NEAREST_BRIDGE, EthernetFrame, pad
from qbg.lldp.tlv import build_lldpdu, encode_lldp_frame
from qbg.vdp.draft02 import DraftFilterEntry, DraftUnknownTlv, DraftVdpdu, DraftVdpTlv
from qbg.vdp.frames import DraftEcpFrame, EcpFrame, LldpFrame, OtherFrame, decode_frame
from qbg.vdp.tlv import (
    CiscoL3AddressTlv,
    CiscoVmNameTlv,
    FilterEntry,
    MalformedVsiTlv,
    ManagerIdTlv,
    UnknownOrgVdpTlv,
    UnknownVdpTlv,
    Vdpdu,
    VdpEndTlv,
    VsiTlv,
)
from tests.conftest import corpus_files

CORPUS = corpus_files()


def _hex(dump: str) -> bytes:
    """Octets of a Wireshark-style hex dump (offset column first on every line)."""
    return bytes.fromhex("".join(line.split(None, 1)[1] for line in dump.strip().splitlines()))


def _mac(text: str) -> bytes:
    return bytes.fromhex(text.replace(":", ""))


def _padding(pkt: Packet) -> bytes:
    pad_layer = pkt.getlayer(Padding)
    return bytes(pad_layer.load) if pad_layer is not None else b""


# --- field comparison: scapy layer vs qbg value -------------------------------------------------


def _check_filters(vsi: Packet, tlv: VsiTlv) -> None:
    assert vsi.count == len(tlv.filters)
    assert len(vsi.filters) == len(tlv.filters)
    for s, d in zip(vsi.filters, tlv.filters, strict=True):
        assert isinstance(s, qs.FILTER_CLASSES[int(tlv.filter_format)])
        assert (bool(s.ps), s.pcp, s.vid) == (d.ps, d.pcp, d.vid)
        assert (_mac(s.mac) if "mac" in s.fields else None) == d.mac
        assert (s.group_id if "group_id" in s.fields else None) == d.group_id
    assert vsi.extra == b""


def _check_vdp_tlv(s: Packet, d: Any) -> None:
    assert raw(s) == d.encode()
    if isinstance(d, ManagerIdTlv):
        assert isinstance(s, qs.VDPManagerID)
        assert (s.type, s.len, s.mgrid) == (5, 16, d.mgrid)
    elif isinstance(d, VsiTlv):
        assert isinstance(s, qs.VDPVSI)
        assert s.type == int(d.mode)
        assert s.status == d.status
        assert (bool(s.response), s.error) == (d.response, d.error)
        assert s.type_id == d.type_id
        assert s.type_version == d.type_version
        assert s.vsiid_format == int(d.vsiid_format)
        assert s.vsiid == d.vsiid
        assert s.filter_format == int(d.filter_format)
        _check_filters(s, d)
    elif isinstance(d, VdpEndTlv):
        assert isinstance(s, qs.VDPEnd)
    elif isinstance(d, CiscoVmNameTlv):
        assert isinstance(s, qs.VDPCiscoVMName)
        assert (s.vsiid_format, s.vsiid) == (d.vsiid_format, d.vsiid)
        assert (s.vm_id_format, s.vm_uuid, s.vm_name) == (d.vm_id_format, d.vm_uuid, d.name)
    elif isinstance(d, CiscoL3AddressTlv):
        assert isinstance(s, qs.VDPCiscoL3Address)
        assert (s.vsiid_format, s.vsiid, s.afi) == (d.vsiid_format, d.vsiid, d.afi)
        if d.afi == 1 and len(d.address) == 4:
            assert socket.inet_aton(s.ipv4) == d.address
        else:
            assert s.address == d.address
    elif isinstance(d, UnknownOrgVdpTlv):
        assert isinstance(s, qs.VDPOrg)
        assert (s.oui, s.data) == (d.oui, d.info)
    elif isinstance(d, UnknownVdpTlv | MalformedVsiTlv):
        assert s.type == d.tlv_type
    else:  # pragma: no cover - a TLV class this test does not know yet
        raise AssertionError(f"unexpected qbg TLV {d!r}")


def _check_draft_tlv(s: Packet, d: Any) -> None:
    assert raw(s) == d.encode()
    if isinstance(d, DraftVdpTlv):
        assert isinstance(s, qs.VDPDraft)
        assert (s.oui, s.subtype) == (qs.OUI_QBG_DRAFT, qs.DRAFT_VDP_SUBTYPE)
        assert (s.mode, s.response, s.mgrid) == (int(d.mode), int(d.response), d.mgrid)
        assert (s.type_id, s.type_version, s.instance) == (d.type_id, d.type_version, d.instance)
        assert s.filter_format == d.filter_format
        assert s.count == len(d.entries)
        got = [(_mac(e.mac), e.vid) for e in s.entries]
        assert got == [(e.mac, e.vid) for e in d.entries]
    elif isinstance(d, VdpEndTlv):
        assert isinstance(s, qs.VDPEnd)
    elif isinstance(d, DraftUnknownTlv):
        assert s.type == d.tlv_type
    else:  # pragma: no cover
        raise AssertionError(f"unexpected qbg draft TLV {d!r}")


def _check_ecp(pkt: Packet, frame: EcpFrame) -> None:
    ecp = pkt[qs.ECP]
    e = frame.ecpdu
    assert (ecp.version, ecp.op, ecp.subtype, ecp.seq) == (e.version, e.op, e.subtype, e.seq)
    if frame.vdpdu is None:
        assert not ecp.haslayer(qs.VDP) or e.version != 1
        return
    vdp = pkt[qs.VDP]
    assert len(vdp.tlvs) == len(frame.vdpdu.tlvs)
    for s, d in zip(vdp.tlvs, frame.vdpdu.tlvs, strict=True):
        _check_vdp_tlv(s, d)
    assert _padding(vdp) == frame.vdpdu.padding


def _check_draft_ecp(pkt: Packet, frame: DraftEcpFrame) -> None:
    ecp = pkt[qs.ECPDraft]
    e = frame.ecpdu
    assert (ecp.oui, ecp.pad, ecp.subtype) == (e.oui, e.pad, e.subtype)
    assert (ecp.mode, ecp.seq) == (e.mode, e.seq)
    if frame.vdpdu is None:
        assert not ecp.haslayer(qs.VDPDraftPDU)
        return
    pdu = pkt[qs.VDPDraftPDU]
    assert len(pdu.tlvs) == len(frame.vdpdu.tlvs)
    for s, d in zip(pdu.tlvs, frame.vdpdu.tlvs, strict=True):
        _check_draft_tlv(s, d)
    assert _padding(pdu) == frame.vdpdu.padding


_EVB_FIELDS = (
    "bridge_reserved",
    "bgid",
    "rrcap",
    "rrctr",
    "station_reserved",
    "sgid",
    "rrreq",
    "rrstat",
    "r",
    "rte",
    "mode",
    "rol_rwd",
    "rwd",
    "rka_reserved",
    "rol_rka",
    "rka",
    "extra",
)
_DRAFT_EVB_FIELDS = (
    "supported_mode",
    "supported_caps",
    "configured_mode",
    "configured_caps",
    "supported_vsis",
    "configured_vsis",
    "rte",
    "extra",
)
_CDCP_FIELDS = ("role", "reserved1", "scomp", "reserved2", "reserved3", "chncap")


def _scalar(value: Any) -> Any:
    return value if isinstance(value, bytes) else int(value)


def _check_lldp(pkt: Packet, frame: LldpFrame) -> None:
    for cls, layer, names in (
        (EvbTlv, qs.LLDPDUEvb, _EVB_FIELDS),
        (DraftEvbTlv, qs.LLDPDUEvbDraft, _DRAFT_EVB_FIELDS),
        (CdcpTlv, qs.LLDPDUCdcp, _CDCP_FIELDS),
    ):
        ours = frame.lldpdu.org(cls)
        assert pkt.haslayer(layer) == (ours is not None), layer.__name__
        if ours is None:
            continue
        got = pkt[layer]
        for name in names:
            assert _scalar(got.getfieldval(name)) == _scalar(getattr(ours, name)), name
        if isinstance(ours, CdcpTlv):
            assert [(c.scid, c.svid) for c in got.channels] == [
                (c.scid, c.svid) for c in ours.channels
            ]


def _check_frame(data: bytes, *, lenient: bool = False) -> Packet:
    """Dissect, rebuild, compare with qbg's decoder; returns the scapy packet."""
    pkt = Ether(data)
    assert raw(pkt) == data
    frame = decode_frame(data, lenient=lenient)
    if isinstance(frame, EcpFrame):
        assert pkt.haslayer(qs.ECP)
        _check_ecp(pkt, frame)
    elif isinstance(frame, DraftEcpFrame):
        assert pkt.haslayer(qs.ECPDraft)
        _check_draft_ecp(pkt, frame)
    elif isinstance(frame, LldpFrame):
        _check_lldp(pkt, frame)
    else:
        assert isinstance(frame, OtherFrame)
        assert not pkt.haslayer(qs.ECP) and not pkt.haslayer(qs.ECPDraft)
    return pkt


# --- the corpus -----------------------------------------------------------------------------


def _frames(path: Path) -> list[bytes]:
    return [bytes(p) for p in rdpcap(str(path))]


def test_corpus_present() -> None:
    assert len(CORPUS) >= 12


@pytest.mark.parametrize("path", CORPUS, ids=[p.name for p in CORPUS])
def test_corpus_rebuilds_byte_exact(path: Path) -> None:
    for i, data in enumerate(_frames(path), 1):
        assert raw(Ether(data)) == data, f"frame {i}"


@pytest.mark.parametrize("path", CORPUS, ids=[p.name for p in CORPUS])
def test_corpus_dissects_to_our_layers(path: Path) -> None:
    for i, data in enumerate(_frames(path), 1):
        pkt = Ether(data)
        ethertype = int.from_bytes(data[12:14], "big")
        if ethertype == qs.ETH_P_ECP:
            assert pkt.haslayer(qs.ECP), f"frame {i}"
            assert not pkt.haslayer(Raw), f"frame {i}"
            if data[14:16] == b"\x10\x01":  # request / VDP
                vdp = pkt[qs.VDP]
                assert isinstance(vdp.tlvs[0], qs.VDPManagerID), f"frame {i}"
                assert any(isinstance(t, qs.VDPVSI) for t in vdp.tlvs), f"frame {i}"
        elif ethertype == 0x88CC and b"\xfe\x09\x00\x80\xc2\x0d" in data:
            assert pkt.haslayer(qs.LLDPDUEvb), f"frame {i}"


@pytest.mark.parametrize("path", CORPUS, ids=[p.name for p in CORPUS])
def test_corpus_fields_equal_qbg_decoder(path: Path) -> None:
    for i, data in enumerate(_frames(path), 1):
        try:
            _check_frame(data)
        except AssertionError as exc:
            raise AssertionError(f"{path.name} frame {i}: {exc}") from exc


def test_corpus_examples_decode_as_documented() -> None:
    """Spot checks against the handbook's decoded examples (vdp.md §4.2, evb-tlv.md §1.1)."""
    assoc = _frames(next(p for p in CORPUS if p.name == "std-vdp22-assoc.pcap"))
    req = next(Ether(d) for d in assoc if d[6:12] == _mac("02:00:00:00:5a:01") and len(d) == 71)
    assert (req[qs.ECP].op, req[qs.ECP].subtype, req[qs.ECP].seq) == (0, 1, 1)
    mgr, vsi = req[qs.VDP].tlvs
    assert mgr.mgrid == b"pkmgr".ljust(16, b"\x00")
    assert (vsi.type, vsi.len, vsi.status, vsi.type_id, vsi.type_version) == (3, 33, 0, 5, 4)
    assert vsi.vsiid == uuid.UUID("00000000-0000-4000-8000-000000000001").bytes
    (entry,) = vsi.filters
    assert (entry.mac, entry.ps, entry.pcp, entry.vid) == ("02:aa:00:00:00:01", 0, 0, 100)

    cold = _frames(next(p for p in CORPUS if p.name == "std-evb22-coldstart.pcap"))
    evb = Ether(cold[3])[qs.LLDPDUEvb]  # frame 4: 03 05 6e b4 34
    assert (evb.rrcap, evb.rrctr, evb.rrreq, evb.rrstat) == (1, 1, 1, 1)
    assert (evb.r, evb.rte, evb.mode, evb.rol_rwd, evb.rwd, evb.rol_rka, evb.rka) == (
        3,
        14,
        2,
        1,
        20,
        1,
        20,
    )


# --- frames built by qbg's encoders (what the corpus lacks) --------------------------------------

_SRC = _mac("52:54:00:12:34:56")
_NCB = _mac("01:80:c2:00:00:00")
_U = uuid.UUID("5e7a3b1c-9d2f-4a6b-8c0d-1e2f3a4b5c6d").bytes


def _ecp_frame(vdpdu: Vdpdu, seq: int = 7, tags: tuple[tuple[int, int], ...] = ()) -> bytes:
    ecpdu = Ecpdu(version=1, op=0, subtype=1, seq=seq, payload=vdpdu.encode())
    eth = EthernetFrame(dst=_NCB, src=_SRC, ethertype=0x8940, payload=ecpdu.encode(), tags=tags)
    return pad(eth.encode())


def _vsi(fmt: int, filters: tuple[FilterEntry, ...], mode: int = 3, status: int = 0) -> VsiTlv:
    return VsiTlv(
        mode=mode,
        status=status,
        type_id=0x123456,
        type_version=1,
        vsiid_format=5,
        vsiid=_U,
        filter_format=fmt,
        filters=filters,
    )


_BUILT_VDPDUS = {
    "vid": Vdpdu.build(
        b"\x01".ljust(16, b"\x00"), [_vsi(1, (FilterEntry(ps=True, pcp=5, vid=0),))]
    ),
    "mac-vid-3": Vdpdu.build(
        b"m" * 16,
        [
            _vsi(
                2,
                tuple(FilterEntry(mac=bytes([2, 0, 0, 0, 0, i]), vid=100 + i) for i in (1, 2, 3)),
                status=0x63,
            )
        ],
    ),
    "group-vid": Vdpdu.build(
        bytes(16), [_vsi(3, (FilterEntry(group_id=0x12345, vid=0),), mode=1, status=0x10)]
    ),
    "group-mac-vid": Vdpdu.build(
        bytes(16),
        [
            _vsi(4, (FilterEntry(group_id=0x12345, mac=_SRC, vid=300),), mode=2, status=0x40),
            _vsi(1, (FilterEntry(vid=5), FilterEntry(vid=6)), mode=4, status=0x20),
        ],
    ),
    "cisco-org": Vdpdu.build(
        bytes(16),
        [_vsi(2, (FilterEntry(mac=_SRC, vid=10),))],
        org=(
            CiscoVmNameTlv(vsiid_format=5, vsiid=_U, vm_uuid=_U, name=b"vm-one"),
            CiscoL3AddressTlv(vsiid_format=5, vsiid=_U, address=bytes([192, 168, 1, 1])),
            CiscoL3AddressTlv(vsiid_format=5, vsiid=_U, afi=2, address=bytes(16)),
            UnknownOrgVdpTlv(oui=0x123456, info=b"\x01\x02\x03"),
            UnknownVdpTlv(tlv_type=9, value=b"\xaa\xbb"),
        ),
    ),
    "no-end": Vdpdu.build(bytes(16), [_vsi(1, (FilterEntry(vid=5),))], end=False),
}


@pytest.mark.parametrize("name", sorted(_BUILT_VDPDUS))
def test_qbg_built_ecp_frames(name: str) -> None:
    _check_frame(_ecp_frame(_BUILT_VDPDUS[name]))


def test_tagged_ecp_frames() -> None:
    vdpdu = _BUILT_VDPDUS["vid"]
    pkt = _check_frame(_ecp_frame(vdpdu, tags=((0x8100, 0x0064),)))
    assert pkt.haslayer(Dot1Q) and pkt[qs.ECP].seq == 7
    pkt = _check_frame(_ecp_frame(vdpdu, tags=((0x88A8, 0x0005),)))
    assert pkt.haslayer(Dot1AD) and pkt.haslayer(qs.VDPVSI)


def test_ecp_ack_padded_to_60() -> None:
    ack = Ecpdu(version=1, op=1, subtype=1, seq=0x4242)
    data = pad(EthernetFrame(dst=_NCB, src=_SRC, ethertype=0x8940, payload=ack.encode()).encode())
    pkt = _check_frame(data)
    assert pkt[qs.ECP].op == 1 and _padding(pkt) == bytes(42)


def _draft_frame(vdpdu: DraftVdpdu | None, mode: int = 0, seq: int = 1) -> bytes:
    payload = vdpdu.encode() if vdpdu is not None else b""
    decp = DraftEcpdu(mode=mode, seq=seq, payload=payload)
    eth = EthernetFrame(dst=NEAREST_BRIDGE, src=_SRC, ethertype=0x88B7, payload=decp.encode())
    return pad(eth.encode())


def _draft_tlv(mode: int, n: int = 1) -> DraftVdpTlv:
    return DraftVdpTlv.build(
        mode=mode,
        mgrid=1,
        type_id=0x123456,
        type_version=1,
        instance=_U,
        entries=tuple(DraftFilterEntry(mac=bytes([2, 0, 0, 0, 0, i]), vid=100) for i in range(n)),
    )


@pytest.mark.parametrize(
    "vdpdu",
    [
        DraftVdpdu.build([_draft_tlv(2)]),
        DraftVdpdu.build([_draft_tlv(0, 3), _draft_tlv(3)]),
        DraftVdpdu.build([]),  # lldpad's empty first request: End TLV only
    ],
    ids=["assoc", "two-tlvs", "empty"],
)
def test_qbg_built_draft_frames(vdpdu: DraftVdpdu) -> None:
    pkt = _check_frame(_draft_frame(vdpdu))
    assert pkt.haslayer(qs.VDPDraftPDU)


def test_qbg_built_lldp_frames() -> None:
    tlvs = [
        EvbTlv(bgid=True, rrcap=True, sgid=True, rrreq=True, rrstat=3, r=7, rte=31, mode=1),
        CdcpTlv(
            role=1,
            scomp=True,
            chncap=167,
            channels=(SChannel(scid=1, svid=1), SChannel(scid=2, svid=0)),
        ),
    ]
    for extra in (tlvs, [DraftEvbTlv(supported_mode=0xC0, supported_caps=7, rte=20)]):
        data = encode_lldp_frame(build_lldpdu(_SRC, 120, extra), _SRC)
        _check_frame(data)


# --- malformed VDPDUs: still byte-exact, and what qbg's lenient decoder sees -----------------

_ASSOC_HDR = bytes.fromhex("0180c2000000020000005a01894010010001")
_MGR = bytes.fromhex("0a10") + b"pkmgr".ljust(16, b"\x00")
_VSI_BODY = bytes.fromhex("000000050405") + uuid.UUID(int=1).bytes  # status .. VSI ID


def _vsi_raw(length: int, fmt: int, count: int, entries: bytes) -> bytes:
    body = _VSI_BODY + bytes([fmt]) + count.to_bytes(2, "big") + entries
    return bytes([(3 << 1) | (length >> 8), length & 0xFF]) + body


_ENTRY = bytes.fromhex("02aa000000010064")
_MALFORMED = {
    "extra-octet": _vsi_raw(34, 2, 1, _ENTRY + b"\x99"),
    "count-zero": _vsi_raw(25, 2, 0, b""),
    "count-too-big": _vsi_raw(33, 2, 2, _ENTRY),
    "unknown-format": _vsi_raw(33, 7, 1, _ENTRY),
    "too-short": bytes.fromhex("060a") + bytes(10),
    "type0-with-length": _vsi_raw(33, 2, 1, _ENTRY) + bytes.fromhex("0003abcdef"),
    "unknown-type": bytes.fromhex("1403") + b"xyz" + bytes.fromhex("0000"),
}


@pytest.mark.parametrize("name", sorted(_MALFORMED))
def test_malformed_vdpdus(name: str) -> None:
    data = _ASSOC_HDR + _MGR + _MALFORMED[name]
    pkt = _check_frame(data, lenient=True)
    assert pkt.haslayer(qs.VDP)


def test_tlv_running_past_the_frame() -> None:
    data = _ASSOC_HDR + _MGR + _vsi_raw(60, 2, 1, _ENTRY)
    pkt = Ether(data)
    assert raw(pkt) == data
    assert isinstance(pkt[qs.VDP].tlvs[-1], Raw)


# --- crafting with scapy: the handbook's constructed vectors -------------------------------------

_ASSOC_14_3 = _hex("""
0000  01 80 c2 00 00 00 52 54 00 12 34 56 89 40 10 01
0010  12 34 0a 10 01 00 00 00 00 00 00 00 00 00 00 00
0020  00 00 00 00 06 21 00 12 34 56 01 05 5e 7a 3b 1c
0030  9d 2f 4a 6b 8c 0d 1e 2f 3a 4b 5c 6d 02 00 01 02
0040  00 00 00 00 01 00 64 00 00
""")

_DEASSOC_14_3 = _hex("""
0000  01 80 c2 00 00 00 52 54 00 12 34 56 89 40 10 01
0010  12 34 0a 10 01 00 00 00 00 00 00 00 00 00 00 00
0020  00 00 00 00 08 1b 20 12 34 56 01 01 00 00 00 00
0030  00 00 00 00 00 00 ff ff 0a 00 00 05 01 00 01 01
0040  2c 00 00
""")

_DRAFT_13_4 = _hex("""
0000  01 80 c2 00 00 0e 52 54 00 12 34 56 88 b7 00 1b
0010  3f 00 00 00 00 00 01 fe 26 00 1b 3f 02 02 00 01
0020  12 34 56 01 5e 7a 3b 1c 9d 2f 4a 6b 8c 0d 1e 2f
0030  3a 4b 5c 6d 02 00 01 02 00 00 00 00 01 00 64 00
0040  00
""")

_DRAFT_ACK_8_3 = _hex("""
0000  01 80 c2 00 00 0e 52 54 00 ab cd ef 88 b7 00 1b
0010  3f 00 00 00 01 00 01 00 00 00 00 00 00 00 00 00
0020  00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00
0030  00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00
0040  00
""")


def test_craft_associate_vdp_14_3() -> None:
    pkt = (
        Ether(dst="01:80:c2:00:00:00", src="52:54:00:12:34:56")
        / qs.ECP(seq=0x1234)
        / qs.VDP(
            tlvs=[
                qs.VDPManagerID(mgrid=b"\x01"),
                qs.VDPVSI(
                    type="associate",
                    type_id=0x123456,
                    type_version=1,
                    vsiid_format="uuid",
                    vsiid=_U,
                    filter_format="mac-vid",
                    filters=[qs.VDPFilterMACVID(mac="02:00:00:00:00:01", vid=100)],
                ),
                qs.VDPEnd(),
            ]
        )
    )
    assert raw(pkt) == _ASSOC_14_3
    _check_frame(raw(pkt))


def test_craft_deassociate_ipv4_14_3() -> None:
    pkt = (
        Ether(dst="01:80:c2:00:00:00", src="52:54:00:12:34:56")
        / qs.ECP(seq=0x1234)
        / qs.VDP(
            tlvs=[
                qs.VDPManagerID(mgrid=b"\x01"),
                qs.VDPVSI(
                    type=4,
                    ks=1,  # S hint
                    type_id=0x123456,
                    type_version=1,
                    vsiid_format=1,
                    vsiid=bytes(10) + b"\xff\xff" + bytes([10, 0, 0, 5]),
                    filter_format=1,
                    filters=[qs.VDPFilterVID(vid=300)],
                ),
                qs.VDPEnd(),
            ]
        )
    )
    assert raw(pkt) == _DEASSOC_14_3


def test_craft_filter_formats_7_5() -> None:
    head = bytes.fromhex("0000000504") + b"\x05" + _U
    assert raw(
        qs.VDPVSI(
            type_id=5,
            type_version=4,
            vsiid=_U,
            filter_format=1,
            filters=[qs.VDPFilterVID(ps=1, pcp=5, vid=0)],
        )
    ) == bytes.fromhex("061b") + head[:4] + head[4:] + bytes.fromhex("010001d000")
    assert raw(
        qs.VDPVSI(
            type_id=5,
            type_version=4,
            vsiid=_U,
            filter_format=3,
            filters=[qs.VDPFilterGroupVID(group_id=0x12345, vid=0)],
        )
    ) == bytes.fromhex("061f") + head + bytes.fromhex("030001000123450000")
    gmv = qs.VDPVSI(
        type_id=5,
        type_version=4,
        vsiid=_U,
        filter_format=4,
        filters=[qs.VDPFilterGroupMACVID(group_id=0x12345, mac="52:54:00:12:34:56", vid=0)],
    )
    assert raw(gmv) == bytes.fromhex("0625") + head + bytes.fromhex(
        "040001000123455254001234560000"
    )
    # bridge response assigning VID 300: status 0x40 and the last word 01 2c
    gmv.response, gmv.filters[0].vid = 1, 300
    expected = (
        bytes.fromhex("0625") + b"\x40" + head[1:] + bytes.fromhex("04000100012345525400123456012c")
    )
    assert raw(gmv) == expected


def test_craft_draft_request_13_4() -> None:
    pkt = (
        Ether(dst="01:80:c2:00:00:0e", src="52:54:00:12:34:56")
        / qs.ECPDraft(mode=0, seq=1)
        / qs.VDPDraftPDU(
            tlvs=[
                qs.VDPDraft(
                    mode="associate",
                    mgrid=1,
                    type_id=0x123456,
                    type_version=1,
                    instance=_U,
                    entries=[qs.VDPDraftFilter(mac="02:00:00:00:00:01", vid=100)],
                ),
                qs.VDPEnd(),
            ]
        )
    )
    assert raw(pkt) == _DRAFT_13_4
    _check_frame(raw(pkt))


def test_craft_draft_ack_8_3() -> None:
    request = Ether(_DRAFT_13_4)
    assert request[qs.VDPDraft].entries[0].vid == 100
    ack = (
        Ether(dst=request.dst, src="52:54:00:ab:cd:ef")
        / qs.ECPDraft(mode="ack", seq=request[qs.ECPDraft].seq)
        / Padding(load=bytes(len(_DRAFT_13_4) - 23))
    )
    assert raw(ack) == _DRAFT_ACK_8_3
    dissected = _check_frame(_DRAFT_ACK_8_3)
    assert dissected[qs.ECPDraft].mode == 1 and not dissected.haslayer(qs.VDPDraftPDU)


def _lldp_frame(mac: str, *tlvs: Packet) -> Packet:
    """Ether / Chassis ID (MAC) / Port ID (MAC) / TTL 120 / tlvs / End, as lldpad sends it."""
    pkt = (
        Ether(dst="01:80:c2:00:00:00", src=mac)
        / lldp.LLDPDUChassisID(subtype=4, id=mac)
        / lldp.LLDPDUPortID(subtype=3, id=mac)
        / lldp.LLDPDUTimeToLive(ttl=120)
    )
    for tlv in tlvs:
        pkt = pkt / tlv
    return pkt / lldp.LLDPDUEndOfLLDPDU()


def test_craft_evb_tlv_lldpdu() -> None:
    """Crafting the station's LLDPDU of std-evb22-coldstart.pcap frame 4 (lldp.md §2)."""
    evb = qs.LLDPDUEvb(
        bridge_reserved=0,
        rrcap=1,
        rrctr=1,
        rrreq=1,
        rrstat="enabled",
        r=3,
        rte=14,
        mode="station",
        rol_rwd=1,
        rwd=20,
        rol_rka=1,
        rka=20,
    )
    pkt = _lldp_frame("02:00:00:00:5a:01", evb)
    cold = _frames(next(p for p in CORPUS if p.name == "std-evb22-coldstart.pcap"))
    assert raw(pkt) == cold[3]


def test_craft_cdcp_and_draft_evb_tlvs() -> None:
    cdcp = qs.LLDPDUCdcp(chncap=167, channels=[qs.SChannel(scid=1, svid=1)])
    data = raw(_lldp_frame("08:00:27:0d:f1:3c", cdcp))
    # tcpdump's evb.pcap CDCP TLV value (evb-tlv.md §5.1)
    assert data[0x24:0x31] == bytes.fromhex("fe0b0080c20e000000a7001001")
    draft = qs.LLDPDUEvbDraft(
        supported_mode="RR",
        supported_caps="RTE+ECP+VDP",
        configured_mode="RR",
        configured_caps=7,
        supported_vsis=3295,
        configured_vsis=1,
        rte=20,
    )
    data = raw(_lldp_frame("52:54:00:12:34:56", draft))
    # evb-tlv.md §4.3, "after"
    assert data[0x24:0x33] == bytes.fromhex("fe0d001b3f00400740070cdf000114")
    _check_frame(data)


def test_load_is_idempotent() -> None:
    org = cast(list[type[Packet]], lldp.LLDPDU_CLASS_TYPES[127])
    before = (list(Ether.payload_guess), list(org))
    qs.load()
    qs.load()
    assert (list(Ether.payload_guess), list(org)) == before
    assert sum(cls is qs.ECP for _, cls in Ether.payload_guess) == 1
    assert sum(cls is qs.ECPDraft for _, cls in Dot1Q.payload_guess) == 1
    assert org[:3] == [qs.LLDPDUEvb, qs.LLDPDUEvbDraft, qs.LLDPDUCdcp]
    assert org[-1] is lldp.LLDPDUGenericOrganisationSpecific


_RELOAD_SCRIPT = """
import importlib
import scapy.contrib.lldp as lldp
from scapy.layers.l2 import Ether
import qbg.scapy
old = qbg.scapy.ECP
fresh = importlib.reload(qbg.scapy)
assert fresh.ECP is not old
org = lldp.LLDPDU_CLASS_TYPES[127]
assert org[:3] == [fresh.LLDPDUEvb, fresh.LLDPDUEvbDraft, fresh.LLDPDUCdcp], org
assert sum(c.__name__ == "LLDPDUEvb" for c in org) == 1
assert [c for _, c in Ether.payload_guess if c.__name__ == "ECP"] == [fresh.ECP]
assert isinstance(Ether(bytes.fromhex("0180c200000002000000b00189401401" "0001"))[1], fresh.ECP)
print("ok")
"""


def test_reload_replaces_instead_of_doubling() -> None:
    """``importlib.reload(qbg.scapy)`` (in a child process: it would change this one's classes)."""
    root = Path(__file__).resolve().parents[2]
    done = subprocess.run(
        [sys.executable, "-c", _RELOAD_SCRIPT],
        cwd=root,
        env={**os.environ, "PYTHONPATH": str(root)},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok"
