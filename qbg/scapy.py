"""scapy layers for IEEE 802.1Qbg: EVB/CDCP LLDP TLVs, ECP (ratified and draft 0.2) and VDP.

Importing this module registers everything with scapy (idempotent; :func:`load` does the same
explicitly), so that ``Ether(raw)`` dissects

* LLDPDUs (0x88CC, scapy's ``scapy.contrib.lldp``) carrying the ratified EVB TLV
  (00-80-C2/0x0D, :class:`LLDPDUEvb`), the draft 0.2 EVB TLV (00-1B-3F/0x00,
  :class:`LLDPDUEvbDraft`) and the CDCP TLV (00-80-C2/0x0E, :class:`LLDPDUCdcp`);
* ratified ECP frames (Ethertype 0x8940, :class:`ECP`) whose VDP requests become a :class:`VDP`
  layer holding a list of VDP TLVs (:class:`VDPManagerID`, :class:`VDPVSI`, :class:`VDPOrg`,
  :class:`VDPCiscoVMName`, :class:`VDPCiscoL3Address`, :class:`VDPEnd`, :class:`VDPUnknown`);
* draft 0.2 ECP frames (Ethertype 0x88B7 with OUI 00-1B-3F, :class:`ECPDraft`) whose requests
  become a :class:`VDPDraftPDU` holding :class:`VDPDraft` TLVs.

The layers mirror the wire formats of the handbook (``lldp.md``, ``evb-tlv.md``, ``ecp.md``,
``vdp.md``) field by field, reserved bits and trailing octets included, so that
``raw(Ether(frame)) == frame`` for every frame of the corpus. Lengths and counts left at
``None`` are computed when a packet is built, so the classes can be used to craft frames too.

scapy is for the edges (debugging, captures, crafting test frames): the agents use the codecs in
``qbg.lldp``, ``qbg.evb`` and ``qbg.vdp``, never these classes.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, cast

import scapy.contrib.lldp as _lldp
from scapy.base_classes import BasePacket
from scapy.config import conf
from scapy.fields import (
    BitEnumField,
    BitField,
    BitFieldLenField,
    ByteEnumField,
    ByteField,
    ConditionalField,
    Field,
    FieldLenField,
    FlagsField,
    IPField,
    MACField,
    PacketListField,
    ShortEnumField,
    ShortField,
    StrLenField,
    X3BytesField,
    XByteField,
    XIntField,
    XShortField,
    XStrFixedLenField,
    XStrLenField,
)
from scapy.layers.l2 import Dot1AD, Dot1Q, Ether
from scapy.packet import Packet, Padding, Raw, bind_layers

__all__ = [
    "ECP",
    "ETH_P_ECP",
    "ETH_P_OUI_EXTENDED",
    "OUI_CISCO",
    "OUI_IEEE_802_1",
    "OUI_QBG_DRAFT",
    "VDP",
    "VDPVSI",
    "ECPDraft",
    "LLDPDUCdcp",
    "LLDPDUEvb",
    "LLDPDUEvbDraft",
    "SChannel",
    "VDPCiscoL3Address",
    "VDPCiscoVMName",
    "VDPDraft",
    "VDPDraftFilter",
    "VDPDraftPDU",
    "VDPEnd",
    "VDPFilterGroupMACVID",
    "VDPFilterGroupVID",
    "VDPFilterMACVID",
    "VDPFilterVID",
    "VDPManagerID",
    "VDPOrg",
    "VDPUnknown",
    "load",
]

ETH_P_ECP = 0x8940
ETH_P_OUI_EXTENDED = 0x88B7
OUI_IEEE_802_1 = 0x0080C2
OUI_QBG_DRAFT = 0x001B3F
OUI_CISCO = 0x00000C

EVB_SUBTYPE = 0x0D
CDCP_SUBTYPE = 0x0E
DRAFT_EVB_SUBTYPE = 0x00
DRAFT_VDP_SUBTYPE = 0x02
CISCO_VM_NAME_SUBTYPE = 0xF1
CISCO_L3_ADDRESS_SUBTYPE = 0xF2

_OUIS = {
    OUI_IEEE_802_1: "IEEE 802.1",
    OUI_QBG_DRAFT: "802.1Qbg draft 0.2",
    OUI_CISCO: "Cisco",
}

VDP_TLV_TYPES = {
    0: "end",
    1: "pre-associate",
    2: "pre-associate-rr",
    3: "associate",
    4: "de-associate",
    5: "manager-id",
    127: "org",
}
VSI_TLV_TYPES = {k: v for k, v in VDP_TLV_TYPES.items() if 1 <= k <= 4}
VDP_ERRORS = {
    0: "success",
    1: "invalid-format",
    2: "insufficient-resources",
    3: "unable-to-contact-manager",
    4: "other-failure",
    5: "invalid-vid-group-mac",
}
VSIID_FORMATS = {1: "ipv4", 2: "ipv6", 3: "mac", 4: "local", 5: "uuid"}
FILTER_FORMATS = {1: "vid", 2: "mac-vid", 3: "group-vid", 4: "group-mac-vid"}
ECP_OPS = {0: "request", 1: "ack"}
ECP_SUBTYPES = {1: "VDP", 2: "PE-CSP"}
EVB_MODES = {0: "none", 1: "bridge", 2: "station", 3: "reserved"}
RRSTAT = {0: "not-enabled", 1: "enabled", 2: "reserved", 3: "unknown"}
DRAFT_VDP_MODES = {0: "pre-associate", 1: "pre-associate-rr", 2: "associate", 3: "de-associate"}
DRAFT_VDP_RESPONSES = {
    0: "success",
    1: "invalid-format",
    2: "insufficient-resources",
    3: "unused-vtid",
    4: "vtid-violation",
    5: "vtid-version-violation",
    6: "out-of-sync",
}
DRAFT_EVB_MODES = {0x80: "STD", 0x40: "RR"}
DRAFT_EVB_CAPS = {0x04: "RTE", 0x02: "ECP", 0x01: "VDP"}


_NextClassCallback = Callable[[Packet, list[BasePacket], Packet | None, bytes], type[Packet] | None]


def _tlv_header(data: bytes) -> tuple[int, int] | None:
    """(type, length) of the 2-octet TLV header at the start of ``data``, or None."""
    if len(data) < 2:
        return None
    word = (data[0] << 8) | data[1]
    return word >> 9, word & 0x1FF


def _org_tlv(data: bytes) -> tuple[int, int, int] | None:
    """(OUI, subtype, length) of a complete type-127 TLV at the start of ``data``, or None."""
    header = _tlv_header(data)
    if header is None or header[0] != 127 or header[1] < 4 or len(data) < 2 + header[1]:
        return None
    oui = (data[2] << 16) | (data[3] << 8) | data[4]
    return oui, data[5], header[1]


def _set_tlv_length(pkt: bytes, length_field: int | None) -> bytes:
    """Fill the 9-bit length of a 2-octet TLV header if it was left at None."""
    if length_field is not None:
        return pkt
    length = len(pkt) - 2
    return bytes([(pkt[0] & 0xFE) | ((length >> 8) & 0x01), length & 0xFF]) + pkt[2:]


class _OuiField(X3BytesField):
    """A 3-octet OUI, shown in hex with the organisation's name when known."""

    def i2repr(self, pkt: Packet | None, x: int) -> str:
        text = str(super().i2repr(pkt, x))
        name = _OUIS.get(x)
        return f"{text} ({name})" if name else text


