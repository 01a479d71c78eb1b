"""Ratified VDP TLVs and the VDPDU (802.1Qbg-2012 clause 41 [std-memory]; vdp.md §2–§8).

A VDPDU is the ULPDU of an ECP request with subtype 1: a VSI Manager ID TLV, then VSI TLVs
(types 1-4) and organizationally defined TLVs, optionally an End TLV, then whatever padding the
Ethernet frame carried.  This module converts VDPDUs between bytes and frozen values and holds
the pure receive-validity check the bridge machine uses (§6, §7.3).  No state, no I/O.  Filter
entries live in ``filters.py``, VSI ID / Manager ID text forms in ``vsiid.py`` and the org
TLVs (Cisco) in ``orgtlv.py``; their public names are re-exported here.

```
VDPDU:  | Manager ID (5) | VSI TLV (1..4) | ... | org TLV (127) ... | End 00 00 | padding |

VSI TLV (TLV offsets):
  0-1 header type 1..4, length 25 + N*E      7    VSI ID format
  2   status                                 8-23 VSI ID (16)
  3-5 VSI Type ID (24 bits)                  24   filter info format
  6   VSI Type Version                       25-26 N, 27- N entries of E octets (filters.py)

status octet:  0x80 reserved | 0x40 response | 0x20 S (req) / K (resp)
               | 0x10 M (req) / H (resp) | 0x0F error code (responses)
```

Decoding rules (vdp.md §2, §14.4): the Manager ID TLV must come first and only once and every
TLV must fit the payload, else the whole PDU is a :class:`DecodeError`.  The walk stops at the
first type-0 header (End TLV, or the zero padding that lldpad relies on) and keeps the rest as
``padding`` so that ``Vdpdu.decode(b).encode() == b``.  A VSI TLV whose length disagrees with
its entry count is a :class:`DecodeError` too, unless ``lenient=True``: then it is kept as a
:class:`MalformedVsiTlv` so that a machine can ignore just that TLV, as lldpad does.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from dataclasses import dataclass
from enum import IntEnum
from typing import ClassVar, TypeAlias

from ..lldp.errors import DecodeError, EncodeError
from .filters import (
    ENTRY_SIZE,
    MAX_ENTRIES,
    FilterEntry,
    FilterFormat,
    check_shape,
    decode_filters,
    encode_filters,
    filters_error,
)
from .orgtlv import CISCO_OUI, CiscoL3AddressTlv, CiscoVmNameTlv, UnknownOrgVdpTlv, decode_org
from .vsiid import VsiIdFormat, mac_ok, mgrid_text, parse_mgrid, parse_vsiid, vsiid_ok, vsiid_text

__all__ = [
    "CISCO_OUI",
    "ENTRY_SIZE",
    "MAX_ENTRIES",
    "STATUS_ERROR_MASK",
    "STATUS_HARD",
    "STATUS_KEEP",
    "STATUS_MIGRATING",
    "STATUS_RESPONSE",
    "STATUS_SUSPENDED",
    "CiscoL3AddressTlv",
    "CiscoVmNameTlv",
    "FilterEntry",
    "FilterFormat",
    "MalformedVsiTlv",
    "ManagerIdTlv",
    "UnknownOrgVdpTlv",
    "UnknownVdpTlv",
    "VdpEndTlv",
    "VdpError",
    "VdpTlv",
    "VdpTlvType",
    "Vdpdu",
    "VsiIdFormat",
    "VsiKey",
    "VsiTlv",
    "mac_ok",
    "mgrid_text",
    "parse_mgrid",
    "parse_vsiid",
    "replace_vsi",
    "validate_request",
    "vsiid_ok",
    "vsiid_text",
]


class VdpTlvType(IntEnum):
    """VDP TLV types (vdp.md §2.1); 6..126 are reserved and stay plain ``int``."""

    END = 0
    PREASSOC = 1
    PREASSOC_RR = 2
    ASSOC = 3
    DEASSOC = 4
    MGRID = 5
    ORG = 127


class VdpError(IntEnum):
    """Error codes of the status octet's low nibble (vdp.md §5.3); 6..15 reserved."""

    SUCCESS = 0
    INVALID_FORMAT = 1
    INSUFFICIENT_RESOURCES = 2
    UNABLE_TO_CONTACT_MANAGER = 3
    OTHER_FAILURE = 4
    INVALID_VID_GROUP_MAC = 5


