"""``qbg ctl`` (talk to a running daemon) and ``qbg check-config`` (validate a file).

``qbg ctl`` is a thin client of the control socket (docs/control.md): it turns arguments into
one request, prints the reply as a table (or as JSON with ``--json``) and exits with

    0 ok · 1 refused by the daemon · 2 usage error (nothing sent) · 3 daemon unreachable

VSI commands accept qbg's options and, for scripts written for lldpad, vdptool's keyword form
(``-c mgrid2=pkmgr -c typeid=5 -c typeidver=4 -c uuid=… -c hints=none -c filter=100-02:aa:…``,
interop-lldpad.md §5).  Arguments are checked here with the same rules as the configuration
(VID 1/4095, MACs, ID forms), so a bad command never reaches the daemon.

This module is imported to build the parser, so it imports nothing heavy at module level.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
from collections.abc import Sequence
from typing import Any

__all__ = ["cmd_check_config", "cmd_ctl", "parse_filter", "register"]

EXIT_OK, EXIT_REFUSED, EXIT_USAGE, EXIT_UNREACHABLE = 0, 1, 2, 3
DEFAULT_SOCKETS = ("/run/qbg/station.sock", "/run/qbg/bridge.sock")
_VSI_MODES = {"assoc": "vsi.assoc", "preassoc": "vsi.preassoc", "preassoc-rr": "vsi.preassoc_rr"}
_VDPTOOL_MODES = {"0": "preassoc", "1": "preassoc-rr", "2": "assoc", "3": "deassoc"}


class UsageError(Exception):
    """A command line that cannot become a valid request (exit 2, nothing sent)."""


# --- parser ---------------------------------------------------------------------------------


def register(subparsers: Any) -> None:
    """Add ``ctl`` and ``check-config`` to ``qbg``'s subparsers (called from qbg/cli.py)."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--json", action="store_true", default=argparse.SUPPRESS, help="JSON output"
    )
    common.add_argument(
        "--socket", metavar="PATH", default=argparse.SUPPRESS, help="control socket"
    )
    common.add_argument(
        "--timeout", type=float, metavar="S", default=argparse.SUPPRESS, help="reply timeout (30)"
    )

    ctl = subparsers.add_parser(
        "ctl",
        parents=[common],
        help="control a running qbg daemon",
        description="Exit codes: 0 ok, 1 refused by the daemon, 2 usage error, 3 unreachable.",
    )
    ctl.add_argument("--config", metavar="FILE", help="take the socket path from this config")
    ctl.set_defaults(func=cmd_ctl)  # --json/--socket/--timeout: read with getattr (shared actions)
    sub = ctl.add_subparsers(dest="ctl_command", metavar="COMMAND")
    sub.required = True

    sub.add_parser("status", parents=[common], help="daemon and per-port state")
    nb = sub.add_parser("neighbors", parents=[common], help="LLDP/EVB neighbours")
    nb.add_argument("-i", "--interface")

    vsi = sub.add_parser("vsi", parents=[common], help="list or drive VSIs")
    vsub = vsi.add_subparsers(dest="vsi_command", metavar="ACTION")
    vsub.required = True
    vl = vsub.add_parser("list", parents=[common], help="list VSIs")
    vl.add_argument("-i", "--interface")
    vl.add_argument("--state", help="only VSIs in this state")
    for name, text in (
        ("assoc", "associate a VSI (station)"),
        ("preassoc", "pre-associate a VSI (station)"),
        ("preassoc-rr", "pre-associate with resource reservation (station)"),
        ("deassoc", "de-associate a VSI (station; on a bridge: bridge-initiated)"),
    ):
        p = vsub.add_parser(name, parents=[common], help=text)
        _vsi_options(p, deassoc=name == "deassoc")

    pol = sub.add_parser("policy", parents=[common], help="bridge policy")
    psub = pol.add_subparsers(dest="policy_command", metavar="ACTION")
    psub.required = True
    ps = psub.add_parser("show", parents=[common], help="show the bridge policy")
    ps.add_argument("-i", "--interface")
    pset = psub.add_parser("set", parents=[common], help="change policy settings (KEY=VALUE)")
    pset.add_argument("-i", "--interface", help="per-port setting")
    pset.add_argument("settings", nargs="+", metavar="KEY=VALUE", help="VALUE is JSON or a string")

    chk = subparsers.add_parser("check-config", help="validate a station or bridge config file")
    chk.add_argument("file", metavar="FILE")
    chk.add_argument("--json", action="store_true", help="print the parsed configuration as JSON")
    chk.set_defaults(func=cmd_check_config)


