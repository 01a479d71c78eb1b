"""EVB on one port: the nearest-customer-bridge LLDP agent plus EVB TLV negotiation.

Strategy
--------
:class:`EvbPort` owns an :class:`~qbg.lldp.agent.LldpAgent` on 01-80-C2-00-00-00 (the only agent
that sends and accepts the EVB TLV, Q-L1) and keeps three values: the local policy
(:class:`~qbg.evb.negotiation.EvbConfig`), the peer's last EVB TLV (``None`` until one arrives and
again after the neighbour is deleted) and what we transmit.  The pure functions of
:mod:`qbg.evb.negotiation` recompute the transmitted TLV and the operational values whenever one
of the three changes (evb-tlv.md §2.2).  lldpad's coupling is reproduced exactly:

* a received EVB TLV that changed (the agent only reports changed LLDPDUs, Q-L4) triggers
  recomputation **and** somethingChangedLocal — localChange + fast transmit (lldp.md §6.3);
* neighbour deletion (TTL 0, ageing, link down) forgets the peer TLV and recomputes, but sends
  nothing by itself: the change shows in the next periodic LLDPDU (S18, S19);
* a configuration change recomputes and re-arms fast transmit (S2 runtime change, S24).

Events: :class:`EvbNegotiated` whenever the operational values change (and once at link up),
:class:`EvbPeerLost` when a stored peer TLV is forgotten, plus the agent's own neighbour events.
The draft 0.2 variant runs the same way with the draft TLV (evb-tlv.md §4).

External LLDP (``lldp_external=True``, docs/lldpd.md): another LLDP agent (lldpd) carries the
EVB TLV.  The port then sends no LLDP frames and has no ticks; the adapter feeds what that agent
reports through :meth:`EvbPort.peer_tlv` (the peer's EVB TLV, or its loss), which runs exactly the
negotiation of a received LLDPDU, and publishes what :class:`EvbAdvertise` asks for: one event
whenever the TLV to transmit changes (and at every link up; ``tlv=None`` on shutdown: remove it).
"""

from __future__ import annotations

from dataclasses import dataclass

from ..lldp.agent import (
    LldpAgent,
    LldpTimers,
    NeighborAdded,
    NeighborAged,
    NeighborChanged,
    NeighborDeleted,
)
from ..lldp.errors import DecodeError
from ..lldp.events import EMPTY, Event, FrameDropped, Output
from ..lldp.frame import NEAREST_CUSTOMER_BRIDGE
from ..lldp.tlv import Lldpdu, Tlv
from .draft02 import DraftEvbTlv
from .negotiation import (
    EvbConfig,
    EvbVariant,
    Negotiated,
    draft_negotiate,
    negotiate,
)
from .tlv import EvbTlv

__all__ = ["EvbAdvertise", "EvbNegotiated", "EvbPeerLost", "EvbPort"]


@dataclass(frozen=True, slots=True, kw_only=True)
class EvbNegotiated(Event):
    """The operational EVB values changed (ECP/VDP must use ``negotiated`` from now on)."""

    negotiated: Negotiated


@dataclass(frozen=True, slots=True, kw_only=True)
class EvbPeerLost(Event):
    """The peer's EVB TLV was forgotten: ``"shutdown"`` (TTL 0), ``"aged"``, ``"link down"``,
    ``"disabled"`` or ``"tlv removed"`` (its LLDPDUs no longer carry one).  ECP and VDP keep
    running (Q-L12); RR state falls back (station RRSTAT 3, bridge RRCTR off)."""

    reason: str


AnyEvbTlv = EvbTlv | DraftEvbTlv


@dataclass(frozen=True, slots=True, kw_only=True)
class EvbAdvertise(Event):
    """External LLDP only: publish ``tlv`` as this port's EVB TLV from now on (``None``: remove
    it — the port shut down or EVB is disabled).  Emitted whenever the TLV changes and at every
    link up."""

    tlv: AnyEvbTlv | None


