"""The one error family of the protocol core.

Errors are typed by who is at fault (STYLE habit 9):

* :class:`DecodeError`: the peer's bytes are malformed.  Carries the layer, the octet offset
  (from the start of the buffer handed to the decoder) and a reason.  Decoders raise this and
  nothing else, ever; machines never let it escape ``receive()`` (they return a dropped-frame
  output instead).
* :class:`EncodeError`: a value that cannot go on the wire (out-of-range field, N = 0 filter
  entries, a TLV longer than 511 octets).  Raised when the value is built or encoded.
* :class:`LocalError`: misuse of a machine's API by the caller (e.g. de-associating an unknown
  VSI); carries an errno-like ``code`` the control API can report.
"""

from __future__ import annotations

__all__ = ["DecodeError", "EncodeError", "LocalError", "QbgError"]


class QbgError(Exception):
    """Base of every error the core raises on purpose."""


class DecodeError(QbgError):
    """Malformed input from the wire.

    ``offset`` counts octets from the start of the buffer given to the outermost decoder call
    (the Ethernet frame for frame decoders, the TLV for TLV decoders).
    """

    def __init__(self, layer: str, offset: int, reason: str) -> None:
        super().__init__(f"{layer}: offset {offset}: {reason}")
        self.layer = layer
        self.offset = offset
        self.reason = reason


class EncodeError(QbgError, ValueError):
    """A value that cannot be encoded (field out of range, impossible combination)."""


class LocalError(QbgError):
    """The local caller asked for something the protocol rules forbid.

    ``code`` is a short symbolic name (``"EINVAL"``, ``"EBUSY"``, ``"ENODEV"``,
    ``"EPROTONOSUPPORT"``) matching lldpad's client-command results where one exists.
    """

    def __init__(self, code: str, reason: str) -> None:
        super().__init__(f"{code}: {reason}")
        self.code = code
        self.reason = reason
