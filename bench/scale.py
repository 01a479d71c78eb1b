"""``qbg bench scale``: the bridge daemon holding many associated VSIs under keep-alive load.

What is measured (``--agent daemon``): the real ``qbg bridge`` process, in a switch namespace,
with ``--ports`` veth ports enslaved to Linux bridge ``br0`` — data-plane programming (one
static FDB entry per VSI), state journal, control socket and metrics included.  ``--agent
worker`` runs only the bridge's ports and pumps (no Linux bridge, no kernel work).  The other
ends of the veths are in a hypervisor namespace, where a lean load generator *in this process*
runs one :class:`~qbg.vdp.port.StationPort` (qbg's own protocol core) per veth, each driven by
the asyncio :class:`~qbg.pump.Pump` over a :class:`~qbg.link.RawLink` — the same pieces the
station daemon uses, without its control socket, persistence and logging.  The VSIs are spread
evenly over the ports and handed to each port in one batch.

Phases: (1) start the bridge, baseline RSS; (2) associate every VSI, wait until the bridge's CPU
use settles (its data plane and state journal catch up); (3) measure for ``--periods``
keep-alive periods (10 µs·2^RKA each): the bridge's CPU time from ``/proc/PID/stat``
(utime + stime) as % of one core, RSS and peak RSS from ``/proc/PID/status``, keep-alives
answered, and two latencies measured in the load generator (so both include two veth hops and
both event loops' queueing): ``keepalive_latency_ms``, from sending a keep-alive ECPDU to the
bridge's ECP ack for it (qbg's bridge acks a PDU on receipt, before its VDP works on it), and
``keepalive_reply_latency_ms``, to the arrival of the bridge's VDP replies to every TLV of it
(the bridge answers in order; its per-PDU processing time is in this one).

``QBG_BENCH_PYSPY=FILE`` records the bridge with py-spy (raw stacks) during the window;
``QBG_BENCH_KEEP=DIR`` keeps the bridge's configuration, log and state.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import subprocess
import sys
import tempfile
import time
import uuid
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["main", "run"]

_ECP = 0x8940
_CLK = os.sysconf("SC_CLK_TCK")


def _cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _CLK  # utime, stime (fields 14, 15)


def _status_kb(pid: int, key: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    return 0


def _is_ecp(frame: bytes, op: int) -> bool:
    """An ECP (0x8940) frame with operation ``op`` (0 request, 1 ack)."""
    return (
        len(frame) >= 18 and frame[12] == 0x89 and frame[13] == 0x40 and (frame[14] >> 2) & 3 == op
    )


def _vsi_tlvs(frame: bytes) -> int:
    """How many VSI TLVs (types 1..4) the VDPDU of an ECP frame carries."""
    pos, n, count = 18, len(frame), 0
    while pos + 2 <= n:
        t, length = frame[pos] >> 1, ((frame[pos] & 1) << 8) | frame[pos + 1]
        if t == 0:
            break
        count += 1 <= t <= 4
        pos += 2 + length
    return count


def _vsi(n: int) -> Any:
    from qbg.vdp.filters import FilterEntry
    from qbg.vdp.tlv import VdpTlvType, VsiIdFormat, VsiTlv

    mac = bytes((0x02, 0xAB, (n >> 24) & 0xFF, (n >> 16) & 0xFF, (n >> 8) & 0xFF, n & 0xFF))
    return VsiTlv(
        mode=VdpTlvType.ASSOC,
        status=0,
        type_id=5,
        type_version=4,
        vsiid_format=VsiIdFormat.UUID,
        vsiid=uuid.UUID(int=(0x4000_8000 << 64) | (n + 1)).bytes,
        filter_format=2,
        filters=(FilterEntry(ps=False, pcp=0, vid=100, mac=mac),),
    )


@dataclass
class _Gen:
    """The load generator: one StationPort per veth, all on one asyncio loop."""

    ns: str
    ports: int
    vsis: int
    rte: int
    rka: int
    associated: int = 0
    ended: int = 0
    measuring: bool = False
    sent_at: dict[tuple[int, int], float] = field(default_factory=dict)
    latencies: list[float] = field(default_factory=list)
    # keep-alive PDUs sent and not yet answered, per port: (time, VSI TLVs); reply TLVs seen
    unanswered: dict[int, deque[tuple[float, int]]] = field(default_factory=dict)
    answered: dict[int, int] = field(default_factory=dict)
    last_reply_seq: dict[int, int] = field(default_factory=dict)
    reply_latencies: list[float] = field(default_factory=list)
    ka_pdus: int = 0
    handed: list[bool] = field(default_factory=list)
    machines: list[Any] = field(default_factory=list)
    pumps: list[Any] = field(default_factory=list)
    links: list[Any] = field(default_factory=list)

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        from qbg.evb.negotiation import EvbConfig, EvbRole
        from qbg.link import RawLink
        from qbg.pump import Pump
        from qbg.vdp.port import PortOptions, StationPort
        from qbg.vdp.station import VsiAssociated, VsiDeassociated

        rnd = random.Random(1)
        opts = PortOptions(min_gap_ms=0.0, vdp_hold=30.0)
        for i in range(self.ports):
            link = RawLink(f"h{i}", netns=self.ns).open()
            port = StationPort(
                f"h{i}",
                link.mac,
                EvbConfig(role=EvbRole.STATION, rte=self.rte, rka=self.rka),
                opts,
                initial_seq=rnd.randrange(1, 0x10000),
                rng=lambda: rnd.randrange(1, 0x10000),
            )

            def on_event(ev: Any) -> None:
                if isinstance(ev, VsiAssociated):
                    self.associated += 1
                elif isinstance(ev, VsiDeassociated):
                    self.ended += 1

            def send(frame: bytes, i: int = i, link: Any = link) -> None:
                if self.measuring and _is_ecp(frame, 0):  # a request (keep-alives in this phase)
                    seq = (frame[16] << 8) | frame[17]
                    if (i, seq) not in self.sent_at:
                        now = time.monotonic()
                        self.sent_at[(i, seq)] = now
                        self.unanswered.setdefault(i, deque()).append((now, _vsi_tlvs(frame)))
                link.send(frame)

            pump = Pump(port, send, on_event, loop)

            def recv(frame: bytes, now: float, i: int = i, pump: Any = pump) -> None:
                if self.measuring and _is_ecp(frame, 1):  # an ack
                    t = self.sent_at.get((i, (frame[16] << 8) | frame[17]))
                    if t is not None and t >= 0:
                        self.latencies.append(time.monotonic() - t)
                        self.sent_at[(i, (frame[16] << 8) | frame[17])] = -1.0  # acked
                        self.ka_pdus += 1
                elif self.measuring and _is_ecp(frame, 0):  # the bridge's replies
                    seq = (frame[16] << 8) | frame[17]
                    if self.last_reply_seq.get(i) != seq:  # not a retransmission
                        self.last_reply_seq[i] = seq
                        self._replied(i, _vsi_tlvs(frame))
                pump.feed(frame)

            link.start(recv, loop)
            self.links.append(link)
            self.machines.append(port)
            self.pumps.append(pump)
            self.handed.append(False)
            pump.call(port.link_up)

    def _replied(self, i: int, count: int) -> None:
        """``count`` reply TLVs arrived on port ``i``: the oldest keep-alive PDUs they cover are
        answered (the bridge answers in order)."""
        queue = self.unanswered.get(i)
        credit = self.answered.get(i, 0) + count
        now = time.monotonic()
        while queue and credit >= queue[0][1]:
            t, n = queue.popleft()
            credit -= n
            self.reply_latencies.append(now - t)
        self.answered[i] = credit if queue else 0

    def prepare(self, mgrid: bytes) -> None:
        """Build every port's share of the VSI TLVs up front (not inside the timed loop)."""
        per, extra = divmod(self.vsis, self.ports)
        first = 0
        self.shares: list[list[tuple[bytes, Any]]] = []
        for i in range(self.ports):
            count = per + (1 if i < extra else 0)
            self.shares.append([(mgrid, _vsi(n)) for n in range(first, first + count)])
            first += count

    def hand(self) -> None:
        """Give each port whose peer was heard its share of the VSIs (one batch per port)."""
        for i, port in enumerate(self.machines):
            if not self.handed[i] and port.peer_seen:
                self.handed[i] = True
                out, _ = port.commands(self.shares[i], self.pumps[i].now())
                self.pumps[i].emit(out)

    def close(self) -> None:
        for p in self.pumps:
            p.close()
        for link in self.links:
            link.close()


