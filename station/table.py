"""The station agent's table of desired VSIs, indexed the ways the control API looks them up.

Keys are ``(interface, VsiKey)``, as the core's machines know a VSI.  The control API also names
a VSI by its VSI ID text (``"4a1c…"``, ``"10.0.0.1"``) or by its configured name; both lookups
are kept as indexes here so that a request costs the same with 10 or 100,000 VSIs (a linear scan
per request made a flood of 10,000 requests quadratic).
"""

from __future__ import annotations

from collections.abc import Iterator, MutableMapping, ValuesView
from typing import TYPE_CHECKING

from qbg.vdp.tlv import VsiKey
from qbg.vdp.vsiid import vsiid_text

if TYPE_CHECKING:
    from .daemon import StationVsi

__all__ = ["VsiTable"]

Slot = tuple[str, VsiKey]


class VsiTable(MutableMapping[Slot, "StationVsi"]):
    """``{(interface, key): StationVsi}`` in insertion order, plus lookup by ID text or name."""

    def __init__(self) -> None:
        self._rows: dict[Slot, StationVsi] = {}
        # (interface, text) → the VSIs answering to it, oldest first (an ID may be registered
        # under several manager IDs or types; a name should be unique but is not enforced)
        self._ids: dict[tuple[str, str], dict[Slot, StationVsi]] = {}
        self._names: dict[tuple[str, str], dict[Slot, StationVsi]] = {}

    def _indexes(
        self, v: StationVsi
    ) -> Iterator[tuple[dict[tuple[str, str], dict[Slot, StationVsi]], tuple[str, str]]]:
        """Each index ``v`` belongs in, with its key there."""
        yield self._ids, (v.interface, vsiid_text(int(v.tlv.vsiid_format), v.tlv.vsiid))
        if v.name is not None:
            yield self._names, (v.interface, v.name)

    def __getitem__(self, slot: Slot) -> StationVsi:
        return self._rows[slot]

    def get(self, slot: Slot, default: StationVsi | None = None) -> StationVsi | None:  # type: ignore[override]
        return self._rows.get(slot, default)

    def __setitem__(self, slot: Slot, v: StationVsi) -> None:
        old = self._rows.get(slot)
        if old is v:
            return
        if old is not None:
            self._unindex(slot, old)
        self._rows[slot] = v
        for index, k in self._indexes(v):
            index.setdefault(k, {})[slot] = v

    def __delitem__(self, slot: Slot) -> None:
        v = self._rows.pop(slot)
        self._unindex(slot, v)

    def _unindex(self, slot: Slot, v: StationVsi) -> None:
        for index, k in self._indexes(v):
            group = index.get(k)
            if group is not None:
                group.pop(slot, None)
                if not group:
                    del index[k]

    def __iter__(self) -> Iterator[Slot]:
        return iter(self._rows)

    def __len__(self) -> int:
        return len(self._rows)

    def __contains__(self, slot: object) -> bool:
        return slot in self._rows

    def values(self) -> ValuesView[StationVsi]:
        return self._rows.values()

    def find(self, interface: str, text: str) -> StationVsi | None:
        """The oldest VSI on ``interface`` whose VSI ID reads ``text`` (any case), else the
        oldest named ``text``."""
        group = self._ids.get((interface, text.lower())) or self._names.get((interface, text))
        return next(iter(group.values())) if group else None
