"""``qbg interop lldpad``: the lldpad interoperability suite (interop/suite.py).

``--role`` names qbg's side: ``station`` (qbg station ↔ lldpad bridge), ``bridge`` (lldpad station
↔ qbg bridge) or ``both``.  Prints a table of scenario, result and evidence (``--json``: one JSON
object on stdout, progress on stderr).  Exit status: 0 all passed (pending rows allowed), 1 a
scenario failed, 2 the suite could not run (not root, lldpad/tshark missing).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

__all__ = ["cmd_lldpad", "register"]

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

    roles = ["station", "bridge"] if args.role == "both" else [args.role]
    variants = ["std", "draft"] if args.variant == "both" else [args.variant]

    def log(line: str) -> None:
        if not args.quiet:
            print(line, file=sys.stderr, flush=True)

    def fatal(msg: str) -> int:
        if args.json:
            print(json.dumps({"suite": "lldpad", "ok": False, "error": msg, "results": []}))
        print(f"qbg interop lldpad: {msg}", file=sys.stderr)
        return 2

    if os.geteuid() != 0:
        return fatal("needs root (network namespaces)")
    t0 = time.monotonic()
    try:
        suite = run_suite(
            roles, variants, captures=Path(args.captures) if args.captures else None, log=log
        )
    except LldpadError as err:
        return fatal(str(err))
    out = results_json(suite, time.monotonic() - t0)
    if args.json:
        print(json.dumps(out, indent=2))
    else:
        print(format_table(suite.results))
        print(
            f"\n{out['passed']} passed, {out['failed']} failed, {out['pending']} pending"
            f" in {out['duration_s']} s"
        )
    return 0 if out["ok"] else 1


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="qbg interop lldpad", description=DESCRIPTION)
    add_arguments(p)
    return cmd_lldpad(p.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
