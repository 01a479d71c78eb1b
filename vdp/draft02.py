"""Draft 0.2 VDP: the pre-standard VSI TLV carried in draft ECPDUs (vdp.md §13) [DRAFT].

The draft protocol puts one LLDP-style organizationally specific TLV (OUI 00-1B-3F, subtype
0x02) per VSI profile into a draft ECPDU (Ethertype 0x88B7, ``evb/ecpdu.py``), followed by an
End TLV and zero padding.  There is no Manager ID TLV, no VSI ID format and no K/H/M/S bits;
the manager ID is one octet inside each TLV.  Kept apart from ``vdp/tlv.py`` on purpose: the
two variants never mix on one port (README §3.2).

```
TLV off 0-1  header type 127, length 30 + 8*N      13-28 VSI instance ID (16, UUID)
        2-4  OUI 00-1B-3F                          29    filter info format (2 = MAC/VID)
        5    subtype 0x02                          30-31 N
        6    mode  0 pre-assoc .. 3 de-assoc        32-   N x (MAC 6, VLAN 2)
        7    response 0 success .. 6 out of sync
        8    VSI manager ID (1)
        9-11 VSI Type ID (24 bits), 12 version
```

Decoding keeps every mode, response and format value (lldpad ignores TLVs with mode > 3,
response > 6 or format != 2; the machine decides).  A TLV of another OUI/subtype, or an
OUI-00-1B-3F/0x02 TLV whose length does not equal 30 + 8*N, is kept as
:class:`DraftUnknownTlv` (lldpad ignores it) so the PDU still round-trips byte-exact.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from enum import IntEnum
from typing import ClassVar, TypeAlias

from ..lldp.errors import DecodeError, EncodeError
from .tlv import VdpEndTlv

__all__ = [
    "DRAFT_VDP_OUI",
    "DRAFT_VDP_SUBTYPE",
    "DraftFilterEntry",
    "DraftUnknownTlv",
    "DraftVdpMode",
    "DraftVdpResponse",
    "DraftVdpTlv",
    "DraftVdpTlvItem",
    "DraftVdpdu",
]

DRAFT_VDP_OUI = 0x001B3F
DRAFT_VDP_SUBTYPE = 0x02


class DraftVdpMode(IntEnum):
    """Draft mode octet: the ratified TLV type minus one (vdp.md §13.1)."""

    PREASSOC = 0
    PREASSOC_RR = 1
    ASSOC = 2
    DEASSOC = 3


class DraftVdpResponse(IntEnum):
    """Draft response octet (vdp.md §13.1); a station sends 0."""

    SUCCESS = 0
    INVALID_FORMAT = 1
    INSUFFICIENT_RESOURCES = 2
    UNUSED_VTID = 3
    VTID_VIOLATION = 4
    VTID_VERSION_VIOLATION = 5
    OUT_OF_SYNC = 6


_MODES = {int(v): v for v in DraftVdpMode}
_RESPONSES = {int(v): v for v in DraftVdpResponse}
_U16 = struct.Struct("!H")
# header, OUI(3)+subtype as one u32, mode, response, mgrid, (type id << 8 | version), instance,
# format, N
_FIXED = struct.Struct("!HIBBBI16sBH")
_ENTRY = struct.Struct("!6sH")


@dataclass(frozen=True, slots=True, kw_only=True)
class DraftFilterEntry:
    """One MAC/VLAN entry; the VLAN word is a plain VLAN ID in lldpad (no PCP bits)."""

    mac: bytes
    vid: int

    def __post_init__(self) -> None:
        if len(self.mac) != 6:
            raise EncodeError(f"MAC must be 6 octets, not {len(self.mac)}")
        if not 0 <= self.vid <= 0xFFFF:
            raise EncodeError(f"VLAN word {self.vid} outside 16 bits")


@dataclass(frozen=True, slots=True, kw_only=True)
class DraftVdpTlv:
    """One draft 0.2 VDP TLV (one VSI profile)."""

    mode: DraftVdpMode | int
    response: DraftVdpResponse | int = 0
    mgrid: int
    type_id: int
    type_version: int
    instance: bytes
    filter_format: int = 2
    entries: tuple[DraftFilterEntry, ...]

    MAX_ENTRIES: ClassVar[int] = (0x1FF - 30) // 8  # 60

    def __post_init__(self) -> None:
        for name in ("mode", "response", "mgrid", "type_version", "filter_format"):
            v = getattr(self, name)
            if not 0 <= v <= 0xFF:
                raise EncodeError(f"draft VDP {name} {v} outside 0..255")
        if not 0 <= self.type_id <= 0xFFFFFF:
            raise EncodeError(f"VSI Type ID {self.type_id} outside 24 bits")
        if len(self.instance) != 16:
            raise EncodeError(f"VSI instance ID must be 16 octets, not {len(self.instance)}")
        if len(self.entries) > self.MAX_ENTRIES:
            raise EncodeError(f"{len(self.entries)} entries exceed {self.MAX_ENTRIES}")

    @classmethod
    def build(
        cls,
        *,
        mode: DraftVdpMode | int,
        mgrid: int,
        type_id: int,
        type_version: int,
        instance: bytes,
        entries: tuple[DraftFilterEntry, ...],
        response: DraftVdpResponse | int = 0,
    ) -> DraftVdpTlv:
        """A TLV lldpad will accept: mode ≤ 3, response ≤ 6, format 2, N ≥ 1 (vdp.md §13.1)."""
        if not 0 <= mode <= 3 or not 0 <= response <= 6:
            raise EncodeError(f"draft VDP mode {mode} / response {response} out of range")
        if not entries:
            raise EncodeError("a draft VDP TLV needs at least one MAC/VLAN entry")
        return cls(
            mode=mode,
            response=response,
            mgrid=mgrid,
            type_id=type_id,
            type_version=type_version,
            instance=instance,
            filter_format=2,
            entries=entries,
        )

    @classmethod
    def decode(cls, tlv: bytes, offset: int = 0) -> DraftVdpTlv:
        """Decode one complete TLV (header included)."""
        if len(tlv) < 32:
            raise DecodeError("vdp-draft", offset, f"draft VDP TLV of {len(tlv)} octets < 32")
        word, oui_sub, mode, resp, mgr, tid_ver, inst, ff, count = _FIXED.unpack_from(tlv)
        length = word & 0x1FF
        if word >> 9 != 127 or oui_sub != (DRAFT_VDP_OUI << 8) | DRAFT_VDP_SUBTYPE:
            raise DecodeError("vdp-draft", offset, "not an OUI 00-1B-3F subtype 2 TLV")
        if length + 2 != len(tlv) or length != 30 + 8 * count:
            raise DecodeError(
                "vdp-draft", offset, f"draft VDP TLV length {length} != 30 + 8 x {count}"
            )
        return cls(
            mode=_MODES.get(mode, mode),
            response=_RESPONSES.get(resp, resp),
            mgrid=mgr,
            type_id=tid_ver >> 8,
            type_version=tid_ver & 0xFF,
            instance=inst,
            filter_format=ff,
            entries=tuple(
                [DraftFilterEntry(mac=m, vid=v) for m, v in _ENTRY.iter_unpack(tlv[32:])]
            ),
        )

    def encode(self) -> bytes:
        return _FIXED.pack(
            (127 << 9) | (30 + 8 * len(self.entries)),
            (DRAFT_VDP_OUI << 8) | DRAFT_VDP_SUBTYPE,
            self.mode,
            self.response,
            self.mgrid,
            (self.type_id << 8) | self.type_version,
            self.instance,
            self.filter_format,
            len(self.entries),
        ) + b"".join([_ENTRY.pack(e.mac, e.vid) for e in self.entries])

    def key(self) -> tuple[int, int, int, bytes]:
        """Profiles match by (manager ID, type ID, version, instance ID) (vdp.md §13.1)."""
        return (self.mgrid, self.type_id, self.type_version, self.instance)


@dataclass(frozen=True, slots=True, kw_only=True)
class DraftUnknownTlv:
    """Any other TLV inside a draft ECPDU (or a malformed draft VDP TLV), kept verbatim."""

    tlv_type: int
    value: bytes = b""

    def __post_init__(self) -> None:
        if not 1 <= self.tlv_type <= 127:
            raise EncodeError(f"TLV type {self.tlv_type} outside 1..127")
        if len(self.value) > 0x1FF:
            raise EncodeError(f"TLV value of {len(self.value)} octets exceeds 511")

    def encode(self) -> bytes:
        return _U16.pack((self.tlv_type << 9) | len(self.value)) + self.value


DraftVdpTlvItem: TypeAlias = DraftVdpTlv | DraftUnknownTlv | VdpEndTlv
_END = VdpEndTlv()
_VDP_PREFIX = b"\x00\x1b\x3f\x02"


@dataclass(frozen=True, slots=True, kw_only=True)
class DraftVdpdu:
    """The TLVs of a draft ECP request, the End TLV (if present, last) and the padding.

    An empty request (End TLV only) is legal: lldpad sends one when draft ECP starts
    (ecp.md §8.2).
    """

    tlvs: tuple[DraftVdpTlvItem, ...]
    padding: bytes = b""

    def __post_init__(self) -> None:
        for i, t in enumerate(self.tlvs):
            if type(t) is VdpEndTlv and i != len(self.tlvs) - 1:
                raise EncodeError("the End TLV must be the last TLV")

    @classmethod
    def build(cls, tlvs: tuple[DraftVdpTlv, ...] | list[DraftVdpTlv]) -> DraftVdpdu:
        """``[VDP TLV ...][End]`` as lldpad sends it."""
        return cls(tlvs=(*tlvs, _END))

    @classmethod
    def decode(cls, payload: bytes, offset: int = 0) -> DraftVdpdu:
        """Decode the octets after the 9-octet draft ECP header; stops at a type-0 header.

        Only a TLV running past the end is a :class:`DecodeError`.
        """
        data = payload if type(payload) is bytes else bytes(payload)
        n = len(data)
        tlvs: list[DraftVdpTlvItem] = []
        pos = 0
        while pos + 2 <= n:
            (word,) = _U16.unpack_from(data, pos)
            t, length = word >> 9, word & 0x1FF
            if t == 0:
                if length == 0:
                    tlvs.append(_END)
                    pos += 2
                break
            end = pos + 2 + length
            if end > n:
                raise DecodeError(
                    "vdp-draft", offset + pos, f"TLV type {t} length {length} runs past the end"
                )
            if t == 127 and data.startswith(_VDP_PREFIX, pos + 2):
                try:
                    tlvs.append(DraftVdpTlv.decode(data[pos:end], offset + pos))
                except DecodeError:
                    tlvs.append(DraftUnknownTlv(tlv_type=t, value=data[pos + 2 : end]))
            else:
                tlvs.append(DraftUnknownTlv(tlv_type=t, value=data[pos + 2 : end]))
            pos = end
        return cls(tlvs=tuple(tlvs), padding=data[pos:])

    def encode(self) -> bytes:
        return b"".join([t.encode() for t in self.tlvs]) + self.padding

    @property
    def vsis(self) -> tuple[DraftVdpTlv, ...]:
        return tuple(t for t in self.tlvs if type(t) is DraftVdpTlv)

    @property
    def has_end(self) -> bool:
        return bool(self.tlvs) and type(self.tlvs[-1]) is VdpEndTlv
