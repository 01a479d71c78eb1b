"""evb/ecp.py: scenarios S10, S11, S12, S17, S20, S21 and the draft rules of ecp.md §8.2."""

from __future__ import annotations

from pathlib import Path

import pytest

from qbg.evb.ecp import (
    RX_TRANSITIONS,
    TX_TRANSITIONS,
    EcpAcked,
    EcpDelivered,
    EcpEndpoint,
    EcpGaveUp,
    RxInput,
    RxState,
    TxState,
    next_seq,
)
from qbg.lldp.errors import LocalError
from qbg.lldp.events import FrameDropped, Output
from tests.helpers import Clock, Link, Sent, Solo, read_pcap

STA = bytes.fromhex("020000005a01")
BRI = bytes.fromhex("02000000b001")
NCB = bytes.fromhex("0180c2000000")
NB = bytes.fromhex("0180c200000e")


def req(seq: int, body: bytes = b"\x00\x00", src: bytes = BRI, word: int = 0x1001) -> bytes:
    frame = NCB + src + b"\x89\x40" + word.to_bytes(2, "big") + seq.to_bytes(2, "big") + body
    return frame + bytes(max(0, 60 - len(frame)))


def ack_seqs(out: Output) -> list[int]:
    return [int.from_bytes(f[16:18], "big") for f in out.frames if f[14:16] == b"\x14\x01"]


def delivered(out: Output) -> list[int]:
    return [e.seq for e in out.events if isinstance(e, EcpDelivered)]


def test_next_seq_skips_zero() -> None:
    assert next_seq(0) == 1
    assert next_seq(0x2E) == 0x2F
    assert next_seq(0xFFFE) == 0xFFFF
    assert next_seq(0xFFFF) == 1


def test_tables_cover_every_rx_pair() -> None:
    assert {(s, i) for s in RxState for i in RxInput} == set(RX_TRANSITIONS)
    assert all(isinstance(k[0], TxState) for k in TX_TRANSITIONS)


# --- S10: retransmission schedule and give-up (ecp.md §3.4) -------------------------------------

SCHEDULE = [
    # R, RTE, send times (µs), give-up (µs)
    (3, 8, [0, 2_560, 5_120, 7_680], 10_240),
    (3, 14, [0, 163_840, 327_680, 491_520], 655_360),
    (3, 16, [0, 655_360, 1_310_720, 1_966_080], 2_621_440),
    (0, 14, [0], 163_840),
    (7, 14, [i * 163_840 for i in range(8)], 1_310_720),
]


@pytest.mark.parametrize(("r", "rte", "sends", "giveup"), SCHEDULE)
def test_s10_retransmit_schedule(r: int, rte: int, sends: list[int], giveup: int) -> None:
    clock = Clock()
    ep = EcpEndpoint(STA, initial_seq=0x2E, r=r, rte=rte)
    solo = Solo(clock, ep)
    solo.inject(ep.send(b"\x01" * 53, clock.now))
    clock.run_until_idle()
    assert [s.t for s in solo.wire] == sends
    assert len({s.frame for s in solo.wire}) == 1  # same seq, same bytes
    gave = [(t, e) for t, e in solo.events if isinstance(e, EcpGaveUp)]
    assert [t for t, _ in gave] == [giveup]
    assert gave[0][1].seq == 0x2F
    assert ep.stats.requests_sent == 1 and ep.stats.retransmissions == r
    assert ep.stats.give_ups == 1 and ep.idle


def test_s10_corpus_frames_byte_exact(corpus: Path) -> None:
    frames = read_pcap(corpus / "std-ecp22-retransmit-bridge-frozen.pcap")
    first = frames[0][1]
    ulpdu = first[18:]
    clock = Clock()
    ep = EcpEndpoint(STA, initial_seq=0x2E, r=3, rte=14)
    solo = Solo(clock, ep)
    solo.inject(ep.send(ulpdu, clock.now))
    clock.run_until(1.0)
    assert [s.frame for s in solo.wire] == [f for _, f in frames[:4]]
    # Real timers fire 0.2-0.4 ms late; the fake clock is exact.
    for (t_corpus, _), sent in zip(frames[:4], solo.wire, strict=True):
        assert 0 <= t_corpus - sent.t / 1e6 < 0.0015  # lateness accumulates per copy
    # The next VSI uses seq + 1 (frame 12: seq 0x30); with minGap on it leaves only after a
    # late ack of the given-up ECPDU or a second give-up time (1.31 s), see test_give_up_hold.
    solo.inject(ep.send(frames[11][1][18:], clock.now))
    clock.run_until(1.4)
    assert solo.wire[-1].frame == frames[11][1] and solo.wire[-1].t == 1_310_720