STATUS_RESPONSE = 0x40
STATUS_KEEP = 0x20  # K in responses: refused, previous state kept
STATUS_HARD = 0x10  # H in responses: not transient
STATUS_SUSPENDED = 0x20  # S in requests (vdptool hints=from)
STATUS_MIGRATING = 0x10  # M in requests (vdptool hints=to)
STATUS_ERROR_MASK = 0x0F


_TLV_TYPES = {int(v): v for v in VdpTlvType}
_VSIID_FORMATS = {int(v): v for v in VsiIdFormat}
_FILTER_FORMATS = {int(v): v for v in FilterFormat}
_ERRORS = {int(v): v for v in VdpError}

_U16 = struct.Struct("!H")
_VSI_FIXED = struct.Struct("!IBB16sBH")  # status<<24|type id, version, format, VSI ID, ff, N
_VSI_HDR = struct.Struct("!HIBB16sBH")


def _header(tlv_type: int, length: int) -> bytes:
    if length > 0x1FF:
        raise EncodeError(f"VDP TLV type {tlv_type}: value of {length} octets exceeds 511")
    return _U16.pack((tlv_type << 9) | length)


# --- Manager ID, End, unknown ----------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class ManagerIdTlv:
    """VSI Manager ID TLV (type 5): 16 opaque octets, compared whole (vdp.md §3)."""

    mgrid: bytes

    TYPE: ClassVar[int] = VdpTlvType.MGRID

    def __post_init__(self) -> None:
        if len(self.mgrid) != 16:
            raise EncodeError(f"Manager ID must be 16 octets, not {len(self.mgrid)}")

    @classmethod
    def from_text(cls, text: str) -> ManagerIdTlv:
        """Build from any form :func:`parse_mgrid` accepts (``"1"``, ``"pkmgr"``, ...)."""
        return cls(mgrid=parse_mgrid(text))

    @property
    def text(self) -> str:
        return mgrid_text(self.mgrid)

    def encode(self) -> bytes:
        return b"\x0a\x10" + self.mgrid


@dataclass(frozen=True, slots=True, kw_only=True)
class VdpEndTlv:
    """End of VDPDU (type 0, length 0).  lldpad never sends it; qbg always does (§2)."""

    def encode(self) -> bytes:
        return b"\x00\x00"


@dataclass(frozen=True, slots=True, kw_only=True)
class UnknownVdpTlv:
    """A reserved TLV type (6..126), skipped on receive and kept verbatim.

    Also holds a type-127 TLV too short to carry an OUI (fewer than 3 value octets).
    """

    tlv_type: int
    value: bytes = b""

    def __post_init__(self) -> None:
        if not (6 <= self.tlv_type <= 126 or (self.tlv_type == 127 and len(self.value) < 3)):
            raise EncodeError(f"TLV type {self.tlv_type} is not an unknown VDP TLV type")
        if len(self.value) > 0x1FF:
            raise EncodeError(f"TLV value of {len(self.value)} octets exceeds 511")

    def encode(self) -> bytes:
        return _header(self.tlv_type, len(self.value)) + self.value


@dataclass(frozen=True, slots=True, kw_only=True)
class MalformedVsiTlv:
    """A VSI TLV (type 1..4) whose layout is inconsistent, kept raw by lenient decoding.

    lldpad ignores such a TLV silently (no response); keeping it lets a machine do the same
    and keeps the PDU's round trip exact.  ``reason`` says what was wrong and is not encoded.
    """

    tlv_type: int
    value: bytes
    reason: str = ""

    def __post_init__(self) -> None:
        if not 1 <= self.tlv_type <= 4:
            raise EncodeError(f"TLV type {self.tlv_type} is not a VSI TLV type")
        if len(self.value) > 0x1FF:
            raise EncodeError(f"TLV value of {len(self.value)} octets exceeds 511")

    def encode(self) -> bytes:
        return _header(self.tlv_type, len(self.value)) + self.value


