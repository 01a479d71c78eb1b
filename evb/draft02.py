"""The pre-standard draft 0.2 EVB TLV, OUI 00-1B-3F subtype 0x00 (evb-tlv.md 4) [DRAFT].

Spoken by lldpad's ``evb`` module (lldptool ``-V evbCfg``) and by early switches.  It never
mixes with the ratified TLV of ``evb/tlv.py``: a port runs one variant (README 3.2).  Modes and
capabilities are whole octets of flags; the VSI counts are informational u16s; RTE is a whole
octet (lldpad allows 0..31).  Value octets past the 13th are kept in ``extra``.

```
TLV offset  0-1    2-4        5     6      7      8      9      10-11   12-13   14
          +-------+----------+----+------+------+------+------+-------+-------+-----+
          | FE 0D | 00 1B 3F | 00 | smode| scap | cmode| ccap | svsi  | cvsi  | RTE |
          +-------+----------+----+------+------+------+------+-------+-------+-----+
value off           0-2        3     4      5      6      7      8-9     10-11   12
 mode octets: 0x80 STD (standard bridging), 0x40 RR (reflective relay)
 capability octets: 0x04 RTE, 0x02 ECP, 0x01 VDP
```

Wireshark reads octets 6-7 and 8-9 as two 16-bit words with masks 0x8000/0x4000/0x0004/
0x0002/0x0001, which is the same bit layout.  Negotiation (evb-tlv.md 4.2) is not here.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import ClassVar, Self

from ..lldp.errors import DecodeError, EncodeError
from ..lldp.tlv import OUI_QBG_DRAFT, OrgTlv, register_org_tlv

__all__ = [
    "CAP_ECP",
    "CAP_RTE",
    "CAP_VDP",
    "DRAFT_EVB_SUBTYPE",
    "MODE_RR",
    "MODE_STD",
    "DraftEvbTlv",
]

DRAFT_EVB_SUBTYPE = 0x00
"""Subtype of the draft EVB TLV under OUI 00-1B-3F."""

MODE_STD = 0x80
"""Forwarding mode flag: standard 802.1Q bridging."""
MODE_RR = 0x40
"""Forwarding mode flag: reflective relay."""
CAP_RTE = 0x04
"""Capability flag: retransmission exponent (RTE) negotiated."""
CAP_ECP = 0x02
"""Capability flag: draft ECP."""
CAP_VDP = 0x01
"""Capability flag: draft VDP."""

_BODY = struct.Struct("!BBBBHHB")  # value octets 4..12
_INFO_LEN = _BODY.size  # 9


@register_org_tlv
@dataclass(frozen=True, slots=True, kw_only=True)
class DraftEvbTlv(OrgTlv):
    """Draft 0.2 EVB TLV value (13 value octets; lldpad's ``tlv_info_evb``)."""

    OUI: ClassVar[int] = OUI_QBG_DRAFT
    SUBTYPE: ClassVar[int] = DRAFT_EVB_SUBTYPE

    supported_mode: int = MODE_STD
    supported_caps: int = 0
    configured_mode: int = MODE_STD
    configured_caps: int = 0
    supported_vsis: int = 0
    configured_vsis: int = 0
    rte: int = 0
    extra: bytes = b""

    def __post_init__(self) -> None:
        for name in ("supported_mode", "supported_caps", "configured_mode", "configured_caps"):
            v = getattr(self, name)
            if not 0 <= v <= 0xFF:
                raise EncodeError(f"draft EVB TLV {name} {v} outside 0..255")
        for name in ("supported_vsis", "configured_vsis"):
            v = getattr(self, name)
            if not 0 <= v <= 0xFFFF:
                raise EncodeError(f"draft EVB TLV {name} {v} outside 0..65535")
        if not 0 <= self.rte <= 0xFF:
            raise EncodeError(f"draft EVB TLV RTE {self.rte} outside 0..255")
        if len(self.extra) > 507 - _INFO_LEN:
            raise EncodeError(f"draft EVB TLV extra of {len(self.extra)} octets too long")

    @classmethod
    def decode_info(cls, info: bytes, offset: int) -> Self:
        """Decode value octets 4.. (``info`` starts after OUI and subtype)."""
        if len(info) < _INFO_LEN:
            raise DecodeError(
                "draft EVB TLV", offset, f"{4 + len(info)} value octets, need at least 13"
            )
        smode, scap, cmode, ccap, svsi, cvsi, rte = _BODY.unpack_from(info)
        return cls(
            supported_mode=smode,
            supported_caps=scap,
            configured_mode=cmode,
            configured_caps=ccap,
            supported_vsis=svsi,
            configured_vsis=cvsi,
            rte=rte,
            extra=info[_INFO_LEN:],
        )

    def encode_info(self) -> bytes:
        """Value octets 4.. (after OUI and subtype)."""
        return (
            _BODY.pack(
                self.supported_mode,
                self.supported_caps,
                self.configured_mode,
                self.configured_caps,
                self.supported_vsis,
                self.configured_vsis,
                self.rte,
            )
            + self.extra
        )