def _percentiles(lat: list[float]) -> dict[str, float | None]:
    return {
        "p50": round(lat[len(lat) // 2] * 1000, 3) if lat else None,
        "p99": round(lat[min(len(lat) - 1, int(len(lat) * 0.99))] * 1000, 3) if lat else None,
        "max": round(lat[-1] * 1000, 3) if lat else None,
    }


def _worker(ports: int, rte: int, rka: int) -> None:
    """``python -m qbg.bench.scale worker PORTS RTE RKA`` (inside the switch namespace): the
    bridge agent's protocol core — one :class:`~qbg.vdp.port.BridgePort` per ``pI``, each with
    its asyncio :class:`~qbg.pump.Pump` over a :class:`~qbg.link.RawLink` — and nothing else
    (no data-plane programming, control socket, persistence, metrics)."""
    import signal

    from qbg.daemon import random_seq
    from qbg.evb.negotiation import EvbConfig, EvbRole
    from qbg.link import RawLink
    from qbg.pump import Pump
    from qbg.vdp.port import BridgePort, PortOptions

    async def serve() -> None:
        loop = asyncio.get_running_loop()
        stop = asyncio.Event()
        loop.add_signal_handler(signal.SIGTERM, stop.set)
        links = []
        for i in range(ports):
            link = RawLink(f"p{i}").open()
            port = BridgePort(
                f"p{i}",
                link.mac,
                EvbConfig(role=EvbRole.BRIDGE, rte=rte, rka=rka),
                PortOptions(min_gap_ms=0.0),
                initial_seq=random_seq(),
                rng=random_seq,
            )
            pump = Pump(port, link.send, lambda ev: None, loop)

            def feed(frame: bytes, now: float, pump: Pump = pump) -> None:
                pump.feed(frame)

            link.start(feed, loop)
            pump.call(port.link_up)
            links.append(link)
        print("ready", flush=True)
        await stop.wait()
        for link in links:
            link.close()

    asyncio.run(serve())


def _bridge_config(workdir: Path, ports: int, rte: int, rka: int) -> str:
    evb = f"{{rte: {rte}, rka: {rka}}}"
    return (
        "role: bridge\n"
        "daemon:\n"
        f"  state_file: {workdir / 'bridge.state.json'}\n"
        f"  control_socket: {workdir / 'bridge.sock'}\n"
        "  log: {level: warning}\n"
        "linux_bridge: br0\n"
        "interfaces:\n"
        + "".join(f"  - {{name: p{i}, evb: {evb}, ecp: {{min_gap_ms: 0}}}}\n" for i in range(ports))
    )


async def _measure(
    gen: _Gen, pid: int, periods: float, ka_s: float, settle_s: float
) -> dict[str, Any]:
    from qbg.sim import MGRID

    loop = asyncio.get_running_loop()
    gen.prepare(MGRID)
    gen.start(loop)
    res: dict[str, Any] = {}
    t0 = time.monotonic()
    deadline = t0 + 60 + gen.vsis * 0.002
    while gen.associated + gen.ended < gen.vsis:
        gen.hand()
        if time.monotonic() > deadline:
            break
        await asyncio.sleep(0.05)
    res["assoc_s"] = round(time.monotonic() - t0, 3)
    res["associated"] = gen.associated
    res["assoc_cpu_s"] = round(_cpu_s(pid), 3)
    # Let the bridge settle (the daemon's kernel worker programs one FDB entry per VSI): wait
    # until two consecutive 1-s windows use about the same CPU (or settle_s passes).
    end = time.monotonic() + settle_s
    prev = _cpu_s(pid)
    rates: list[float] = []
    while time.monotonic() < end:
        await asyncio.sleep(1.0)
        cur = _cpu_s(pid)
        rate = cur - prev
        if rates and abs(rate - rates[-1]) <= max(0.05, 0.2 * rates[-1]):
            break
        rates.append(rate)
        prev = cur
    res["settle_s"] = round(time.monotonic() - t0 - res["assoc_s"], 3)
    rss0 = _status_kb(pid, "VmRSS")
    cpu0, w0 = _cpu_s(pid), time.monotonic()
    gen.measuring = True
    window = max(periods * ka_s, 1.0)
    spy = None
    out = os.environ.get("QBG_BENCH_PYSPY")  # profile the bridge during the window
    if out:
        spy = subprocess.Popen(
            [sys.executable.rsplit("/", 1)[0] + "/py-spy", "record", "-p", str(pid), "-o", out,
             "-d", str(int(window)), "-f", "raw", "-r", "200"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
    await asyncio.sleep(window)
    if spy is not None:
        spy.wait()
    gen.measuring = False
    cpu1, w1 = _cpu_s(pid), time.monotonic()
    lat = sorted(gen.latencies)
    rlat = sorted(gen.reply_latencies)
    res.update(
        window_s=round(w1 - w0, 3),
        cpu_s=round(cpu1 - cpu0, 3),
        cpu_pct=round(100 * (cpu1 - cpu0) / (w1 - w0), 2),
        rss_mb=round(_status_kb(pid, "VmRSS") / 1024, 1),
        rss_start_mb=round(rss0 / 1024, 1),
        rss_peak_mb=round(_status_kb(pid, "VmHWM") / 1024, 1),
        keepalive_pdus=gen.ka_pdus,
        keepalive_latency_ms={
            "p50": round(lat[len(lat) // 2] * 1000, 3) if lat else None,
            "p99": round(lat[min(len(lat) - 1, int(len(lat) * 0.99))] * 1000, 3) if lat else None,
            "max": round(lat[-1] * 1000, 3) if lat else None,
        },
        keepalive_reply_latency_ms=_percentiles(rlat),
        still_associated=gen.associated - gen.ended,
    )
    keepalives = sum(m.vdp.stats.keepalives for m in gen.machines)
    res["station_keepalives_total"] = keepalives
    res["vsis_per_keepalive_pdu"] = (
        round(keepalives / sum(m.ecp.stats.requests_sent for m in gen.machines), 1)
        if gen.machines
        else None
    )
    gen.close()
    return res


def run(
    vsis: int,
    ports: int,
    *,
    rka: int = 20,
    rte: int = 14,
    periods: float = 2.0,
    settle_s: float = 60,
    agent: str = "daemon",
) -> dict[str, Any]:
    from qbg.evb import timers
    from qbg.interop.netns import Topology

    from .assoc import machine

    ka_s = timers.to_seconds(timers.keepalive_us(rka))
    wall0 = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="qbgscale-") as tmp, Topology() as topo:
        workdir = Path(tmp)
        sw, hv = topo.netns("ssw"), topo.netns("shv")
        for ns in (sw, hv):
            ns.run("sysctl", "-q", "-w", "net.ipv6.conf.all.disable_ipv6=1")
            ns.run("sysctl", "-q", "-w", "net.ipv6.conf.default.disable_ipv6=1")
        batch = [
            f"link add name h{i} address 02:00:00:5a:{i >> 8:02x}:{i & 255:02x} type veth "
            f"peer name p{i} address 02:00:00:b0:{i >> 8:02x}:{i & 255:02x} netns {sw.name}"
            for i in range(ports)
        ]
        subprocess.run(
            ["ip", "-n", hv.name, "-batch", "-"], input="\n".join(batch) + "\n", text=True,
            check=True,
        )  # fmt: skip
        if agent == "daemon":
            sw.ip("link", "add", "name", "br0", "type", "bridge", "stp_state", "0")
            cmds = [f"link set dev p{i} master br0 up" for i in range(ports)] + ["link set br0 up"]
        else:  # no Linux bridge: it would flood each port's 01-80-C2-00-00-00 frames (Q-B12)
            cmds = [f"link set dev p{i} up" for i in range(ports)]
        subprocess.run(
            ["ip", "-n", sw.name, "-batch", "-"], input="\n".join(cmds) + "\n", text=True,
            check=True,
        )  # fmt: skip
        up = [f"link set dev h{i} up" for i in range(ports)]
        subprocess.run(
            ["ip", "-n", hv.name, "-batch", "-"], input="\n".join(up) + "\n", text=True, check=True
        )
        log = (workdir / "bridge.log").open("ab")
        if agent == "daemon":
            cfg = workdir / "bridge.yaml"
            cfg.write_text(_bridge_config(workdir, ports, rte, rka))
            cmd = [sys.executable, "-m", "qbg.cli", "bridge", "-c", str(cfg)]
        else:
            cmd = [
                sys.executable,
                "-m",
                "qbg.bench.scale",
                "worker",
                str(ports),
                str(rte),
                str(rka),
            ]
        proc = sw.spawn(*cmd, stdout=log, stderr=log)
        log.close()
        sock = workdir / "bridge.sock"
        try:
            ready = sock if agent == "daemon" else workdir / "bridge.log"
            end = time.monotonic() + 60
            while time.monotonic() < end:
                if proc.poll() is not None:
                    raise RuntimeError((workdir / "bridge.log").read_text()[-2000:])
                if agent == "daemon" and sock.exists():
                    break
                if agent != "daemon" and "ready" in ready.read_text():
                    break
                time.sleep(0.1)
            time.sleep(0.5)
            pid = proc.pid
            rss_idle = _status_kb(pid, "VmRSS")
            gen = _Gen(hv.name, ports, vsis, rte, rka)
            res = asyncio.run(_measure(gen, pid, periods, ka_s, settle_s))
            bridge_vsis = None
            with contextlib.suppress(Exception):
                if agent != "daemon":
                    raise RuntimeError("no control socket")
                from .assoc import _ctl

                rows = _ctl(sock, "vsi.list").get("vsis", [])
                bridge_vsis = len(rows)
            alive = proc.poll() is None
        finally:
            sw.stop(proc)
            keep = os.environ.get("QBG_BENCH_KEEP")  # keep the bridge's log, config, state
            if keep:
                import shutil

                shutil.copytree(
                    workdir, Path(keep), dirs_exist_ok=True, ignore=shutil.ignore_patterns("*.sock")
                )
    rss_mb = res["rss_mb"]
    res.update(
        vsis=vsis,
        ports=ports,
        agent=agent,
        rka=rka,
        rte=rte,
        keepalive_period_s=round(ka_s, 5),
        periods=periods,
        rss_idle_mb=round(rss_idle / 1024, 1),
        bytes_per_vsi=round((rss_mb * 1024 - rss_idle) * 1024 / vsis) if vsis else None,
        bridge_vsis=bridge_vsis,
        bridge_alive=alive,
        wall_s=round(time.monotonic() - wall0, 1),
        machine=machine(),
    )
    return res


def main(args: argparse.Namespace) -> int:
    if args.vsis < 1 or args.ports < 1 or args.ports > 4000:
        print("qbg bench scale: --vsis >= 1 and 1 <= --ports <= 4000", file=sys.stderr)
        return 2
    if os.geteuid() != 0:
        print("qbg bench scale: needs root (network namespaces)", file=sys.stderr)
        return 2
    try:
        res = run(
            args.vsis,
            args.ports,
            rka=args.rka,
            rte=args.rte,
            periods=args.periods,
            agent=args.agent,
        )
    except Exception as e:
        print(f"qbg bench scale: {type(e).__name__}: {e}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(res))
        return 0
    lat = res["keepalive_latency_ms"]
    print(
        f"qbg bench scale: {res['vsis']} VSIs over {res['ports']} ports, RKA {res['rka']} "
        f"(keep-alive every {res['keepalive_period_s']:.2f} s), RTE {res['rte']}"
    )
    print(f"  associated {res['associated']} in {res['assoc_s']:.1f} s (+{res['settle_s']:.1f} s)")
    print(
        f"  bridge over {res['window_s']:.1f} s: CPU {res['cpu_pct']:.1f} % of one core, "
        f"RSS {res['rss_mb']:.0f} MB (idle {res['rss_idle_mb']:.0f}, peak {res['rss_peak_mb']:.0f})"
        f", {res['bytes_per_vsi']} bytes/VSI"
    )
    print(
        f"  keep-alive ECPDUs {res['keepalive_pdus']} ({res['vsis_per_keepalive_pdu']} VSIs each), "
        f"latency p50 {lat['p50']} / p99 {lat['p99']} / max {lat['max']} ms"
    )
    rl = res["keepalive_reply_latency_ms"]
    print(f"  keep-alive replies p50 {rl['p50']} / p99 {rl['p99']} / max {rl['max']} ms")
    return 0


if __name__ == "__main__" and len(sys.argv) == 5 and sys.argv[1] == "worker":
    _worker(int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]))