# --- VSI TLV ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class VsiKey:
    """What identifies a VSI on a port (vdp.md §7.4): the station and the bridge find a VSI by
    (Manager ID, Type ID, Type Version, VSI ID format, VSI ID, filter format)."""

    mgrid: bytes
    type_id: int
    type_version: int
    vsiid_format: int
    vsiid: bytes
    filter_format: int


@dataclass(frozen=True, slots=True, kw_only=True)
class VsiTlv:
    """A VSI TLV: Pre-Associate (1), Pre-Associate with RR (2), Associate (3), De-Associate (4).

    Plain construction allows N = 0 so that a received well-formed empty TLV can be represented
    (the bridge answers it with 0x42, vdp.md §4.1); :meth:`build` refuses it for requests.
    """

    mode: VdpTlvType | int
    status: int = 0
    type_id: int
    type_version: int
    vsiid_format: VsiIdFormat | int
    vsiid: bytes
    filter_format: FilterFormat | int
    filters: tuple[FilterEntry, ...]

    def __post_init__(self) -> None:
        if not 1 <= self.mode <= 4:
            raise EncodeError(f"VSI TLV mode {self.mode} is not 1..4")
        if not 0 <= self.status <= 0xFF:
            raise EncodeError(f"status {self.status} outside 0..255")
        if not 0 <= self.type_id <= 0xFFFFFF:
            raise EncodeError(f"VSI Type ID {self.type_id} outside 24 bits")
        if not 0 <= self.type_version <= 0xFF:
            raise EncodeError(f"VSI Type Version {self.type_version} outside 0..255")
        if not 0 <= self.vsiid_format <= 0xFF:
            raise EncodeError(f"VSI ID format {self.vsiid_format} outside 0..255")
        if len(self.vsiid) != 16:
            raise EncodeError(f"VSI ID must be 16 octets, not {len(self.vsiid)}")
        check_shape(self.filter_format, self.filters)

    @classmethod
    def build(
        cls,
        *,
        mode: VdpTlvType | int,
        status: int = 0,
        type_id: int,
        type_version: int,
        vsiid_format: VsiIdFormat | int,
        vsiid: bytes,
        filter_format: FilterFormat | int,
        filters: tuple[FilterEntry, ...],
    ) -> VsiTlv:
        """A VSI TLV for sending: as the constructor, but N must be 1..max (vdp.md §4.1)."""
        if not filters:
            raise EncodeError("a VSI TLV needs at least one filter entry")
        return cls(
            mode=mode,
            status=status,
            type_id=type_id,
            type_version=type_version,
            vsiid_format=vsiid_format,
            vsiid=vsiid,
            filter_format=filter_format,
            filters=filters,
        )

    @classmethod
    def decode_value(cls, tlv_type: int, value: bytes, offset: int = 0) -> VsiTlv:
        """Decode the value octets of a type 1..4 TLV; ``offset`` locates the TLV header."""
        if len(value) < 25:
            raise DecodeError("vdp", offset, f"VSI TLV length {len(value)} below 25")
        st_tid, ver, fmt, vsiid, ff, count = _VSI_FIXED.unpack_from(value)
        size = ENTRY_SIZE.get(ff)
        if size is None:
            raise DecodeError("vdp", offset + 26, f"unknown filter info format {ff}")
        if len(value) != 25 + count * size:
            raise DecodeError(
                "vdp",
                offset,
                f"VSI TLV length {len(value)} != 25 + {count} x {size} (format {ff})",
            )
        # Built through the slot descriptors (see _fast below): every field is in range by
        # construction and the filter shape matches the format decode_filters used.
        tlv = _new(cls)
        _vsi_mode(tlv, _TLV_TYPES[tlv_type])
        _vsi_status(tlv, st_tid >> 24)
        _vsi_type_id(tlv, st_tid & 0xFFFFFF)
        _vsi_version(tlv, ver)
        _vsi_fmt(tlv, _VSIID_FORMATS.get(fmt, fmt))
        _vsi_id(tlv, vsiid)
        _vsi_ff(tlv, _FILTER_FORMATS[ff])
        _vsi_filters(tlv, decode_filters(ff, count, value[25:], offset + 29))
        return tlv

    @classmethod
    def decode(cls, data: bytes) -> VsiTlv:
        """Decode one complete VSI TLV (header included, nothing after it)."""
        if len(data) < 2:
            raise DecodeError("vdp", 0, "TLV header truncated")
        (word,) = _U16.unpack_from(data)
        t, length = word >> 9, word & 0x1FF
        if not 1 <= t <= 4:
            raise DecodeError("vdp", 0, f"TLV type {t} is not a VSI TLV")
        if len(data) != 2 + length:
            raise DecodeError("vdp", 0, f"TLV length {length} but {len(data) - 2} octets")
        return cls.decode_value(t, data[2:], 0)

    def encode(self) -> bytes:
        ff = self.filter_format
        body = encode_filters(ff, self.filters)
        length = 25 + len(body)
        return (
            _VSI_HDR.pack(
                (self.mode << 9) | length,
                (self.status << 24) | self.type_id,
                self.type_version,
                self.vsiid_format,
                self.vsiid,
                ff,
                len(self.filters),
            )
            + body
        )

    # Status octet views (vdp.md §5).
    @property
    def response(self) -> bool:
        return bool(self.status & STATUS_RESPONSE)

    @property
    def error(self) -> VdpError | int:
        code = self.status & STATUS_ERROR_MASK
        return _ERRORS.get(code, code)

    @property
    def keep(self) -> bool:
        return bool(self.response and self.status & STATUS_KEEP)

    @property
    def hard(self) -> bool:
        return bool(self.response and self.status & STATUS_HARD)

    @property
    def suspended(self) -> bool:
        return bool(not self.response and self.status & STATUS_SUSPENDED)

    @property
    def migrating(self) -> bool:
        return bool(not self.response and self.status & STATUS_MIGRATING)

    @property
    def vsiid_text(self) -> str:
        return vsiid_text(self.vsiid_format, self.vsiid)

    def key(self, mgrid: bytes) -> VsiKey:
        return VsiKey(
            mgrid,
            self.type_id,
            self.type_version,
            self.vsiid_format,
            self.vsiid,
            self.filter_format,
        )