class _PaddedXStrLenField(XStrLenField):
    """An octet string of ``size`` octets when built with the TLV length left to compute."""

    __slots__ = ["size"]

    def __init__(self, name: str, default: bytes, size: int, length_from: Any) -> None:
        super().__init__(name, default, length_from=length_from)
        self.size = size

    def i2m(self, pkt: Packet | None, x: bytes | None) -> bytes:
        value = super().i2m(pkt, x)
        if pkt is not None and pkt.getfieldval("len") is None:
            value = value[: self.size].ljust(self.size, b"\x00")
        return bytes(value)


# --------------------------------------------------------------------------------------------
# LLDP: EVB TLV, draft EVB TLV, CDCP TLV (hooked into scapy.contrib.lldp)
# --------------------------------------------------------------------------------------------


class LLDPDUEvb(_lldp.LLDPDUGenericOrganisationSpecific):
    """Ratified EVB TLV, 00-80-C2/0x0D (evb-tlv.md §1)."""

    name = "LLDP EVB TLV (802.1Qbg)"
    fields_desc = [  # noqa: RUF012
        BitEnumField("_type", 127, 7, _lldp.LLDPDU.TYPES),
        BitFieldLenField("_length", None, 9, length_of="extra", adjust=lambda pkt, x: x + 9),
        _OuiField("org_code", OUI_IEEE_802_1),
        XByteField("subtype", EVB_SUBTYPE),
        # bridge status
        BitField("bridge_reserved", 0, 5),
        BitField("bgid", 0, 1),
        BitField("rrcap", 0, 1),
        BitField("rrctr", 0, 1),
        # station status
        BitField("station_reserved", 0, 4),
        BitField("sgid", 0, 1),
        BitField("rrreq", 0, 1),
        BitEnumField("rrstat", 0, 2, RRSTAT),
        BitField("r", 3, 3),
        BitField("rte", 8, 5),
        BitEnumField("mode", 2, 2, EVB_MODES),
        BitField("rol_rwd", 0, 1),
        BitField("rwd", 20, 5),
        BitField("rka_reserved", 0, 2),
        BitField("rol_rka", 0, 1),
        BitField("rka", 20, 5),
        XStrLenField("extra", b"", length_from=lambda pkt: max(0, (pkt._length or 9) - 9)),
    ]

    @staticmethod
    def _match_organization_specific(payload: bytes) -> bool:
        org = _org_tlv(payload)
        return org is not None and org[:2] == (OUI_IEEE_802_1, EVB_SUBTYPE) and org[2] >= 9