def test_s12_corpus_bridge_acks_four_copies_delivers_once(corpus: Path) -> None:
    frames = read_pcap(corpus / "std-ecp22-retransmit-bridge-frozen.pcap")
    bridge = EcpEndpoint(BRI, initial_seq=0x3E, ack_pad=False)
    outs = [bridge.receive(f, 25.0) for _, f in frames[:4]]
    assert [o.frames for o in outs] == [(f,) for _, f in frames[5:9]]  # 18-octet acks, exact
    assert sum(len(delivered(o)) for o in outs) == 1
    assert bridge.stats.duplicates == 3
    # its response: a separate request with its own seq (frame 10), acked by the station (11)
    resp = bridge.send(frames[9][1][18:], 25.0)
    assert resp.frames == (frames[9][1],)
    station = EcpEndpoint(STA, initial_seq=0x2F, ack_pad=False)
    assert station.receive(frames[9][1], 25.0).frames == (frames[10][1],)


def test_ack_frame_is_padded_to_60_by_default() -> None:
    ep = EcpEndpoint(BRI)
    (ack,) = ep.receive(req(7), 0.0).frames
    assert len(ack) == 60 and ack[:18] == NCB + BRI + bytes.fromhex("8940 1401 0007")


# --- S11: retransmission answered after a loss --------------------------------------------------


def _pair(clock: Clock, **kw: object) -> tuple[EcpEndpoint, EcpEndpoint]:
    a = EcpEndpoint(STA, initial_seq=0x10, r=3, rte=14, **kw)  # type: ignore[arg-type]
    b = EcpEndpoint(BRI, initial_seq=0x20, r=3, rte=14, **kw)  # type: ignore[arg-type]
    return a, b


def test_s11_first_copy_lost() -> None:
    clock = Clock()
    a, b = _pair(clock)
    lost: list[Sent] = []

    def fate(s: Sent) -> list[float]:
        if s.side == "a" and not lost:
            lost.append(s)
            return []
        return [0.0001]

    link = Link(clock, a, b, fate=fate)
    link.inject("a", a.send(b"\x05" * 40, clock.now))
    clock.run_until(2.0)
    assert [s.t for s in link.frames("a")] == [0, 163_840]
    assert [s.t for s in link.frames("b")] == [163_940]  # the ack, ε later
    assert [e.seq for e in link.event_list("b", EcpDelivered)] == [0x11]  # type: ignore[attr-defined]
    acked = [(t, e) for t, e in link.events["a"] if isinstance(e, EcpAcked)]
    assert acked == [(164_040, EcpAcked(seq=0x11))]  # qbg advances on the ack
    assert a.idle and not link.event_list("a", EcpGaveUp)


def test_s11_first_ack_lost() -> None:
    clock = Clock()
    a, b = _pair(clock)
    dropped: list[Sent] = []

    def fate(s: Sent) -> list[float]:
        if s.side == "b" and not dropped:
            dropped.append(s)
            return []
        return [0.0001]

    link = Link(clock, a, b, fate=fate)
    link.inject("a", a.send(b"\x05" * 40, clock.now))
    clock.run_until(2.0)
    assert len(link.frames("a")) == 2 and len(link.frames("b")) == 2  # two acks, one lost
    assert len(link.event_list("b", EcpDelivered)) == 1
    assert b.stats.duplicates == 1
    assert a.idle and a.stats.acks_received == 1


# --- S12: duplicate suppression and invalid headers ---------------------------------------------


def test_s12_only_consecutive_repeats_are_duplicates() -> None:
    ep = EcpEndpoint(BRI)
    outs = [ep.receive(req(s), 1.0) for s in (7, 7, 8, 7)]
    assert [ack_seqs(o) for o in outs] == [[7], [7], [8], [7]]
    assert [delivered(o) for o in outs] == [[7], [], [8], [7]]
    assert ep.stats.requests_received == 4 and ep.stats.delivered == 3


