"""Ratified VDP TLVs and VDPDU against vdp.md §3–§8 and §14 (every hex example)."""

from __future__ import annotations

import pytest

from qbg.lldp.errors import DecodeError, EncodeError
from qbg.vdp.tlv import (
    STATUS_HARD,
    STATUS_KEEP,
    STATUS_RESPONSE,
    CiscoL3AddressTlv,
    CiscoVmNameTlv,
    FilterEntry,
    FilterFormat,
    MalformedVsiTlv,
    ManagerIdTlv,
    UnknownOrgVdpTlv,
    UnknownVdpTlv,
    Vdpdu,
    VdpEndTlv,
    VdpError,
    VdpTlvType,
    VsiIdFormat,
    VsiKey,
    VsiTlv,
    mgrid_text,
    parse_mgrid,
    parse_vsiid,
    validate_request,
    vsiid_ok,
    vsiid_text,
)


def h(text: str) -> bytes:
    return bytes.fromhex(" ".join(text.split()))


PKMGR = h("70 6b 6d 67 72 00 00 00 00 00 00 00 00 00 00 00")
MGR_TLV = h("0a 10") + PKMGR
U1 = h("00 00 00 00 00 00 40 00 80 00 00 00 00 00 00 01")
# vdp.md §4.2: std-vdp22-assoc.pcap frame 3 from frame offset 0x12
ASSOC_VDPDU = MGR_TLV + h("06 21 00 00 00 05 04 05") + U1 + h("02 00 01 02 aa 00 00 00 01 00 64")


def assoc_tlv(status: int = 0) -> VsiTlv:
    return VsiTlv(
        mode=VdpTlvType.ASSOC,
        status=status,
        type_id=5,
        type_version=4,
        vsiid_format=VsiIdFormat.UUID,
        vsiid=U1,
        filter_format=FilterFormat.MAC_VID,
        filters=(FilterEntry(vid=100, mac=h("02 aa 00 00 00 01")),),
    )


# --- §4.2 / §5.4 corpus examples ------------------------------------------------------------


def test_corpus_associate_request_fields() -> None:
    pdu = Vdpdu.decode(ASSOC_VDPDU)
    assert pdu.tlvs == (ManagerIdTlv(mgrid=PKMGR), assoc_tlv())
    assert pdu.padding == b"" and not pdu.has_end
    vsi = pdu.vsis[0]
    assert vsi.mode is VdpTlvType.ASSOC and vsi.vsiid_format is VsiIdFormat.UUID
    assert vsi.filter_format is FilterFormat.MAC_VID
    assert vsi.vsiid_text == "00000000-0000-4000-8000-000000000001"
    assert not vsi.response and not vsi.migrating and not vsi.suspended
    assert pdu.mgrid == PKMGR and mgrid_text(pdu.mgrid) == "pkmgr"
    assert pdu.encode() == ASSOC_VDPDU
    assert assoc_tlv().encode() == ASSOC_VDPDU[18:]
    assert Vdpdu.build(PKMGR, [assoc_tlv()], end=False).encode() == ASSOC_VDPDU


def test_corpus_response_differs_only_in_status() -> None:
    resp = bytearray(ASSOC_VDPDU)
    resp[0x26 - 0x12] = 0x40
    vsi = Vdpdu.decode(bytes(resp)).vsis[0]
    assert vsi == assoc_tlv(0x40)
    assert vsi.response and vsi.error is VdpError.SUCCESS and not vsi.keep


def test_bridge_initiated_deassociate() -> None:
    # vdp.md §5.4: std-vdp22-bridge-ka-timeout.pcap frame 7, VDP part
    raw = MGR_TLV + h(
        """08 21 00 00 00 05 04 05 00 00 00 00 00 00 40 00 80 00 00 00 00 00 00 32
           02 00 01 02 aa 00 00 00 20 02 be"""
    )
    vsi = Vdpdu.decode(raw).vsis[0]
    assert vsi.mode == VdpTlvType.DEASSOC and vsi.status == 0 and not vsi.response
    assert vsi.vsiid_text == "00000000-0000-4000-8000-000000000032"
    (entry,) = vsi.filters
    assert entry == FilterEntry(vid=702, mac=h("02 aa 00 00 00 20"))
    assert Vdpdu.decode(raw).encode() == raw