class LLDPDUEvbDraft(_lldp.LLDPDUGenericOrganisationSpecific):
    """Draft 0.2 EVB TLV, 00-1B-3F/0x00 (evb-tlv.md §4)."""

    name = "LLDP EVB TLV (draft 0.2)"
    fields_desc = [  # noqa: RUF012
        BitEnumField("_type", 127, 7, _lldp.LLDPDU.TYPES),
        BitFieldLenField("_length", None, 9, length_of="extra", adjust=lambda pkt, x: x + 13),
        _OuiField("org_code", OUI_QBG_DRAFT),
        XByteField("subtype", DRAFT_EVB_SUBTYPE),
        FlagsField("supported_mode", 0x80, 8, DRAFT_EVB_MODES),
        FlagsField("supported_caps", 0, 8, DRAFT_EVB_CAPS),
        FlagsField("configured_mode", 0x80, 8, DRAFT_EVB_MODES),
        FlagsField("configured_caps", 0, 8, DRAFT_EVB_CAPS),
        ShortField("supported_vsis", 0),
        ShortField("configured_vsis", 0),
        ByteField("rte", 15),
        XStrLenField("extra", b"", length_from=lambda pkt: max(0, (pkt._length or 13) - 13)),
    ]

    @staticmethod
    def _match_organization_specific(payload: bytes) -> bool:
        org = _org_tlv(payload)
        return org is not None and org[:2] == (OUI_QBG_DRAFT, DRAFT_EVB_SUBTYPE) and org[2] >= 13


class SChannel(Packet):
    """One CDCP S-channel entry: SCID (12 bits) and SVID (12 bits)."""

    name = "CDCP S-channel"
    fields_desc = [  # noqa: RUF012
        BitField("scid", 1, 12),
        BitField("svid", 1, 12),
    ]

    def extract_padding(self, s: bytes) -> tuple[bytes, bytes]:
        return b"", s


