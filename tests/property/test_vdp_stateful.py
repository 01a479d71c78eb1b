"""Station and bridge over a lossy, duplicating channel converge (STYLE habit 14).

A hypothesis ``RuleBasedStateMachine`` drives a :class:`VdpStation` and a :class:`VdpBridge`
joined directly (VDPDUs handed over without ECP, so losses that ECP would repair are VDP's
problem here — the harshest case).  Rules issue client commands, move time, and pump VDPDUs
while dropping or duplicating some.  At teardown the channel becomes reliable, the clock runs
past every response wait, supervision and keep-alive, and the two sides must agree: every VSI
the station holds as confirmed is on the bridge in the same mode, and the bridge holds nothing
else (vdp.md §10–§11: keep-alives re-create lost bridge state, supervision removes orphans).
"""

from __future__ import annotations

import uuid

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from qbg.evb import timers
from qbg.lldp.errors import LocalError
from qbg.vdp.bridge import BridgeState, VdpBridge
from qbg.vdp.station import State, VdpStation
from qbg.vdp.tlv import FilterEntry, VsiTlv

MGR = b"prop" + bytes(12)
T = {"r": 3, "rte": 8, "rwd": 10, "rka": 10}  # KA 10.24 ms, response wait ≈ 42 ms
SUPERV = timers.supervision_us(3, 8, 10) / 1e6
RESP_WAIT = timers.response_wait_us(3, 8, 10) / 1e6
MODE_OF = {
    BridgeState.PREASSOCIATED: 1,
    BridgeState.PREASSOCIATED_RR: 2,
    BridgeState.ASSOCIATED: 3,
}


def vsi(n: int, mode: int) -> VsiTlv:
    return VsiTlv(
        mode=mode,
        type_id=5,
        type_version=4,
        vsiid_format=5,
        vsiid=uuid.UUID(int=(1 << 64) + n).bytes,
        filter_format=2,
        filters=(FilterEntry(vid=100 + n, mac=bytes([2, 0xAA, 0, 0, 0, n])),),
    )


class StationBridgePair(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.st = VdpStation(**T, window=8, initial_window=4)  # type: ignore[arg-type]
        self.br = VdpBridge(**T, batch_replies=True)  # type: ignore[arg-type]
        self.now = 0.0
        self.to_bridge: list[bytes] = []
        self.to_station: list[bytes] = []

    def _collect(self) -> None:
        while (w := self.st.pull(1493, self.now)) is not None:
            self.to_bridge.append(w)
        while (w := self.br.pull(1493, self.now)) is not None:
            self.to_station.append(w)

    def _timers(self, until: float) -> None:
        while True:
            due = [d for d in (self.st.next_deadline(), self.br.next_deadline()) if d is not None]
            if not due or min(due) > until:
                break
            self.now = max(self.now, min(due))
            self.st.timer(self.now)
            self.br.timer(self.now)
            self._collect()
        self.now = until

    @rule(n=st.integers(1, 6), mode=st.sampled_from([1, 2, 3, 3, 4]))
    def command(self, n: int, mode: int) -> None:
        try:
            self.st.command(MGR, vsi(n, mode), self.now)
        except LocalError as err:
            assert err.code in ("EINVAL", "EBUSY")
        self._collect()

    @rule(drop=st.booleans(), dup=st.booleans(), to_bridge=st.booleans())
    def deliver(self, drop: bool, dup: bool, to_bridge: bool) -> None:
        queue = self.to_bridge if to_bridge else self.to_station
        if not queue:
            return
        wire = queue.pop(0)
        if drop:
            return
        target = self.br if to_bridge else self.st
        for _ in range(2 if dup else 1):
            target.receive_ulpdu(wire, self.now)
        self._collect()

    @rule(dt=st.sampled_from([0.001, 0.005, 0.011, 0.03, 0.05]))
    def advance(self, dt: float) -> None:
        self._timers(self.now + dt)

    @invariant()
    def window_respected(self) -> None:
        assert 0 <= self.st.outstanding <= 8  # the window limit (it may shrink below)

    def _pump_reliably(self) -> None:
        while self.to_bridge or self.to_station:
            while self.to_bridge:
                self.br.receive_ulpdu(self.to_bridge.pop(0), self.now)
            self._collect()
            while self.to_station:
                self.st.receive_ulpdu(self.to_station.pop(0), self.now)
            self._collect()

    def teardown(self) -> None:
        end = self.now + 2 * (SUPERV + RESP_WAIT)
        while self.now < end:
            self._pump_reliably()
            due = [d for d in (self.st.next_deadline(), self.br.next_deadline()) if d is not None]
            nxt = min(due) if due else end
            self.now = max(self.now, min(nxt, end))
            self.st.timer(self.now)
            self.br.timer(self.now)
            self._collect()
        self._pump_reliably()
        confirmed = {}
        for k in self.st:
            state = self.st.state(k)
            assert state is State.WAIT_SYSCMD_2, state  # nothing left waiting
            confirmed[k] = self.st.confirmed_mode(k)
        on_bridge = {k: MODE_OF[self.br.state(k)] for k in self.br}
        assert confirmed == on_bridge


TestStationBridgePair = StationBridgePair.TestCase
TestStationBridgePair.settings = settings(
    max_examples=40,
    stateful_step_count=30,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