# --- §7.5 constructed filter examples -------------------------------------------------------


@pytest.mark.parametrize(
    ("tail", "fmt", "entry"),
    [
        ("01 00 01 d0 00", FilterFormat.VID, FilterEntry(ps=True, pcp=5, vid=0)),
        (
            "03 00 01 00 01 23 45 00 00",
            FilterFormat.GROUP_VID,
            FilterEntry(vid=0, group_id=0x12345),
        ),
        (
            "04 00 01 00 01 23 45 52 54 00 12 34 56 00 00",
            FilterFormat.GROUP_MAC_VID,
            FilterEntry(vid=0, group_id=0x12345, mac=h("52 54 00 12 34 56")),
        ),
    ],
)
def test_filter_format_examples(tail: str, fmt: FilterFormat, entry: FilterEntry) -> None:
    body = h("00 00 00 05 04 05") + U1 + h(tail)
    raw = bytes([0x06, len(body)]) + body
    assert raw[:2] == {1: h("06 1b"), 3: h("06 1f"), 4: h("06 25")}[fmt]
    tlv = VsiTlv.decode(raw)
    assert tlv.filter_format == fmt and tlv.filters == (entry,)
    assert tlv.encode() == raw


def test_bridge_response_assigning_vid_300() -> None:
    req = h("06 25 00 00 00 05 04 05") + U1 + h("04 00 01 00 01 23 45 52 54 00 12 34 56 00 00")
    resp = h("06 25 40 00 00 05 04 05") + U1 + h("04 00 01 00 01 23 45 52 54 00 12 34 56 01 2c")
    r = VsiTlv.decode(req)
    built = VsiTlv(
        mode=r.mode,
        status=STATUS_RESPONSE,
        type_id=r.type_id,
        type_version=r.type_version,
        vsiid_format=r.vsiid_format,
        vsiid=r.vsiid,
        filter_format=r.filter_format,
        filters=(FilterEntry(vid=300, group_id=0x12345, mac=h("52 54 00 12 34 56")),),
    )
    assert built.encode() == resp
    assert VsiTlv.decode(resp) == built


@pytest.mark.parametrize(
    ("word", "ps", "pcp", "vid"),
    [
        ("00 64", False, 0, 100),
        ("d0 64", True, 5, 100),
        ("00 00", False, 0, 0),
        ("d0 00", True, 5, 0),
    ],
)
def test_ps_pcp_vid_word(word: str, ps: bool, pcp: int, vid: int) -> None:
    e = FilterEntry(ps=ps, pcp=pcp, vid=vid)
    assert e.word == int.from_bytes(h(word), "big")
    assert FilterEntry.from_word(e.word) == e


# --- §14.1 header words ---------------------------------------------------------------------

HEADER_ROWS = [
    (FilterFormat.MAC_VID, 1, "21"),
    (FilterFormat.VID, 1, "1b"),
    (FilterFormat.VID, 2, "1d"),
    (FilterFormat.MAC_VID, 3, "31"),
    (FilterFormat.GROUP_VID, 1, "1f"),
    (FilterFormat.GROUP_MAC_VID, 1, "25"),
    (FilterFormat.MAC_VID, 60, "f9"),
    (FilterFormat.VID, 243, "ff"),
]


def entries(fmt: FilterFormat, n: int) -> tuple[FilterEntry, ...]:
    mac = h("52 54 00 00 00 01") if fmt in (2, 4) else None
    gid = 7 if fmt in (3, 4) else None
    return tuple(FilterEntry(vid=2 + i, mac=mac, group_id=gid) for i in range(n))