def _fast(cls: type, *names: str) -> tuple[Callable[[object, object], None], ...]:
    """Slot setters of a frozen dataclass, for decoders that skip ``__init__`` on the hot path
    (about 3x cheaper than the generated ``__init__`` + ``__post_init__``)."""
    return tuple(cls.__dict__[name].__set__ for name in names)


_new = object.__new__
(
    _vsi_mode,
    _vsi_status,
    _vsi_type_id,
    _vsi_version,
    _vsi_fmt,
    _vsi_id,
    _vsi_ff,
    _vsi_filters,
) = _fast(
    VsiTlv,
    "mode",
    "status",
    "type_id",
    "type_version",
    "vsiid_format",
    "vsiid",
    "filter_format",
    "filters",
)
(_mgr_set,) = _fast(ManagerIdTlv, "mgrid")


def replace_vsi(
    tlv: VsiTlv,
    *,
    mode: VdpTlvType | int | None = None,
    status: int | None = None,
    filters: tuple[FilterEntry, ...] | None = None,
) -> VsiTlv:
    """``dataclasses.replace(tlv, ...)`` for the hot paths of the VDP machines.

    Same result and the same :class:`EncodeError` for out-of-range values, but only the changed
    fields are checked (the others were validated when ``tlv`` was built or decoded): about 10x
    cheaper than ``replace`` + ``__post_init__`` (cProfile of ``qbg sim --vsis 20000``).
    """
    new = _new(VsiTlv)
    if mode is None:
        mode = tlv.mode
    elif not 1 <= mode <= 4:
        raise EncodeError(f"VSI TLV mode {mode} is not 1..4")
    if status is None:
        status = tlv.status
    elif not 0 <= status <= 0xFF:
        raise EncodeError(f"status {status} outside 0..255")
    if filters is None:
        filters = tlv.filters
    elif filters is not tlv.filters:
        check_shape(tlv.filter_format, filters)
    _vsi_mode(new, mode)
    _vsi_status(new, status)
    _vsi_type_id(new, tlv.type_id)
    _vsi_version(new, tlv.type_version)
    _vsi_fmt(new, tlv.vsiid_format)
    _vsi_id(new, tlv.vsiid)
    _vsi_ff(new, tlv.filter_format)
    _vsi_filters(new, filters)
    return new


