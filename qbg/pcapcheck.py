"""Conformance rules for 802.1Qbg captures (``qbg pcap check``).

``check(records)`` takes ``(time, frame_bytes)`` pairs in capture order and returns the
violations, each tied to a 1-based frame number and a rule name.  The rules (docs/pcap-json.md
lists them with their tolerances):

* ``decode`` / ``roundtrip``: every frame decodes and re-encodes to the same octets.
* ``ecp-header``: version 1, op 0/1; ``ecp-ack-payload``: acks carry nothing but zero padding.
* ``ecp-no-ack``: every ECP request is acknowledged (same seq, by the other end) — unless the
  sender gave up after 1 + R transmissions or the capture ends before it could have.
* ``ecp-ack-orphan``: every ack answers a request (acks in the first give-up period of a
  capture may answer a request sent before it started).
* ``ecp-retries``: at most 1 + R transmissions of one ECPDU; ``ecp-seq-reuse``: a new ECPDU
  never reuses the previous one's seq; ``ecp-seq-step``: a new ECPDU uses previous seq + 1
  (skipping 0), except after the sender's LLDP shutdown.
* ``vdp-mgrid`` / ``vdp-empty`` / ``vdp-tlv-length``: VDPDU composition and TLV lengths.
* ``vdp-status-reserved``, ``vdp-request-status``, ``vdp-error-code``: the status octet.
* ``vdp-station-response`` / ``vdp-bridge-request``: who may send which TLVs (vdp.md §5.4).
* ``vdp-no-response``, ``vdp-unsolicited-response``, ``vdp-response-mode``,
  ``vdp-response-filter``: every delivered VDP request gets one response for the same VSI and
  mode, matching its filters (vdp.md §7.4).
* ``vdp-keepalive-early`` / ``vdp-keepalive-late``: a keep-alive follows the previous
  exchange's response by the negotiated keep-alive period (vdp.md §9).
* ``evb-length``: the EVB TLV is exactly 9 octets long.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from .evb.draft02 import DraftEvbTlv
from .evb.timers import ack_timeout_us, keepalive_us, response_wait_us
from .evb.tlv import EvbTlv
from .lldp.frame import mac_str
from .vdp.frames import DraftEcpFrame, EcpFrame, LldpFrame, decode_frame, encode_frame
from .vdp.tlv import MalformedVsiTlv, ManagerIdTlv, VsiTlv
from .vdp.vsiid import vsiid_text

__all__ = ["DEFAULTS", "Params", "Violation", "check"]

KA_EARLY_TOLERANCE = 0.001
"""A keep-alive may leave this much earlier than response + period (capture clock jitter)."""
KA_LATE_SLACK = 0.1
"""…and this much later; measured on the corpus: +2.2..3.5 ms (lldpad's 2 ms VDP delay)."""
END_SLACK = 0.05
"""Extra time allowed before the end of a capture for an answer that may still come."""
DRAFT_ACK_S = 0.5
CROSSING = 0.0005
"""A peer's ECP frame this soon after a request may have crossed it on the wire."""


@dataclass(frozen=True, slots=True)
class Params:
    """Operational EVB values used by the timing rules."""

    r: int = 3
    rte: int = 8
    rwd: int = 20
    rka: int = 20

    @property
    def ack(self) -> float:
        return ack_timeout_us(self.rte) / 1e6

    @property
    def give_up(self) -> float:
        return (1 + self.r) * self.ack

    @property
    def response_wait(self) -> float:
        return response_wait_us(self.r, self.rte, self.rwd) / 1e6

    @property
    def keepalive(self) -> float:
        return keepalive_us(self.rka) / 1e6


DEFAULTS = Params()
"""lldpad's built-in defaults (R 3, RTE 8, RWD 20, RKA 20), used without EVB TLVs."""


@dataclass(frozen=True, slots=True)
class Violation:
    frame: int
    rule: str
    message: str

    def __str__(self) -> str:
        return f"frame {self.frame}: {self.rule}: {self.message}"


@dataclass(slots=True)
class _Group:
    """One ECPDU: the first transmission and its retransmissions (same seq, same octets)."""

    sender: bytes
    seq: int
    payload: bytes
    frames: list[int]
    t_first: float
    t_last: float
    acks: int = 0


@dataclass(slots=True)
class _Req:
    """One delivered VDP request TLV waiting for its response."""

    frame: int
    time: float
    tlv: VsiTlv
    delivered: bool
    group: _Group


@dataclass(slots=True)
class _VsiHist:
    """Per-VSI history for the keep-alive rule."""

    last_type: int = 0
    last_req_frame: int = 0
    resp_time: float | None = None
    resp_ok: bool = False


@dataclass(slots=True)
class _State:
    t0: float = 0.0
    t_end: float = 0.0
    out: list[Violation] = field(default_factory=list)
    evb: dict[bytes, list[tuple[float, EvbTlv]]] = field(default_factory=dict)
    roles: dict[bytes, str] = field(default_factory=dict)
    shutdowns: dict[bytes, list[float]] = field(default_factory=dict)


def _mac(b: bytes) -> str:
    return mac_str(b)


def _key(mgrid: bytes, t: VsiTlv) -> tuple[Any, ...]:
    return (mgrid, t.type_id, t.type_version, int(t.vsiid_format), t.vsiid, int(t.filter_format))


def _seq_next(seq: int) -> int:
    return 1 if seq >= 0xFFFF else seq + 1


class _Checker:
    def __init__(self, decoded: list[tuple[int, float, bytes, Any]]) -> None:
        self.frames = decoded
        self.s = _State()
        if decoded:
            self.s.t0 = decoded[0][1]
            self.s.t_end = decoded[-1][1]

    # -- helpers -------------------------------------------------------------------------------

    def v(self, frame: int, rule: str, message: str) -> None:
        self.s.out.append(Violation(frame, rule, message))

    def params(self, sender: bytes | None, t: float) -> Params:
        """Operational values of ``sender`` at ``t``: its latest EVB TLV (else its first, else
        any station/bridge TLV, else lldpad defaults)."""
        cands: list[tuple[float, EvbTlv]] = []
        if sender is not None:
            cands = self.s.evb.get(sender, [])
        if not cands:
            cands = [x for lst in self.s.evb.values() for x in lst]
            cands.sort(key=lambda x: x[0])
        if not cands:
            return DEFAULTS
        best = cands[0][1]
        for ts, tlv in cands:
            if ts <= t:
                best = tlv
        return Params(r=best.r, rte=best.rte, rwd=best.rwd, rka=best.rka)

    def max_r(self) -> int:
        rs = [tlv.r for lst in self.s.evb.values() for _, tlv in lst]
        return max(rs) if rs else DEFAULTS.r

    # -- pass 1: LLDP, roles -------------------------------------------------------------------

    def learn(self) -> None:
        score: dict[bytes, list[int]] = {}
        for n, t, raw, fr in self.frames:
            src = raw[6:12]
            if isinstance(fr, LldpFrame):
                pdu = fr.lldpdu
                if pdu.ttl == 0:
                    self.s.shutdowns.setdefault(src, []).append(t)
                evb = pdu.org(EvbTlv)
                if evb is not None:
                    self.s.evb.setdefault(src, []).append((t, evb))
                    mode = int(evb.mode)
                    if mode in (1, 2):
                        self.s.roles.setdefault(src, "bridge" if mode == 1 else "station")
                    if evb.extra:
                        self.v(n, "evb-length", f"EVB TLV is {9 + len(evb.extra)} octets, not 9")
                d = pdu.org(DraftEvbTlv)
                if d is not None and d.extra:
                    self.v(n, "evb-length", "draft EVB TLV longer than 13 octets")
            elif isinstance(fr, EcpFrame) and fr.vdpdu is not None and int(fr.ecpdu.op) == 0:
                sc = score.setdefault(src, [0, 0])
                for tlv in fr.vdpdu.tlvs:
                    if type(tlv) is VsiTlv:
                        if tlv.status & 0x40:
                            sc[1] += 1
                        elif int(tlv.mode) != 4:
                            sc[0] += 1
        for src, (sta, br) in score.items():
            if src not in self.s.roles and sta != br:
                self.s.roles[src] = "station" if sta > br else "bridge"

    # -- pass 2: ECP ---------------------------------------------------------------------------

    def ecp(self) -> list[_Group]:
        """Group ECP transmissions, match acks; returns the groups in order of first sending."""
        groups: list[_Group] = []
        current: dict[bytes, _Group] = {}
        by_seq: dict[int, list[_Group]] = {}
        seen_req_from: set[bytes] = set()
        r_max = self.max_r()
        last_ecp_from: dict[bytes, float] = {}
        for n, t, raw, fr in self.frames:
            if not isinstance(fr, EcpFrame):
                continue
            e = fr.ecpdu
            src = raw[6:12]
            last_ecp_from[src] = t
            op = int(e.op)
            if e.version != 1 or op not in (0, 1):
                self.v(n, "ecp-header", f"version {e.version} op {op}: not a valid ECPDU")
                continue
            if op == 1:
                if any(e.payload):
                    self.v(n, "ecp-ack-payload", "ECP ack carries non-zero octets after the header")
                match: _Group | None = None
                for cand in by_seq.get(e.seq, ()):
                    if cand.sender != src and cand.acks < len(cand.frames):
                        match = cand  # the latest such group wins (list in sending order)
                if match is not None:
                    match.acks += 1
                    continue
                others = {s for s in seen_req_from if s != src}
                p = self.params(src, t)
                if others and t - self.s.t0 > p.give_up + END_SLACK:
                    self.v(
                        n,
                        "ecp-ack-orphan",
                        f"ack seq={e.seq:#06x} from {_mac(src)} answers no outstanding request",
                    )
                continue
            seen_req_from.add(src)
            payload = e.payload
            prev = current.get(src)
            if prev is not None and prev.seq == e.seq:
                g = prev
                if payload == g.payload:
                    g.frames.append(n)
                    g.t_last = t
                    if len(g.frames) == r_max + 2:
                        self.v(
                            n,
                            "ecp-retries",
                            f"seq={e.seq:#06x} sent {len(g.frames)} times (1 + R = {r_max + 1})",
                        )
                    continue
                self.v(
                    n,
                    "ecp-seq-reuse",
                    f"new ECPDU reuses seq={e.seq:#06x} of frame {g.frames[0]}: the receiver "
                    "drops it as a duplicate",
                )
            elif prev is not None and e.seq != _seq_next(prev.seq):
                g = prev
                restarted = any(g.t_last < ts <= t for ts in self.s.shutdowns.get(src, []))
                if not restarted:
                    self.v(
                        n,
                        "ecp-seq-step",
                        f"seq={e.seq:#06x} after {g.seq:#06x} from {_mac(src)} "
                        f"(expected {_seq_next(g.seq):#06x})",
                    )
            g = _Group(src, e.seq, payload, [n], t, t)
            current[src] = g
            lst = by_seq.setdefault(e.seq, [])
            lst.append(g)
            if len(lst) > 8:
                del lst[0]
            groups.append(g)
        for g in groups:
            if g.acks:
                continue
            p = self.params(g.sender, g.t_first)
            if len(g.frames) >= p.r + 1 or len(g.frames) >= r_max + 1:
                continue  # the sender gave up after 1 + R tries: conformant sender
            peer_later = any(
                s != g.sender and ts > g.t_last + CROSSING for s, ts in last_ecp_from.items()
            )
            if (
                current.get(g.sender) is g
                and self.s.t_end - g.t_last < p.ack + END_SLACK
                and not peer_later
            ):
                continue  # capture ends while the sender may still retransmit
            self.v(
                g.frames[0],
                "ecp-no-ack",
                f"ECP request seq={g.seq:#06x} from {_mac(g.sender)} never acknowledged "
                f"({len(g.frames)} transmission(s), R={p.r})",
            )
        return groups

    def draft_ecp(self) -> None:
        reqs: list[tuple[int, float, bytes, int, bool]] = []
        acked: set[int] = set()
        for n, t, raw, fr in self.frames:
            if not isinstance(fr, DraftEcpFrame):
                continue
            d = fr.ecpdu
            src = raw[6:12]
            mode = int(d.mode)
            if mode == 0:
                reqs.append((n, t, src, d.seq, False))
            elif mode == 1:
                hit = [i for i, q in enumerate(reqs) if q[3] == d.seq and q[2] != src]
                if hit:
                    acked.add(hit[-1])
        for i, (n, t, src, seq, _) in enumerate(reqs):
            if i in acked:
                continue
            later = [q for q in reqs[i + 1 :] if q[2] == src]
            if later and later[0][1] - t <= DRAFT_ACK_S * 1.5:
                continue  # retransmitted with a new seq (draft ECP)
            if not later and self.s.t_end - t < 3 * DRAFT_ACK_S:
                continue
            self.v(n, "ecp-no-ack", f"draft ECP request seq={seq:#06x} never acknowledged")

    # -- pass 3: VDP ---------------------------------------------------------------------------

    def vdp(self, groups: list[_Group]) -> None:
        frames = {n: (t, raw, fr) for n, t, raw, fr in self.frames}
        pending: dict[tuple[Any, ...], list[_Req]] = {}
        hist: dict[tuple[Any, ...], _VsiHist] = {}
        station_sends: dict[bytes, list[float]] = {}
        for g in groups:
            station_sends.setdefault(g.sender, []).append(g.t_first)
        for g in groups:
            n = g.frames[0]
            t, _raw, fr = frames[n]
            assert isinstance(fr, EcpFrame)
            if int(fr.ecpdu.subtype) != 1:
                continue
            pdu = fr.vdpdu
            if pdu is None:
                self.v(n, "vdp-empty", "ECP request for VDP without a VDPDU")
                continue
            role = self.s.roles.get(g.sender)
            mgrid = b""
            n_vsi = 0
            for i, tlv in enumerate(pdu.tlvs):
                if type(tlv) is ManagerIdTlv:
                    if i != 0:
                        self.v(n, "vdp-mgrid", "Manager ID TLV is not the first TLV")
                    mgrid = tlv.mgrid
                    continue
                if type(tlv) is MalformedVsiTlv:
                    self.v(n, "vdp-tlv-length", f"VSI TLV type {tlv.tlv_type}: {tlv.reason}")
                    continue
                if type(tlv) is not VsiTlv:
                    continue
                n_vsi += 1
                self.status_rules(n, tlv, role)
                key = _key(mgrid, tlv)
                mode = int(tlv.mode)
                desc = (
                    f"{_MODES.get(mode, mode)} vsi={vsiid_text(int(tlv.vsiid_format), tlv.vsiid)}"
                )
                if tlv.status & 0x40:
                    if role == "station":
                        self.v(n, "vdp-station-response", f"station sends a response ({desc})")
                    self.response(n, t, g, tlv, key, desc, pending, hist)
                    continue
                if role == "bridge":
                    if mode != 4:
                        self.v(n, "vdp-bridge-request", f"bridge sends a request ({desc})")
                    h = hist.get(key)
                    if h is not None:
                        h.resp_time = None  # VSI ended by the bridge
                    continue
                self.keepalive(n, t, g, tlv, key, desc, hist, station_sends)
                pending.setdefault(key, []).append(_Req(n, t, tlv, g.acks > 0, g))
            if n_vsi == 0 and not any(type(x) is MalformedVsiTlv for x in pdu.tlvs):
                self.v(n, "vdp-empty", "VDPDU carries no VSI TLV")
            if pdu.tlvs and type(pdu.tlvs[0]) is not ManagerIdTlv:
                self.v(n, "vdp-mgrid", "VDPDU does not start with a Manager ID TLV")
        for reqs in pending.values():
            for q in reqs:
                p = self.params(q.group.sender, q.time)
                if not q.delivered:
                    continue
                if self.s.t_end - q.time < p.response_wait + END_SLACK:
                    continue  # capture ends before the response wait did
                self.v(
                    q.frame,
                    "vdp-no-response",
                    f"{_MODES.get(int(q.tlv.mode))} request vsi="
                    f"{vsiid_text(int(q.tlv.vsiid_format), q.tlv.vsiid)} never answered "
                    f"(response wait {p.response_wait:.3f} s)",
                )

    def status_rules(self, n: int, tlv: VsiTlv, role: str | None) -> None:
        st = tlv.status
        if st & 0x80:
            self.v(n, "vdp-status-reserved", f"status {st:#04x}: reserved bit 0x80 set")
        if st & 0x40:
            if st & 0x0F > 5:
                self.v(n, "vdp-error-code", f"status {st:#04x}: reserved error code {st & 0x0F}")
        elif st & 0x0F and not (int(tlv.mode) == 4 and role == "bridge"):
            self.v(n, "vdp-request-status", f"request status {st:#04x}: error bits set")

    def response(
        self,
        n: int,
        t: float,
        g: _Group,
        tlv: VsiTlv,
        key: tuple[Any, ...],
        desc: str,
        pending: dict[tuple[Any, ...], list[_Req]],
        hist: dict[tuple[Any, ...], _VsiHist],
    ) -> None:
        reqs = pending.get(key) or []
        if not reqs:
            p = self.params(g.sender, t)
            # a request sent before the capture began may be answered early in it
            if key in hist or t - self.s.t0 > p.response_wait + END_SLACK:
                self.v(n, "vdp-unsolicited-response", f"response for no pending request ({desc})")
            return
        q = reqs.pop()  # the latest request; older ones were superseded without an answer
        for old in reqs:
            if old.delivered:
                self.v(
                    old.frame,
                    "vdp-no-response",
                    f"{_MODES.get(int(old.tlv.mode))} request superseded by frame {q.frame} "
                    "without a response",
                )
        reqs.clear()
        qm, rm = int(q.tlv.mode), int(tlv.mode)
        err = tlv.status & 0x0F
        if rm != qm and not (rm == 4 and err):
            self.v(
                n,
                "vdp-response-mode",
                f"response type {_MODES.get(rm, rm)} to a {_MODES.get(qm, qm)} request "
                f"(frame {q.frame})",
            )
        if err == 0:
            why = _filters_mismatch(q.tlv, tlv)
            if why:
                self.v(n, "vdp-response-filter", f"{why} (request frame {q.frame})")
        h = hist.setdefault(key, _VsiHist())
        h.resp_time = t
        h.resp_ok = err == 0 and rm == qm and rm != 4

    def keepalive(
        self,
        n: int,
        t: float,
        g: _Group,
        tlv: VsiTlv,
        key: tuple[Any, ...],
        desc: str,
        hist: dict[tuple[Any, ...], _VsiHist],
        sends: dict[bytes, list[float]],
    ) -> None:
        mode = int(tlv.mode)
        h = hist.setdefault(key, _VsiHist())
        if h.last_type == mode and h.resp_time is not None and h.resp_ok and mode != 4:
            p = self.params(g.sender, t)
            ka = p.keepalive
            gap = t - h.resp_time
            if gap < ka - KA_EARLY_TOLERANCE:
                self.v(
                    n,
                    "vdp-keepalive-early",
                    f"keep-alive {gap:.4f} s after the response (frame "
                    f"{h.last_req_frame}'s exchange); period {ka:.5f} s (RKA {p.rka})",
                )
            elif gap > ka + KA_LATE_SLACK:
                nominal = h.resp_time + ka
                busy = any(
                    nominal - p.ack - KA_LATE_SLACK <= ts < t for ts in sends.get(g.sender, ())
                )
                if not busy:
                    self.v(
                        n,
                        "vdp-keepalive-late",
                        f"keep-alive {gap:.4f} s after the response; period {ka:.5f} s "
                        f"(RKA {p.rka}) + {KA_LATE_SLACK} s slack",
                    )
        h.last_type = mode
        h.last_req_frame = n
        h.resp_time = None
        h.resp_ok = False


_MODES = {1: "preassoc", 2: "preassoc-rr", 3: "assoc", 4: "deassoc"}


def _filters_mismatch(req: VsiTlv, resp: VsiTlv) -> str:
    """Why a success response's filters do not answer the request (vdp.md §7.4), or ""."""
    if len(req.filters) != len(resp.filters):
        return f"{len(resp.filters)} filter entries answer {len(req.filters)}"
    for i, (a, b) in enumerate(zip(req.filters, resp.filters, strict=True)):
        if a.mac != b.mac:
            return f"entry {i}: MAC differs"
        if a.group_id != b.group_id:
            return f"entry {i}: GroupID differs"
        if a.vid and a.vid != b.vid:
            return f"entry {i}: VID {b.vid} answers {a.vid}"
        if a.ps and (a.ps, a.pcp) != (b.ps, b.pcp):
            return f"entry {i}: PS/PCP differ"
    return ""


def check(records: Iterable[tuple[float, bytes]]) -> tuple[int, list[Violation]]:
    """Check a capture; returns (frame count, violations sorted by frame)."""
    decoded: list[tuple[int, float, bytes, Any]] = []
    out: list[Violation] = []
    for n, (t, raw) in enumerate(records, 1):
        try:
            fr = decode_frame(raw, lenient=True)
        except Exception as e:
            out.append(Violation(n, "decode", str(e) or type(e).__name__))
            continue
        try:
            again = encode_frame(fr)
        except Exception as e:
            out.append(Violation(n, "roundtrip", f"re-encoding fails: {e}"))
        else:
            if again != raw:
                out.append(Violation(n, "roundtrip", _first_diff(raw, again)))
        decoded.append((n, t, raw, fr))
    count = len(decoded) + sum(1 for v in out if v.rule == "decode")
    c = _Checker(decoded)
    c.learn()
    groups = c.ecp()
    c.draft_ecp()
    c.vdp(groups)
    out.extend(c.s.out)
    out.sort(key=lambda v: (v.frame, v.rule))
    return count, out


def _first_diff(a: bytes, b: bytes) -> str:
    if len(a) != len(b):
        return f"re-encoded frame is {len(b)} octets, captured {len(a)}"
    i = next(i for i in range(len(a)) if a[i] != b[i])
    return f"re-encoded frame differs at octet {i} ({a[i]:#04x} → {b[i]:#04x})"