@pytest.mark.parametrize(("fmt", "n", "low"), HEADER_ROWS)
@pytest.mark.parametrize("mode", [1, 2, 3, 4])
def test_header_words(fmt: FilterFormat, n: int, low: str, mode: int) -> None:
    tlv = VsiTlv.build(
        mode=mode,
        type_id=1,
        type_version=1,
        vsiid_format=VsiIdFormat.UUID,
        vsiid=U1,
        filter_format=fmt,
        filters=entries(fmt, n),
    )
    raw = tlv.encode()
    high = (mode << 1) | (1 if n >= 60 else 0)
    assert raw[:2] == bytes([high, int(low, 16)])
    assert VsiTlv.decode(raw) == tlv


def test_manager_and_end_header_words() -> None:
    assert ManagerIdTlv(mgrid=bytes(16)).encode()[:2] == h("0a 10")
    assert VdpEndTlv().encode() == h("00 00")


def test_entry_count_limits() -> None:
    with pytest.raises(EncodeError):
        VsiTlv.build(
            mode=3,
            type_id=1,
            type_version=1,
            vsiid_format=5,
            vsiid=U1,
            filter_format=2,
            filters=(),
        )
    for fmt, limit in ((1, 243), (2, 60), (3, 81), (4, 40)):
        f = FilterFormat(fmt)
        with pytest.raises(EncodeError):
            VsiTlv(
                mode=3,
                type_id=1,
                type_version=1,
                vsiid_format=5,
                vsiid=U1,
                filter_format=f,
                filters=entries(f, limit + 1),
            )
    # plain construction allows N = 0 (a received well-formed empty TLV)
    empty = VsiTlv(
        mode=3, type_id=1, type_version=1, vsiid_format=5, vsiid=U1, filter_format=2, filters=()
    )
    assert empty.encode()[:2] == h("06 19") and VsiTlv.decode(empty.encode()) == empty


def test_entry_shape_must_match_format() -> None:
    with pytest.raises(EncodeError):
        VsiTlv(
            mode=3,
            type_id=1,
            type_version=1,
            vsiid_format=5,
            vsiid=U1,
            filter_format=2,
            filters=(FilterEntry(vid=5),),
        )
    with pytest.raises(EncodeError):
        VsiTlv(
            mode=3,
            type_id=1,
            type_version=1,
            vsiid_format=5,
            vsiid=U1,
            filter_format=7,
            filters=(),
        )


@pytest.mark.parametrize(
    "kwargs",
    [
        {"mode": 0},
        {"mode": 5},
        {"status": 256},
        {"type_id": 1 << 24},
        {"type_version": 256},
        {"vsiid_format": 256},
        {"vsiid": bytes(15)},
    ],
)
def test_vsi_out_of_range(kwargs: dict[str, object]) -> None:
    base: dict[str, object] = {
        "mode": 3,
        "status": 0,
        "type_id": 1,
        "type_version": 1,
        "vsiid_format": 5,
        "vsiid": U1,
        "filter_format": 1,
        "filters": (FilterEntry(vid=5),),
    }
    base.update(kwargs)
    with pytest.raises(EncodeError):
        VsiTlv(**base)  # type: ignore[arg-type]


@pytest.mark.parametrize("kwargs", [{"pcp": 8}, {"vid": 4096}, {"mac": b"12345"}, {"group_id": -1}])
def test_filter_entry_out_of_range(kwargs: dict[str, object]) -> None:
    base: dict[str, object] = {"vid": 1}
    base.update(kwargs)
    with pytest.raises(EncodeError):
        FilterEntry(**base)  # type: ignore[arg-type]


