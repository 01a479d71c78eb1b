"""VSI ID formats and VSI Manager ID text forms (802.1Qbg-2012 clause 41 [std-memory]).

A VSI ID is 16 octets interpreted according to a 1-octet format code (vdp.md §6); a VSI
Manager ID is 16 opaque octets (vdp.md §3).  This module converts both between wire octets and
the text forms users type (vdptool, libvirt, qbg's CLI/config) and holds the receive validity
check of §6 that lldpad's bridge applies.  It is pure: no I/O, stdlib ``ipaddress``/``uuid``.

VSI ID encodings (16 octets)::

    1 IPv4   00 00 00 00 00 00 00 00 00 00 FF FF a  b  c  d     (IPv4-mapped)
    2 IPv6   the 16 address octets
    3 MAC    00 00 00 00 00 00 00 00 00 00 m0 m1 m2 m3 m4 m5
    4 local  anything (text: 32 hex digits)
    5 UUID   RFC 4122 octets in text order (text: 8-4-4-4-12 lowercase)

Parse functions raise :class:`~qbg.lldp.errors.EncodeError` (a ``ValueError``) for text that
does not denote a value, because their input comes from the local user, not from the wire.
"""

from __future__ import annotations

import ipaddress
import re
import uuid
from enum import IntEnum

from ..lldp.errors import EncodeError

__all__ = [
    "VsiIdFormat",
    "mac_ok",
    "mgrid_text",
    "parse_mgrid",
    "parse_vsiid",
    "vsiid_ok",
    "vsiid_text",
]


class VsiIdFormat(IntEnum):
    """VSI ID format codes (vdp.md §6); 0 and 6..255 are reserved and stay plain ``int``."""

    IPV4 = 1
    IPV6 = 2
    MAC = 3
    LOCAL = 4
    UUID = 5


_ZERO10 = bytes(10)
_V4_PREFIX = _ZERO10 + b"\xff\xff"
_HEX = re.compile(r"[0-9A-Fa-f]+")
_HEX_DASH = re.compile(r"[0-9A-Fa-f-]+")
_ALNUM = re.compile(r"[0-9A-Za-z]{1,15}")
_MAC_TEXT = re.compile(r"[0-9A-Fa-f]{2}([:-]?)[0-9A-Fa-f]{2}(\1[0-9A-Fa-f]{2}){4}")


def _mac_text(mac: bytes) -> str:
    return ":".join(f"{b:02x}" for b in mac)


def _parse_mac(text: str) -> bytes:
    text = text.strip()
    if not _MAC_TEXT.fullmatch(text):
        raise EncodeError(f"not a MAC address: {text!r}")
    return bytes.fromhex(re.sub("[:-]", "", text))


def _parse_hex16(text: str) -> bytes:
    digits = re.sub(r"[\s:.-]", "", text)
    if len(digits) != 32 or not _HEX.fullmatch(digits):
        raise EncodeError(f"not 32 hex digits: {text!r}")
    return bytes.fromhex(digits)


def vsiid_text(fmt: int, vsiid: bytes) -> str:
    """Human form of a VSI ID; octets that don't fit the format fall back to 32 hex digits."""
    if len(vsiid) != 16:
        raise EncodeError(f"VSI ID must be 16 octets, not {len(vsiid)}")
    if fmt == VsiIdFormat.UUID:
        return str(uuid.UUID(bytes=bytes(vsiid)))
    if fmt == VsiIdFormat.IPV4 and vsiid[:12] == _V4_PREFIX:
        return str(ipaddress.IPv4Address(vsiid[12:]))
    if fmt == VsiIdFormat.IPV6:
        return ipaddress.IPv6Address(bytes(vsiid)).compressed
    if fmt == VsiIdFormat.MAC and vsiid[:10] == _ZERO10:
        return _mac_text(vsiid[10:])
    return vsiid.hex()


def parse_vsiid(fmt: int, text: str) -> bytes:
    """The 16 wire octets of the VSI ID ``text`` in format ``fmt`` (inverse of vsiid_text).

    Every format also accepts the raw 32-hex-digit form that :func:`vsiid_text` falls back to.
    """
    text = text.strip()
    try:
        if fmt == VsiIdFormat.UUID:
            return uuid.UUID(text).bytes
        if fmt == VsiIdFormat.IPV4 and "." in text:
            return _V4_PREFIX + ipaddress.IPv4Address(text).packed
        if fmt == VsiIdFormat.IPV6 and ":" in text:
            return ipaddress.IPv6Address(text).packed
        if fmt == VsiIdFormat.MAC and len(text) < 32:
            return _ZERO10 + _parse_mac(text)
    except ValueError as exc:
        raise EncodeError(f"not a VSI ID of format {fmt}: {text!r} ({exc})") from None
    return _parse_hex16(text)