class LLDPDUCdcp(_lldp.LLDPDUGenericOrganisationSpecific):
    """CDCP TLV, 00-80-C2/0x0E, with its S-channel entries (evb-tlv.md §5)."""

    name = "LLDP CDCP TLV (802.1Qbg)"
    fields_desc = [  # noqa: RUF012
        BitEnumField("_type", 127, 7, _lldp.LLDPDU.TYPES),
        BitFieldLenField("_length", None, 9, length_of="channels", adjust=lambda pkt, x: x + 8),
        _OuiField("org_code", OUI_IEEE_802_1),
        XByteField("subtype", CDCP_SUBTYPE),
        BitField("role", 0, 1),
        BitField("reserved1", 0, 3),
        BitField("scomp", 0, 1),
        BitField("reserved2", 0, 11),
        BitField("reserved3", 0, 4),
        BitField("chncap", 1, 12),
        PacketListField(
            "channels",
            [],
            SChannel,
            length_from=lambda pkt: max(0, (pkt._length or 8) - 8),
        ),
    ]

    @staticmethod
    def _match_organization_specific(payload: bytes) -> bool:
        org = _org_tlv(payload)
        return (
            org is not None
            and org[:2] == (OUI_IEEE_802_1, CDCP_SUBTYPE)
            and org[2] >= 8
            and (org[2] - 8) % 3 == 0
        )


# --------------------------------------------------------------------------------------------
# VDP TLVs (ratified)
# --------------------------------------------------------------------------------------------


class _VdpTlv(Packet):
    """Common behaviour of VDP TLVs: the length fills itself in, the rest is for the next TLV."""

    def post_build(self, pkt: bytes, pay: bytes) -> bytes:
        return _set_tlv_length(pkt, self.getfieldval("len")) + pay

    def extract_padding(self, s: bytes) -> tuple[bytes, bytes]:
        return b"", s


class VDPEnd(_VdpTlv):
    """End TLV (``00 00``): the last TLV of a VDPDU; what follows is padding."""

    name = "VDP End TLV"
    fields_desc = [  # noqa: RUF012
        BitEnumField("type", 0, 7, VDP_TLV_TYPES),
        BitField("len", 0, 9),
    ]


class VDPUnknown(_VdpTlv):
    """A VDP TLV of a type this module does not know (6..126), or a malformed one."""

    name = "VDP TLV"
    fields_desc = [  # noqa: RUF012
        BitEnumField("type", 6, 7, VDP_TLV_TYPES),
        BitField("len", None, 9),
        XStrLenField("value", b"", length_from=lambda pkt: pkt.len or 0),
    ]


class VDPManagerID(_VdpTlv):
    """VSI Manager ID TLV, type 5: 16 opaque octets (shorter values are zero-filled on build)."""

    name = "VDP VSI Manager ID TLV"
    fields_desc = [  # noqa: RUF012
        BitEnumField("type", 5, 7, VDP_TLV_TYPES),
        BitField("len", None, 9),
        _PaddedXStrLenField("mgrid", b"\x00" * 16, 16, length_from=lambda pkt: pkt.len or 0),
    ]


class _VdpFilter(Packet):
    """Base of the filter entries: fixed size, the rest of the octets is for the next one."""

    SIZE = 0

    def extract_padding(self, s: bytes) -> tuple[bytes, bytes]:
        return b"", s


def _pspcpvid() -> list[Field[Any, Any]]:
    """Fresh PS (1 bit), PCP (3 bits), VID (12 bits) fields of the 16-bit word (vdp.md §7.2)."""
    return [BitField("ps", 0, 1), BitField("pcp", 0, 3), BitField("vid", 0, 12)]


class VDPFilterVID(_VdpFilter):
    """Filter entry of format 1: PS/PCP/VID word."""

    name = "VDP filter VID"
    SIZE = 2
    fields_desc = [*_pspcpvid()]  # noqa: RUF012


class VDPFilterMACVID(_VdpFilter):
    """Filter entry of format 2: MAC, PS/PCP/VID word."""

    name = "VDP filter MAC/VID"
    SIZE = 8
    fields_desc = [MACField("mac", "02:00:00:00:00:01"), *_pspcpvid()]  # noqa: RUF012


