"""``qbg bench assoc``: time to associate N VSIs, qbg vs lldpad, real daemons in namespaces.

Every pair runs in fresh network namespaces (a hypervisor namespace with ``uplink``, a switch
namespace with ``swp1``, one veth pair between them, IPv6 off so nothing else is on the wire),
with the same EVB timers on both ends (``--r``, ``--rte``, ``--rwd``, ``--rka``):

* ``qbg-qbg``: ``qbg station`` ↔ ``qbg bridge`` (``swp1`` a port of Linux bridge ``br0``,
  ``ecp.min_gap_ms: 0`` on both ends, docs/config.md: "0 is fine qbg-to-qbg");
* ``lldpad-lldpad``: lldpad station ↔ lldpad bridge (``swp1`` not bridged: an lldpad bridge on a
  bridged port hears nothing, interop-lldpad.md Q-B12);
* ``qbg-lldpad`` and ``lldpad-qbg``: the mixed pairs (station first); qbg keeps its default
  ``min_gap_ms: 3`` towards lldpad (Q-E4).

Hand-off and clock:

* qbg station: the N VSIs are in its configuration file; the daemon announces them in one batch
  (``StationPort.commands``) once the bridge's EVB TLV arrived.  The control protocol has no bulk
  request yet (``vsi.assoc`` one by one would measure the control socket).
* lldpad station: after ``data_from_evb … evb:1``, :class:`qbg.bench.lldpad.VdpClient` sends
  vdptool's own datagrams to lldpad's control socket, one outstanding at a time (lldpad's fastest
  mode, see that module), so vdptool's process start-up is not in the measurement.
* Time is read from a capture of ``uplink`` (dumpcap, kernel timestamps): from the station's
  first ECP request carrying an Associate to the station's ECP ack of the bridge PDU that
  completed the N-th successful Associate response (for qbg that ack leaves after the station's
  VDP processed the PDU).  Completion is confirmed from the agent itself (``status`` over the qbg
  control socket, lldpad's VDP events).

Also reported per pair: station round trips (ECPDUs with new sequence numbers the station sent),
ECP PDUs in both directions, retransmissions.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["PAIRS", "WireTiming", "analyse", "main", "run", "run_pair"]

STATION_MAC = "02:00:00:00:5a:01"
BRIDGE_MAC = "02:00:00:00:b0:01"
PAIRS = ("qbg-qbg", "lldpad-lldpad", "qbg-lldpad", "lldpad-qbg")
_ECP = 0x8940


@dataclass(slots=True)
class WireTiming:
    """What the capture says about one association run."""

    start: float | None = None
    end: float | None = None
    first_request: float | None = None
    startup_lost_s: float = 0.0
    last_response: float | None = None
    answered: int = 0
    refused: int = 0
    round_trips: int = 0
    ecp_pdus: int = 0
    retransmissions: int = 0
    station_vsis_per_pdu: float = 0.0

    @property
    def seconds(self) -> float | None:
        if self.start is None or self.end is None:
            return None
        return self.end - self.start


def _vsi_tlvs(payload: bytes) -> Iterator[tuple[int, int, bytes]]:
    """(type, status, VSI ID) of each VSI TLV of a VDPDU (bounded walk, stops at End)."""
    i, n = 0, len(payload)
    while i + 2 <= n:
        hdr = (payload[i] << 8) | payload[i + 1]
        t, ln = hdr >> 9, hdr & 0x1FF
        if t == 0 or i + 2 + ln > n:
            return
        if 1 <= t <= 4 and ln >= 25:
            v = payload[i + 2 : i + 2 + ln]
            yield t, v[0], bytes(v[6:22])
        i += 2 + ln


def analyse(records: list[tuple[float, bytes]], station_mac: bytes, n: int) -> WireTiming:
    """Timing of the first ``n`` successful Associates in a capture of the station's link.

    The clock starts at the first transmission of the first station Associate ECPDU the bridge
    acknowledged: requests sent before the peer's ECP runs (lldpad starts ECP/VDP only after
    its EVB module has reported, ~10 ms after its first LLDPDU) are lost to start-up, not to
    throughput, and are reported separately as ``startup_lost_s``."""
    first_tx: dict[int, float] = {}
    first_request = acked_start = None
    for t, f in records:
        if len(f) < 18 or ((f[12] << 8) | f[13]) != _ECP:
            continue
        op, seq = (f[14] >> 2) & 3, (f[16] << 8) | f[17]
        if f[6:12] == station_mac and op == 0:
            if any(tt == 3 and not st & 0x40 for tt, st, _ in _vsi_tlvs(f[18:])):
                first_tx.setdefault(seq, t)
                first_request = t if first_request is None else first_request
        elif f[6:12] != station_mac and op == 1 and seq in first_tx:
            acked_start = first_tx[seq]
            break
    w = WireTiming(first_request=first_request)
    if acked_start is not None and first_request is not None:
        w.startup_lost_s = acked_start - first_request
    seen: set[tuple[bytes, int]] = set()
    answered: set[bytes] = set()
    refused: set[bytes] = set()
    station_tlvs = 0
    done_seq: int | None = None
    for t, f in records:
        if len(f) < 18 or ((f[12] << 8) | f[13]) != _ECP:
            continue
        src = f[6:12]
        word = (f[14] << 8) | f[15]
        op = (word >> 10) & 3
        seq = (f[16] << 8) | f[17]
        from_station = src == station_mac
        if op == 1:
            if from_station and done_seq is not None and seq == done_seq and w.end is None:
                w.end = t
            continue
        if op != 0:
            continue
        tlvs = list(_vsi_tlvs(f[18:]))
        if from_station and w.start is None:
            if acked_start is None or t < acked_start:
                continue
            w.start = t
        if w.start is None or (w.end is not None):
            continue
        key = (src, seq)
        if key in seen:
            w.retransmissions += 1
            continue
        seen.add(key)
        w.ecp_pdus += 1
        if from_station:
            w.round_trips += 1
            station_tlvs += len(tlvs)
            continue
        for tt, st, vid in tlvs:
            if tt == 3 and st & 0x40:
                if st & 0x0F == 0:
                    answered.add(vid)
                else:
                    refused.add(vid)
        if done_seq is None and len(answered) >= n:
            done_seq = seq
            w.last_response = t
    w.answered = len(answered)
    w.refused = len(refused - answered)
    if w.end is None:
        w.end = w.last_response
    w.station_vsis_per_pdu = round(station_tlvs / w.round_trips, 2) if w.round_trips else 0.0
    return w


# --- the daemons ----------------------------------------------------------------------------------


@dataclass
class _Env:
    n: int
    r: int
    rte: int
    rwd: int
    rka: int
    workdir: Path
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)


def _vsi_yaml(i: int) -> str:
    # no name/mode keys (defaults: IFNAME/INDEX, assoc): 10,000 VSIs stay under the config
    # loader's 200,000-node limit
    mac = f"02:aa:00:{i >> 16 & 255:02x}:{i >> 8 & 255:02x}:{i & 255:02x}"
    return (
        f"      - {{manager_id: pkmgr, type_id: 5, type_version: 4, "
        f'vsiid: "00000000-0000-4000-8000-{i:012d}", filters: [{{vid: 100, mac: "{mac}"}}]}}\n'
    )


def _qbg_config(env: _Env, role: str, ifname: str, min_gap: float, vsis: int) -> str:
    evb = f"{{r: {env.r}, rte: {env.rte}, rwd: {env.rwd}, rka: {env.rka}}}"
    text = (
        f"role: {role}\n"
        "daemon:\n"
        f"  state_file: {env.workdir / (role + '.state.json')}\n"
        f"  control_socket: {env.workdir / (role + '.sock')}\n"
        "  log: {level: warning}\n"
    )
    if role == "bridge":
        text += "linux_bridge: br0\n"
    text += f"interfaces:\n  - name: {ifname}\n    evb: {evb}\n    ecp: {{min_gap_ms: {min_gap}}}\n"
    if vsis:
        text += "    vsis:\n" + "".join(_vsi_yaml(i) for i in range(1, vsis + 1))
    return text


def _ctl(sock: Path, cmd: str, args: dict[str, Any] | None = None) -> Any:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(10)
        s.connect(str(sock))
        s.sendall(json.dumps({"cmd": cmd, "args": args or {}}).encode() + b"\n")
        buf = b""
        while not buf.endswith(b"\n"):
            chunk = s.recv(1 << 16)
            if not chunk:
                break
            buf += chunk
    reply = json.loads(buf)
    if not reply.get("ok"):
        raise RuntimeError(f"{cmd}: {reply.get('error')}")
    return reply["result"]


def _start_qbg(env: _Env, ns: Any, role: str, text: str) -> tuple[subprocess.Popen[bytes], Path]:
    cfg = env.workdir / f"{role}.yaml"
    cfg.write_text(text)
    sock = env.workdir / f"{role}.sock"
    log = (env.workdir / f"{role}.log").open("ab")
    proc = ns.spawn(sys.executable, "-m", "qbg.cli", role, "-c", str(cfg), stdout=log, stderr=log)
    log.close()
    env.procs.append(proc)
    end = time.monotonic() + 60
    while time.monotonic() < end:
        if proc.poll() is not None:
            tail = (env.workdir / f"{role}.log").read_text(errors="replace")[-2000:]
            raise RuntimeError(f"qbg {role} exited with {proc.returncode}:\n{tail}")
        if sock.exists():
            with contextlib.suppress(OSError, RuntimeError, ValueError):
                _ctl(sock, "status")
                return proc, sock
        time.sleep(0.05)
    raise RuntimeError(f"qbg {role}: control socket did not come up")


def _associated(sock: Path) -> int:
    rows = _ctl(sock, "vsi.list").get("vsis", [])
    return sum(1 for v in rows if v.get("confirmed_mode") == "assoc")


_SETTLED = ("WAIT_SYSCMD_2", "TXMIT_KAWAIT")  # station states of an associated VSI


def _settled(sock: Path) -> int:
    """VSIs resting associated, from ``status``'s per-state counts: a few ms per call, where
    ``vsi.list`` builds a row per VSI and holds the station's event loop 50-200 ms at N = 1000
    (long enough for lldpad's bridge to give up on its answers, 1 + R ack timers)."""
    counts: dict[str, int] = {}
    for entry in _ctl(sock, "status").get("interfaces", []):
        for state, k in (entry.get("vsis") or {}).items():
            counts[state] = counts.get(state, 0) + int(k)
    return sum(counts.get(s, 0) for s in _SETTLED)


def _read_pcap(path: Path) -> list[tuple[float, bytes]]:
    from qbg.pcapfile import read_pcap

    return [(r.time, r.data) for r in read_pcap(str(path))]


def run_pair(
    pair: str, n: int, *, r: int = 3, rte: int = 8, rwd: int = 20, rka: int = 20
) -> dict[str, Any]:
    """One station/bridge pair (``"qbg-lldpad"`` = qbg station, lldpad bridge)."""
    from qbg.interop.lldpad import Capture, Lldpad
    from qbg.interop.netns import Topology

    from .lldpad import VdpClient, vsi_spec

    station, bridge = pair.split("-")
    wall0 = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="qbgbench-") as tmp, Topology() as topo:
        env = _Env(n, r, rte, rwd, rka, Path(tmp))
        sw, hv = topo.netns("bsw"), topo.netns("bhv")
        for ns in (sw, hv):
            ns.run("sysctl", "-q", "-w", "net.ipv6.conf.all.disable_ipv6=1")
            ns.run("sysctl", "-q", "-w", "net.ipv6.conf.default.disable_ipv6=1")
        topo.veth(hv, "uplink", sw, "swp1", mac_a=STATION_MAC, mac_b=BRIDGE_MAC)
        if bridge == "qbg":
            topo.bridge(sw, "br0", ports=["swp1"])
        cap = Capture(hv, "uplink", env.workdir / "assoc.pcap").start()
        lldpads: list[Lldpad] = []
        keys = {"ecpretries": r, "ecprte": rte, "vdprwd": rwd, "vdprka": rka}
        qbg_gap = 0.0 if station == bridge == "qbg" else 3.0
        confirmed = 0
        try:
            if bridge == "qbg":
                _start_qbg(env, sw, "bridge", _qbg_config(env, "bridge", "swp1", qbg_gap, 0))
            else:
                lb = Lldpad(sw, "swp1", "bridge", "std", env.workdir / "lb", keys=dict(keys))
                lldpads.append(lb)
                lb.start()
            if station == "qbg":
                text = _qbg_config(env, "station", "uplink", qbg_gap, n)
                _, ssock = _start_qbg(env, hv, "station", text)
                end = time.monotonic() + max(60.0, n * 0.05)
                while time.monotonic() < end and _settled(ssock) < n:
                    time.sleep(0.5)
                confirmed = _associated(ssock)
            else:
                ls = Lldpad(hv, "uplink", "station", "std", env.workdir / "ls", keys=dict(keys))
                lldpads.append(ls)
                ls.start()
                ls.wait_vdp_ready(timeout=30)
                with VdpClient(hv.name, "uplink") as client:
                    vsis = [vsi_spec(i) for i in range(1, n + 1)]
                    _, _, confirmed = client.associate_many(vsis, timeout=max(60.0, n * 0.1))
            time.sleep(0.2)
        finally:
            cap.stop()
            for lp in lldpads:
                with contextlib.suppress(Exception):
                    lp.stop()
            for p in env.procs:
                with contextlib.suppress(Exception):
                    hv.stop(p)
        w = analyse(_read_pcap(cap.path), bytes.fromhex(STATION_MAC.replace(":", "")), n)
        keep = os.environ.get("QBG_BENCH_KEEP")
        if keep:
            import shutil

            shutil.copytree(
                env.workdir,
                Path(keep) / pair,
                dirs_exist_ok=True,
                ignore=shutil.ignore_patterns("*.sock"),
            )
    out = asdict(w)
    out.update(
        pair=pair,
        seconds=w.seconds,
        confirmed=confirmed,
        complete=confirmed >= n and w.answered >= n,
        wall_s=round(time.monotonic() - wall0, 3),
        min_gap_ms=qbg_gap if "qbg" in pair else None,
    )
    return out