# --- §5 status octet ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "resp", "err", "keep", "hard", "mig", "susp"),
    [
        (0x00, False, 0, False, False, False, False),
        (0x10, False, 0, False, False, True, False),
        (0x20, False, 0, False, False, False, True),
        (0x40, True, 0, False, False, False, False),
        (0x42, True, 2, False, False, False, False),
        (0x63, True, 3, True, False, False, False),
        (0x52, True, 2, False, True, False, False),
        (0x70, True, 0, True, True, False, False),
        (0x4F, True, 15, False, False, False, False),
    ],
)
def test_status_views(
    status: int, resp: bool, err: int, keep: bool, hard: bool, mig: bool, susp: bool
) -> None:
    t = assoc_tlv(status)
    assert (t.response, t.error, t.keep, t.hard, t.migrating, t.suspended) == (
        resp,
        err,
        keep,
        hard,
        mig,
        susp,
    )
    assert STATUS_KEEP == 0x20 and STATUS_HARD == 0x10


def test_key() -> None:
    assert assoc_tlv().key(PKMGR) == VsiKey(PKMGR, 5, 4, 5, U1, 2)
    assert assoc_tlv(0x40).key(PKMGR) == assoc_tlv().key(PKMGR)
    assert len({assoc_tlv().key(PKMGR), assoc_tlv().key(bytes(16))}) == 2


# --- §14.4 decoder vectors ------------------------------------------------------------------

VSI = ASSOC_VDPDU[18:]


def test_vsi_tlv_first_drops_pdu() -> None:
    with pytest.raises(DecodeError, match="first TLV"):
        Vdpdu.decode(VSI + MGR_TLV)


def test_two_manager_ids_drop_pdu() -> None:
    with pytest.raises(DecodeError, match="second Manager ID"):
        Vdpdu.decode(MGR_TLV + VSI + MGR_TLV)


def test_empty_pdu_and_padding_only_drop() -> None:
    for raw in (b"", bytes(40), b"\x00"):
        with pytest.raises(DecodeError):
            Vdpdu.decode(raw)


def test_manager_id_wrong_length_drops() -> None:
    with pytest.raises(DecodeError):
        Vdpdu.decode(h("0a 0f") + bytes(15) + VSI)


def test_length_34_with_n1_is_malformed() -> None:
    bad = h("06 22") + VSI[2:] + b"\x99"
    with pytest.raises(DecodeError):
        Vdpdu.decode(MGR_TLV + bad)
    pdu = Vdpdu.decode(MGR_TLV + bad + VSI, lenient=True)
    assert type(pdu.tlvs[1]) is MalformedVsiTlv and pdu.tlvs[1].tlv_type == 3
    assert pdu.tlvs[1].value == bad[2:] and "25 + 1" in pdu.tlvs[1].reason
    assert pdu.vsis == (assoc_tlv(),) and len(pdu.malformed) == 1
    assert pdu.encode() == MGR_TLV + bad + VSI


@pytest.mark.parametrize(
    "bad",
    [
        h("06 18") + bytes(24),  # shorter than 25
        h("06 19 00 00 00 05 04 05") + U1 + h("09 00 00"),  # unknown filter format
        h("06 19 00 00 00 05 04 05") + U1 + h("02 00 01"),  # N = 1 but no entry octets
    ],
)
def test_other_malformed_vsi_tlvs(bad: bytes) -> None:
    with pytest.raises(DecodeError):
        Vdpdu.decode(MGR_TLV + bad)
    pdu = Vdpdu.decode(MGR_TLV + bad, lenient=True)
    assert type(pdu.tlvs[1]) is MalformedVsiTlv
    assert pdu.encode() == MGR_TLV + bad


def test_n0_length_25_is_well_formed() -> None:
    raw = h("06 19 00 00 00 05 04 05") + U1 + h("02 00 00")
    tlv = Vdpdu.decode(MGR_TLV + raw).vsis[0]
    assert tlv.filters == () and tlv.filter_format == 2
    assert validate_request(tlv, group_ok=True) is VdpError.INVALID_FORMAT


