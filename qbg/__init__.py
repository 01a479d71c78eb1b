"""qbg: IEEE 802.1Qbg Edge Virtual Bridging (EVB, ECP, VDP) in Python."""

__version__ = "0.1.0"
