"""Bounds-checked octet reader and writer shared by every codec.

``Reader`` walks a ``memoryview`` and raises :class:`~qbg.lldp.errors.DecodeError` (never
``IndexError`` or ``struct.error``) when a field runs past the end.  ``Writer`` builds bytes and
back-patches the 2-octet TLV header used by LLDP and VDP (802.1AB-2009 8.4.1):

```
 15          9 8                 0
+-------------+-------------------+
| type (7 b)  |  length (9 b)     |   header = (type << 9) | length; length = value octets
+-------------+-------------------+
```
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from contextlib import contextmanager

from .errors import DecodeError, EncodeError

__all__ = ["TLV_MAX_LEN", "Reader", "Writer", "tlv_header"]

TLV_MAX_LEN = 0x1FF
"""Largest TLV value length the 9-bit length field can carry (511 octets)."""

_U16 = struct.Struct("!H")
_U32 = struct.Struct("!I")


def tlv_header(tlv_type: int, length: int) -> bytes:
    """The 2-octet TLV header for ``tlv_type`` (0..127) and ``length`` (0..511)."""
    if not 0 <= tlv_type <= 0x7F:
        raise EncodeError(f"TLV type {tlv_type} outside 0..127")
    if not 0 <= length <= TLV_MAX_LEN:
        raise EncodeError(f"TLV length {length} outside 0..511")
    return _U16.pack((tlv_type << 9) | length)


class Reader:
    """A cursor over ``data[start:end]``; offsets in errors are relative to ``data[0]``."""

    __slots__ = ("_data", "_end", "layer", "pos")

    def __init__(
        self,
        data: bytes | bytearray | memoryview,
        layer: str,
        start: int = 0,
        end: int | None = None,
    ) -> None:
        self._data = data if isinstance(data, bytes) else bytes(data)
        self._end = len(self._data) if end is None else end
        self.pos = start
        self.layer = layer

    @property
    def data(self) -> bytes:
        return self._data

    @property
    def end(self) -> int:
        return self._end

    @property
    def remaining(self) -> int:
        return self._end - self.pos

    def error(self, reason: str, offset: int | None = None) -> DecodeError:
        """A :class:`DecodeError` at ``offset`` (default: the cursor)."""
        return DecodeError(self.layer, self.pos if offset is None else offset, reason)

    def _need(self, n: int, what: str) -> int:
        pos = self.pos
        if pos + n > self._end:
            raise DecodeError(self.layer, pos, f"{what}: need {n} octets, {self._end - pos} left")
        self.pos = pos + n
        return pos

    def u8(self, what: str = "u8") -> int:
        return self._data[self._need(1, what)]

    def u16(self, what: str = "u16") -> int:
        return int(_U16.unpack_from(self._data, self._need(2, what))[0])

    def u24(self, what: str = "u24") -> int:
        pos = self._need(3, what)
        d = self._data
        return (d[pos] << 16) | (d[pos + 1] << 8) | d[pos + 2]

    def u32(self, what: str = "u32") -> int:
        return int(_U32.unpack_from(self._data, self._need(4, what))[0])

    def take(self, n: int, what: str = "field") -> bytes:
        pos = self._need(n, what)
        return self._data[pos : pos + n]

    def rest(self) -> bytes:
        """Everything up to the end; the cursor moves to the end."""
        pos = self.pos
        self.pos = self._end
        return self._data[pos : self._end]

    def peek_u16(self) -> int | None:
        """The next 16-bit word without moving, or ``None`` if fewer than 2 octets remain."""
        if self.pos + 2 > self._end:
            return None
        return int(_U16.unpack_from(self._data, self.pos)[0])

    def tlv_header(self) -> tuple[int, int]:
        """Read a TLV header; check that its value fits before the end."""
        start = self.pos
        word = self.u16("TLV header")
        tlv_type, length = word >> 9, word & TLV_MAX_LEN
        if self.pos + length > self._end:
            raise DecodeError(
                self.layer,
                start,
                f"TLV type {tlv_type} length {length} runs past the end "
                f"({self._end - self.pos} octets left)",
            )
        return tlv_type, length

    def sub(self, n: int, what: str = "block") -> Reader:
        """A reader over the next ``n`` octets (same offsets); this cursor skips them."""
        pos = self._need(n, what)
        return Reader(self._data, self.layer, pos, pos + n)

    def expect_end(self, what: str = "block") -> None:
        """Raise unless every octet was consumed (aioquic's pull_block check)."""
        if self.pos != self._end:
            raise DecodeError(
                self.layer, self.pos, f"{what}: {self._end - self.pos} unexpected trailing octets"
            )


class Writer:
    """Appends big-endian fields to a ``bytearray``."""

    __slots__ = ("_buf",)

    def __init__(self) -> None:
        self._buf = bytearray()

    def __len__(self) -> int:
        return len(self._buf)

    def u8(self, v: int) -> None:
        self._buf.append(v)

    def u16(self, v: int) -> None:
        self._buf += _U16.pack(v)

    def u24(self, v: int) -> None:
        self._buf += v.to_bytes(3, "big")

    def u32(self, v: int) -> None:
        self._buf += _U32.pack(v)

    def raw(self, b: bytes | bytearray | memoryview) -> None:
        self._buf += b

    @contextmanager
    def tlv(self, tlv_type: int) -> Iterator[Writer]:
        """Write a TLV whose header is back-patched with the length of what the body wrote."""
        at = len(self._buf)
        self._buf += b"\x00\x00"
        yield self
        length = len(self._buf) - at - 2
        self._buf[at : at + 2] = tlv_header(tlv_type, length)

    def getvalue(self) -> bytes:
        return bytes(self._buf)
