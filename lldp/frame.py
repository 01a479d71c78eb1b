"""Ethernet II framing with 802.1Q / 802.1ad tags, the LLDP group MACs and MAC helpers.

Every qbg PDU (LLDPDU, ECPDU, draft ECPDU) rides directly in an Ethernet II frame.  On an
S-channel other than the default one the frame carries an S-tag (TPID 0x88A8, VID = SVID;
802.1Qbg-2012 clause 40 [std-memory]); C-tags (0x8100) may follow.  The decoder keeps every
(TPID, TCI) pair in order and the payload verbatim, padding included, so that
``EthernetFrame.decode(raw).encode() == raw`` for every frame (STYLE habit 6).

```
frame offset 0      6      12            12+4k          14+4k
             +------+------+-------------+--------------+---------------------------+
             | DA   | SA   | TPID | TCI  | ... (k tags) | EtherType | payload ...   |
             | 6    | 6    | 2    | 2    |              | 2         | (incl. pad)   |
             +------+------+-------------+--------------+---------------------------+
```

A type/length field below 0x0600 is an IEEE 802.3 length (LLC frames such as STP BPDUs);
it is kept as a plain ``int`` in ``ethertype`` and the rest of the frame is the payload, so
such frames also round-trip (the tcpdump EVB capture has fifteen of them).

The frame check sequence is never part of a frame here (capture and AF_PACKET convention).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

from .errors import DecodeError, EncodeError, LocalError

__all__ = [
    "ETH_HEADER_LEN",
    "ETH_MIN_FRAME",
    "LLDP_GROUP_MACS",
    "NEAREST_BRIDGE",
    "NEAREST_CUSTOMER_BRIDGE",
    "NEAREST_NONTPMR_BRIDGE",
    "TAG_TPIDS",
    "EtherType",
    "EthernetFrame",
    "mac_str",
    "pad",
    "parse_mac",
]


class EtherType(IntEnum):
    """Ethertypes (and tag TPIDs) qbg sends or parses."""

    LLDP = 0x88CC
    """802.1AB-2009 7.2: Link Layer Discovery Protocol."""
    ECP = 0x8940
    """802.1Qbg-2012 clause 43: ratified Edge Control Protocol [std-memory]."""
    OUI_EXTENDED = 0x88B7
    """IEEE 802 OUI-extended Ethertype; carries the draft 0.2 ECP (OUI 00-1B-3F) [DRAFT]."""
    VLAN = 0x8100
    """802.1Q C-tag TPID."""
    SVLAN = 0x88A8
    """802.1ad S-tag TPID (S-channels)."""


TAG_TPIDS = frozenset({EtherType.VLAN.value, EtherType.SVLAN.value})
"""TPIDs the decoder treats as a tag (TPID, TCI) rather than the payload's Ethertype."""

ETH_HEADER_LEN = 14
"""DA + SA + Ethertype, untagged."""

ETH_MIN_FRAME = 60
"""Minimum Ethernet frame without FCS; lldpad pads every LLDPDU to it [CORPUS]."""

# 802.1AB-2009 7.1 Table 7-1 / 802.1Q-2011 8.6.3: the three LLDP group addresses.
NEAREST_BRIDGE = bytes.fromhex("0180c200000e")
"""Nearest bridge (NB): consumed by every bridge and TPMR."""
NEAREST_NONTPMR_BRIDGE = bytes.fromhex("0180c2000003")
"""Nearest non-TPMR bridge (NNTPMRB): forwarded by TPMRs; CDCP (uncertain)."""
NEAREST_CUSTOMER_BRIDGE = bytes.fromhex("0180c2000000")
"""Nearest customer bridge (NCB): the EVB TLV and ECP22 destination [STD][CORPUS]."""

LLDP_GROUP_MACS = (NEAREST_BRIDGE, NEAREST_NONTPMR_BRIDGE, NEAREST_CUSTOMER_BRIDGE)
"""All three LLDP group addresses (lldpad joins all of them on every socket)."""

_HEX = "0123456789abcdef"
_ETHERTYPES: dict[int, EtherType | int] = {int(e): e for e in EtherType}


def mac_str(mac: bytes) -> str:
    """``b"\\x02\\x00..."`` -> ``"02:00:00:00:5a:01"`` (lower case, colon separated)."""
    return ":".join(f"{b:02x}" for b in mac)


