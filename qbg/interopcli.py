"""``qbg interop lldpad``: the lldpad interoperability suite (interop/suite.py).

``--role`` names qbg's side: ``station`` (qbg station ↔ lldpad bridge), ``bridge`` (lldpad station
↔ qbg bridge) or ``both``.  Prints a table of scenario, result and evidence (``--json``: one JSON
object on stdout, progress on stderr).  Exit status: 0 all passed (pending rows allowed), 1 a
scenario failed, 2 the suite could not run (not root, lldpad/tshark missing, no QEMU guest).

The bridge role's VLAN part needs bridge VLAN filtering; ``--vlan-only`` runs just that part and
``--guest`` runs it inside the QEMU guest with Debian's kernel (interop/vm.py), so a machine
without VLANs can see the VLAN evidence too.  ``--guest`` implies ``--vlan-only``: the rest of
the suite needs no VLANs, and under QEMU's software emulation its 2.56 ms ECP ack timer (RTE 8)
is not met reliably (docs/interop.md).
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

__all__ = ["cmd_lldpad", "register"]

ROOT = Path(__file__).resolve().parents[1]

DESCRIPTION = (
    "Run Debian's lldpad as the peer in its own network and mount namespace and check "
    "interoperability with qbg: EVB/RR/GroupID negotiation, VDP associate/pre-associate/"
    "de-associate, keep-alives, 50 VSIs in every filter format, Cisco OUI TLVs, bridge-initiated "
    "de-associate, policy rejection, kernel programming, LLDP neighbours and shutdown; every "
    "capture through qbg pcap check and tshark."
)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--role",
        choices=("station", "bridge", "both"),
        default="both",
        help="qbg's role: station (vs lldpad bridge), bridge (vs lldpad station), both",
    )
    p.add_argument(
        "--variant",
        choices=("std", "draft", "both"),
        default="both",
        help="ratified (std), draft 0.2, or both (default)",
    )
    p.add_argument("--json", action="store_true", help="one JSON object on stdout")
    p.add_argument("--captures", metavar="DIR", help="keep the captures in DIR")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress lines on stderr")
    p.add_argument(
        "--vlan-only",
        action="store_true",
        help="only the VLAN part of the bridge role (lldpad station ↔ qbg bridge, std)",
    )
    p.add_argument(
        "--guest",
        action="store_true",
        help="run the VLAN part (implies --vlan-only) inside a QEMU guest with Debian's "
        "VLAN-capable kernel (about 1 minute)",
    )


def register(subparsers: Any) -> argparse.ArgumentParser:
    """Add ``interop lldpad`` to the ``qbg`` subcommands."""
    p: argparse.ArgumentParser = subparsers.add_parser(
        "interop", help="interoperability suites against other implementations"
    )
    sub = p.add_subparsers(dest="interop_command", metavar="PEER")
    sub.required = True
    lp = sub.add_parser("lldpad", help="interoperate with lldpad", description=DESCRIPTION)
    add_arguments(lp)
    lp.set_defaults(func=cmd_lldpad)
    return p


def cmd_lldpad(args: argparse.Namespace) -> int:
    """Run the suite as the arguments say; returns the exit status."""
    from .interop.lldpad import LldpadError
    from .interop.suite import format_table, results_json, run_suite
    from .interop.testbed import TestbedError

    roles = ["station", "bridge"] if args.role == "both" else [args.role]
    variants = ["std", "draft"] if args.variant == "both" else [args.variant]
    if args.vlan_only:
        roles, variants = ["bridge"], ["std"]

    def log(line: str) -> None:
        if not args.quiet:
            print(line, file=sys.stderr, flush=True)

    def fatal(msg: str) -> int:
        if args.json:
            print(json.dumps({"suite": "lldpad", "ok": False, "error": msg, "results": []}))
        print(f"qbg interop lldpad: {msg}", file=sys.stderr)
        return 2

    if args.guest:
        args.vlan_only = True
    if args.vlan_only and (args.role == "station" or args.variant == "draft"):
        return fatal(
            "--vlan-only/--guest is the bridge role's std session"
            " (not --role station/--variant draft)"
        )
    if os.geteuid() != 0:
        return fatal("needs root (network namespaces)")
    if args.guest:
        return run_in_guest(args, log, fatal)
    t0 = time.monotonic()
    try:
        suite = run_suite(
            roles,
            variants,
            captures=Path(args.captures) if args.captures else None,
            log=log,
            vlan_only=args.vlan_only,
        )
    except (LldpadError, TestbedError) as err:
        return fatal(str(err))
    out = results_json(suite, time.monotonic() - t0)
    if args.json:
        print(json.dumps(out, indent=2))
    else:
        print(format_table(suite.results))
        if suite.vlan:
            print(f"\nVLAN part (bridge role): {suite.vlan['note']}")
        print(
            f"\n{out['passed']} passed, {out['failed']} failed, {out['pending']} pending"
            f" in {out['duration_s']} s"
        )
    return 0 if out["ok"] else 1


def guest_argv(args: argparse.Namespace, captures: Path | None) -> list[str]:
    """The VLAN part's command for inside the guest (captures to ``captures``)."""
    argv = ["--role", args.role, "--variant", args.variant, "--vlan-only"]
    argv += ["--json"] * args.json + ["--quiet"] * args.quiet
    if captures is not None:
        argv += ["--captures", str(captures)]
    return argv