class VDPFilterGroupVID(_VdpFilter):
    """Filter entry of format 3: GroupID, PS/PCP/VID word."""

    name = "VDP filter GroupID/VID"
    SIZE = 6
    fields_desc = [XIntField("group_id", 0), *_pspcpvid()]  # noqa: RUF012


class VDPFilterGroupMACVID(_VdpFilter):
    """Filter entry of format 4: GroupID, MAC, PS/PCP/VID word."""

    name = "VDP filter GroupID/MAC/VID"
    SIZE = 12
    fields_desc = [  # noqa: RUF012
        XIntField("group_id", 0),
        MACField("mac", "02:00:00:00:00:01"),
        *_pspcpvid(),
    ]


FILTER_CLASSES: dict[int, type[_VdpFilter]] = {
    1: VDPFilterVID,
    2: VDPFilterMACVID,
    3: VDPFilterGroupVID,
    4: VDPFilterGroupMACVID,
}


def _entries_next(size_of: Callable[[Packet], type[Packet] | None]) -> _NextClassCallback:
    """next_cls_cb for a counted list of fixed-size entries (VSI filters, draft filters)."""

    def next_cls(
        pkt: Packet, lst: list[BasePacket], cur: Packet | None, remain: bytes
    ) -> type[Packet] | None:
        done = 0 if cur is None else len(lst) + 1
        count = pkt.getfieldval("count")
        cls = size_of(pkt)
        if cls is None or count is None or done >= count or len(remain) < int(cls.SIZE):
            return None
        return cls

    return next_cls


def _filter_class(pkt: Packet) -> type[_VdpFilter] | None:
    return FILTER_CLASSES.get(pkt.getfieldval("filter_format"))


def _list_len(pkt: Packet, name: str) -> int:
    return sum(len(bytes(p)) for p in pkt.getfieldval(name))


class VDPVSI(_VdpTlv):
    """VSI TLV, types 1-4 (vdp.md §4-§7).

    Status octet: ``response`` (0x40), ``ks`` (0x20: K "keep" in responses, S "suspended" in
    requests), ``hm`` (0x10: H "hard error" in responses, M "migrating" in requests), ``error``
    (0x0F). ``count`` and ``len`` are computed on build when left at None. ``extra`` holds
    octets the TLV length covers beyond the entries (a malformed TLV; lldpad ignores such TLVs).
    """

    name = "VDP VSI TLV"
    fields_desc = [  # noqa: RUF012
        BitEnumField("type", 3, 7, VSI_TLV_TYPES),
        BitField("len", None, 9),
        BitField("status_reserved", 0, 1),
        BitField("response", 0, 1),
        BitField("ks", 0, 1),
        BitField("hm", 0, 1),
        BitEnumField("error", 0, 4, VDP_ERRORS),
        X3BytesField("type_id", 0),
        ByteField("type_version", 0),
        ByteEnumField("vsiid_format", 5, VSIID_FORMATS),
        XStrFixedLenField("vsiid", b"\x00" * 16, 16),
        ByteEnumField("filter_format", 2, FILTER_FORMATS),
        FieldLenField("count", None, count_of="filters"),
        PacketListField(
            "filters",
            [],
            next_cls_cb=_entries_next(_filter_class),
            length_from=lambda pkt: max(0, (pkt.len or 0) - 25),
        ),
        XStrLenField(
            "extra",
            b"",
            length_from=lambda pkt: max(0, (pkt.len or 0) - 25 - _list_len(pkt, "filters")),
        ),
    ]

    @property
    def status(self) -> int:
        """The status octet as one integer."""
        return int(
            (self.status_reserved << 7)
            | (self.response << 6)
            | (self.ks << 5)
            | (self.hm << 4)
            | self.error
        )

    def mysummary(self) -> str:
        return str(
            self.sprintf("VDP %type% status=0x") + f"{self.status:02x}" + self.sprintf(" %vsiid%")
        )


class VDPOrg(_VdpTlv):
    """Organizationally defined VDP TLV (type 127) of an OUI this module does not decode."""

    name = "VDP organizationally defined TLV"
    fields_desc = [  # noqa: RUF012
        BitEnumField("type", 127, 7, VDP_TLV_TYPES),
        BitField("len", None, 9),
        _OuiField("oui", 0),
        XStrLenField("data", b"", length_from=lambda pkt: max(0, (pkt.len or 3) - 3)),
    ]


