"""Hypothesis state machine: two ECP endpoints over a channel that drops, duplicates and delays.

Law (ecp.md §3–§4): over a FIFO channel (ECP's duplicate check is only ``seq == lastSeq``, so it
relies on the stop-and-wait sender and an order-preserving single hop), every payload handed to
``send()`` is delivered to the peer exactly once and in order — unless the sender reported
``EcpGaveUp`` for it, in which case it is delivered at most once (the ack may be what was lost),
still in order.
"""

from __future__ import annotations

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from qbg.evb.ecp import EcpDelivered, EcpEndpoint, EcpGaveUp
from tests.helpers import Clock, Link, Sent

STA = bytes.fromhex("020000005a01")
BRI = bytes.fromhex("02000000b001")

FATES = st.sampled_from(["ok", "drop", "dup", "slow"])


class EcpOverLossyLink(RuleBasedStateMachine):
    @initialize(
        seq_a=st.integers(0, 0xFFFF),
        seq_b=st.integers(0, 0xFFFF),
        r=st.integers(0, 3),
        rte=st.integers(6, 10),
        pacing=st.booleans(),
        gap=st.sampled_from([0, 3_000]),
    )
    def setup(self, seq_a: int, seq_b: int, r: int, rte: int, pacing: bool, gap: int) -> None:
        self.clock = Clock()
        self.a = EcpEndpoint(
            STA, initial_seq=seq_a, r=r, rte=rte, lldpad_pacing=pacing, min_gap_us=gap
        )
        self.b = EcpEndpoint(BRI, initial_seq=seq_b, r=r, rte=rte)
        self.plan: list[str] = []
        self.link = Link(self.clock, self.a, self.b, fate=self._fate)
        self.sent: dict[str, list[bytes]] = {"a": [], "b": []}
        self.counter = 0

    def _fate(self, s: Sent) -> list[float]:
        kind = self.plan.pop(0) if self.plan else "ok"
        if kind == "drop":
            return []
        if kind == "dup":
            return [0.0001, 0.0002]
        if kind == "slow":
            return [0.02]  # longer than the ack timer: forces a retransmission
        return [0.0001]

    @rule(side=st.sampled_from(["a", "b"]))
    def send(self, side: str) -> None:
        self.counter += 1
        payload = self.counter.to_bytes(4, "big") + b"\x00\x00"
        self.sent[side].append(payload)
        ep = self.a if side == "a" else self.b
        self.link.inject(side, ep.send(payload, self.clock.now))

    @rule(fates=st.lists(FATES, min_size=1, max_size=6))
    def channel(self, fates: list[str]) -> None:
        self.plan.extend(fates)

    @rule(dt=st.sampled_from([0.0001, 0.001, 0.003, 0.01, 0.05]))
    def advance(self, dt: float) -> None:
        self.clock.advance(dt)

    def _check(self, side: str, final: bool) -> None:
        peer = self.link.other(side)
        got = [e.payload[:6] for e in self.link.event_list(peer, EcpDelivered)]  # type: ignore[attr-defined]
        gave_up = {e.payload[:6] for e in self.link.event_list(side, EcpGaveUp)}  # type: ignore[attr-defined]
        assert len(got) == len(set(got)), f"duplicate delivery {got}"
        order = {p: i for i, p in enumerate(self.sent[side])}
        idx = [order[p] for p in got]
        assert idx == sorted(idx), f"out of order {got}"
        if final:
            missing = [p for p in self.sent[side] if p not in got and p not in gave_up]
            assert not missing, f"neither delivered nor given up: {missing}"

    @invariant()
    def exactly_once_in_order_so_far(self) -> None:
        self._check("a", final=False)
        self._check("b", final=False)

    def teardown(self) -> None:
        if not hasattr(self, "clock"):
            return
        self.plan.clear()
        self.clock.run_until_idle()
        self._check("a", final=True)
        self._check("b", final=True)
        assert self.a.idle and self.b.idle


EcpOverLossyLink.TestCase.settings = settings(
    max_examples=150, stateful_step_count=40, deadline=None
)
TestEcpOverLossyLink = EcpOverLossyLink.TestCase