def validate_request(tlv: VsiTlv, group_ok: bool, *, strict: bool = False) -> VdpError:
    """The checks lldpad's bridge applies to a received request (vdp.md §6, §7.3, §4.1).

    Returns ``SUCCESS`` or the precise code: ``INVALID_FORMAT`` for N = 0, a reserved or
    invalid VSI ID, or a GroupID format without negotiated BGID/SGID (``group_ok`` false);
    ``INVALID_VID_GROUP_MAC`` for a bad VID, wildcard, MAC or GroupID.  The bridge sends 0x42
    for any failure by default (lldpad-compatible) and these codes with ``strict_error_codes``
    (vdp.md §11.2).  ``strict`` adds qbg's send-side VSI ID checks (see :func:`vsiid_ok`).
    """
    if not tlv.filters:
        return VdpError.INVALID_FORMAT
    if not vsiid_ok(tlv.vsiid_format, tlv.vsiid, strict=strict):
        return VdpError.INVALID_FORMAT
    if tlv.filter_format in (FilterFormat.GROUP_VID, FilterFormat.GROUP_MAC_VID) and not group_ok:
        return VdpError.INVALID_FORMAT
    if filters_error(tlv.filter_format, tlv.filters) is not None:
        return VdpError.INVALID_VID_GROUP_MAC
    return VdpError.SUCCESS


VdpTlv: TypeAlias = (
    ManagerIdTlv
    | VsiTlv
    | MalformedVsiTlv
    | CiscoVmNameTlv
    | CiscoL3AddressTlv
    | UnknownOrgVdpTlv
    | UnknownVdpTlv
    | VdpEndTlv
)

_END = VdpEndTlv()


def _decode_org(value: bytes) -> VdpTlv:
    """A type-127 TLV: Cisco's known subtypes, else unknown (kept verbatim), vdp.md §8."""
    tlv = decode_org(value)
    return UnknownVdpTlv(tlv_type=127, value=value) if tlv is None else tlv