def machine() -> dict[str, Any]:
    """Cores, kernel, Python (and the CPU model) of this machine."""
    model = ""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return {
        "cores": os.cpu_count(),
        "cpu": model,
        "kernel": platform.release(),
        "python": platform.python_version(),
    }


def run(
    n: int,
    *,
    r: int = 3,
    rte: int = 8,
    rwd: int = 20,
    rka: int = 20,
    skip_lldpad: bool = False,
    mixed: bool = True,
) -> dict[str, Any]:
    pairs = ["qbg-qbg"]
    if not skip_lldpad:
        pairs.append("lldpad-lldpad")
        if mixed:
            pairs += ["qbg-lldpad", "lldpad-qbg"]
    results = {p: run_pair(p, n, r=r, rte=rte, rwd=rwd, rka=rka) for p in pairs}
    q = results["qbg-qbg"]
    ll = results.get("lldpad-lldpad")
    qbg_s = q["seconds"] if q["complete"] else None
    lldpad_s = ll["seconds"] if ll is not None and ll["complete"] else None
    return {
        "vsis": n,
        "rte": rte,
        "r": r,
        "rwd": rwd,
        "rka": rka,
        "qbg_s": qbg_s,
        "lldpad_s": lldpad_s,
        "ratio": (lldpad_s / qbg_s) if qbg_s and lldpad_s else None,
        "ecp_pdus": q["ecp_pdus"],
        "round_trips": q["round_trips"],
        "lldpad_ecp_pdus": ll["ecp_pdus"] if ll else None,
        "lldpad_round_trips": ll["round_trips"] if ll else None,
        "pairs": results,
        "method": "wire: first station Associate request -> station ack of the PDU completing "
        "the N-th response (dumpcap on the station link); lldpad fed through its control "
        "socket, 1 outstanding",
        "machine": machine(),
    }


