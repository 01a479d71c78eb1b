"""Peer silence: the keep-alive supervision removes exactly the silent VSIs' state; an ECP
give-up is reported once per ECPDU, not looped on."""

from __future__ import annotations

import time

import pytest

from qbg.evb import timers
from qbg.evb.ecp import EcpGaveUp
from qbg.interop.loss import Loss
from qbg.vdp.events import DeassocReason
from qbg.vdp.station import VsiDeassociated

from .netbed import bed, mac, removals, start_pair, status_ecp, wait_fdb
from .simnet import Net, vsi


def test_station_silence_removes_at_supervision_time() -> None:
    net = Net(rka=17, rwd=14)
    net.run_until(3.0)
    net.request([vsi(i) for i in range(1, 11)])
    net.run_until(4.0)
    t0 = net.now
    net.cut.add(0)  # the station goes silent (its frames vanish)
    sup = timers.supervision_us(net.r, net.rte, net.rka) / 1e6
    ka = timers.keepalive_us(net.rka) / 1e6
    net.run_until(t0 + sup + ka + 1.0)
    gone = net.bridge_removed("supervision")
    assert len(gone) == 10 and len(net.bridge.vdp) == 0
    times = [t for s, t, e in net.events if s == 1 and e in gone]
    assert all(t0 < t <= t0 + sup + 0.01 for t in times), (times, t0, sup)


def test_bridge_silence_gives_up_once_per_ecpdu() -> None:
    net = Net(rka=17, rwd=14, retry_s=None)
    net.run_until(3.0)
    net.cut.add(1)  # the bridge goes silent
    net.request([vsi(i) for i in range(1, 4)])
    net.run_until(net.now + 10.0)
    st = net.station.ecp.stats
    gave_up = net.of(0, EcpGaveUp)
    assert st.give_ups == len(gave_up) == st.requests_sent >= 1
    assert st.retransmissions == net.r * st.requests_sent  # exactly R retries, then stop
    ended = [e for e in net.of(0, VsiDeassociated) if isinstance(e, VsiDeassociated)]
    assert {e.reason for e in ended} == {DeassocReason.TIMEOUT} and len(ended) == 3
    sent_before = st.requests_sent
    net.run_until(net.now + 60.0)
    assert st.requests_sent == sent_before  # nothing more without a new request: no loop


@pytest.mark.netns
def test_silent_station_loses_exactly_its_vsis() -> None:
    with bed(2) as tb:
        br, _ = start_pair(tb, 2, station=0, first=1)
        start_pair(tb, 1, station=1, first=3)
        wait_fdb(tb, {mac(1), mac(2), mac(3)}, what="three VSIs on two ports")
        with Loss([(tb.hosts[0], "uplink")], 100):  # hv0 goes silent
            sup = timers.supervision_us(3, 8, 17) / 1e6
            tb.wait_for(lambda: tb.fdb_macs() == {mac(3)}, timeout=sup + 10, what="hv0 gone")
            assert sorted(removals(br, "supervision")) == [
                "00000000-0000-4000-8000-000000000001",
                "00000000-0000-4000-8000-000000000002",
            ]
            rows = tb.ctl("bridge", "vsi", "list")["vsis"]
            assert [(r["interface"], r["vsiid"][-1]) for r in rows] == [("swp2", "3")]
            time.sleep(2 * sup)
            assert tb.fdb_macs() == {mac(3)}  # hv1 kept alive throughout
        # the silence ends: hv0's station retries / re-associates only after it notices
        st0 = status_ecp(tb, "station0")
        assert st0.get("give_ups", 0) >= 1  # reported, counted
        sent = st0.get("sent", 0)
        time.sleep(3.0)
        assert status_ecp(tb, "station0").get("sent", 0) - sent < 40  # no tight retry loop
