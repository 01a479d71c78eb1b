"""VDP filter information: formats, entries and their validity (vdp.md §7).

The filter info of a VSI TLV (802.1Qbg-2012 clause 41 [std-memory]) lists the traffic that
belongs to the VSI.  All entries of one TLV share one format; each ends with the PS/PCP/VID
word::

    format 1 VID            |PS/PCP/VID (2)|                                     E = 2
    format 2 MAC/VID        |MAC (6)       |PS/PCP/VID (2)|                      E = 8
    format 3 GroupID/VID    |GroupID (4)   |PS/PCP/VID (2)|                      E = 6
    format 4 GroupID/MAC/VID|GroupID (4)   |MAC (6)       |PS/PCP/VID (2)|       E = 12

     15  14 13 12  11                      0
    +---+--------+--------------------------+
    |PS |  PCP   |           VID            |     VID 0 in a request = wildcard
    +---+--------+--------------------------+
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from dataclasses import dataclass
from enum import IntEnum

from ..lldp.errors import DecodeError, EncodeError
from .vsiid import mac_ok

__all__ = [
    "ENTRY_SIZE",
    "MAX_ENTRIES",
    "FilterEntry",
    "FilterFormat",
    "check_shape",
    "decode_filters",
    "encode_filters",
    "filters_error",
]


class FilterFormat(IntEnum):
    """Filter info format codes (vdp.md §7.1); other values stay plain ``int``."""

    VID = 1
    MAC_VID = 2
    GROUP_VID = 3
    GROUP_MAC_VID = 4


ENTRY_SIZE: dict[int, int] = {1: 2, 2: 8, 3: 6, 4: 12}
"""Octets per entry, by filter format."""

MAX_ENTRIES: dict[int, int] = {f: (0x1FF - 25) // e for f, e in ENTRY_SIZE.items()}
"""Most entries one VSI TLV can hold (length ≤ 511): 243, 60, 81, 40 (vdp.md §4.1)."""

_HAS_MAC = (False, False, True, False, True)
_HAS_GROUP = (False, False, False, True, True)
_ENTRY = {
    1: struct.Struct("!H"),
    2: struct.Struct("!6sH"),
    3: struct.Struct("!IH"),
    4: struct.Struct("!I6sH"),
}


@dataclass(frozen=True, slots=True, kw_only=True)
class FilterEntry:
    """One filter entry; ``mac`` / ``group_id`` are present exactly when the format has them."""

    ps: bool = False
    pcp: int = 0
    vid: int
    mac: bytes | None = None
    group_id: int | None = None

    def __post_init__(self) -> None:
        if not 0 <= self.pcp <= 7:
            raise EncodeError(f"PCP {self.pcp} outside 0..7")
        if not 0 <= self.vid <= 0xFFF:
            raise EncodeError(f"VID {self.vid} outside 0..4095")
        if self.mac is not None and len(self.mac) != 6:
            raise EncodeError(f"MAC must be 6 octets, not {len(self.mac)}")
        if self.group_id is not None and not 0 <= self.group_id <= 0xFFFFFFFF:
            raise EncodeError(f"GroupID {self.group_id} outside 32 bits")

    @property
    def word(self) -> int:
        """The PS/PCP/VID word as on the wire."""
        return (self.ps << 15) | (self.pcp << 12) | self.vid

    @property
    def format(self) -> FilterFormat:
        """The filter format this entry's fields fit."""
        if self.mac is None:
            return FilterFormat.VID if self.group_id is None else FilterFormat.GROUP_VID
        return FilterFormat.MAC_VID if self.group_id is None else FilterFormat.GROUP_MAC_VID

    @classmethod
    def from_word(
        cls, word: int, mac: bytes | None = None, group_id: int | None = None
    ) -> FilterEntry:
        return cls(
            ps=bool(word & 0x8000),
            pcp=(word >> 12) & 7,
            vid=word & 0xFFF,
            mac=mac,
            group_id=group_id,
        )