def test_tlv_running_past_the_frame_drops() -> None:
    with pytest.raises(DecodeError, match="runs past"):
        Vdpdu.decode(MGR_TLV + VSI[:-1])
    with pytest.raises(DecodeError, match="runs past"):
        Vdpdu.decode(MGR_TLV + VSI[:-1], lenient=True)


def test_cisco_tlvs_after_vsi() -> None:
    name = CiscoVmNameTlv(vsiid_format=5, vsiid=U1, vm_uuid=U1, name=b"vm1")
    raw_name = name.encode()
    assert raw_name[:6] == h("fe 29 00 00 0c f1") and len(raw_name) == 2 + 41
    l3 = CiscoL3AddressTlv(vsiid_format=5, vsiid=U1, address=h("c0 a8 01 01"))
    raw_l3 = l3.encode()
    assert raw_l3[:6] == h("fe 1b 00 00 0c f2") and raw_l3[-6:] == h("00 01 c0 a8 01 01")
    raw = ASSOC_VDPDU + raw_name + raw_l3
    pdu = Vdpdu.decode(raw)
    assert pdu.tlvs[2:] == (name, l3)
    assert pdu.encode() == raw


def test_unknown_org_and_reserved_types_are_skipped_and_kept() -> None:
    org = h("fe 05 00 11 22 aa bb")
    short_cisco = h("fe 06 00 00 0c f1 01 02")  # too short for a VM name TLV
    reserved = h("0c 03 01 02 03")  # type 6
    short_org = h("fe 02 00 11")
    raw = ASSOC_VDPDU + org + short_cisco + reserved + short_org
    pdu = Vdpdu.decode(raw)
    assert pdu.tlvs[2:] == (
        UnknownOrgVdpTlv(oui=0x001122, info=h("aa bb")),
        UnknownOrgVdpTlv(oui=0x00000C, info=h("f1 01 02")),
        UnknownVdpTlv(tlv_type=6, value=h("01 02 03")),
        UnknownVdpTlv(tlv_type=127, value=h("00 11")),
    )
    assert pdu.encode() == raw


def test_trailing_zero_padding_ends_pdu() -> None:
    raw = ASSOC_VDPDU + bytes(11)
    pdu = Vdpdu.decode(raw)
    assert pdu.has_end and pdu.tlvs[-1] == VdpEndTlv() and pdu.padding == bytes(9)
    assert pdu.encode() == raw


def test_stale_bytes_after_end_are_padding() -> None:
    raw = ASSOC_VDPDU + h("00 00") + VSI
    pdu = Vdpdu.decode(raw)
    assert len(pdu.vsis) == 1 and pdu.padding == VSI
    assert pdu.encode() == raw


def test_type0_with_length_and_odd_octet_are_padding() -> None:
    for tail in (h("00 05 01 02 03 04 05"), h("07")):
        pdu = Vdpdu.decode(ASSOC_VDPDU + tail)
        assert not pdu.has_end and pdu.padding == tail
        assert pdu.encode() == ASSOC_VDPDU + tail


def test_vdpdu_invariants() -> None:
    with pytest.raises(EncodeError):
        Vdpdu(tlvs=(assoc_tlv(),))
    with pytest.raises(EncodeError):
        Vdpdu(tlvs=(ManagerIdTlv(mgrid=PKMGR), ManagerIdTlv(mgrid=PKMGR)))
    with pytest.raises(EncodeError):
        Vdpdu(tlvs=(ManagerIdTlv(mgrid=PKMGR), VdpEndTlv(), assoc_tlv()))
    with pytest.raises(EncodeError):
        UnknownVdpTlv(tlv_type=3, value=b"")
    with pytest.raises(EncodeError):
        MalformedVsiTlv(tlv_type=5, value=b"")