def _vsi_options(p: argparse.ArgumentParser, deassoc: bool) -> None:
    p.add_argument("-i", "--interface", required=True)
    p.add_argument("--mgrid", "--manager-id", dest="mgrid", help="VSI manager ID (vdp.md §3)")
    p.add_argument("--type-id", type=_int, help="VSI type ID 0..16777215")
    p.add_argument("--type-version", type=_int, help="VSI type version 0..255")
    p.add_argument("--vsiid", help="VSI ID text (UUID by default)")
    p.add_argument(
        "--vsiid-format", choices=("uuid", "ipv4", "ipv6", "mac", "local"), help="default uuid"
    )
    p.add_argument(
        "--filter",
        action="append",
        default=[],
        metavar="F",
        help="VLAN[-MAC[-GROUP]] (vdptool form) or vid=N,mac=M,pcp=P,group=G; repeatable",
    )
    p.add_argument("--hints", choices=("none", "to", "from"))
    p.add_argument(
        "-c",
        dest="keywords",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="vdptool keyword form: mgrid2, typeid, typeidver, uuid, hints, filter, oui, mode",
    )
    p.add_argument("--no-wait", action="store_true", help="return before the bridge answers")
    if deassoc:
        p.add_argument("--hard", action="store_true", help="bridge: set the H bit (permanent)")


def _int(text: str) -> int:
    try:
        return int(text, 0)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None


# --- argument checking --------------------------------------------------------------------


def parse_filter(text: str) -> tuple[str, dict[str, Any]]:
    """One ``--filter`` → (filter format name, entry dict of docs/control.md)."""
    from qbg.config import parse_mac

    text = text.strip()
    vid: int
    ps, pcp = False, 0
    mac: str | None = None
    group: int | None = None
    try:
        if "=" in text:
            kv: dict[str, str] = {}
            for part in text.split(","):
                key, sep, value = part.partition("=")
                if not sep or key.strip() not in ("vid", "mac", "pcp", "group", "group_id"):
                    raise UsageError(f"filter {text!r}: expected vid=, mac=, pcp=, group=")
                kv[key.strip().replace("group_id", "group")] = value.strip()
            if "vid" not in kv:
                raise UsageError(f"filter {text!r}: vid= is required")
            vid = int(kv["vid"], 0)
            if "pcp" in kv:
                ps, pcp = True, int(kv["pcp"], 0)
            mac = kv.get("mac")
            group = int(kv["group"], 0) if "group" in kv else None
        else:
            parts = text.split("-", 2)
            word = int(parts[0], 0)
            if not 0 <= word <= 0xFFFF:
                raise UsageError(f"filter {text!r}: VLAN word outside 0..65535")
            vid, ps, pcp = word & 0x0FFF, bool(word & 0x8000), (word >> 12) & 7
            mac = parts[1] if len(parts) > 1 and parts[1] else None
            group = int(parts[2], 0) if len(parts) > 2 and parts[2] else None
    except ValueError:
        raise UsageError(f"filter {text!r}: not a number where one is expected") from None
    if not 0 <= vid <= 4095 or vid in (1, 4095):
        raise UsageError(f"filter {text!r}: VID must be 0 (bridge assigns) or 2..4094")
    if not 0 <= pcp <= 7:
        raise UsageError(f"filter {text!r}: PCP must be 0..7")
    entry: dict[str, Any] = {"vid": vid, "ps": ps, "pcp": pcp}
    if mac is not None:
        try:
            raw = parse_mac(mac)
        except ValueError as exc:
            raise UsageError(f"filter {text!r}: {exc}") from None
        if not any(raw) or raw[0] & 1:
            raise UsageError(f"filter {text!r}: MAC must be unicast and not zero")
        entry["mac"] = ":".join(f"{b:02x}" for b in raw)
    if group is not None:
        if not 1 <= group <= 0xFFFFFFFF:
            raise UsageError(f"filter {text!r}: GroupID must be 1..4294967295")
        entry["group_id"] = group
    fmt = {(False, False): "vid", (True, False): "mac-vid", (False, True): "group-vid"}.get(
        (mac is not None, group is not None), "group-mac-vid"
    )
    return fmt, entry