def skips(out: Output) -> list[int]:
    return [e.skipped for e in out.events if isinstance(e, EcpDelivered)]


def test_a_skip_in_the_peers_sequence_numbers_is_reported_with_the_delivery() -> None:
    """The peer numbers each new ECPDU one higher: a jump means it gave up on ECPDUs that
    never arrived (loss on the wire), which the station's VDP loss recovery uses."""
    ep = EcpEndpoint(BRI)
    outs = [ep.receive(req(s), 1.0) for s in (0xFFFD, 0xFFFE, 0xFFFF, 1, 4, 4, 5, 0xFFFE, 2)]
    # 0xFFFF → 1 is a step (0 is skipped on wrap); 1 → 4 lost 2 and 3; 0xFFFE → 2 lost 0xFFFF, 1
    assert [skips(o) for o in outs] == [[0], [0], [0], [0], [2], [], [0], [0xFFF8], [2]]
    assert ep.stats.rx_gaps == 3 and ep.stats.delivered == 8


def test_a_peer_that_uses_sequence_number_zero_is_not_skipping() -> None:
    ep = EcpEndpoint(BRI)
    assert [skips(ep.receive(req(s), 1.0)) for s in (0xFFFF, 0, 1)] == [[0], [0], [0]]
    assert ep.stats.rx_gaps == 0


def test_draft_ecp_reports_no_skips() -> None:
    """Draft ECP numbers every transmission (ecp.md §8.2): a jump is only a retransmission."""
    ep = EcpEndpoint(STA, draft=True)
    outs = [ep.receive(dreq(s, b"\x01\x02"), 1.0) for s in (3, 7)]
    assert [skips(o) for o in outs] == [[0], [0]] and ep.stats.rx_gaps == 0


def test_s12_ack_precedes_delivery_and_payload_includes_padding() -> None:
    ep = EcpEndpoint(BRI)
    out = ep.receive(req(1, b"\x0a\x10"), 0.0)
    assert len(out.frames) == 1
    (ev,) = out.events
    assert isinstance(ev, EcpDelivered) and ev.payload == b"\x0a\x10" + bytes(40)


def test_s12_first_after_restart_is_new() -> None:
    ep = EcpEndpoint(BRI)
    ep.receive(req(1), 0.0)
    ep.link_down(0.1)
    ep.link_up(0.2, initial_seq=0)
    assert delivered(ep.receive(req(1), 0.3)) == [1]


@pytest.mark.parametrize(
    ("word", "counter"),
    [(0xF001, "drops_version"), (0x100F, "drops_subtype"), (0x1801, "drops_op"),
     (0x1000, "drops_subtype"), (0x0001, "drops_version")],
)  # fmt: skip
def test_s12_invalid_headers_no_ack(word: int, counter: str) -> None:
    ep = EcpEndpoint(BRI)
    out = ep.receive(req(3, word=word), 0.0)
    assert out.frames == ()
    assert [type(e) for e in out.events] == [FrameDropped]
    assert getattr(ep.stats, counter) == 1 and ep.stats.delivered == 0


def test_s12_pecsp_acked_not_delivered() -> None:
    ep = EcpEndpoint(BRI)
    out = ep.receive(req(4, word=0x1002), 0.0)
    assert ack_seqs(out) == []  # the ack keeps the request's subtype: 14 02
    assert [f[14:18].hex() for f in out.frames] == ["14020004"]
    assert delivered(out) == [] and ep.stats.pecsp_discarded == 1


def test_s12_unexpected_ack_ignored() -> None:
    ep = EcpEndpoint(STA)
    assert ep.receive(req(99, word=0x1401, src=BRI), 0.0) == Output()
    assert ep.stats.stale_acks == 1


def test_short_and_foreign_frames_dropped() -> None:
    ep = EcpEndpoint(BRI)
    out = ep.receive(NCB + STA + b"\x89\x40\x10", 0.0)
    assert isinstance(out.events[0], FrameDropped) and ep.stats.drops_short == 1
    out = ep.receive(bytes.fromhex("0180c200000e") + req(1)[6:], 0.0)
    assert isinstance(out.events[0], FrameDropped) and ep.stats.drops_other == 1
    out = ep.receive(BRI + req(2)[6:], 0.0)  # own unicast MAC accepted (ecp.md §1.1)
    assert delivered(out) == [2]
    assert isinstance(ep.receive(b"\x00" * 5, 0.0).events[0], FrameDropped)