def test_batched_pdu() -> None:
    # vdp.md §2: several VSI TLVs under one Manager ID, End TLV appended
    tlvs = [assoc_tlv(), assoc_tlv(0x10), assoc_tlv(0x20)]
    pdu = Vdpdu.build(PKMGR, tlvs)
    raw = pdu.encode()
    assert raw == MGR_TLV + b"".join(t.encode() for t in tlvs) + b"\x00\x00"
    assert Vdpdu.decode(raw) == pdu and pdu.has_end


# --- §6 VSI ID formats ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fmt", "text", "octets"),
    [
        (VsiIdFormat.IPV4, "10.0.0.5", bytes(10) + h("ff ff 0a 00 00 05")),
        (VsiIdFormat.MAC, "52:54:00:12:34:56", bytes(10) + h("52 54 00 12 34 56")),
        (
            VsiIdFormat.UUID,
            "5e7a3b1c-9d2f-4a6b-8c0d-1e2f3a4b5c6d",
            h("5e 7a 3b 1c 9d 2f 4a 6b 8c 0d 1e 2f 3a 4b 5c 6d"),
        ),
        (VsiIdFormat.IPV6, "2001:db8::1", h("20 01 0d b8") + bytes(11) + b"\x01"),
        (VsiIdFormat.LOCAL, "000102030405060708090a0b0c0d0e0f", bytes(range(16))),
    ],
)
def test_vsiid_text_forms(fmt: VsiIdFormat, text: str, octets: bytes) -> None:
    assert parse_vsiid(fmt, text) == octets
    assert vsiid_text(fmt, octets) == text


def test_vsiid_parse_variants() -> None:
    u = "5E7A3B1C-9D2F-4A6B-8C0D-1E2F3A4B5C6D"
    assert vsiid_text(5, parse_vsiid(5, u)) == u.lower()
    assert parse_vsiid(3, "52-54-00-12-34-56") == parse_vsiid(3, "525400123456")
    assert vsiid_text(1, bytes(16)) == "0" * 32  # not IPv4-mapped: hex fallback
    assert parse_vsiid(1, "0" * 32) == bytes(16)
    for fmt, bad in ((5, "nope"), (1, "10.0.0.256"), (3, "52:54:00"), (4, "abc"), (2, "1::g")):
        with pytest.raises(EncodeError):
            parse_vsiid(fmt, bad)


@pytest.mark.parametrize(
    ("fmt", "octets", "ok", "strict_ok"),
    [
        (1, bytes(10) + h("ff ff 0a 00 00 05"), True, True),
        (1, bytes(10) + h("00 ff 0a 00 00 05"), True, False),  # lldpad: octet 10 OR 11 is FF
        (1, bytes(10) + h("ff ff 00 00 00 00"), False, False),
        (1, h("01") + bytes(9) + h("ff ff 0a 00 00 05"), False, False),
        (2, bytes(16), False, False),
        (2, bytes(15) + b"\x01", True, True),
        (3, bytes(10) + h("52 54 00 12 34 56"), True, True),
        (3, bytes(10) + h("ff ff ff ff ff ff"), False, False),
        (3, bytes(10) + h("01 00 5e 00 00 01"), False, False),
        (3, bytes(10) + h("33 33 00 00 00 01"), False, False),
        (3, bytes(10) + h("01 80 c2 00 00 00"), True, True),  # other group addresses pass
        (3, bytes(10) + bytes(6), False, False),
        (4, bytes(16), True, True),
        (5, bytes(8) + bytes(7) + b"\x01", False, False),  # lldpad checks the first 8 only
        (5, b"\x01" + bytes(15), True, True),
        (0, U1, False, False),
        (6, U1, False, False),
    ],
)
def test_vsiid_validity(fmt: int, octets: bytes, ok: bool, strict_ok: bool) -> None:
    assert vsiid_ok(fmt, octets) is ok
    assert vsiid_ok(fmt, octets, strict=True) is strict_ok


# --- §7.3 request validity ------------------------------------------------------------------


