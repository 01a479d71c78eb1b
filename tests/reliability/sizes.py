"""CI sizes and full sizes (``QBG_FULL=1``) of the reliability runs."""

from __future__ import annotations

import os

FULL = os.environ.get("QBG_FULL", "") not in ("", "0")


def size(ci: int, full: int) -> int:
    return full if FULL else ci