def test_wrong_seq_ack_is_stale() -> None:
    ep = EcpEndpoint(STA, initial_seq=4)
    ep.send(b"x", 0.0)
    assert ep.receive(req(9, word=0x1401), 0.001) == Output()
    assert ep.outstanding_seq == 5 and ep.stats.stale_acks == 1
    out = ep.receive(req(5, word=0x1401), 0.002)
    assert out.events == (EcpAcked(seq=5),)


# --- S17 / S20: link down / up, restart -----------------------------------------------------------


def test_s17_link_down_drops_outstanding_keeps_queue() -> None:
    clock = Clock()
    ep = EcpEndpoint(STA, initial_seq=0x40, rte=14)
    solo = Solo(clock, ep)
    solo.inject(ep.send(b"A", 0.0))
    solo.inject(ep.send(b"B", 0.0))
    assert ep.queue_len == 1 and ep.outstanding_seq == 0x41
    solo.inject(ep.link_down(0.05))
    assert ep.next_deadline() is None and ep.outstanding_seq is None and ep.queue_len == 1
    with pytest.raises(LocalError):
        ep.send(b"C", 0.06)
    clock.run_until(1.0)
    assert len(solo.wire) == 1
    out = ep.link_up(1.0, initial_seq=0x1234)
    assert [f[16:18].hex() for f in out.frames] == ["1235"]
    assert out.frames[0][18:19] == b"B"


def test_link_up_uses_rng() -> None:
    ep = EcpEndpoint(STA, rng=lambda: 0x7777)
    ep.link_down(0.0)
    out = ep.link_up(1.0)
    assert out.frames == ()
    assert ep.send(b"z", 1.0).frames[0][16:18].hex() == "7778"
    with pytest.raises(LocalError):
        EcpEndpoint(STA).link_up(0.0)


def test_s20_restarted_sender_reusing_last_seq_is_dropped() -> None:
    bridge = EcpEndpoint(BRI)
    assert delivered(bridge.receive(req(5, src=STA), 0.0)) == [5]
    # The station restarts and (lldpad-like) happens to reuse 5: acked but not delivered.
    out = bridge.receive(req(5, src=STA), 1.0)
    assert ack_seqs(out) == [5] and delivered(out) == []
    # lldpad's restart: first seq 1 ≠ 5 → delivered.
    assert delivered(bridge.receive(req(1, src=STA), 2.0)) == [1]


# --- S21: throughput and pacing -----------------------------------------------------------------


def _burst(n: int, **kw: object) -> list[int]:
    clock = Clock()
    a = EcpEndpoint(STA, initial_seq=0, r=3, rte=8, **kw)  # type: ignore[arg-type]
    b = EcpEndpoint(BRI, initial_seq=0, r=3, rte=8)
    link = Link(clock, a, b)
    for i in range(n):
        link.inject("a", a.send(bytes([i]) * 30, clock.now))
    clock.run_until_idle()
    assert [e.payload[0] for e in link.event_list("b", EcpDelivered)] == list(range(n))  # type: ignore[attr-defined]
    return [s.t for s in link.frames("a")]


def test_s21_min_gap_paces_new_pdus() -> None:
    assert _burst(4) == [0, 3_000, 6_000, 9_000]


def test_s21_min_gap_zero_sends_back_to_back() -> None:
    assert _burst(3, min_gap_us=0) == [0, 0, 0]


def test_s21_lldpad_pacing_advances_at_timer() -> None:
    assert _burst(4, lldpad_pacing=True, min_gap_us=0) == [0, 2_560, 5_120, 7_680]


def _ack_frame(seq: int, src: bytes = BRI) -> bytes:
    return req(seq, b"", src=src, word=0x1401)