def vsi(fmt: int, filters: tuple[FilterEntry, ...], vsiid_format: int = 5) -> VsiTlv:
    return VsiTlv(
        mode=3,
        type_id=1,
        type_version=1,
        vsiid_format=vsiid_format,
        vsiid=U1,
        filter_format=fmt,
        filters=filters,
    )


MAC = h("02 aa 00 00 00 01")


@pytest.mark.parametrize(
    ("tlv", "group_ok", "expected"),
    [
        (vsi(2, (FilterEntry(vid=100, mac=MAC),)), False, VdpError.SUCCESS),
        (vsi(2, (FilterEntry(vid=0, mac=MAC), FilterEntry(vid=0, mac=MAC))), False, 0),
        (vsi(1, (FilterEntry(vid=0),)), False, VdpError.SUCCESS),
        (vsi(1, (FilterEntry(vid=0), FilterEntry(vid=5))), False, 5),
        (vsi(1, (FilterEntry(vid=5), FilterEntry(vid=6))), False, 0),
        (vsi(1, (FilterEntry(vid=1),)), False, VdpError.INVALID_VID_GROUP_MAC),
        (vsi(1, (FilterEntry(vid=4095),)), False, 5),
        (vsi(1, (FilterEntry(vid=4094),)), False, 0),
        (vsi(2, (FilterEntry(vid=5, mac=bytes(6)),)), False, 5),
        (vsi(2, (FilterEntry(vid=5, mac=b"\xff" * 6),)), False, 5),
        (vsi(2, (FilterEntry(vid=5, mac=h("01 00 5e 01 02 03")),)), False, 5),
        (vsi(3, (FilterEntry(vid=5, group_id=9),)), True, 0),
        (vsi(3, (FilterEntry(vid=5, group_id=9),)), False, VdpError.INVALID_FORMAT),
        (vsi(3, (FilterEntry(vid=5, group_id=0),)), True, 5),
        (vsi(4, (FilterEntry(vid=5, group_id=1, mac=h("33 33 00 00 00 01")),)), True, 5),
        (vsi(2, ()), True, VdpError.INVALID_FORMAT),
        (vsi(2, (FilterEntry(vid=100, mac=MAC),), vsiid_format=9), True, 1),
    ],
)
def test_validate_request(tlv: VsiTlv, group_ok: bool, expected: int) -> None:
    assert validate_request(tlv, group_ok) == expected


# --- §3 Manager ID text forms ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "octets"),
    [
        ("1", b"\x01" + bytes(15)),
        ("255", b"\xff" + bytes(15)),
        ("pkmgr", PKMGR),
        ("abc", h("ab 0c") + bytes(14)),
        ("ab-cd", h("ab cd") + bytes(14)),
        ("00112233445566778899aabbccddeeff", bytes.fromhex("00112233445566778899aabbccddeeff")),
        ("10.0.0.1", bytes(10) + h("ff ff 0a 00 00 01")),
        ("2001:db8::1", h("20 01 0d b8") + bytes(11) + b"\x01"),
        ("Manager15chars1", b"Manager15chars1\x00"),
    ],
)
def test_parse_mgrid(text: str, octets: bytes) -> None:
    assert parse_mgrid(text) == octets
    assert parse_mgrid(mgrid_text(octets)) == octets
    assert ManagerIdTlv.from_text(text).mgrid == octets


@pytest.mark.parametrize(
    "text", ["", "pk-mgr", "a b", "0" * 33, "sixteen-chars-xx", "x" * 16, "1.2.3"]
)
def test_parse_mgrid_refuses(text: str) -> None:
    with pytest.raises(EncodeError):
        parse_mgrid(text)


def test_mgrid_text_forms() -> None:
    assert mgrid_text(b"\x01" + bytes(15)) == "1"
    assert mgrid_text(PKMGR) == "pkmgr"
    assert mgrid_text(b"cafe" + bytes(12)) == "63616665" + "0" * 24  # all hex: not shown as name
    assert mgrid_text(bytes(16)) == "0" * 32