def parse_mac(text: str) -> bytes:
    """Parse ``aa:bb:cc:dd:ee:ff``, ``aa-bb-cc-dd-ee-ff`` or ``aabb.ccdd.eeff`` into 6 octets.

    Local input (configuration, CLI): malformed text raises ``LocalError("EINVAL", ...)``.
    """
    s = text.strip().lower()
    if len(s) == 17 and (s[2::3] == ":" * 5 or s[2::3] == "-" * 5):
        digits = "".join(s[i : i + 2] for i in range(0, 17, 3))
    elif len(s) == 14 and s[4] == "." and s[9] == ".":
        digits = s.replace(".", "")
    elif len(s) == 12:
        digits = s
    else:
        raise LocalError("EINVAL", f"not a MAC address: {text!r}")
    if len(digits) != 12 or any(c not in _HEX for c in digits):
        raise LocalError("EINVAL", f"not a MAC address: {text!r}")
    return bytes.fromhex(digits)


def pad(frame_bytes: bytes, minimum: int = ETH_MIN_FRAME) -> bytes:
    """Append zero octets up to ``minimum`` (60 without FCS), as lldpad does for LLDPDUs."""
    short = minimum - len(frame_bytes)
    return frame_bytes + bytes(short) if short > 0 else frame_bytes


def _check_mac(name: str, mac: bytes) -> None:
    if not isinstance(mac, bytes) or len(mac) != 6:
        raise EncodeError(f"{name} must be 6 bytes, got {mac!r}")


@dataclass(frozen=True, slots=True, kw_only=True)
class EthernetFrame:
    """One Ethernet II (or 802.3) frame without FCS.

    ``tags`` are the (TPID, TCI) pairs of the 802.1Q/802.1ad tags between SA and the real
    Ethertype, outermost first.  ``payload`` is everything after the Ethertype, padding
    included.  ``ethertype`` is an :class:`EtherType` when known, else a plain ``int`` (an
    802.3 length below 0x0600 included).
    """

    dst: bytes
    src: bytes
    ethertype: EtherType | int
    payload: bytes = b""
    tags: tuple[tuple[int, int], ...] = ()

    def __post_init__(self) -> None:
        _check_mac("dst", self.dst)
        _check_mac("src", self.src)
        if not 0 <= self.ethertype <= 0xFFFF:
            raise EncodeError(f"ethertype {self.ethertype:#x} outside 0..0xFFFF")
        if self.ethertype in TAG_TPIDS:
            raise EncodeError(f"ethertype {self.ethertype:#06x} is a tag TPID; put it in tags")
        for tpid, tci in self.tags:
            if tpid not in TAG_TPIDS:
                raise EncodeError(f"tag TPID {tpid:#06x} is not 0x8100 or 0x88A8")
            if not 0 <= tci <= 0xFFFF:
                raise EncodeError(f"tag TCI {tci:#x} outside 0..0xFFFF")

    @classmethod
    def decode(cls, raw: bytes | bytearray | memoryview) -> EthernetFrame:
        """Split a raw frame; raises :class:`DecodeError` if the header is truncated."""
        data = bytes(raw)
        n = len(data)
        if n < ETH_HEADER_LEN:
            raise DecodeError("ethernet", 0, f"frame of {n} octets is shorter than 14")
        pos = 12
        etype = (data[12] << 8) | data[13]
        tags: list[tuple[int, int]] = []
        while etype in TAG_TPIDS:
            if pos + 6 > n:
                raise DecodeError("ethernet", pos, f"tag {etype:#06x} truncated")
            tags.append((etype, (data[pos + 2] << 8) | data[pos + 3]))
            pos += 4
            etype = (data[pos] << 8) | data[pos + 1]
        # Every field is valid by construction: skip __post_init__ (hot path).
        frame = object.__new__(cls)
        _set = object.__setattr__
        _set(frame, "dst", data[0:6])
        _set(frame, "src", data[6:12])
        _set(frame, "ethertype", _ETHERTYPES.get(etype, etype))
        _set(frame, "payload", data[pos + 2 :])
        _set(frame, "tags", tuple(tags))
        return frame

    def encode(self) -> bytes:
        """The frame octets (no padding added: use :func:`pad` when building)."""
        head = self.dst + self.src
        for tpid, tci in self.tags:
            head += bytes((tpid >> 8, tpid & 0xFF, tci >> 8, tci & 0xFF))
        et = int(self.ethertype)
        return head + bytes((et >> 8, et & 0xFF)) + self.payload

    @property
    def vids(self) -> tuple[int, ...]:
        """The 12-bit VIDs of the tags, outermost first."""
        return tuple(tci & 0x0FFF for _, tci in self.tags)