def test_min_gap_counts_from_the_ack() -> None:
    """A peer that acks late (busy, or only a retransmission got through) took the ECPDU at the
    ack: the next new ECPDU keeps minGap from there (Q-E4 protects deliveries, not sends)."""
    ep = EcpEndpoint(STA, initial_seq=0, r=3, rte=8)  # ack 2.56 ms, minGap 3 ms
    assert ep.send(b"one", 0.0).frames
    ep.timer(0.00256)  # retransmission 1
    ep.send(b"two", 0.004)
    out = ep.receive(_ack_frame(1), 0.0052)  # acked 5.2 ms after the first send
    assert out.frames == () and ep.next_deadline() == pytest.approx(0.0082)
    assert ep.timer(0.0081).frames == ()
    assert ep.timer(0.0082).frames[0][18:21] == b"two"


def test_give_up_hold_waits_for_the_late_ack() -> None:
    """With minGap set, after a give-up the next new ECPDU waits for the given-up one's late
    ack (the peer was busy and reads the queued copies later), then minGap; without a late ack
    at most one more give-up time; with minGap 0 it follows at once."""
    ep = EcpEndpoint(STA, initial_seq=0, r=3, rte=8)
    ep.send(b"one", 0.0)
    for k in range(1, 4):
        ep.timer(k * 0.00256)
    gave = ep.timer(0.01024)
    assert [type(e) for e in gave.events] == [EcpGaveUp]
    assert ep.send(b"two", 0.011).frames == ()  # held
    out = ep.receive(_ack_frame(1), 0.015)  # the busy peer read copy 1 at last
    assert out.frames == () and ep.next_deadline() == pytest.approx(0.018)
    assert ep.timer(0.018).frames[0][18:21] == b"two"
    # No late ack: the hold ends one give-up time after the give-up.
    ep2 = EcpEndpoint(STA, initial_seq=0, r=3, rte=8)
    ep2.send(b"one", 0.0)
    for k in range(1, 5):
        ep2.timer(k * 0.00256)
    ep2.send(b"two", 0.011)
    assert ep2.next_deadline() == pytest.approx(0.02048)
    assert ep2.timer(0.02048).frames
    # minGap 0 (qbg to qbg): no hold.
    ep3 = EcpEndpoint(STA, initial_seq=0, r=3, rte=8, min_gap_us=0)
    ep3.send(b"one", 0.0)
    for k in range(1, 5):
        ep3.timer(k * 0.00256)
    assert ep3.send(b"two", 0.011).frames


def test_set_parameters_applies_at_next_timer_start() -> None:
    clock = Clock()
    ep = EcpEndpoint(STA, r=1, rte=8)
    solo = Solo(clock, ep)
    solo.inject(ep.send(b"x", 0.0))
    ep.set_parameters(r=1, rte=14)
    clock.run_until_idle()
    assert [s.t for s in solo.wire] == [0, 2_560]
    assert [t for t, e in solo.events if isinstance(e, EcpGaveUp)] == [2_560 + 163_840]


# --- pull model (batching hook) -----------------------------------------------------------------


def test_ulp_pull_called_when_transmitter_free() -> None:
    clock = Clock()
    work = [b"batch1", b"batch2"]
    sizes: list[int] = []

    def pull(max_len: int) -> bytes | None:
        sizes.append(max_len)
        return work.pop(0) if work else None

    a = EcpEndpoint(STA, initial_seq=0, rte=8, ulp_pull=pull)
    b = EcpEndpoint(BRI, initial_seq=0)
    link = Link(clock, a, b)
    link.inject("a", a.kick(clock.now))
    clock.run_until(1.0)
    got = [e.payload[:6] for e in link.event_list("b", EcpDelivered)]  # type: ignore[attr-defined]
    assert got == [b"batch1", b"batch2"]
    assert [s.t for s in link.frames("a")] == [0, 3_000]
    assert set(sizes) == {1493} and a.max_ulpdu == 1493
    assert a.next_deadline() is None  # pulled None after the gap: nothing more to do
    work.append(b"batch3")
    out = link.inject("a", a.kick(clock.now))
    assert out.frames[0][18:24] == b"batch3"


def test_send_too_long_refused() -> None:
    ep = EcpEndpoint(STA)
    with pytest.raises(LocalError) as err:
        ep.send(bytes(1494), 0.0)
    assert err.value.code == "EMSGSIZE"
    assert EcpEndpoint(STA, mtu=1000).max_ulpdu == 996
    ep.send(bytes(1493), 0.0)