def run_in_guest(
    args: argparse.Namespace, log: Callable[[str], None], fatal: Callable[[str], int]
) -> int:
    """Boot the QEMU guest (interop/vm.py) and run the VLAN part there; its exit status."""
    from .interop.vm import GuestKernel, VmError, available

    reason = available()
    if reason:
        return fatal(f"--guest: {reason}")
    log("qbg interop lldpad --guest: preparing the guest kernel (first time: apt-get download)")
    try:
        base = GuestKernel.prepare(ROOT / "build" / "vm")
    except VmError as err:
        return fatal(f"--guest: {err}")
    with base.private(prefix="interop-") as guest:
        out = guest.workdir / "out"
        result = out / "interop.json"
        inner = guest_argv(args, out / "captures" if args.captures else None)
        pythonpath = os.environ.get("PYTHONPATH")
        cmd = " ".join(
            [
                f"cd {shlex.quote(str(ROOT))} &&",
                f"PYTHONPATH={shlex.quote(pythonpath)}" if pythonpath else "",
                shlex.quote(sys.executable),
                "-m qbg.interopcli",
                *map(shlex.quote, inner),
                f"> {shlex.quote(str(result))}" if args.json else "",
            ]
        )
        log(f"qbg interop lldpad --guest: booting Linux {guest.release} under QEMU (TCG)")
        stream = sys.stderr if args.json else sys.stdout  # the guest's stdout+stderr
        try:
            res = guest.run_streaming(cmd, stream, timeout=3000)
        except VmError as err:
            return fatal(f"--guest: {err}")
        if args.captures and (out / "captures").is_dir():
            dest = Path(args.captures)
            dest.mkdir(parents=True, exist_ok=True)
            for f in (out / "captures").iterdir():
                shutil.copy2(f, dest / f.name)
        if args.json:
            try:
                doc = json.loads(result.read_text())
            except (OSError, ValueError) as err:
                return fatal(f"--guest: no JSON result from the guest ({err})")
            doc["guest"] = {"kernel": guest.release}
            if doc.get("captures"):
                doc["captures"] = [str(Path(args.captures) / Path(c).name) for c in doc["captures"]]
            print(json.dumps(doc, indent=2))
        return res.rc


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="qbg interop lldpad", description=DESCRIPTION)
    add_arguments(p)
    return cmd_lldpad(p.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