class VDPCiscoVMName(_VdpTlv):
    """Cisco VM name TLV, 00-00-0C/0xF1 (vdp.md §8)."""

    name = "VDP Cisco VM name TLV"
    fields_desc = [  # noqa: RUF012
        BitEnumField("type", 127, 7, VDP_TLV_TYPES),
        BitField("len", None, 9),
        _OuiField("oui", OUI_CISCO),
        XByteField("subtype", CISCO_VM_NAME_SUBTYPE),
        ByteEnumField("vsiid_format", 5, VSIID_FORMATS),
        XStrFixedLenField("vsiid", b"\x00" * 16, 16),
        ByteEnumField("vm_id_format", 5, VSIID_FORMATS),
        XStrFixedLenField("vm_uuid", b"\x00" * 16, 16),
        StrLenField("vm_name", b"", length_from=lambda pkt: max(0, (pkt.len or 38) - 38)),
    ]


def _l3_is_ipv4(pkt: Packet) -> bool:
    return bool(pkt.getfieldval("afi") == 1 and pkt.getfieldval("len") in (None, 27))


class VDPCiscoL3Address(_VdpTlv):
    """Cisco L3 address TLV, 00-00-0C/0xF2 (vdp.md §8): ``ipv4`` for AFI 1, else ``address``."""

    name = "VDP Cisco L3 address TLV"
    fields_desc = [  # noqa: RUF012
        BitEnumField("type", 127, 7, VDP_TLV_TYPES),
        BitField("len", None, 9),
        _OuiField("oui", OUI_CISCO),
        XByteField("subtype", CISCO_L3_ADDRESS_SUBTYPE),
        ByteEnumField("vsiid_format", 5, VSIID_FORMATS),
        XStrFixedLenField("vsiid", b"\x00" * 16, 16),
        ShortEnumField("afi", 1, {1: "IPv4", 2: "IPv6"}),
        # IPv4 (AFI 1, 4 octets) as an address; anything else as octets, so it round-trips
        ConditionalField(IPField("ipv4", "0.0.0.0"), lambda pkt: _l3_is_ipv4(pkt)),
        ConditionalField(
            XStrLenField("address", b"", length_from=lambda pkt: max(0, (pkt.len or 23) - 23)),
            lambda pkt: not _l3_is_ipv4(pkt),
        ),
    ]


def _vdp_tlv_class(cur: Packet | None, remain: bytes, draft: bool) -> type[Packet] | None:
    """Choose the class of the next VDP TLV from its 7-bit type (and OUI/subtype for 127)."""
    if isinstance(cur, VDPEnd):
        return None
    header = _tlv_header(remain)
    if header is None:
        return None
    tlv_type, length = header
    if tlv_type == 0:
        # ``00 00`` ends the VDPDU; a type-0 header with a length also ends the walk (as in
        # lldpad and qbg.vdp), and everything from it on is padding.
        return VDPEnd if length == 0 else None
    if 2 + length > len(remain):
        # runs past the end of the frame: keep the octets as they are
        return conf.raw_layer
    if tlv_type == 127:
        org = _org_tlv(remain)
        if org is not None:
            if draft and org[:2] == (OUI_QBG_DRAFT, DRAFT_VDP_SUBTYPE) and length >= 30:
                return VDPDraft
            if not draft and org[:2] == (OUI_CISCO, CISCO_VM_NAME_SUBTYPE) and length >= 38:
                return VDPCiscoVMName
            if not draft and org[:2] == (OUI_CISCO, CISCO_L3_ADDRESS_SUBTYPE) and length >= 23:
                return VDPCiscoL3Address
        return VDPOrg if length >= 3 else VDPUnknown
    if not draft:
        if 1 <= tlv_type <= 4 and length >= 25:
            return VDPVSI
        if tlv_type == 5:
            return VDPManagerID
    return VDPUnknown


