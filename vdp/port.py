"""One EVB port: LLDP agent + EVB negotiation + ECP + VDP, the only object adapters drive.

Strategy
--------
A port composes four machines that each keep their own deadline (STYLE habit 3):

* :class:`~qbg.evb.port.EvbPort` — the nearest-customer-bridge LLDP agent and the EVB TLV
  negotiation (evb-tlv.md §2).  Its :class:`~qbg.evb.port.EvbNegotiated` events push the
  operational R/RTE into ECP and R/RTE/RWD/RKA into VDP (evb-tlv.md §2.3);
* :class:`~qbg.evb.ecp.EcpEndpoint` — reliable transport; it *pulls* VDPDUs from VDP whenever it
  is free (ecp.md §3.5), which is how requests and replies are batched to the MTU;
* :class:`~qbg.vdp.station.VdpStation` or :class:`~qbg.vdp.bridge.VdpBridge` — the per-VSI
  machines.

``receive(frame, now)`` demultiplexes on the Ethertype; ``timer(now)`` runs every machine that is
due; ``next_deadline()`` is the earliest of their deadlines.  Internal plumbing events
(:class:`~qbg.evb.ecp.EcpDelivered`) are consumed here; every other event reaches the adapter.

Start-up coupling [PROJECT] (evb-tlv.md §2.7): a station holds VDP requests until the bridge's
EVB TLV has been received, so that ECP uses the negotiated RTE, or until ``vdp_hold`` seconds
after link up, after which it proceeds with local values (lldpad behaviour).  A bridge answers
at once (it only ever replies).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from ..evb import timers
from ..evb.ecp import EcpDelivered, EcpEndpoint, EcpGaveUp
from ..evb.negotiation import EvbConfig, EvbRole, EvbVariant, Negotiated
from ..evb.port import AnyEvbTlv, EvbNegotiated, EvbPort
from ..evb.tlv import EvbTlv
from ..lldp.agent import LldpTimers
from ..lldp.errors import DecodeError, LocalError
from ..lldp.events import EMPTY, Event, FrameDropped, Output
from ..lldp.frame import EthernetFrame, EtherType
from .bridge import VdpBridge
from .draft02 import DraftVdpTlv
from .draft_bridge import DraftVdpBridge
from .draft_station import DraftVdpStation
from .policy import Policy
from .station import VdpStation
from .tlv import VsiKey, VsiTlv

_EPS = 1e-7
"""Deadlines are floats the adapter may round (to µs): a deadline counts as reached within it."""

RESEND_PROBE_S = 0.1
"""After link up, how soon unanswered requests are tried again when ECP gave up on them before
the bridge was heard (its end of the link may come up later than ours) [PROJECT]."""

SETTLE_S = 0.02
"""How long after one of our LLDPDUs the bridge's VDP is taken to have the EVB values (lldpad's
EVB module notifies VDP while it processes the LLDPDU) [PROJECT]."""

__all__ = ["BridgePort", "DraftBridgePort", "DraftStationPort", "PortOptions", "StationPort"]

_LLDP = int(EtherType.LLDP)
_ECP = int(EtherType.ECP)
_ECP_DRAFT = int(EtherType.OUI_EXTENDED)


@dataclass(frozen=True, slots=True, kw_only=True)
class PortOptions:
    """Transport options of one port (defaults are qbg's; see docs/config.md).

    ``mtu``: Ethernet payload limit for ECPDUs (1500).  ``min_gap_ms``: minimum spacing of new
    ECPDUs (3 ms protects lldpad's single VDP input buffer, ecp.md §3.2; 0 for qbg↔qbg).
    ``lldpad_compatible_pacing``: one VSI TLV per ECPDU, advanced only when the ack timer fires,
    exactly like lldpad.  ``ack_pad``: pad ECP acks to 60 octets (lldpad sends 18).
    ``vdp_hold``: seconds a station waits for the bridge's EVB TLV before VDP starts anyway.
    ``window``: most unanswered station requests.  ``batch_replies``: the bridge packs its
    replies like the station packs requests (one per VDPDU, lldpad's way, when false).
    ``lldp_external``: another LLDP agent (lldpd) carries the EVB TLV; the port sends no LLDP,
    ignores received LLDP frames and takes the peer's EVB TLV through :meth:`_Port.evb_peer`
    (docs/lldpd.md).
    """

    mtu: int = 1500
    min_gap_ms: float = 3.0
    lldpad_compatible_pacing: bool = False
    ack_pad: bool = True
    vdp_hold: float = 5.0
    window: int = 256
    batch_replies: bool = True
    strict_error_codes: bool = False
    lldp_timers: LldpTimers | None = None
    tick_phase: float = 0.0
    lldp_external: bool = False


def safe_window(evb: EvbConfig, limit: int) -> int:
    """The initial station window: what the slowest interoperable bridge answers in half a
    response wait.  lldpad answers one VSI per ack timer (vdp.md §2, S21), so that is
    ``response_wait / (2 · ack)``: about 53 at RTE 14 and over 3,000 at RTE 8.  The window then
    learns the real pace from the answers."""
    ack = timers.ack_timeout_us(evb.rte)
    wait = timers.response_wait_us(evb.r, evb.rte, evb.rwd)
    return max(1, min(limit, wait // (2 * ack)))


class _Port:
    """What both roles share: demultiplexing, the ECP pull, negotiation fan-out."""

    vdp: VdpStation | VdpBridge | DraftVdpStation | DraftVdpBridge

    def __init__(
        self,
        name: str,
        mac: bytes,
        evb: EvbConfig,
        options: PortOptions,
        initial_seq: int,
        rng: Callable[[], int] | None,
    ) -> None:
        self.name = name
        self.mac = mac
        self.options = options
        self.evb = EvbPort(
            mac,
            evb,
            timers=options.lldp_timers,
            tick_phase=options.tick_phase,
            lldp_external=options.lldp_external,
        )
        self.ecp = EcpEndpoint(
            mac,
            initial_seq=initial_seq,
            r=evb.r,
            rte=evb.rte,
            draft=evb.variant is EvbVariant.DRAFT,
            min_gap_us=round(options.min_gap_ms * 1000),
            lldpad_pacing=options.lldpad_compatible_pacing,
            mtu=options.mtu,
            ack_pad=options.ack_pad,
            ulp_pull=self._pull,
            rng=rng,
        )
        self._initial_seq: int | None = initial_seq
        self._inbox: deque[bytes] = deque()  # delivered ULPDUs not yet processed by VDP
        self._kick_due = False  # VDP has output for ECP: pull in the next (immediate) step
        self.up = False
        self.frames_in = 0
        self.frames_other = 0
        self._now = 0.0

    # --- properties ----------------------------------------------------------------------------

    @property
    def negotiated(self) -> Negotiated | None:
        return self.evb.negotiated

    @property
    def peer_seen(self) -> bool:
        n = self.evb.negotiated
        return bool(n and n.peer_seen)

    # --- plumbing ------------------------------------------------------------------------------

    def _ready(self) -> bool:
        return self.up

    def _pull(self, max_len: int) -> bytes | None:
        if not self._ready():
            return None
        return self.vdp.pull(max_len, self._now)

    def _apply(self, negotiated: Negotiated) -> None:
        if isinstance(self.vdp, DraftVdpStation | DraftVdpBridge):
            return  # draft 0.2: fixed 500 ms ECP timer and fixed VDP timers (ecp.md §8.2)
        self.ecp.set_parameters(r=negotiated.r, rte=negotiated.rte)
        self.vdp.apply(negotiated)

    def _deliver(self, payload: bytes, now: float) -> Output:
        vdp = self.vdp
        if isinstance(vdp, DraftVdpStation | DraftVdpBridge):
            return vdp.receive_payload(payload, now)
        return vdp.receive_ulpdu(payload, now)

    def _process(self, out: Output, now: float) -> Output:
        """Feed internal events onward (negotiation → ECP/VDP, deliveries → VDP); keep the
        rest for the adapter.  Loops until no machine produces more plumbing work."""
        if not out.events:
            return out
        frames = list(out.frames)
        events: list[Event] = []
        pending = list(out.events)
        while pending:
            ev = pending.pop(0)
            if isinstance(ev, EcpDelivered):
                # Ack first, process later (ecp.md §4): the ULPDU waits for the next timer()
                # call, due at once, so the adapter puts the ack on the wire before VDP works
                # through a batch of VSIs (which takes milliseconds against a 2.56 ms ack timer).
                self._inbox.append(ev.payload)
                continue
            if isinstance(ev, EvbNegotiated):
                self._apply(ev.negotiated)
            events.append(ev)
        return Output(tuple(frames), tuple(events))

    def _kick(self, out: Output, now: float) -> Output:
        """After VDP may have new output, let ECP pull it — in a timer step of its own, due at
        once.  A command or a delivered batch can take milliseconds of processing; pulling in a
        separate short step gives ECP a fresh ``now``, so its minGap (ecp.md §3.2) and ack timer
        are measured from when the frame really leaves, not from a time already past."""
        ecp = self.ecp
        if (
            not self._kick_due
            and self._ready()
            and self.vdp.has_pending()
            and ecp.idle
            and ecp.next_deadline() is None  # not waiting out minGap: it pulls by itself then
        ):
            self._kick_due = True  # (a busy transmitter pulls by itself when the ack comes)
        return out

    # --- the machine interface -----------------------------------------------------------------

    def receive(self, frame: bytes, now: float) -> Output:
        """One received Ethernet frame; never raises on bad bytes."""
        self._now = now
        self.frames_in += 1
        if len(frame) < 14:
            err = DecodeError("ethernet", 0, f"frame of {len(frame)} octets")
            return Output(events=(FrameDropped(error=err),))
        ethertype = (frame[12] << 8) | frame[13]
        if ethertype in (0x8100, 0x88A8):
            try:
                ethertype = int(EthernetFrame.decode(frame).ethertype)
            except DecodeError as err:
                return Output(events=(FrameDropped(error=err),))
        if not self.up:
            return EMPTY
        if ethertype == _LLDP:
            if self.options.lldp_external:
                self.frames_other += 1  # lldpd's business, not ours
                return EMPTY
            out = self._process(self.evb.receive(frame, now), now)
        elif ethertype == (_ECP_DRAFT if self.ecp.draft else _ECP):
            out = self._process(self.ecp.receive(frame, now), now)
        else:
            self.frames_other += 1
            return EMPTY
        return self._kick(out, now)

    def _drain_inbox(self, now: float) -> Output:
        out = EMPTY
        while self._inbox:
            out = out + self._process(self._deliver(self._inbox.popleft(), now), now)
        return out

    def timer(self, now: float) -> Output:
        self._now = now
        if self._kick_due:
            self._kick_due = False
            kicked = self._process(self.ecp.kick(now), now)
            if kicked.frames:
                return kicked  # the frame leaves now; the rest of the work follows at once
        out = self._drain_inbox(now)
        out = out + self._process(self.evb.timer(now), now)
        out = out + self._process(self._vdp_timer(now), now)
        out = out + self._process(self.ecp.timer(now), now)
        return self._kick(out, now)

    def _vdp_timer(self, now: float) -> Output:
        return self.vdp.timer(now)

    def next_deadline(self) -> float | None:
        if self._inbox or self._kick_due:
            return self._now  # delivered ULPDUs wait for VDP, or ECP may pull: due now
        deadlines = [
            d
            for d in (self.evb.next_deadline(), self.ecp.next_deadline(), self.vdp.next_deadline())
            if d is not None
        ]
        return min(deadlines) if deadlines else None

    def evb_peer(
        self, tlv: AnyEvbTlv | bytes | None, now: float, *, reason: str = "tlv removed"
    ) -> Output:
        """External LLDP: the peer's EVB TLV as the other agent reports it, or its loss
        (:meth:`~qbg.evb.port.EvbPort.peer_tlv`); negotiation then flows as for a received
        LLDPDU (a station's held VDP requests go once the bridge's TLV is in)."""
        self._now = now
        if not self.up:
            return EMPTY
        out = self._process(self.evb.peer_tlv(tlv, now, reason=reason), now)
        return self._kick(out, now)

    def link_up(self, now: float, initial_seq: int | None = None) -> Output:
        """Port operational: LLDP starts, ECP gets a new sequence space (ecp.md §6)."""
        self._now = now
        self.up = True
        if initial_seq is None and self.ecp.rng is None:
            # Without an rng only the constructor's value is known: use it once, then continue
            # the old sequence space (a test-only configuration; adapters pass an rng).
            initial_seq = self._initial_seq if self._initial_seq is not None else self.ecp._seq
        self._initial_seq = None
        out = self._process(self.evb.link_up(now), now)
        out = out + self._process(self.ecp.link_up(now, initial_seq), now)
        return self._kick(out, now)

    def link_down(self, now: float) -> Output:
        self._now = now
        out = self._process(self.evb.link_down(now), now)
        out = out + self._process(self.ecp.link_down(now), now)
        self.up = False
        return out

    def shutdown(self, now: float) -> Output:
        """Daemon stop: the LLDP shutdown PDU (TTL 0); VSIs are not de-associated (lldpad)."""
        self._now = now
        out = self._process(self.evb.shutdown(now), now)
        self.up = False
        return out


class StationPort(_Port):
    """The station (hypervisor) side of one EVB port."""

    vdp: VdpStation

    def __init__(
        self,
        name: str,
        mac: bytes,
        evb: EvbConfig | None = None,
        options: PortOptions | None = None,
        *,
        initial_seq: int = 0,
        rng: Callable[[], int] | None = None,
    ) -> None:
        evb = evb or EvbConfig(role=EvbRole.STATION)
        if evb.role is not EvbRole.STATION:
            raise LocalError("EINVAL", "a StationPort needs an EVB station configuration")
        options = options or PortOptions()
        self.vdp = VdpStation(
            port=name,
            r=evb.r,
            rte=evb.rte,
            rwd=evb.rwd,
            rka=evb.rka,
            group_ids=False,
            window=options.window,
            initial_window=safe_window(evb, options.window),
            lldpad_compatible_pacing=options.lldpad_compatible_pacing,
        )
        super().__init__(name, mac, evb, options, initial_seq, rng)
        self._up_at = 0.0
        self._heard = False  # the bridge has heard us at least once (kept across link flaps)
        self._peer_mark: tuple[int, int, float] | None = None  # LLDP in/out counts, time
        self._informed_at: float | None = None  # from then on the bridge's VDP has EVB values
        self._lost_since_up = False  # ECP gave up on something since the last link up
        self._resend_due = False
        self._resend_at: float | None = None  # probe again for a bridge not yet back

    def _ready(self) -> bool:
        """May VDP requests go out?  Once the bridge has heard us (its EVB TLV echoes our
        station status) *and* its VDP has the EVB values (:meth:`_track_lldp`), at once again
        after a link flap on a port that had negotiated (so short flaps do not outlast the
        bridge's keep-alive supervision), or when ``vdp_hold`` has passed (lldpad's behaviour:
        proceed with local values)."""
        if not self.up:
            return False
        if self._heard:
            return True
        self._track_lldp()
        if self._heard_by_peer() and self._peer_informed():
            self._heard = True
            return True
        return self._now + _EPS >= self._up_at + self.options.vdp_hold

    def _peer_informed(self) -> bool:
        if self.options.lldp_external:
            return True  # the frames are lldpd's: the echo is all we know
        return self._informed_at is not None and self._now + _EPS >= self._informed_at

    def _track_lldp(self) -> None:
        """Learn when the bridge's VDP has the negotiated EVB values [PROJECT].

        lldpad starts ECP and VDP right after building its first LLDPDU (about 6 ms later) and
        hands VDP the EVB values only at the next changed EVB TLV it receives or the next LLDPDU
        it builds (evb-tlv.md §2.7); until then its VDP runs with zero exponents: keep-alive
        supervision 30 µs, so every VSI it answers is de-associated at once (seen in ``qbg
        bench assoc`` when our first LLDPDU reached lldpad before its VDP existed).  The first
        bridge LLDPDU we hear may be that first one, so VDP waits for one more exchange after
        it: a second bridge LLDPDU, or one of ours sent at least ``SETTLE_S`` after it (ours
        then changed anyway: it echoes the bridge's TLV), plus ``SETTLE_S``."""
        if self.evb.peer is None or self._informed_at is not None:
            return
        stats = self.evb.agent.stats
        if self._peer_mark is None:
            self._peer_mark = (stats.frames_in, stats.frames_out, self._now)
            return
        frames_in, frames_out, t = self._peer_mark
        if stats.frames_in > frames_in:
            self._informed_at = self._now
        elif stats.frames_out > frames_out:
            if self._now + _EPS >= t + SETTLE_S:
                self._informed_at = self._now + SETTLE_S
            else:  # too close to the bridge's LLDPDU (its VDP may not exist yet): next one
                self._peer_mark = (frames_in, stats.frames_out, t)

    def _heard_by_peer(self) -> bool:
        peer, sent = self.evb.peer, self.evb.sent
        if peer is None:
            return False
        if isinstance(peer, EvbTlv) and isinstance(sent, EvbTlv):
            # A bridge echoes our station-status octet verbatim; 0 means "nothing heard yet",
            # unless we send 0 ourselves (no RRREQ and RRSTAT 0): then the echo tells nothing.
            return peer.station_status != 0 or sent.station_status == 0
        return True  # draft 0.2 has no echo: the peer's TLV is all there is

    def link_up(self, now: float, initial_seq: int | None = None) -> Output:
        self._up_at = now
        self._lost_since_up = False
        self._resend_at = None
        self._peer_mark = self._informed_at = None
        out = super().link_up(now, initial_seq) + self._process(self.vdp.link_up(now), now)
        self._track_lldp()
        return out

    def receive(self, frame: bytes, now: float) -> Output:
        out = super().receive(frame, now)
        if not self._heard:
            self._track_lldp()
        return out

    def _apply(self, negotiated: Negotiated) -> None:
        super()._apply(negotiated)
        if negotiated.peer_seen and self._lost_since_up:
            # ECP gave up on a VDPDU after link up and now the bridge is heard (its end came
            # up later than ours): send the unanswered requests again instead of waiting out
            # their response wait, which may outlast the bridge's keep-alive supervision.
            self._lost_since_up = False
            self._resend_due = True
            self._resend_at = None

    def _process(self, out: Output, now: float) -> Output:
        vdp = self.vdp
        gave_up = False
        for ev in out.events:  # ECP's view of loss, for the station's loss recovery
            if isinstance(ev, EcpDelivered) and ev.skipped:
                vdp.wire_loss(now)
            elif isinstance(ev, EcpGaveUp):
                vdp.ecp_gave_up(ev.payload)
                gave_up = True
        if gave_up:
            self._lost_since_up = True
            if not self.peer_seen:
                # The bridge's end may still be coming up (a flap seen first here): try the
                # unanswered requests again shortly rather than only after their response
                # wait, which can outlast the bridge's keep-alive supervision.
                self._resend_at = now + RESEND_PROBE_S
        return super()._process(out, now)

    def timer(self, now: float) -> Output:
        retransmissions = self.ecp.stats.retransmissions
        out = super().timer(now)
        if self.ecp.stats.retransmissions != retransmissions:
            self.vdp.wire_loss(now)  # frames are being lost on this link (loss recovery)
        if not self._heard:
            self._track_lldp()
        if self._resend_due or (self._resend_at is not None and now + _EPS >= self._resend_at):
            self._resend_due, self._resend_at = False, None
            out = out + self._process(self.vdp.link_up(now, idle=False), now)
        if self.up and self.vdp.has_pending() and self._ready():
            out = self._kick(out, now)
        return out

    def next_deadline(self) -> float | None:
        d = super().next_deadline()
        if self._resend_due:
            return self._now
        if self._resend_at is not None:
            d = self._resend_at if d is None else min(d, self._resend_at)
        if self.up and not self._heard and self.vdp.has_pending():
            hold = self._up_at + self.options.vdp_hold
            informed = self._informed_at
            if informed is not None and self._now < informed < hold:
                hold = informed
            if hold > self._now:
                d = hold if d is None else min(d, hold)
        return d

    # --- client commands (vdp.md §10.2); LocalError on misuse, nothing sent ---------------------

    def command(self, mgrid: bytes, tlv: VsiTlv, now: float, *, org: bytes = b"") -> Output:
        """One client request; ``tlv.mode`` is the requested mode (vdp.md §10.2); ``org``:
        encoded org TLVs to send after the VSI TLV (vdp.md §8)."""
        self._now = now
        out = self.vdp.command(mgrid, tlv, now, org=org)
        return self._kick(self._process(out, now), now)

    def commands(
        self, requests: list[tuple[bytes, VsiTlv]], now: float
    ) -> tuple[Output, list[LocalError | None]]:
        """Several client requests at once, so they share ECPDUs from the first one on.

        Returns the output and, per request, ``None`` or the :class:`LocalError` that refused
        it (a refused request sends nothing; the others still go)."""
        self._now = now
        out = EMPTY
        errors: list[LocalError | None] = []
        for mgrid, tlv in requests:
            try:
                out = out + self.vdp.command(mgrid, tlv, now)
                errors.append(None)
            except LocalError as err:
                errors.append(err)
        return self._kick(self._process(out, now), now), errors

    def associate(self, mgrid: bytes, tlv: VsiTlv, now: float) -> Output:
        self._now = now
        return self._kick(self._process(self.vdp.associate(mgrid, tlv, now), now), now)

    def preassociate(self, mgrid: bytes, tlv: VsiTlv, now: float, *, rr: bool = False) -> Output:
        self._now = now
        out = self.vdp.preassociate(mgrid, tlv, now, rr=rr)
        return self._kick(self._process(out, now), now)

    def deassociate(self, mgrid: bytes, tlv: VsiTlv, now: float) -> Output:
        self._now = now
        return self._kick(self._process(self.vdp.deassociate(mgrid, tlv, now), now), now)


class BridgePort(_Port):
    """The bridge (switch) side of one EVB port.

    Delivered VDPDUs are worked on in steps (:meth:`VdpBridge.work`), each a ``timer()`` call
    due at once, so the adapter's event loop gets a turn — and ECP acks for PDUs that arrived
    meanwhile leave — well within the ack timer instead of after a whole 42-VSI batch
    [PROJECT].  A step answers ``work_step`` requests: one per :attr:`WORK_STEP_US` of the
    operational ack timer, at least :attr:`WORK_STEP` (12 at RTE 8, 2.56 ms; whole PDUs from
    RTE 11 on, where each step also decodes the next PDU)."""

    vdp: VdpBridge
    WORK_STEP = 12
    WORK_STEP_US = 200

    def __init__(
        self,
        name: str,
        mac: bytes,
        evb: EvbConfig | None = None,
        options: PortOptions | None = None,
        *,
        policy: Policy | None = None,
        initial_seq: int = 0,
        rng: Callable[[], int] | None = None,
    ) -> None:
        evb = evb or EvbConfig(role=EvbRole.BRIDGE)
        if evb.role is not EvbRole.BRIDGE:
            raise LocalError("EINVAL", "a BridgePort needs an EVB bridge configuration")
        options = options or PortOptions()
        self.vdp = VdpBridge(
            port=name,
            policy=policy,
            r=evb.r,
            rte=evb.rte,
            rwd=evb.rwd,
            rka=evb.rka,
            strict_error_codes=options.strict_error_codes,
            batch_replies=options.batch_replies and not options.lldpad_compatible_pacing,
        )
        self.work_step = self._step(evb.rte)
        super().__init__(name, mac, evb, options, initial_seq, rng)

    def _step(self, rte: int) -> int:
        return max(self.WORK_STEP, timers.ack_timeout_us(rte) // self.WORK_STEP_US)

    def _apply(self, negotiated: Negotiated) -> None:
        super()._apply(negotiated)
        self.work_step = self._step(negotiated.rte)

    def link_up(self, now: float, initial_seq: int | None = None) -> Output:
        self.vdp.drop_replies()  # stale replies queued while down (see VdpBridge.drop_replies)
        return super().link_up(now, initial_seq)

    def _drain_inbox(self, now: float) -> Output:
        """One step of VDP work: decode the next delivered VDPDU (a step of its own when
        steps are small) and/or answer up to ``work_step`` of its requests."""
        vdp = self.vdp
        out = EMPTY
        if not vdp.has_work():
            if not self._inbox:
                return EMPTY
            out = self._process(vdp.accept_ulpdu(self._inbox.popleft(), now), now)
            if self.work_step < 64:
                return out
        return out + self._process(vdp.work(now, self.work_step), now)

    def next_deadline(self) -> float | None:
        if self.vdp.has_work():
            return self._now
        return super().next_deadline()

    def _vdp_timer(self, now: float) -> Output:
        """Supervision expires only once the delivered requests are worked through: a
        keep-alive that arrived before a VSI's deadline counts (41.5.5.9), however late a busy
        or slow host gets to it.  While work is queued, steps are due at once, so this only
        postpones expiry by the backlog's length."""
        if self._inbox or self.vdp.has_work():
            return EMPTY
        return self.vdp.timer(now)

    def withdraw(self, key: VsiKey, now: float) -> Output:
        """Bridge-initiated De-Associate of one VSI (S9)."""
        self._now = now
        return self._kick(self._process(self.vdp.withdraw(key, now), now), now)

    def revalidate(self, now: float) -> Output:
        """Re-run the policy over every VSI (after a policy change); withdraws the refused."""
        self._now = now
        return self._kick(self._process(self.vdp.revalidate(now), now), now)


class DraftStationPort(_Port):
    """The station side of a draft 0.2 port: draft EVB TLV, draft ECP, draft VDP (vdp.md §13)."""

    vdp: DraftVdpStation

    def __init__(
        self,
        name: str,
        mac: bytes,
        evb: EvbConfig | None = None,
        options: PortOptions | None = None,
        *,
        initial_seq: int = 0,
        rng: Callable[[], int] | None = None,
    ) -> None:
        evb = evb or EvbConfig(role=EvbRole.STATION, variant=EvbVariant.DRAFT)
        if evb.role is not EvbRole.STATION or evb.variant is not EvbVariant.DRAFT:
            raise LocalError("EINVAL", "a DraftStationPort needs a draft EVB station configuration")
        self.vdp = DraftVdpStation(port=name)
        super().__init__(name, mac, evb, options or PortOptions(), initial_seq, rng)

    def command(self, tlv: DraftVdpTlv, now: float) -> Output:
        """Request ``tlv.mode`` for a draft profile; raises LocalError on misuse."""
        self._now = now
        return self._kick(self._process(self.vdp.command(tlv, now), now), now)


class DraftBridgePort(_Port):
    """qbg's draft 0.2 bridge (vdp.md §13.3): answers every request, supervises profiles."""

    vdp: DraftVdpBridge

    def __init__(
        self,
        name: str,
        mac: bytes,
        evb: EvbConfig | None = None,
        options: PortOptions | None = None,
        *,
        policy: Policy | None = None,
        initial_seq: int = 0,
        rng: Callable[[], int] | None = None,
    ) -> None:
        evb = evb or EvbConfig(role=EvbRole.BRIDGE, variant=EvbVariant.DRAFT)
        if evb.role is not EvbRole.BRIDGE or evb.variant is not EvbVariant.DRAFT:
            raise LocalError("EINVAL", "a DraftBridgePort needs a draft EVB bridge configuration")
        self.vdp = DraftVdpBridge(port=name, policy=policy)
        super().__init__(name, mac, evb, options or PortOptions(), initial_seq, rng)
