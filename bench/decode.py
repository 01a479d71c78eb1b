"""``qbg bench decode``: frames/s of qbg's decoder vs tshark vs scapy on one capture.

Measured in one run, on the same file:

* ``qbg_fps``: :func:`qbg.vdp.frames.decode_frame` over every frame (frames in memory);
* ``qbg_json_fps``: the whole ``qbg pcap decode --json`` path (read the file, decode, build
  the JSON object, serialise it; output discarded);
* ``tshark_fps``: ``tshark -T json -r FILE`` as a subprocess, wall clock, output discarded
  (includes tshark's start-up, reported separately as ``tshark_startup_s``);
* ``scapy_fps``: ``rdpcap`` + dissecting each frame (with qbg's scapy layers when
  :mod:`qbg.scapy` imports, else plain scapy).

Without FILE a capture of ``--frames`` mixed frames (LLDP with EVB, ECP requests carrying 1..30
VSI TLVs, acks) is generated with qbg's encoders into a temporary file.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from typing import Any

from qbg.evb.ecpdu import Ecpdu, EcpOp, EcpSubtype
from qbg.evb.tlv import EvbMode, EvbTlv
from qbg.lldp.frame import NEAREST_CUSTOMER_BRIDGE, EthernetFrame, EtherType, pad
from qbg.lldp.tlv import build_lldpdu, encode_lldp_frame
from qbg.pcapfile import PcapRecord, write_pcap
from qbg.vdp.frames import decode_frame
from qbg.vdp.tlv import FilterEntry, Vdpdu, VsiTlv

__all__ = ["generate", "main", "run"]

STATION = bytes.fromhex("020000005a01")
BRIDGE = bytes.fromhex("02000000b001")
MGRID = b"pkmgr" + bytes(11)
MIN_SECONDS = 0.3


def _ecp(src: bytes, op: int, seq: int, payload: bytes = b"") -> bytes:
    ecp = Ecpdu(op=EcpOp(op), subtype=EcpSubtype.VDP, seq=seq, payload=payload).encode()
    eth = EthernetFrame(dst=NEAREST_CUSTOMER_BRIDGE, src=src, ethertype=EtherType.ECP, payload=ecp)
    return pad(eth.encode()) if op == 0 else eth.encode()


def _vsi(i: int, response: bool) -> VsiTlv:
    return VsiTlv.build(
        mode=3,
        status=0x40 if response else 0,
        type_id=5,
        type_version=4,
        vsiid_format=5,
        vsiid=bytes.fromhex("0000000000004000800000000000") + (i & 0xFFFF).to_bytes(2, "big"),
        filter_format=2,
        filters=(FilterEntry(vid=100 + i % 3000, mac=b"\x02\xaa" + i.to_bytes(4, "big")),),
    )


def generate(n: int, seed: int = 1) -> list[PcapRecord]:
    """``n`` frames: ~5 % LLDP with EVB, the rest ECP requests (1..30 VSI TLVs) and acks."""
    rnd = random.Random(seed)
    evb = {
        src: encode_lldp_frame(
            build_lldpdu(
                src,
                120,
                [
                    EvbTlv(
                        rrcap=True,
                        rrctr=True,
                        rrreq=True,
                        rrstat=1,
                        r=3,
                        rte=14,
                        mode=mode,
                        rol_rwd=True,
                        rwd=20,
                        rol_rka=True,
                        rka=20,
                    )
                ],
            ),
            src,
        )
        for src, mode in ((STATION, EvbMode.STATION), (BRIDGE, EvbMode.BRIDGE))
    }
    out: list[PcapRecord] = []
    t = 1_700_000_000.0
    seq = {STATION: 0, BRIDGE: 0}
    vsi = 0
    while len(out) < n:
        t += 0.001
        if rnd.random() < 0.05:
            src = rnd.choice((STATION, BRIDGE))
            out.append(PcapRecord(time=t, data=evb[src], orig_len=len(evb[src])))
            continue
        src, peer = (STATION, BRIDGE) if rnd.random() < 0.5 else (BRIDGE, STATION)
        seq[src] = seq[src] % 0xFFFF + 1
        k = rnd.randint(1, 30)
        tlvs = [_vsi(vsi + j, src == BRIDGE) for j in range(k)]
        vsi += k
        req = _ecp(src, 0, seq[src], Vdpdu.build(MGRID, tlvs).encode())
        ack = _ecp(peer, 1, seq[src])
        out.append(PcapRecord(time=t, data=req, orig_len=len(req)))
        out.append(PcapRecord(time=t + 0.0001, data=ack, orig_len=len(ack)))
    return out[:n]


def _rate(frames: int, fn: Callable[[], object]) -> float:
    """frames/s of ``fn`` (which processes ``frames`` frames), repeated for ≥ MIN_SECONDS."""
    loops = 0
    start = time.perf_counter()
    while True:
        fn()
        loops += 1
        elapsed = time.perf_counter() - start
        if elapsed >= MIN_SECONDS:
            return frames * loops / elapsed


def _qbg_decode(datas: list[bytes]) -> None:
    dec = decode_frame
    for d in datas:
        dec(d)


def _qbg_json(path: str) -> None:
    from qbg.pcaptool import iter_json, load_records

    enc = json.JSONEncoder(ensure_ascii=False, separators=(", ", ": ")).encode
    sink = io.StringIO()
    w = sink.write
    for obj in iter_json(load_records(path)):
        w(enc(obj))
        w("\n")


def _tshark(path: str, frames: int) -> tuple[float | None, float | None]:
    exe = shutil.which("tshark")
    if exe is None:
        return None, None

    def once(p: str) -> float:
        start = time.perf_counter()
        subprocess.run(
            [exe, "-T", "json", "-r", p],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            check=True,
        )
        return time.perf_counter() - start

    elapsed = once(path)
    with tempfile.TemporaryDirectory() as d:
        one = os.path.join(d, "one.pcap")
        write_pcap(one, generate(1))
        startup = once(one)
    return frames / elapsed, startup


def _scapy(path: str, frames: int) -> tuple[float | None, str]:
    try:
        from scapy.utils import rdpcap
    except ImportError:
        return None, "absent"
    layers = "plain"
    try:
        import qbg.scapy  # noqa: F401  (registers the 802.1Qbg layers)

        layers = "qbg.scapy"
    except Exception:
        pass

    def run() -> None:
        for p in rdpcap(path):
            p.layers()  # dissection happened in rdpcap; touch every packet

    start = time.perf_counter()
    run()
    return frames / (time.perf_counter() - start), layers


def run(path: str | None, n: int, *, skip_tshark: bool, skip_scapy: bool) -> dict[str, Any]:
    """Run every measurement; returns the result dict (the --json object)."""
    from qbg.pcapfile import read_pcap

    with tempfile.TemporaryDirectory() as tmp:
        generated = path is None
        if path is None:
            path = os.path.join(tmp, "mixed.pcap")
            write_pcap(path, generate(n))
        datas = [r.data for r in read_pcap(path)]
        frames = len(datas)
        res: dict[str, Any] = {"file": None if generated else path, "frames": frames}
        res["qbg_fps"] = _rate(frames, lambda: _qbg_decode(datas))
        res["qbg_json_fps"] = _rate(frames, lambda: _qbg_json(path))
        tshark_fps = startup = None
        if not skip_tshark:
            tshark_fps, startup = _tshark(path, frames)
        res["tshark_fps"] = tshark_fps
        res["tshark_startup_s"] = startup
        scapy_fps, layers = (None, "skipped") if skip_scapy else _scapy(path, frames)
        res["scapy_fps"] = scapy_fps
        res["scapy_layers"] = layers
    res["ratio_tshark"] = res["qbg_fps"] / tshark_fps if tshark_fps else None
    res["ratio_scapy"] = res["qbg_fps"] / scapy_fps if scapy_fps else None
    return res


def _fmt(v: float | None) -> str:
    return "-" if v is None else f"{v:12,.0f}"


def main(args: argparse.Namespace) -> int:
    """qbg bench decode [FILE] [--frames N] [--json] [--skip-tshark] [--skip-scapy]."""
    if args.file is not None and not os.path.isfile(args.file):
        print(f"qbg bench decode: {args.file}: no such file", file=sys.stderr)
        return 2
    if args.frames < 1:
        print("qbg bench decode: --frames must be ≥ 1", file=sys.stderr)
        return 2
    try:
        res = run(args.file, args.frames, skip_tshark=args.skip_tshark, skip_scapy=args.skip_scapy)
    except Exception as e:
        print(f"qbg bench decode: {type(e).__name__}: {e}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(res))
        return 0
    print(f"capture: {res['file'] or 'generated'}, {res['frames']} frames")
    print(f"  qbg decode_frame        {_fmt(res['qbg_fps'])} frames/s")
    print(f"  qbg pcap decode --json  {_fmt(res['qbg_json_fps'])} frames/s")
    print(
        f"  tshark -T json          {_fmt(res['tshark_fps'])} frames/s"
        + (f"  (start-up {res['tshark_startup_s']:.2f} s)" if res["tshark_startup_s"] else "")
    )
    print(f"  scapy rdpcap ({res['scapy_layers']})  {_fmt(res['scapy_fps'])} frames/s")
    for name, key, target in (("tshark", "ratio_tshark", 5), ("scapy", "ratio_scapy", 20)):
        r = res[key]
        if r is not None:
            verdict = "meets" if r >= target else "BELOW"
            print(f"  qbg / {name}: {r:.1f}x ({verdict} target {target}x)")
    return 0