# --- VDPDU ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class Vdpdu:
    """A VDPDU: ``tlvs`` (Manager ID first and only once; End TLV, if any, last) + padding.

    ``padding`` is what followed the walk's stop: after an End TLV, the rest of the frame; with
    no End TLV, a trailing odd octet or a type-0 header with a non-zero length and what
    follows.  (Zero padding after the last TLV reads as an End TLV, as it does for lldpad.)
    """

    tlvs: tuple[VdpTlv, ...]
    padding: bytes = b""

    def __post_init__(self) -> None:
        tlvs = self.tlvs
        if not tlvs or type(tlvs[0]) is not ManagerIdTlv:
            raise EncodeError("a VDPDU starts with its Manager ID TLV")
        for i, t in enumerate(tlvs[1:], 1):
            if type(t) is ManagerIdTlv:
                raise EncodeError("a VDPDU carries one Manager ID TLV only")
            if type(t) is VdpEndTlv and i != len(tlvs) - 1:
                raise EncodeError("the End TLV must be the last TLV")

    @classmethod
    def build(
        cls,
        mgrid: bytes,
        vsis: tuple[VsiTlv, ...] | list[VsiTlv],
        org: tuple[VdpTlv, ...] = (),
        *,
        end: bool = True,
    ) -> Vdpdu:
        """``[MgrID][VSI TLVs][org TLVs][End]`` as qbg sends it (vdp.md §2, §10.1)."""
        tail: tuple[VdpTlv, ...] = (_END,) if end else ()
        return cls(tlvs=(ManagerIdTlv(mgrid=mgrid), *vsis, *org, *tail))

    @classmethod
    def decode(cls, ulpdu: bytes, offset: int = 0, *, lenient: bool = False) -> Vdpdu:
        """Decode an ECP ULPDU (padding included).  ``offset`` is added to error offsets.

        Raises :class:`DecodeError` if the Manager ID TLV is missing, not first, repeated or
        not 16 octets, if a TLV runs past the end, or (unless ``lenient``) if a VSI TLV is
        inconsistent.
        """
        data = ulpdu if type(ulpdu) is bytes else bytes(ulpdu)
        n = len(data)
        unpack = _U16.unpack_from
        tlvs: list[VdpTlv] = []
        pos = 0
        while pos + 2 <= n:
            (word,) = unpack(data, pos)
            t = word >> 9
            length = word & 0x1FF
            if t == 0:
                if length == 0:
                    tlvs.append(_END)
                    pos += 2
                break
            vpos = pos + 2
            end = vpos + length
            if end > n:
                raise DecodeError(
                    "vdp", offset + pos, f"TLV type {t} length {length} runs past the end"
                )
            value = data[vpos:end]
            if not tlvs:
                if t != 5:
                    raise DecodeError("vdp", offset + pos, f"first TLV is type {t}, not 5")
                if length != 16:
                    raise DecodeError("vdp", offset + pos, f"Manager ID length {length} != 16")
                mgr = _new(ManagerIdTlv)
                _mgr_set(mgr, value)
                tlvs.append(mgr)
            elif 1 <= t <= 4:
                try:
                    tlvs.append(VsiTlv.decode_value(t, value, offset + pos))
                except DecodeError as exc:
                    if not lenient:
                        raise
                    tlvs.append(MalformedVsiTlv(tlv_type=t, value=value, reason=exc.reason))
            elif t == 127:
                tlvs.append(_decode_org(value))
            elif t == 5:
                raise DecodeError("vdp", offset + pos, "second Manager ID TLV")
            else:
                tlvs.append(UnknownVdpTlv(tlv_type=t, value=value))
            pos = end
        if not tlvs or type(tlvs[0]) is not ManagerIdTlv:
            raise DecodeError("vdp", offset, "VDPDU without a Manager ID TLV")
        pdu = _new(cls)
        _pdu_tlvs(pdu, tuple(tlvs))  # the walk above enforced __post_init__'s rules
        _pdu_padding(pdu, data[pos:])
        return pdu

    def encode(self) -> bytes:
        return b"".join([t.encode() for t in self.tlvs]) + self.padding

    @property
    def manager(self) -> ManagerIdTlv:
        first = self.tlvs[0]
        assert type(first) is ManagerIdTlv  # guaranteed by __post_init__
        return first

    @property
    def mgrid(self) -> bytes:
        return self.manager.mgrid

    @property
    def vsis(self) -> tuple[VsiTlv, ...]:
        """The well-formed VSI TLVs, in order."""
        return tuple(t for t in self.tlvs if type(t) is VsiTlv)

    @property
    def malformed(self) -> tuple[MalformedVsiTlv, ...]:
        return tuple(t for t in self.tlvs if type(t) is MalformedVsiTlv)

    @property
    def has_end(self) -> bool:
        """Whether the walk ended on an End TLV (or on zero padding, which reads the same)."""
        return type(self.tlvs[-1]) is VdpEndTlv


_pdu_tlvs, _pdu_padding = _fast(Vdpdu, "tlvs", "padding")