def mac_ok(mac: bytes) -> bool:
    """lldpad's MAC check (vdp.md §6, §7.3): not zero, not broadcast, not IPv4/IPv6 multicast.

    Other group addresses pass, as in lldpad.
    """
    return not (
        mac == b"\x00\x00\x00\x00\x00\x00"
        or mac == b"\xff\xff\xff\xff\xff\xff"
        or mac[:3] == b"\x01\x00\x5e"
        or mac[:2] == b"\x33\x33"
    )


def vsiid_ok(fmt: int, vsiid: bytes, *, strict: bool = False) -> bool:
    """The receive validity check of vdp.md §6 (as strict as lldpad's bridge).

    ``strict`` adds the send-side check qbg applies to its own requests: an IPv4 VSI ID must
    carry the ``FF FF`` prefix exactly (an all-zero UUID already fails lldpad's check).
    """
    if fmt == VsiIdFormat.UUID:
        # lldpad tests only the first 8 octets (sizeof(pointer) bug), so even qbg's strict
        # send-side check must refuse a UUID whose first 8 octets are zero.
        return any(vsiid[:8])
    if fmt == VsiIdFormat.IPV4:
        if vsiid[:10] != _ZERO10 or not any(vsiid[12:]):
            return False
        if strict:
            return vsiid[10:12] == b"\xff\xff"
        return vsiid[10] == 0xFF or vsiid[11] == 0xFF
    if fmt == VsiIdFormat.IPV6:
        return any(vsiid)
    if fmt == VsiIdFormat.MAC:
        return vsiid[:10] == _ZERO10 and mac_ok(vsiid[10:])
    return fmt == VsiIdFormat.LOCAL


# --- VSI Manager ID -------------------------------------------------------------------------


def parse_mgrid(text: str) -> bytes:
    """The 16 Manager ID octets for a user string (vdp.md §3), tried in this order:

    1. a decimal integer 1..255 (libvirt's ``managerid``): that octet, then 15 zeros;
    2. an IPv4 (IPv4-mapped) or IPv6 address;
    3. hex digits and dashes (vdptool ``mgrid2``), which includes the raw 32-hex form: the
       digits are paired from the left (an odd last digit is an octet of its own, lldpad's
       ``abc`` -> ``ab 0c``), left-aligned and zero-filled;
    4. 1..15 ASCII letters and digits (not all hex): the ASCII octets, zero-filled.

    Anything else is refused, as vdptool refuses it ("Invalid parameters").
    """
    s = text.strip()
    if s.isdigit() and s.isascii() and 1 <= int(s) <= 255:
        return bytes([int(s)]) + bytes(15)
    if ("." in s or ":" in s) and s:
        try:
            addr = ipaddress.ip_address(s)
        except ValueError:
            raise EncodeError(f"not a Manager ID address: {text!r}") from None
        if isinstance(addr, ipaddress.IPv4Address):
            return _V4_PREFIX + addr.packed
        return addr.packed
    if _HEX_DASH.fullmatch(s) and _HEX.search(s):
        digits = s.replace("-", "")
        if len(digits) > 32:
            raise EncodeError(f"Manager ID longer than 16 octets: {text!r}")
        octets = bytes(int(digits[i : i + 2], 16) for i in range(0, len(digits), 2))
        return octets + bytes(16 - len(octets))
    if _ALNUM.fullmatch(s):
        return s.encode("ascii") + bytes(16 - len(s))
    raise EncodeError(f"not a Manager ID (1..255, address, hex, or ≤15 letters/digits): {text!r}")


def mgrid_text(mgrid: bytes) -> str:
    """Display form of a Manager ID such that ``parse_mgrid(mgrid_text(m)) == m``.

    Small integers (one octet then zeros) print as the integer, zero-filled alphanumeric
    names that are not all hex print as the name, anything else as 32 hex digits.
    """
    if len(mgrid) != 16:
        raise EncodeError(f"Manager ID must be 16 octets, not {len(mgrid)}")
    if mgrid[0] and not any(mgrid[1:]):
        return str(mgrid[0])
    name = bytes(mgrid).rstrip(b"\x00")
    if name and len(name) <= 15 and name.isascii() and name.isalnum():
        s = name.decode("ascii")
        if not _HEX.fullmatch(s):
            return s
    return mgrid.hex()
