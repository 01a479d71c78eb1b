"""Draft 0.2 VDP machines (vdp.md §13): :mod:`.draft_station` and :mod:`.draft_bridge`.

One import point for both roles; the modules hold the machines and their tables.
"""

from __future__ import annotations

from .draft_bridge import BRIDGE_TRANSITIONS, DraftBridgeInput, DraftBridgeState, DraftVdpBridge
from .draft_station import (
    STATION_TRANSITIONS,
    DraftKey,
    DraftProfileConfirmed,
    DraftProfileEnded,
    DraftStationInput,
    DraftStationState,
    DraftVdpStation,
    DraftVsiBound,
    DraftVsiReleased,
)

__all__ = [
    "BRIDGE_TRANSITIONS",
    "STATION_TRANSITIONS",
    "DraftBridgeInput",
    "DraftBridgeState",
    "DraftKey",
    "DraftProfileConfirmed",
    "DraftProfileEnded",
    "DraftStationInput",
    "DraftStationState",
    "DraftVdpBridge",
    "DraftVdpStation",
    "DraftVsiBound",
    "DraftVsiReleased",
]