# Decoders build entries through the slot descriptors, skipping ``__init__``/``__post_init__``:
# wire values are in range by construction (3-bit PCP, 12-bit VID, 6-octet MAC) and this is
# the hot path (a few hundred ns per entry saved).
_new = object.__new__
_set_ps, _set_pcp, _set_vid, _set_mac, _set_group = (
    FilterEntry.__dict__[name].__set__ for name in ("ps", "pcp", "vid", "mac", "group_id")
)


def _entry(word: int, mac: bytes | None, group_id: int | None) -> FilterEntry:
    e = _new(FilterEntry)
    _set_ps(e, word >= 0x8000)
    _set_pcp(e, (word >> 12) & 7)
    _set_vid(e, word & 0xFFF)
    _set_mac(e, mac)
    _set_group(e, group_id)
    return e


def check_shape(fmt: int, filters: Sequence[FilterEntry]) -> None:
    """Raise EncodeError unless every entry carries exactly the fields of format ``fmt``."""
    if fmt not in ENTRY_SIZE:
        raise EncodeError(f"filter format {fmt} is not 1..4")
    has_mac, has_group = _HAS_MAC[fmt], _HAS_GROUP[fmt]
    for e in filters:
        if (e.mac is not None) != has_mac or (e.group_id is not None) != has_group:
            raise EncodeError(f"filter entry {e} does not fit filter format {fmt}")
    if len(filters) > MAX_ENTRIES[fmt]:
        raise EncodeError(
            f"{len(filters)} entries of format {fmt} exceed the TLV maximum {MAX_ENTRIES[fmt]}"
        )


def decode_filters(fmt: int, count: int, data: bytes, offset: int) -> tuple[FilterEntry, ...]:
    """``count`` entries of format ``fmt`` from ``data`` (whose length the caller checked)."""
    st = _ENTRY.get(fmt)
    if st is None or st.size * count != len(data):
        raise DecodeError("vdp", offset, f"filter info: {count} entries of format {fmt}")
    new = _entry
    if fmt == 2:
        return tuple([new(w, m, None) for m, w in st.iter_unpack(data)])
    if fmt == 1:
        return tuple([new(w, None, None) for (w,) in st.iter_unpack(data)])
    if fmt == 3:
        return tuple([new(w, None, g) for g, w in st.iter_unpack(data)])
    return tuple([new(w, m, g) for g, m, w in st.iter_unpack(data)])


def encode_filters(fmt: int, filters: Sequence[FilterEntry]) -> bytes:
    """The entries' wire octets (no count); the shape was checked when the TLV was built."""
    st = _ENTRY[fmt]
    if fmt == 1:
        return b"".join([st.pack(e.word) for e in filters])
    if fmt == 2:
        return b"".join([st.pack(e.mac, e.word) for e in filters])
    if fmt == 3:
        return b"".join([st.pack(e.group_id, e.word) for e in filters])
    return b"".join([st.pack(e.group_id, e.mac, e.word) for e in filters])


def filters_error(fmt: int, filters: Sequence[FilterEntry]) -> str | None:
    """Why these request entries are invalid (vdp.md §7.3), or ``None`` when they are fine.

    VID 0 (wildcard) or 2..4094; with format 1 a wildcard only as the sole entry; MACs pass
    :func:`~qbg.vdp.vsiid.mac_ok`; GroupIDs are non-zero.
    """
    for e in filters:
        if e.vid in (1, 0xFFF):
            return f"VID {e.vid} is reserved"
        if e.vid == 0 and fmt == FilterFormat.VID and len(filters) > 1:
            return "wildcard VID with further VID-only entries"
        if e.mac is not None and not mac_ok(e.mac):
            return f"MAC {e.mac.hex(':')} is not a usable unicast address"
        if e.group_id is not None and e.group_id == 0:
            return "GroupID 0"
    return None