def _fmt(s: float | None) -> str:
    return "      -" if s is None else f"{s * 1000:9.1f} ms"


def main(args: argparse.Namespace) -> int:
    if args.vsis < 1:
        print("qbg bench assoc: --vsis must be >= 1", file=sys.stderr)
        return 2
    if os.geteuid() != 0:
        print("qbg bench assoc: needs root (network namespaces)", file=sys.stderr)
        return 2
    try:
        res = run(
            args.vsis,
            r=args.r,
            rte=args.rte,
            rwd=args.rwd,
            rka=args.rka,
            skip_lldpad=args.skip_lldpad,
            mixed=not args.no_mixed,
        )
    except Exception as e:
        print(f"qbg bench assoc: {type(e).__name__}: {e}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(res))
        return 0
    m = res["machine"]
    print(
        f"qbg bench assoc: {res['vsis']} VSIs, R {res['r']} RTE {res['rte']} RWD {res['rwd']} "
        f"RKA {res['rka']}; {m['cores']} cores, kernel {m['kernel']}, Python {m['python']}"
    )
    print("  pair (station-bridge)   time        round trips  ECP PDUs  retx  answered")
    for name, p in res["pairs"].items():
        print(
            f"  {name:22} {_fmt(p['seconds'])}  {p['round_trips']:11}  {p['ecp_pdus']:8}  "
            f"{p['retransmissions']:4}  {p['answered']}/{res['vsis']}"
            + ("" if p["complete"] else "  INCOMPLETE")
        )
    if res["ratio"]:
        print(f"  lldpad / qbg: {res['ratio']:.1f}x")
    return 0 if all(p["complete"] for p in res["pairs"].values()) else 1
