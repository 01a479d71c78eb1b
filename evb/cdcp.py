"""The CDCP TLV: S-channel Discovery and Configuration (802.1Qbg-2012 D.2.13; evb-tlv.md 5).

An LLDP organizationally specific TLV, OUI 00-80-C2, subtype 0x0E, exchanged on the physical
port.  The station lists the S-channels it wants (SCID with SVID 0 = "please assign"), the
bridge answers with the SVIDs it assigned; SCID 1 / SVID 1 is the default channel.  lldpad
does not implement CDCP; the layout comes from the tcpdump and scapy dissectors [STD].  This
module is the codec only; the S-channel machine is later work.

```
TLV offset  0-1          2-4        5     6                 7      8-9                10..
          +------------+----------+----+-----------------+------+------------------+--------+
          | FE (8+3N)  | 00 80 C2 | 0E | R|res1|C|res2.. | res2 | res3 | ChnCap    | N x    |
          +------------+----------+----+-----------------+------+------------------+--------+
value off                0-2        3     4                 5      6-7                8..
 the 32-bit word at value offset 4:
   b31 Role | b30..b28 reserved1 | b27 SComp | b26..b16 reserved2 | b15..b12 reserved3 |
   b11..b0 ChnCap
 each entry (3 octets, big-endian 24 bits): SCID (b23..b12) | SVID (b11..b0)
```

Role polarity is uncertain (tcpdump's sample from a bridge carries 0; scapy documents 0 =
station, 1 = bridge): it stays a plain int, and qbg takes roles from the EVB TLV mode.
A value whose length is not 8 + 3N is invalid: ``decode_info`` raises :class:`DecodeError`
and the LLDPDU decoder keeps the TLV as an ``UnknownOrgTlv``.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import ClassVar, Self

from ..lldp.errors import DecodeError, EncodeError
from ..lldp.tlv import OUI_IEEE_8021, OrgTlv, register_org_tlv

__all__ = ["CDCP_MAX_CHANNELS", "CDCP_SUBTYPE", "DEFAULT_SCHANNEL", "CdcpTlv", "SChannel"]

CDCP_SUBTYPE = 0x0E
"""Subtype of the CDCP TLV under OUI 00-80-C2."""

CDCP_MAX_CHANNELS = 167
"""Most entries that fit: 8 + 3 * 167 = 509 <= 511 value octets."""

_WORD = struct.Struct("!I")


@dataclass(frozen=True, slots=True, kw_only=True)
class SChannel:
    """One (SCID, SVID) entry; SVID 0 in a station's request means "assign one"."""

    scid: int
    svid: int

    def __post_init__(self) -> None:
        if not 0 <= self.scid <= 0xFFF:
            raise EncodeError(f"SCID {self.scid} outside 0..4095")
        if not 0 <= self.svid <= 0xFFF:
            raise EncodeError(f"SVID {self.svid} outside 0..4095")


DEFAULT_SCHANNEL = SChannel(scid=1, svid=1)
"""The default S-channel, always SCID 1 with SVID 1 (evb-tlv.md 5.1)."""


@register_org_tlv
@dataclass(frozen=True, slots=True, kw_only=True)
class CdcpTlv(OrgTlv):
    """CDCP TLV value: header word fields and the channel list in wire order."""

    OUI: ClassVar[int] = OUI_IEEE_8021
    SUBTYPE: ClassVar[int] = CDCP_SUBTYPE

    role: int = 0
    reserved1: int = 0
    scomp: bool = False
    reserved2: int = 0
    reserved3: int = 0
    chncap: int = 0
    channels: tuple[SChannel, ...] = ()

    def __post_init__(self) -> None:
        for name, v, width in (
            ("role", self.role, 1),
            ("reserved1", self.reserved1, 3),
            ("reserved2", self.reserved2, 11),
            ("reserved3", self.reserved3, 4),
            ("ChnCap", self.chncap, 12),
        ):
            if not 0 <= v < (1 << width):
                raise EncodeError(f"CDCP {name} {v} outside 0..{(1 << width) - 1}")
        if len(self.channels) > CDCP_MAX_CHANNELS:
            raise EncodeError(f"{len(self.channels)} CDCP entries > {CDCP_MAX_CHANNELS}")

    @classmethod
    def decode_info(cls, info: bytes, offset: int) -> Self:
        """Decode value octets 4.. (``info`` starts after OUI and subtype)."""
        n = len(info)
        if n < 4 or (n - 4) % 3:
            raise DecodeError("CDCP TLV", offset, f"{4 + n} value octets, not 8 + 3N")
        (word,) = _WORD.unpack_from(info)
        channels = []
        for i in range(4, n, 3):
            e = (info[i] << 16) | (info[i + 1] << 8) | info[i + 2]
            channels.append(SChannel(scid=e >> 12, svid=e & 0xFFF))
        return cls(
            role=word >> 31,
            reserved1=(word >> 28) & 0x7,
            scomp=bool(word & 0x0800_0000),
            reserved2=(word >> 16) & 0x7FF,
            reserved3=(word >> 12) & 0xF,
            chncap=word & 0xFFF,
            channels=tuple(channels),
        )

    def encode_info(self) -> bytes:
        """Value octets 4.. (after OUI and subtype)."""
        word = (
            (self.role << 31)
            | (self.reserved1 << 28)
            | (self.scomp << 27)
            | (self.reserved2 << 16)
            | (self.reserved3 << 12)
            | self.chncap
        )
        out = bytearray(_WORD.pack(word))
        for ch in self.channels:
            e = (ch.scid << 12) | ch.svid
            out += bytes((e >> 16, (e >> 8) & 0xFF, e & 0xFF))
        return bytes(out)
