"""Mutated frames into live machines (in-process) and garbage into running daemons (veth)."""

from __future__ import annotations

import random
import sys
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from qbg import fuzz
from qbg.lldp.errors import DecodeError
from qbg.vdp.frames import decode_frame
from tests.reliability.netbed import bed, mac, start_pair, wait_fdb
from tests.reliability.sizes import size

CORPUS = fuzz.seed_corpus()


@settings(max_examples=500, deadline=None)
@given(st.randoms(use_true_random=False), st.integers(1, 40))
def test_mutation_bursts_keep_machines_consistent(rng: random.Random, n: int) -> None:
    """A burst of mutations into both ports of an associated pair: no exception, every VSI
    table change comes with an event, and the pair still exchanges keep-alives afterwards."""
    live = fuzz.Machines(rng.randrange(1 << 30))
    res = fuzz.FuzzResult()
    for _ in range(n):
        live.feed(fuzz.mutate(rng, rng.choice(CORPUS), CORPUS), res)
    assert not res.findings, [(f.target, f.detail, f.frame.hex()) for f in res.findings]
    pair = live.pair
    pair.run(pair.now + 25.0)  # timers and keep-alives keep running on both ends
    assert pair.station.peer_seen and pair.bridge.peer_seen


def _garbage_stream(count: int, seed: int) -> list[bytes]:
    """Mutated corpus frames that do not decode even leniently (the ports decode VDPDUs
    leniently, like lldpad: one malformed VSI TLV does not void the others), so they must
    change nothing, + random junk."""
    rng = random.Random(seed)
    out: list[bytes] = []
    while len(out) < count:
        f = (
            fuzz.mutate(rng, rng.choice(CORPUS), CORPUS)
            if rng.random() < 0.8
            else fuzz.garbage(rng)
        )
        if len(f) < 14:
            continue
        try:
            decode_frame(f, lenient=True)
        except DecodeError:
            out.append(f[:1514])
    return out


@pytest.mark.netns
def test_garbage_over_veth_to_running_daemons() -> None:
    count = size(5000, 100_000)
    frames = _garbage_stream(count, seed=11)
    with bed(1) as tb:
        start_pair(tb, 3, evb={"rte": 8, "rka": 20, "rwd": 20})
        wait_fdb(tb, {mac(1), mac(2), mac(3)}, what="associated")
        before = (tb.ctl("bridge", "vsi", "list")["vsis"], tb.fdb_macs())
        path = tb.dir / "garbage.bin"
        path.write_bytes(b"".join(len(f).to_bytes(2, "big") + f for f in frames))
        script = (
            "import socket,sys\n"
            "data=open(sys.argv[1],'rb').read()\n"
            "s=socket.socket(socket.AF_PACKET,socket.SOCK_RAW); s.bind((sys.argv[2],0)); i=n=0\n"
            "while i<len(data):\n"
            "    k=int.from_bytes(data[i:i+2],'big'); f=data[i+2:i+2+k]; i+=2+k\n"
            "    f=f[:6]+bytes.fromhex('02deadbeef01')+f[12:]\n"
            "    try: s.send(f); n+=1\n"
            "    except OSError: pass\n"
            "print(n)\n"
        )
        t0 = time.monotonic()
        sent_b = tb.hosts[0].run(sys.executable, "-c", script, str(path), "uplink", timeout=300)
        sent_s = tb.switch.run(sys.executable, "-c", script, str(path), tb.port(0), timeout=300)
        took = time.monotonic() - t0
        time.sleep(1.0)
        assert tb.daemons["bridge"].alive() and tb.daemons["station0"].alive()
        drops_b = sum(tb.ctl("bridge", "status")["interfaces"][0]["drops"].values())
        drops_s = sum(tb.ctl("station0", "status")["interfaces"][0]["drops"].values())
        assert drops_b > 0 and drops_s > 0
        assert (tb.ctl("bridge", "vsi", "list")["vsis"], tb.fdb_macs()) == before
        time.sleep(0.5)
        assert len(tb.ctl("station0", "vsi", "list")["vsis"]) == 3
        print(
            f"\ngarbage over veth: {sent_b.stdout.strip()} frames to the bridge, "
            f"{sent_s.stdout.strip()} to the station in {took:.1f} s; typed drops counted "
            f"{drops_b} / {drops_s}; state unchanged"
        )