def _vdp_next(
    pkt: Packet, lst: list[BasePacket], cur: Packet | None, remain: bytes
) -> type[Packet] | None:
    return _vdp_tlv_class(cur, remain, draft=False)


def _vdp_next_draft(
    pkt: Packet, lst: list[BasePacket], cur: Packet | None, remain: bytes
) -> type[Packet] | None:
    return _vdp_tlv_class(cur, remain, draft=True)


_LABELS = {
    "VDPManagerID": "mgrid",
    "VDPEnd": "end",
    "VDPOrg": "org",
    "VDPCiscoVMName": "cisco-vm-name",
    "VDPCiscoL3Address": "cisco-l3-address",
}


def _tlv_labels(tlvs: list[Packet]) -> str:
    labels = []
    for t in tlvs:
        if isinstance(t, VDPVSI | VDPDraft):
            labels.append(str(t.sprintf("%mode%" if isinstance(t, VDPDraft) else "%type%")))
        elif isinstance(t, VDPUnknown):
            labels.append(f"type-{t.type}")
        else:
            labels.append(_LABELS.get(type(t).__name__, type(t).__name__))
    return ", ".join(labels)


class VDP(Packet):
    """A ratified VDPDU: the TLV list of an ECP request of subtype 1; the rest is padding."""

    name = "VDP"
    fields_desc = [  # noqa: RUF012
        PacketListField("tlvs", [], next_cls_cb=_vdp_next),
    ]

    def mysummary(self) -> str:
        return f"VDP [{_tlv_labels(self.tlvs)}]"

    def extract_padding(self, s: bytes) -> tuple[bytes, bytes]:
        return b"", s


# --------------------------------------------------------------------------------------------
# Draft 0.2 VDP
# --------------------------------------------------------------------------------------------


class VDPDraftFilter(Packet):
    """Draft VDP filter entry: MAC and a plain VLAN ID word."""

    name = "VDP draft filter MAC/VID"
    SIZE = 8
    fields_desc = [  # noqa: RUF012
        MACField("mac", "02:00:00:00:00:01"),
        ShortField("vid", 0),
    ]

    def extract_padding(self, s: bytes) -> tuple[bytes, bytes]:
        return b"", s


def _draft_filter_class(pkt: Packet) -> type[Packet] | None:
    return VDPDraftFilter if pkt.getfieldval("filter_format") == 2 else None


class VDPDraft(_VdpTlv):
    """Draft 0.2 VDP TLV, org TLV 00-1B-3F/0x02 (vdp.md §13.1)."""

    name = "VDP draft 0.2 TLV"
    fields_desc = [  # noqa: RUF012
        BitEnumField("type", 127, 7, VDP_TLV_TYPES),
        BitField("len", None, 9),
        _OuiField("oui", OUI_QBG_DRAFT),
        XByteField("subtype", DRAFT_VDP_SUBTYPE),
        ByteEnumField("mode", 2, DRAFT_VDP_MODES),
        ByteEnumField("response", 0, DRAFT_VDP_RESPONSES),
        ByteField("mgrid", 0),
        X3BytesField("type_id", 0),
        ByteField("type_version", 0),
        XStrFixedLenField("instance", b"\x00" * 16, 16),
        ByteEnumField("filter_format", 2, FILTER_FORMATS),
        FieldLenField("count", None, count_of="entries"),
        PacketListField(
            "entries",
            [],
            next_cls_cb=_entries_next(_draft_filter_class),
            length_from=lambda pkt: max(0, (pkt.len or 0) - 30),
        ),
        XStrLenField(
            "extra",
            b"",
            length_from=lambda pkt: max(0, (pkt.len or 0) - 30 - _list_len(pkt, "entries")),
        ),
    ]


class VDPDraftPDU(Packet):
    """The TLV list of a draft ECP request: VDPDraft TLVs, then an End TLV; then padding."""

    name = "VDP draft 0.2"
    fields_desc = [  # noqa: RUF012
        PacketListField("tlvs", [], next_cls_cb=_vdp_next_draft),
    ]

    def mysummary(self) -> str:
        return f"VDP draft [{_tlv_labels(self.tlvs)}]"

    def extract_padding(self, s: bytes) -> tuple[bytes, bytes]:
        return b"", s