class EvbPort:
    """LLDP NCB agent + EVB negotiation for one port (station or bridge role per ``config``)."""

    def __init__(
        self,
        mac: bytes,
        config: EvbConfig,
        *,
        timers: LldpTimers | None = None,
        tick_phase: float = 0.0,
        tags: tuple[tuple[int, int], ...] = (),
        lldp_external: bool = False,
    ) -> None:
        self.mac = mac
        self.config = config
        self.lldp_external = lldp_external
        self._advertised: AnyEvbTlv | None = None
        self._adv_valid = False  # _advertised is what the adapter was last told
        self._ext_up = False  # external LLDP: between link_up and link_down/shutdown
        self.agent = LldpAgent(
            mac, NEAREST_CUSTOMER_BRIDGE, timers=timers, tick_phase=tick_phase, tags=tags
        )
        self.peer: AnyEvbTlv | None = None
        self.sent: AnyEvbTlv | None = None
        self.negotiated: Negotiated | None = None
        self.vsi_count = 0
        self._reported: Negotiated | None = None
        self._recompute()

    # --- negotiation ----------------------------------------------------------------------------

    @property
    def _tlv_class(self) -> type[EvbTlv] | type[DraftEvbTlv]:
        """The EVB TLV this port's variant sends and accepts (never both, README §3.2)."""
        return DraftEvbTlv if self.config.variant is EvbVariant.DRAFT else EvbTlv

    def _recompute(self) -> None:
        """Rebuild the transmitted TLV and the operational values from config and peer."""
        cfg = self.config
        if cfg.variant is EvbVariant.DRAFT:
            peer_d = self.peer if isinstance(self.peer, DraftEvbTlv) else None
            prev = self.sent if isinstance(self.sent, DraftEvbTlv) else None
            sent_d, op = draft_negotiate(cfg, peer_d, prev, self.vsi_count)
            self.sent = sent_d
        else:
            peer_s = self.peer if isinstance(self.peer, EvbTlv) else None
            sent_s, op = negotiate(cfg, peer_s)
            self.sent = sent_s
        self.negotiated = op
        # If enableTx is off the EVB TLV is neither sent nor accepted (evb-tlv.md §2.2).
        tlvs: tuple[Tlv, ...] = (self.sent,) if cfg.enabled else ()
        self.agent.set_local_tlvs(tlvs, changed=False)

    @property
    def advertised(self) -> AnyEvbTlv | None:
        """The EVB TLV this port transmits now (``None`` while EVB is disabled)."""
        return self.sent if self.config.enabled else None

    def _advertise(self) -> Output:
        """External LLDP: an :class:`EvbAdvertise` if the TLV to publish changed."""
        if not self.lldp_external:
            return EMPTY
        tlv = self.advertised
        if self._adv_valid and tlv == self._advertised:
            return EMPTY
        self._advertised, self._adv_valid = tlv, True
        return Output(events=(EvbAdvertise(tlv=tlv),))

    def _report(self) -> Output:
        adv = self._advertise()
        op = self.negotiated
        if op is None or op == self._reported:
            return adv
        self._reported = op
        return adv + Output(events=(EvbNegotiated(negotiated=op),))

    def _lose_peer(self, reason: str) -> Output:
        if self.peer is None:
            return EMPTY
        self.peer = None
        self._recompute()
        return Output(events=(EvbPeerLost(reason=reason),)) + self._report()

    def _on_peer_tlv(self, tlv: AnyEvbTlv | None) -> Output:
        """A received EVB TLV (``None``: the LLDPDU carried none) — the common negotiation.
        Callers have checked ``config.enabled`` (Q-L11: a disabled port ignores the peer)."""
        if tlv is None:
            return self._lose_peer("tlv removed")
        if tlv == self.peer:
            return EMPTY
        self.peer = tlv
        self._recompute()
        if not self.lldp_external:
            self.agent.something_changed_local()  # lldpad: every processed EVB TLV (§6.3)
        return self._report()

    def _on_lldpdu(self, pdu: Lldpdu) -> Output:
        if not self.config.enabled:
            return EMPTY  # Q-L11: a disabled port ignores the peer's EVB TLV too
        return self._on_peer_tlv(pdu.org(self._tlv_class))

    def _process(self, out: Output) -> Output:
        """Pass the agent's output through, reacting to its neighbour events."""
        extra = EMPTY
        for ev in out.events:
            if isinstance(ev, NeighborAdded | NeighborChanged):
                extra += self._on_lldpdu(ev.lldpdu)
            elif isinstance(ev, NeighborAged):
                extra += self._lose_peer("aged")
            elif isinstance(ev, NeighborDeleted):
                extra += self._lose_peer(ev.reason)
        return out + extra

    # --- machine interface ----------------------------------------------------------------------

    def receive(self, frame: bytes | Lldpdu, now: float) -> Output:
        """An LLDP frame for the NCB agent; a changed EVB TLV recomputes and fast-transmits.
        Ignored with external LLDP (the other agent owns the frames)."""
        if self.lldp_external:
            return EMPTY
        return self._process(self.agent.receive(frame, now))

    def timer(self, now: float) -> Output:
        """Run the agent's ticks (transmissions, neighbour ageing → :class:`EvbPeerLost`)."""
        if self.lldp_external:
            return EMPTY
        return self._process(self.agent.timer(now))

    def next_deadline(self) -> float | None:
        """The agent's next tick (lldpad's 1-s timer); none with external LLDP."""
        if self.lldp_external:
            return None
        return self.agent.next_deadline()

    def peer_tlv(
        self, tlv: AnyEvbTlv | bytes | None, now: float, *, reason: str = "tlv removed"
    ) -> Output:
        """External LLDP: the other agent reports the peer's EVB TLV (an instance, or its
        information octets after OUI and subtype), or ``None`` when its neighbour no longer
        carries one (``reason`` as in :class:`EvbPeerLost`: "tlv removed", "aged",
        "shutdown", ...).  Runs the same negotiation as a received LLDPDU; undecodable octets
        give a :class:`FrameDropped` and change nothing."""
        if not self.config.enabled or not self._ext_up:
            return EMPTY  # disabled (Q-L11), or not started: an agent hears nothing then
        if isinstance(tlv, bytes):
            try:
                tlv = self._tlv_class.decode_info(tlv, 0)
            except DecodeError as err:
                return Output(events=(FrameDropped(error=err),))
        elif tlv is not None and not isinstance(tlv, self._tlv_class):
            return EMPTY  # the other variant's TLV: never accepted (README §3.2)
        if tlv is None:
            return self._lose_peer(reason)
        return self._on_peer_tlv(tlv)

    def link_up(self, now: float) -> Output:
        """Start (or restart) the port: EVB as "nothing heard"; reports the local values
        (external LLDP: and what to publish)."""
        if self.lldp_external:
            self._ext_up = True
            self.peer = None
            self._recompute()
            self._reported = None
            self._adv_valid = False
            return self._report()
        out = self._process(self.agent.link_up(now))
        self._reported = None
        return out + self._report()

    def link_down(self, now: float) -> Output:
        """Port down: no shutdown PDU; the peer TLV is forgotten (lldpad destroys its EVB
        module on link down, lldp.md §7)."""
        if self.lldp_external:
            self._ext_up = False
            return self._lose_peer("link down")
        return self._process(self.agent.link_down(now))

    def shutdown(self, now: float) -> Output:
        """Send the LLDP shutdown PDU (TTL 0, no EVB TLV) and stop (S18); external LLDP:
        ``EvbAdvertise(tlv=None)`` (remove our TLV from the other agent)."""
        if self.lldp_external:
            self._ext_up = False
            self._advertised, self._adv_valid = None, True
            return Output(events=(EvbAdvertise(tlv=None),))
        return self._process(self.agent.shutdown(now))

    # --- runtime changes (S2, S24) --------------------------------------------------------------

    def set_config(self, config: EvbConfig, now: float) -> Output:
        """New local policy: recompute, and the next tick sends it with fast transmit."""
        out = self.timer(now)
        if config == self.config:
            return out
        self.config = config
        if not config.enabled:
            self.peer = None
        self._recompute()
        if not self.lldp_external:
            self.agent.something_changed_local()
        return out + self._report()

    def set_vsi_count(self, count: int) -> None:
        """Draft 0.2: number of VSI profiles, reported while VDP is negotiated (§4.2)."""
        self.vsi_count = count
        if self.config.variant is EvbVariant.DRAFT:
            self._recompute()

    def pending_advertise(self) -> Output:
        """External LLDP: an :class:`EvbAdvertise` if the TLV changed outside an entry point
        that reports (e.g. :meth:`set_vsi_count`)."""
        return self._advertise()