def test_fifo_each_ulpdu_one_ecpdu() -> None:
    ep = EcpEndpoint(STA, initial_seq=0xFFFE, min_gap_us=0)
    out1 = ep.send(b"one", 0.0)
    out2 = ep.send(b"two", 0.0)
    assert out2.frames == () and ep.queue_len == 1
    assert out1.frames[0][16:18].hex() == "ffff"
    out3 = ep.receive(req(0xFFFF, word=0x1401), 0.001)
    assert out3.frames[0][16:18].hex() == "0001" and out3.frames[0][18:21] == b"two"


# --- draft 0.2 (ecp.md §8) ----------------------------------------------------------------------


def dreq(seq: int, body: bytes, src: bytes = BRI, mode: int = 0) -> bytes:
    f = NB + src + b"\x88\xb7" + bytes.fromhex("001b3f000000") + bytes([mode])
    f += seq.to_bytes(2, "big") + body
    return f + bytes(max(0, 60 - len(f)))


def test_draft_retransmits_with_new_seq_500ms_three_tries() -> None:
    clock = Clock()
    ep = EcpEndpoint(STA, draft=True, initial_seq=0)
    solo = Solo(clock, ep)
    solo.inject(ep.send(b"\xfe\x26TLV\x00\x00", 0.0))
    clock.run_until_idle()
    assert [s.t for s in solo.wire] == [0, 500_000, 1_000_000]
    assert [s.frame[21:23].hex() for s in solo.wire] == ["0001", "0002", "0003"]
    assert all(s.frame[:6] == NB and s.frame[12:14] == b"\x88\xb7" for s in solo.wire)
    assert solo.wire[0].frame[14:21].hex() == "001b3f00000000"
    assert [t for t, e in solo.events if isinstance(e, EcpGaveUp)] == [1_500_000]


def test_draft_only_latest_seq_acks() -> None:
    clock = Clock()
    ep = EcpEndpoint(STA, draft=True, initial_seq=0)
    solo = Solo(clock, ep)
    solo.inject(ep.send(b"\x01\x02", 0.0))
    clock.run_until(0.6)  # retransmitted as seq 2
    assert ep.receive(dreq(1, b"", mode=1), 0.61) == Output()
    out = ep.receive(dreq(2, b"", mode=1), 0.62)
    assert out.events == (EcpAcked(seq=2),)


def test_draft_receiver_ack_format_identical_and_empty() -> None:
    ep = EcpEndpoint(BRI, draft=True)
    frame = dreq(1, bytes.fromhex("fe26001b3f02") + b"\x02" * 38 + b"\x00\x00", src=STA)
    out = ep.receive(frame, 0.0)
    (ack,) = out.frames
    assert len(ack) == len(frame)
    assert ack[:6] == NB and ack[6:12] == BRI and ack[20] == 1 and ack[21:23] == b"\x00\x01"
    assert ack[23:] == bytes(len(frame) - 23)
    assert delivered(out) == [1]
    again = ep.receive(frame, 0.1)  # byte-identical: not delivered; acked (SHOULD)
    assert delivered(again) == [] and len(again.frames) == 1
    empty = ep.receive(dreq(2, b"\x00\x00", src=STA), 0.2)  # End TLV only
    assert len(empty.frames) == 1 and delivered(empty) == [] and ep.stats.empty_requests == 1
    silent = EcpEndpoint(BRI, draft=True, draft_ack_repeats=False)
    silent.receive(frame, 0.0)
    assert silent.receive(frame, 0.1) == Output()


def test_draft_rejects_wrong_da() -> None:
    ep = EcpEndpoint(BRI, draft=True)
    out = ep.receive(NCB + dreq(1, b"\x01")[6:], 0.0)
    assert isinstance(out.events[0], FrameDropped)


def test_draft_pair_over_link() -> None:
    clock = Clock()
    a = EcpEndpoint(STA, draft=True, initial_seq=0)
    b = EcpEndpoint(BRI, draft=True, initial_seq=0)
    link = Link(clock, a, b, delay=0.001)
    link.inject("a", a.send(b"\x01\x02\x03", clock.now))
    clock.run_until(1.0)
    assert len(link.event_list("b", EcpDelivered)) == 1 and a.idle
