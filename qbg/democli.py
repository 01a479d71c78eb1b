"""``qbg demo`` command-line glue: ``register_demo(subparsers)`` for qbg/cli.py.

The implementation (qbg.interop.demo) is imported only when the command runs, so other
subcommands do not pay for pyroute2.  ``python -m qbg.democli [options]`` runs the demo
directly (used inside the QEMU guest by ``qbg demo --vm``).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import Any

import yaml

__all__ = ["add_arguments", "main", "register_demo"]

DESCRIPTION = (
    "Build a network-namespace testbed (a Linux switch run by qbg bridge, a VEPA hypervisor "
    "run by qbg station, N VMs), show EVB/VDP at work step by step, tear it down. "
    "Exit 0 only when every claim held."
)


def _vlan_list(text: str) -> tuple[int, ...]:
    try:
        vids = tuple(int(v) for v in text.split(",") if v.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected VIDs like 100,200, got {text!r}") from None
    if not vids or any(not 2 <= v <= 4094 for v in vids):
        raise argparse.ArgumentTypeError(f"VIDs must be 2..4094, got {text!r}")
    return vids


def _yaml_mapping(text: str) -> dict[str, Any]:
    try:
        value = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise argparse.ArgumentTypeError(f"not YAML: {exc}") from None
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError("expected a YAML mapping")
    return value


def _vms(text: str) -> int:
    try:
        n = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not 2 <= n <= 64:
        raise argparse.ArgumentTypeError("--vms must be 2..64")
    return n


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The options of ``qbg demo``."""
    p.add_argument("--vms", type=_vms, default=4, help="number of VMs (2..64, default 4)")
    p.add_argument(
        "--vlans",
        type=_vlan_list,
        default=(100, 200),
        help="VLANs for the VMs, two VMs per VLAN in turn (default 100,200; "
        "only where the kernel has VLANs)",
    )
    p.add_argument("--no-vlan", action="store_true", help="run untagged even where VLANs exist")
    p.add_argument(
        "--lldp",
        choices=("own", "lldpd"),
        default="own",
        help=(
            "LLDP transport of both agents (default own; lldpd: the demo runs one lldpd per "
            "namespace and the agents carry the EVB TLV through it)"
        ),
    )
    p.add_argument(
        "--json", action="store_true", help="end with one JSON object (progress: stderr)"
    )
    p.add_argument("--keep", action="store_true", help="leave the testbed up to explore it")
    p.add_argument(
        "--vm", action="store_true", help="run the demo inside a QEMU guest with Debian's kernel"
    )
    p.add_argument(
        "--teardown", metavar="DIR", help="remove a testbed left by --keep (its work dir)"
    )
    p.add_argument("-v", "--verbose", action="store_true", help="daemons log at debug level")
    # for tests and experiments: merged into the generated daemon configs
    p.add_argument("--extra-bridge-config", type=_yaml_mapping, default={}, help=argparse.SUPPRESS)
    p.add_argument("--extra-station-config", type=_yaml_mapping, default={}, help=argparse.SUPPRESS)


def _run(args: argparse.Namespace) -> int:
    from .interop.demo import main as demo_main

    return demo_main(args)


def register_demo(subparsers: Any) -> argparse.ArgumentParser:
    """Add ``demo`` to the ``qbg`` subcommands."""
    p: argparse.ArgumentParser = subparsers.add_parser(
        "demo", help="EVB/VDP end to end in network namespaces", description=DESCRIPTION
    )
    add_arguments(p)
    p.set_defaults(func=_run)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``qbg demo`` with ``argv`` (without the ``demo`` word)."""
    from .interop.demo import main as demo_main

    p = argparse.ArgumentParser(prog="qbg demo", description=DESCRIPTION)
    add_arguments(p)
    args = p.parse_args(argv)
    try:
        return demo_main(args, list(sys.argv[1:] if argv is None else argv))
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