def vsi_args(ns: argparse.Namespace, mode: str) -> dict[str, Any]:
    """The ``args`` of a ``vsi.*`` request; raises :class:`UsageError`."""
    from qbg.config import parse_mgrid, parse_vsiid

    mgrid, type_id, type_ver = ns.mgrid, ns.type_id, ns.type_version
    vsiid, vfmt, hints = ns.vsiid, ns.vsiid_format, ns.hints
    filters = list(ns.filter)
    oui: list[str] = []
    for kw in ns.keywords:
        key, sep, value = kw.partition("=")
        if not sep:
            raise UsageError(f"-c {kw!r}: expected KEY=VALUE")
        key = key.strip().lower()
        try:
            if key == "mgrid2":
                mgrid = value
            elif key == "typeid":
                type_id = int(value, 0)
            elif key == "typeidver":
                type_ver = int(value, 0)
            elif key == "uuid":
                vsiid, vfmt = value, "uuid"
            elif key == "hints":
                hints = "none" if value in ("-", "none") else value
            elif key == "filter":
                filters.append(value)
            elif key == "oui":
                oui.append(value)
            elif key == "mode":
                if _VDPTOOL_MODES.get(value, value) != mode:
                    raise UsageError(f"-c mode={value} contradicts the command vsi {mode}")
            else:
                raise UsageError(f"-c {key}: unknown keyword")
        except ValueError:
            raise UsageError(f"-c {kw!r}: not a number") from None
    args: dict[str, Any] = {"interface": ns.interface}
    if hints is not None and hints not in ("none", "to", "from"):
        raise UsageError(f"hints must be none, to or from, not {hints!r}")
    if mgrid is not None:
        try:
            parse_mgrid(mgrid)
        except ValueError as exc:
            raise UsageError(f"manager ID {mgrid!r}: {exc}") from None
        args["manager_id"] = mgrid
    if type_id is not None:
        if not 0 <= type_id <= 0xFFFFFF:
            raise UsageError("type ID must be 0..16777215")
        args["type_id"] = type_id
    if type_ver is not None:
        if not 0 <= type_ver <= 255:
            raise UsageError("type version must be 0..255")
        args["type_version"] = type_ver
    if vsiid is not None:
        vfmt = vfmt or "uuid"
        try:
            parse_vsiid(vfmt, vsiid)
        except ValueError as exc:
            raise UsageError(f"VSI ID {vsiid!r} ({vfmt}): {exc}") from None
        args["vsiid_format"], args["vsiid"] = vfmt, vsiid
    elif vfmt is not None:
        args["vsiid_format"] = vfmt
    if filters:
        parsed = [parse_filter(f) for f in filters]
        formats = {fmt for fmt, _ in parsed}
        if len(formats) > 1:
            raise UsageError(
                "all filters of one VSI must have the same form: " + ", ".join(sorted(formats))
            )
        entries = [e for _, e in parsed]
        if formats == {"vid"} and len(entries) > 1 and any(e["vid"] == 0 for e in entries):
            raise UsageError("VID 0 (wildcard) is allowed in format vid only as the only entry")
        macs = [e["mac"] for e in entries if "mac" in e]
        if len(macs) != len(set(macs)):
            raise UsageError("the same MAC appears twice")
        args["filter_format"], args["filters"] = formats.pop(), entries
    if hints is not None:
        args["hints"] = hints
    if oui:
        args["oui"] = oui
    if mode != "deassoc":
        missing = [
            opt
            for opt, key in (
                ("--mgrid", "manager_id"),
                ("--type-id", "type_id"),
                ("--type-version", "type_version"),
                ("--vsiid", "vsiid"),
                ("--filter", "filters"),
            )
            if key not in args
        ]
        if missing:
            raise UsageError(f"vsi {mode} needs {', '.join(missing)}")
    elif "vsiid" not in args:
        raise UsageError("vsi deassoc needs --vsiid (and on a station the rest of the VSI key)")
    args["wait"] = not ns.no_wait
    if mode == "deassoc" and getattr(ns, "hard", False):
        args["hard"] = True
    return args


