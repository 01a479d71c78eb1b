"""The one command-line program, ``qbg``.

Subcommands are defined here and their implementations imported lazily, so ``qbg pcap`` does not
pay for pyroute2 and ``qbg sim`` does not pay for scapy.  Exit codes: 0 success, 1 the command ran
and found a problem (violations, failed claims), 2 usage or input errors.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Callable, Sequence

__all__ = ["build_parser", "main"]


def _lazy(target: str) -> Callable[[argparse.Namespace], int]:
    module, _, func = target.partition(":")

    def run(args: argparse.Namespace) -> int:
        impl: Callable[[argparse.Namespace], int] = getattr(importlib.import_module(module), func)
        return impl(args)

    return run


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="qbg", description="IEEE 802.1Qbg EVB/ECP/VDP station and bridge agents and tools"
    )
    p.add_argument("--version", action="version", version="qbg 0.1.0")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    # qbg pcap decode|check
    pcap = sub.add_parser("pcap", help="decode or check 802.1Qbg captures")
    psub = pcap.add_subparsers(dest="pcap_command", metavar="ACTION")
    psub.required = True
    dec = psub.add_parser("decode", help="decode every frame of a capture")
    dec.add_argument("file", help="pcap or pcapng file")
    dec.add_argument("--json", action="store_true", help="JSON Lines, one object per frame")
    dec.add_argument("-v", "--verbose", action="store_true", help="show every field")
    dec.set_defaults(func=_lazy("qbg.pcaptool:cmd_decode"))
    chk = psub.add_parser("check", help="check captures for conformance")
    chk.add_argument("files", nargs="+", metavar="FILE")
    chk.add_argument("--json", action="store_true", help="violations as JSON Lines")
    chk.set_defaults(func=_lazy("qbg.pcaptool:cmd_check"))

    # qbg sim
    sim = sub.add_parser("sim", help="simulate a station and a bridge in memory (fake clock)")
    sim.add_argument("--vsis", type=int, default=100, help="number of VSIs to associate")
    sim.add_argument("--rte", type=int, default=8, help="ECP retransmission exponent (0..31)")
    sim.add_argument("--r", type=int, default=3, help="ECP maximum retries (0..7)")
    sim.add_argument("--rwd", type=int, default=20, help="VDP resource wait exponent")
    sim.add_argument("--rka", type=int, default=20, help="VDP keep-alive exponent")
    sim.add_argument("--loss", type=float, default=0.0, help="frame loss per direction (0..1)")
    sim.add_argument("--seed", type=int, default=0, help="random seed (loss, sequence numbers)")
    sim.add_argument("--pacing", choices=("batched", "lldpad"), default="batched")
    sim.add_argument("--mtu", type=int, default=1500, help="ECP PDU payload limit")
    sim.add_argument("--json", action="store_true", help="print one JSON object")
    sim.set_defaults(func=_lazy("qbg.sim:main"))

    # qbg bench
    bench = sub.add_parser("bench", help="benchmarks (see BENCHMARKS.md)")
    bsub = bench.add_subparsers(dest="bench_command", metavar="BENCH")
    bsub.required = True
    bdec = bsub.add_parser("decode", help="frames/s: qbg vs tshark vs scapy on one capture")
    bdec.add_argument("file", nargs="?", help="capture (default: a generated mixed capture)")
    bdec.add_argument("--frames", type=int, default=100_000, help="frames to generate")
    bdec.add_argument("--json", action="store_true")
    bdec.add_argument("--skip-tshark", action="store_true")
    bdec.add_argument("--skip-scapy", action="store_true")
    bdec.set_defaults(func=_lazy("qbg.bench.decode:main"))
    bas = bsub.add_parser("assoc", help="time to associate N VSIs: qbg vs lldpad, in netns")
    bas.add_argument("--vsis", type=int, default=1000, help="VSIs to associate")
    bas.add_argument("--rte", type=int, default=8, help="ECP retransmission exponent (both ends)")
    bas.add_argument("--r", type=int, default=3, help="ECP maximum retries")
    bas.add_argument("--rwd", type=int, default=20, help="VDP resource wait exponent")
    bas.add_argument("--rka", type=int, default=20, help="VDP keep-alive exponent")
    bas.add_argument("--skip-lldpad", action="store_true", help="qbg-qbg only (large N)")
    bas.add_argument("--no-mixed", action="store_true", help="skip the qbg/lldpad mixed pairs")
    bas.add_argument("--json", action="store_true")
    bas.set_defaults(func=_lazy("qbg.bench.assoc:main"))
    bsc = bsub.add_parser("scale", help="bridge daemon holding many VSIs: CPU, RSS, keep-alives")
    bsc.add_argument("--vsis", type=int, default=100_000, help="VSIs in all")
    bsc.add_argument("--ports", type=int, default=100, help="bridge ports (veth pairs)")
    bsc.add_argument("--rka", type=int, default=20, help="VDP keep-alive exponent")
    bsc.add_argument("--rte", type=int, default=14, help="ECP retransmission exponent")
    bsc.add_argument("--periods", type=float, default=2.0, help="keep-alive periods measured")
    bsc.add_argument(
        "--agent",
        choices=("worker", "daemon"),
        default="daemon",
        help="worker: the bridge's ports + pumps alone; daemon: the full qbg bridge daemon",
    )
    bsc.add_argument("--json", action="store_true")
    bsc.set_defaults(func=_lazy("qbg.bench.scale:main"))
    fz = sub.add_parser("fuzz", help="fuzz the decoders and live machines (in-process)")
    fz.add_argument("--frames", type=int, default=1_000_000, help="frames to feed (default 1e6)")
    fz.add_argument("--seed", type=int, default=0, help="random seed (runs are reproducible)")
    fz.add_argument("--jobs", type=int, default=0, help="processes (default: one per core)")
    fz.add_argument("--no-machines", action="store_true", help="decoders only")
    fz.add_argument("--json", action="store_true", help="print one JSON object")
    fz.set_defaults(func=_lazy("qbg.fuzz:main"))

    for role in ("station", "bridge"):
        d = sub.add_parser(role, help=f"run the {role} agent (asyncio daemon)")
        d.add_argument("--config", "-c", required=True, help=f"{role}.yaml (docs/config.md)")
        d.set_defaults(func=_lazy(f"qbg.cli:_run_{role}"))

    from .ctl import register as register_ctl
    from .democli import register_demo
    from .interopcli import register as register_interop

    register_ctl(sub)
    register_demo(sub)
    register_interop(sub)
    return p


def _run_daemon(role: str, args: argparse.Namespace) -> int:
    from .config import ConfigError

    try:
        if role == "station":
            from .station.daemon import main as run
        else:
            from .bridge.daemon import main as run
        return run(args.config)
    except ConfigError as err:
        print(f"qbg {role}: {err}", file=sys.stderr)
        return 2
    except OSError as err:
        print(f"qbg {role}: {err}", file=sys.stderr)
        return 2


def _run_station(args: argparse.Namespace) -> int:
    return _run_daemon("station", args)


def _run_bridge(args: argparse.Namespace) -> int:
    return _run_daemon("bridge", args)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        rc: int = args.func(args)
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return 0
    return rc


if __name__ == "__main__":
    sys.exit(main())
