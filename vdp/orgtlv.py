"""Organizationally defined VDP TLVs (type 127; 802.1Qbg-2012 clause 41 [std-memory], vdp.md §8).

An org TLV carries an OUI and organisation-defined content.  Receivers skip OUIs they do not
know; qbg decodes Cisco's two (OUI 00-00-0C, used by Cisco DFA leaves and lldpad's
``vdptool -c oui=cisco``) and keeps every other one verbatim as :class:`UnknownOrgVdpTlv`.

```
generic:         FE (3+n)   | OUI (3) | content (n)
Cisco VM name:   FE (38+n)  | 00 00 0C | F1 | VSI ID format | VSI ID (16)
                            | VM ID format (5) | VM UUID (16) | VM name (n, no terminator)
Cisco L3 addr:   FE 1B      | 00 00 0C | F2 | VSI ID format | VSI ID (16) | AFI (2) | IPv4 (4)
```

A Cisco TLV too short for its layout decodes as :class:`UnknownOrgVdpTlv` (lldpad parses
neither, so ignoring it is what the peer expects).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import ClassVar

from ..lldp.errors import EncodeError
from .vsiid import VsiIdFormat

__all__ = ["CISCO_OUI", "CiscoL3AddressTlv", "CiscoVmNameTlv", "UnknownOrgVdpTlv", "decode_org"]

CISCO_OUI = 0x00000C

_U16 = struct.Struct("!H")
_ORG_HDR = struct.Struct("!HHB")  # TLV header, OUI high 16, OUI low 8
_CISCO_VSI = struct.Struct("!B16s")
_VSIID_FORMATS = {int(v): v for v in VsiIdFormat}


@dataclass(frozen=True, slots=True, kw_only=True)
class UnknownOrgVdpTlv:
    """An org TLV of an OUI/subtype qbg does not decode; ``info`` follows the OUI verbatim."""

    oui: int
    info: bytes = b""

    def __post_init__(self) -> None:
        if not 0 <= self.oui <= 0xFFFFFF:
            raise EncodeError(f"OUI {self.oui:#x} outside 24 bits")
        if len(self.info) > 0x1FF - 3:
            raise EncodeError(f"org TLV info of {len(self.info)} octets exceeds 508")

    def encode(self) -> bytes:
        return _ORG_HDR.pack(0xFE00 | (3 + len(self.info)), self.oui >> 8, self.oui & 0xFF) + (
            self.info
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class CiscoVmNameTlv:
    """Cisco VM name TLV (OUI 00-00-0C, subtype 0xF1), vdp.md §8; ``name`` has no terminator.

    ``FE (38+n) | 00 00 0C | F1 | VSI ID format | VSI ID (16) | VM ID format | VM UUID (16) |
    name (n)``
    """

    vsiid_format: VsiIdFormat | int
    vsiid: bytes
    vm_id_format: int = VsiIdFormat.UUID
    vm_uuid: bytes
    name: bytes = b""

    SUBTYPE: ClassVar[int] = 0xF1

    def __post_init__(self) -> None:
        if not 0 <= self.vsiid_format <= 0xFF or not 0 <= self.vm_id_format <= 0xFF:
            raise EncodeError("ID format outside 0..255")
        if len(self.vsiid) != 16 or len(self.vm_uuid) != 16:
            raise EncodeError("VSI ID and VM UUID must be 16 octets")
        if len(self.name) > 0x1FF - 38:
            raise EncodeError(f"VM name of {len(self.name)} octets exceeds 473")

    @classmethod
    def decode_info(cls, info: bytes) -> CiscoVmNameTlv | None:
        """From the octets after the subtype; ``None`` if too short (kept as unknown)."""
        if len(info) < 34:
            return None
        fmt, vsiid = _CISCO_VSI.unpack_from(info)
        return cls(
            vsiid_format=_VSIID_FORMATS.get(fmt, fmt),
            vsiid=vsiid,
            vm_id_format=_VSIID_FORMATS.get(info[17], info[17]),
            vm_uuid=info[18:34],
            name=info[34:],
        )

    def encode(self) -> bytes:
        return (
            _ORG_HDR.pack(0xFE00 | (38 + len(self.name)), 0x0000, 0x0C)
            + bytes((self.SUBTYPE, self.vsiid_format))
            + self.vsiid
            + bytes((self.vm_id_format,))
            + self.vm_uuid
            + self.name
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class CiscoL3AddressTlv:
    """Cisco L3 address TLV (OUI 00-00-0C, subtype 0xF2), vdp.md §8.

    ``FE 1B | 00 00 0C | F2 | VSI ID format | VSI ID (16) | AFI (2; 1 = IPv4) | address``;
    the address is kept as octets so that other AFIs round-trip too.
    """

    vsiid_format: VsiIdFormat | int
    vsiid: bytes
    afi: int = 1
    address: bytes

    SUBTYPE: ClassVar[int] = 0xF2

    def __post_init__(self) -> None:
        if not 0 <= self.vsiid_format <= 0xFF:
            raise EncodeError("VSI ID format outside 0..255")
        if len(self.vsiid) != 16:
            raise EncodeError("VSI ID must be 16 octets")
        if not 0 <= self.afi <= 0xFFFF:
            raise EncodeError(f"AFI {self.afi} outside 16 bits")
        if len(self.address) > 0x1FF - 23:
            raise EncodeError("address too long")

    @classmethod
    def decode_info(cls, info: bytes) -> CiscoL3AddressTlv | None:
        if len(info) < 19:
            return None
        fmt, vsiid = _CISCO_VSI.unpack_from(info)
        return cls(
            vsiid_format=_VSIID_FORMATS.get(fmt, fmt),
            vsiid=vsiid,
            afi=(info[17] << 8) | info[18],
            address=info[19:],
        )

    def encode(self) -> bytes:
        return (
            _ORG_HDR.pack(0xFE00 | (23 + len(self.address)), 0x0000, 0x0C)
            + bytes((self.SUBTYPE, self.vsiid_format))
            + self.vsiid
            + _U16.pack(self.afi)
            + self.address
        )


def decode_org(value: bytes) -> CiscoVmNameTlv | CiscoL3AddressTlv | UnknownOrgVdpTlv | None:
    """Decode a type-127 TLV value; ``None`` if it is too short to hold an OUI."""
    if len(value) < 3:
        return None
    oui = (value[0] << 16) | (value[1] << 8) | value[2]
    if oui == CISCO_OUI and len(value) > 3:
        sub = value[3]
        tlv: CiscoVmNameTlv | CiscoL3AddressTlv | None = None
        if sub == CiscoVmNameTlv.SUBTYPE:
            tlv = CiscoVmNameTlv.decode_info(value[4:])
        elif sub == CiscoL3AddressTlv.SUBTYPE:
            tlv = CiscoL3AddressTlv.decode_info(value[4:])
        if tlv is not None:
            return tlv
    return UnknownOrgVdpTlv(oui=oui, info=value[3:])