def _setting(text: str) -> tuple[str, Any]:
    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise UsageError(f"{text!r}: expected KEY=VALUE")
    try:
        parsed: Any = json.loads(value)
    except ValueError:
        parsed = value
    return key.strip(), parsed


def build_request(ns: argparse.Namespace) -> tuple[str, dict[str, Any]]:
    """(cmd, args) for a parsed ``qbg ctl`` command line."""
    c = ns.ctl_command
    if c == "status":
        return "status", {}
    if c == "neighbors":
        return "neighbors", _only(interface=ns.interface)
    if c == "vsi":
        v = ns.vsi_command
        if v == "list":
            return "vsi.list", _only(interface=ns.interface, state=ns.state)
        return ("vsi.deassoc" if v == "deassoc" else _VSI_MODES[v]), vsi_args(ns, v)
    if c == "policy":
        if ns.policy_command == "show":
            return "policy.show", _only(interface=ns.interface)
        settings = dict(_setting(s) for s in ns.settings)
        return "policy.set", {**_only(interface=ns.interface), "settings": settings}
    raise UsageError(f"unknown command {c!r}")


def _only(**kv: Any) -> dict[str, Any]:
    return {k: v for k, v in kv.items() if v is not None}


def _socket_path(ns: argparse.Namespace) -> str:
    if getattr(ns, "socket", None):
        return str(ns.socket)
    if getattr(ns, "config", None):
        from qbg.config import ConfigError, check_config

        try:
            return check_config(ns.config)[1].daemon.control_socket
        except ConfigError as exc:
            raise UsageError(str(exc)) from None
    env = os.environ.get("QBG_CONTROL_SOCKET")
    if env:
        return env
    present = [p for p in DEFAULT_SOCKETS if os.path.exists(p)]
    return present[0] if len(present) == 1 else DEFAULT_SOCKETS[0]


# --- output -------------------------------------------------------------------------------