# --------------------------------------------------------------------------------------------
# ECP
# --------------------------------------------------------------------------------------------


class ECP(Packet):
    """Ratified ECP header, Ethertype 0x8940 (ecp.md §1)."""

    name = "ECP"
    fields_desc = [  # noqa: RUF012
        BitField("version", 1, 4),
        BitEnumField("op", 0, 2, ECP_OPS),
        BitEnumField("subtype", 1, 10, ECP_SUBTYPES),
        XShortField("seq", 0),
    ]

    def guess_payload_class(self, payload: bytes) -> Any:
        if self.op == 0 and self.subtype == 1:
            return VDP
        if self.op == 1:
            return Padding  # acks carry no ULPDU: anything after the header is padding
        return Raw

    def mysummary(self) -> str:
        return str(self.sprintf("ECP %op% %subtype% seq=%seq%"))


class ECPDraft(Packet):
    """Draft 0.2 ECP header, Ethertype 0x88B7 with OUI 00-1B-3F (ecp.md §8.1)."""

    name = "ECP draft 0.2"
    fields_desc = [  # noqa: RUF012
        _OuiField("oui", OUI_QBG_DRAFT),
        XByteField("pad", 0),
        XShortField("subtype", 0),
        ByteEnumField("mode", 0, ECP_OPS),
        XShortField("seq", 0),
    ]

    def guess_payload_class(self, payload: bytes) -> Any:
        if self.oui != OUI_QBG_DRAFT:
            return Raw
        if self.mode == 0:
            return VDPDraftPDU
        if self.mode == 1:
            return Padding  # an ack is the request with everything after the header zeroed
        return Raw

    def mysummary(self) -> str:
        return str(self.sprintf("ECP draft %mode% seq=%seq%"))


# --------------------------------------------------------------------------------------------
# Registration
# --------------------------------------------------------------------------------------------

_LLDP_CLASSES: tuple[type[Packet], ...] = (LLDPDUEvb, LLDPDUEvbDraft, LLDPDUCdcp)
_BINDINGS: tuple[tuple[type[Packet], type[Packet], int], ...] = (
    (Ether, ECP, ETH_P_ECP),
    (Dot1Q, ECP, ETH_P_ECP),
    (Dot1AD, ECP, ETH_P_ECP),
    (Ether, ECPDraft, ETH_P_OUI_EXTENDED),
    (Dot1Q, ECPDraft, ETH_P_OUI_EXTENDED),
    (Dot1AD, ECPDraft, ETH_P_OUI_EXTENDED),
)


def _same_class(a: type, b: type) -> bool:
    return a.__module__ == b.__module__ and a.__qualname__ == b.__qualname__


def load() -> None:
    """Register the layers with scapy. Idempotent; importing this module already calls it.

    ``scapy.contrib.lldp`` dispatches a type-127 TLV by trying the classes of the list
    ``LLDPDU_CLASS_TYPES[127]`` in order (each class's ``_match_organization_specific``; the
    generic org TLV, which matches anything, is last). Our classes go to the front of that list.
    Classes of an earlier import of this module (``importlib.reload``) are replaced, not doubled.
    """
    org_list = cast(list[type[Packet]], _lldp.LLDPDU_CLASS_TYPES[127])
    if org_list[: len(_LLDP_CLASSES)] != list(_LLDP_CLASSES):
        org_list[:] = [c for c in org_list if not any(_same_class(c, o) for o in _LLDP_CLASSES)]
        org_list[0:0] = list(_LLDP_CLASSES)

    for lower, upper, ethertype in _BINDINGS:
        if any(cls is upper for _, cls in lower.payload_guess):
            continue  # already bound by this very module: keep scapy's order as it is
        lower.payload_guess = [
            (fval, cls) for fval, cls in lower.payload_guess if not _same_class(cls, upper)
        ]
        bind_layers(lower, upper, type=ethertype)


load()