def _table(rows: Sequence[Sequence[Any]], header: Sequence[str]) -> str:
    cells = [[str(h) for h in header]] + [["-" if c is None else str(c) for c in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    return "\n".join(
        "  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in cells
    )


def _tree(value: Any, indent: int = 0) -> list[str]:
    pad = "  " * indent
    if isinstance(value, dict):
        out = []
        for k, v in value.items():
            if isinstance(v, dict | list) and v:
                out.append(f"{pad}{k}:")
                out.extend(_tree(v, indent + 1))
            else:
                out.append(f"{pad}{k}: {_scalar(v)}")
        return out
    if isinstance(value, list):
        out = []
        for v in value:
            sub = _tree(v, indent + 1)
            out.append(f"{pad}- {sub[0].lstrip()}" if sub else f"{pad}-")
            out.extend(sub[1:])
        return out
    return [f"{pad}{_scalar(value)}"]


def _scalar(v: Any) -> str:
    if isinstance(v, bool):
        return "yes" if v else "no"
    if v is None or v == [] or v == {}:
        return "-"
    return str(v)


def _filters_text(filters: Any) -> str:
    if not isinstance(filters, list):
        return "-"
    out = []
    for f in filters:
        if not isinstance(f, dict):
            out.append(str(f))
            continue
        s = str(f.get("vid", "?"))
        if f.get("ps"):
            s += f"/p{f.get('pcp', 0)}"
        if f.get("mac"):
            s += f"-{f['mac']}"
        if f.get("group_id") is not None:
            s += f"-g{f['group_id']}"
        out.append(s)
    return ",".join(out) or "-"


def _print_vsis(vsis: Any) -> None:
    if not isinstance(vsis, list) or not vsis:
        print("no VSIs")
        return
    rows = [
        (
            v.get("interface"),
            v.get("state"),
            v.get("mode") or v.get("requested_mode"),
            v.get("manager_id"),
            f"{v.get('type_id')}/{v.get('type_version')}",
            v.get("vsiid"),
            _filters_text(v.get("filters")),
        )
        for v in vsis
        if isinstance(v, dict)
    ]
    print(_table(rows, ("INTERFACE", "STATE", "MODE", "MANAGER", "TYPE/VER", "VSI ID", "FILTERS")))


def _print_status(r: dict[str, Any]) -> None:
    head = {k: v for k, v in r.items() if k != "interfaces"}
    print("\n".join(_tree(head)))
    ifaces = r.get("interfaces")
    if isinstance(ifaces, list) and ifaces:
        rows = []
        for i in ifaces:
            if not isinstance(i, dict):
                continue
            evb = i.get("evb") if isinstance(i.get("evb"), dict) else {}
            assert isinstance(evb, dict)
            timers = "/".join(str(evb.get(k, "?")) for k in ("r", "rte", "rwd", "rka"))
            vsis = i.get("vsis")
            count = sum(vsis.values()) if isinstance(vsis, dict) else vsis
            ecp = i.get("ecp") if isinstance(i.get("ecp"), dict) else None
            vdp = i.get("vdp") if isinstance(i.get("vdp"), dict) else {}
            assert isinstance(vdp, dict)
            rows.append(
                (
                    i.get("name"),
                    i.get("variant"),
                    i.get("link"),
                    evb.get("state"),
                    _scalar(evb.get("rr")),
                    timers,
                    count,
                    # loss at a glance: ECPDUs sent / retransmitted / given up
                    "/".join(str(ecp.get(k, "?")) for k in ("sent", "retransmits", "give_ups"))
                    if ecp
                    else "-",
                    vdp.get("window", "-"),  # the station's learned window (unanswered requests)
                )
            )
        print()
        head = ("INTERFACE", "VARIANT", "LINK", "EVB", "RR", "R/RTE/RWD/RKA", "VSIS")
        print(_table(rows, (*head, "ECP TX/RETX/GIVE-UP", "WINDOW")))


def _print_neighbors(r: dict[str, Any]) -> None:
    nbs = r.get("neighbors")
    if not isinstance(nbs, list) or not nbs:
        print("no neighbours")
        return
    rows = [
        (
            n.get("interface"),
            n.get("chassis_id"),
            n.get("port_id"),
            n.get("ttl"),
            (n.get("evb") or {}).get("mode") if isinstance(n.get("evb"), dict) else n.get("evb"),
        )
        for n in nbs
        if isinstance(n, dict)
    ]
    print(_table(rows, ("INTERFACE", "CHASSIS ID", "PORT ID", "TTL", "EVB")))


def _print_human(cmd: str, result: Any) -> None:
    if cmd == "status" and isinstance(result, dict):
        _print_status(result)
    elif cmd == "neighbors" and isinstance(result, dict):
        _print_neighbors(result)
    elif cmd == "vsi.list" and isinstance(result, dict):
        _print_vsis(result.get("vsis"))
    elif (
        cmd.startswith("vsi.") and isinstance(result, dict) and isinstance(result.get("vsi"), dict)
    ):
        v = result["vsi"]
        print(f"{cmd[4:]}: {v.get('state', 'ok')}")
        _print_vsis([v])
    elif result in (None, {}, True):
        print("ok")
    else:
        print("\n".join(_tree(result)))


# --- entry points -------------------------------------------------------------------------


def cmd_ctl(args: argparse.Namespace) -> int:
    """Run one ``qbg ctl`` command; returns the exit code."""
    from qbg.control import ControlClient, ControlError, ControlUnreachable

    as_json = bool(getattr(args, "json", False))
    timeout = float(getattr(args, "timeout", 30.0))
    try:
        cmd, req = build_request(args)
        path = _socket_path(args)
    except UsageError as exc:
        print(f"qbg ctl: {exc}", file=sys.stderr)
        return EXIT_USAGE
    try:
        with ControlClient(path, timeout=timeout) as client:
            result = client.call(cmd, **req)
    except ControlError as exc:
        if as_json:
            print(json.dumps({"ok": False, "error": exc.to_json()}))
        else:
            print(f"qbg ctl: {cmd} refused: {exc.code}: {exc.message}", file=sys.stderr)
        return EXIT_REFUSED
    except ControlUnreachable as exc:
        if as_json:
            err = {"code": "unreachable", "message": str(exc)}
            print(json.dumps({"ok": False, "error": err}))
        print(f"qbg ctl: daemon unreachable: {exc}", file=sys.stderr)
        return EXIT_UNREACHABLE
    if as_json:
        print(json.dumps(result, indent=2, sort_keys=True))
    else:
        _print_human(cmd, result)
    return EXIT_OK


def _jsonable(obj: Any) -> Any:
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: _jsonable(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, bytes):
        return obj.hex()
    if isinstance(obj, tuple | list):
        return [_jsonable(x) for x in obj]
    return obj


def config_summary(kind: str, cfg: Any) -> str:
    """A few lines describing a loaded configuration (``qbg check-config``)."""
    d = cfg.daemon
    metrics = "off"
    if d.metrics:
        host = f"[{d.metrics.host}]" if ":" in d.metrics.host else d.metrics.host
        metrics = f"http://{host}:{d.metrics.port}/metrics"
    lines = [
        f"{cfg.source}: OK ({kind})",
        f"  control socket {d.control_socket} (uids {', '.join(map(str, d.control_allowed_uids))})",
        f"  state file {d.state_file}; log {d.log_format}/{d.log_level}; metrics {metrics}",
    ]
    rr = "RRREQ" if kind == "station" else "RRCAP"
    for i in cfg.interfaces:
        e = i.evb
        lldp = i.lldp.transport + (f" ({i.lldp.socket})" if i.lldp.socket else "")
        timers = (
            f"R {e.r} RTE {e.rte} RWD {e.rwd} RKA {e.rka}, GroupID {'on' if e.gid else 'off'}"
            if i.variant == "std"
            else f"RTE {e.rte}, VSIs {e.vsis}"
        )
        line = f"  {i.name}: {i.variant}, lldp {lldp}, {timers}, {rr} {'on' if e.rr else 'off'}"
        if kind == "station":
            line += f", {len(i.vsis)} VSI{'s' if len(i.vsis) != 1 else ''}"
        lines.append(line)
    if kind == "bridge":
        p = cfg.policy
        lines.append(
            f"  policy {p.mode}, {len(p.types)} VSI types, refuse_unenforceable "
            f"{'on' if p.refuse_unenforceable else 'off'}"
        )
    return "\n".join(lines)


def cmd_check_config(args: argparse.Namespace) -> int:
    """``qbg check-config FILE``: 0 and a summary, or 2 and the error."""
    from qbg.config import ConfigError, check_config

    try:
        kind, cfg = check_config(args.file)
    except ConfigError as exc:
        print(f"qbg check-config: {exc}", file=sys.stderr)
        return EXIT_USAGE
    if getattr(args, "json", False):
        print(json.dumps({"role": kind, "config": _jsonable(cfg)}, indent=2))
    else:
        print(config_summary(kind, cfg))
    return EXIT_OK
