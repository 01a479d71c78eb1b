"""``qbg demo``: a VEPA hypervisor and a Linux switch, in network namespaces, run by qbg.

What: builds a throwaway testbed on this machine — a switch namespace with a Linux bridge
``br0`` (VLAN-filtering where the kernel has it) and port ``swp1`` run by ``qbg bridge``; a
hypervisor namespace whose ``uplink`` is the other end of ``swp1``, running ``qbg station``; N VM
namespaces on macvlan VEPA interfaces over the uplink (on 802.1Q sub-interfaces where the
kernel has them).  Then it proves, step by step, from pings and from kernel state:

1. EVB is negotiated with reflective relay: hairpin goes on at ``swp1``, and the agent's port
   is *locked* (learning off, unknown-unicast flooding off);
2. VM-to-VM ping fails before association: the switch forwards only to MAC[/VID]s that a VSI
   association bound to the port (and, with VLANs, the port does not carry the VMs' VLANs);
3. the VMs associate (VDP over ECP);
4. the switch now has the VLANs, static FDB entries and hairpin (shown);
5. VM-to-VM ping works — each frame leaves the hypervisor and is reflected by the switch;
6. de-associating one VM removes its entries and cuts its traffic;
7. de-associating the rest leaves the switch as it was.

Why a locked port: reflective relay is negotiated by LLDP as soon as the agents start, long
before any VSI exists, so hairpin alone cannot make "ping fails before association" true.  A
port that does not learn and does not flood unknown unicast (802.1X-style "locked" switch
ports) forwards only to the static entries VDP installs, which is exactly the VDP contract
(filter info = the MAC/VID bound to the port).  ARP broadcasts still flood, so the VMs resolve
each other, but the unicast reply has no FDB entry and is dropped.

The daemons run as subprocesses (``ip netns exec NS python -m qbg.cli station|bridge``) with
generated configs, state files, control sockets and logs in one temp dir; logs are shown on
failure.  Everything is torn down on exit, on exceptions, Ctrl-C and SIGTERM (``--keep``
leaves it up and prints how to explore and how to remove it: ``qbg demo --teardown DIR``).
"""

from __future__ import annotations

import argparse
import concurrent.futures
import contextlib
import ipaddress
import itertools
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import yaml

from . import netns as _netns
from .netns import Netns, Topology, icmp_ping

if TYPE_CHECKING:
    from .vm import GuestKernel

__all__ = [
    "Claim",
    "DemoError",
    "DemoOptions",
    "DemoResult",
    "main",
    "run_demo",
]

ROOT = Path(__file__).resolve().parents[1]
BRIDGE, PORT, UPLINK = "br0", "swp1", "uplink"
PORT_MAC, UPLINK_MAC = "02:51:bb:00:00:01", "02:51:aa:00:00:01"
MANAGER_ID, TYPE_ID, TYPE_VERSION = "qbgdemo", 1, 1
SUBNET = ipaddress.ip_network("10.99.0.0/24")
_SLOW = 4.0 if os.environ.get("QBG_IN_GUEST") else 1.0  # QEMU TCG: Python starts ~10x slower
START_TIMEOUT = 45.0 * _SLOW  # daemon up + control socket answering
EVB_TIMEOUT = 40.0 * _SLOW  # LLDP exchange + RR granted (LLDP fast start is ~1 s)
STOP_TIMEOUT = 5.0


class DemoError(Exception):
    """The testbed or a daemon could not be brought up; the message says why."""


@dataclass
class Claim:
    """One checked statement of the demo (a PASS/FAIL line and a summary row)."""

    step: int
    text: str
    ok: bool
    detail: str = ""


@dataclass
class Vm:
    """One VM namespace: its VEPA interface, addresses and VSI."""

    index: int
    ns: Netns
    ifname: str
    mac: str
    ip: str
    vid: int | None  # 802.1Q VLAN of the VM (None: untagged)

    @property
    def name(self) -> str:
        return f"vm{self.index}"

    @property
    def vsiid(self) -> str:
        return f"5142c0de-0000-4000-8000-{self.index:012x}"

    def filter(self) -> dict[str, Any]:
        # VID 0 on an untagged testbed: "no VLAN" (allow_all without wildcard_vid echoes 0)
        return {"vid": self.vid or 0, "mac": self.mac}


@dataclass
class DemoOptions:
    """What ``qbg demo`` was asked to do."""

    vms: int = 4
    vlans: tuple[int, ...] = (100, 200)
    lldp: str = "own"
    keep: bool = False
    json: bool = False
    no_vlan: bool = False  # force the untagged testbed even where VLANs exist
    extra_bridge_config: dict[str, Any] = field(default_factory=dict)
    extra_station_config: dict[str, Any] = field(default_factory=dict)
    verbose: bool = False


@dataclass
class DemoResult:
    """Everything the demo found; ``to_json`` is the ``--json`` object."""

    vms: int = 0
    vlan_mode: bool = False
    vlans: list[int] = field(default_factory=list)
    notices: list[str] = field(default_factory=list)
    namespaces: dict[str, str] = field(default_factory=dict)
    workdir: str = ""
    evb_rr: bool = False
    port_locked: bool = False
    lock_by: str = ""  # who locked swp1: "bridge agent" (lock_ports)
    hairpin: bool = False
    associated: int = 0
    pairs: int = 0
    ping_before_ok: int = 0
    ping_after_ok: int = 0
    cross_vlan_ok: int | None = None
    fdb_entries: int = 0
    fdb: list[dict[str, Any]] = field(default_factory=list)
    vlans_added: list[int] = field(default_factory=list)
    vlans_removed: list[int] = field(default_factory=list)
    deassoc_vm: str = ""
    deassoc_cut: bool = False
    deassoc_entries_removed: bool = False
    others_unaffected: bool = False
    clean_after: bool = False
    claims: list[Claim] = field(default_factory=list)
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None and bool(self.claims) and all(c.ok for c in self.claims)

    def to_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "error": self.error,
            "vms": self.vms,
            "associated": self.associated,
            "pairs": self.pairs,
            "ping_before_ok": self.ping_before_ok,
            "ping_after_ok": self.ping_after_ok,
            "fdb_entries": self.fdb_entries,
            "hairpin": self.hairpin,
            "deassoc_cut": self.deassoc_cut,
            "deassoc_vm": self.deassoc_vm,
            "deassoc_entries_removed": self.deassoc_entries_removed,
            "others_unaffected": self.others_unaffected,
            "evb_rr": self.evb_rr,
            "port_locked": self.port_locked,
            "lock_by": self.lock_by,
            "vlan_mode": self.vlan_mode,
            "vlans": self.vlans,
            "vlans_added": self.vlans_added,
            "vlans_removed": self.vlans_removed,
            "cross_vlan_ok": self.cross_vlan_ok,
            "clean_after": self.clean_after,
            "fdb": self.fdb,
            "namespaces": self.namespaces,
            "workdir": self.workdir,
            "notices": self.notices,
            "claims": [
                {"step": c.step, "claim": c.text, "ok": c.ok, "detail": c.detail}
                for c in self.claims
            ],
        }


# -- output ---------------------------------------------------------------------------------------


class Reporter:
    """Human progress: steps, PASS/FAIL lines, shown commands (to stdout, or stderr with --json)."""

    def __init__(self, out: IO[str]) -> None:
        self.out = out
        self.color = out.isatty() and os.environ.get("NO_COLOR") is None

    def _c(self, code: str, text: str) -> str:
        return f"\033[{code}m{text}\033[0m" if self.color else text

    def line(self, text: str = "") -> None:
        print(text, file=self.out, flush=True)

    def step(self, n: int, title: str) -> None:
        self.line()
        self.line(self._c("1", f"[{n}] {title}"))

    def note(self, text: str) -> None:
        self.line(f"      {text}")

    def notice(self, text: str) -> None:
        self.line(self._c("33", f"NOTICE: {text}"))

    def claim(self, c: Claim) -> None:
        tag = self._c("32", "PASS") if c.ok else self._c("31", "FAIL")
        self.line(f"  {tag}  {c.text}" + (f"  ({c.detail})" if c.detail else ""))

    def shell(self, title: str, text: str) -> None:
        self.line(f"      $ {title}")
        for row in text.rstrip().splitlines() or ["(nothing)"]:
            self.line(f"        {row}")


# -- daemons --------------------------------------------------------------------------------------


class Daemon:
    """One ``qbg station|bridge`` subprocess in a namespace, with its log and control socket."""

    def __init__(self, role: str, ns: Netns, config: Path, socket: Path, log: Path) -> None:
        self.role, self.ns, self.config, self.socket, self.log = role, ns, config, socket, log
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        """Start it in its own session: Ctrl-C reaches only the demo, which stops it in order
        (and with --keep it outlives the demo)."""
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        with open(self.log, "ab") as logf:
            self.proc = self.ns.spawn(
                sys.executable,
                "-m",
                "qbg.cli",
                self.role,
                "--config",
                str(self.config),
                stdin=subprocess.DEVNULL,
                stdout=logf,
                stderr=subprocess.STDOUT,
                env=env,
                cwd=str(ROOT),
                start_new_session=True,
            )

    def exited(self) -> int | None:
        return None if self.proc is None else self.proc.poll()

    def log_tail(self, lines: int = 25) -> str:
        try:
            text = self.log.read_text(errors="replace")
        except OSError:
            return "(no log)"
        return "\n".join(text.rstrip().splitlines()[-lines:]) or "(log is empty)"

    def call(self, cmd: str, timeout: float = 60.0, **args: Any) -> Any:
        """One control-socket request (docs/control.md); raises ControlError/Unreachable."""
        from ..control import ControlClient

        with ControlClient(self.socket, timeout=timeout) as client:
            return client.call(cmd, **args)

    def wait_ready(self, timeout: float = START_TIMEOUT) -> None:
        """Until the control socket answers ``ping``; DemoError if the process dies first."""
        from ..control import ControlError, ControlUnreachable

        deadline = time.monotonic() + timeout
        last = ""
        while time.monotonic() < deadline:
            rc = self.exited()
            if rc is not None:
                raise DemoError(
                    f"qbg {self.role} exited with status {rc} during start-up "
                    f"(config {self.config}):\n{_indent(self.log_tail())}"
                )
            if self.socket.exists():
                try:
                    self.call("ping", timeout=2.0)
                    return
                except (ControlUnreachable, ControlError, OSError) as exc:
                    last = str(exc)
            time.sleep(0.1)
        raise DemoError(
            f"qbg {self.role} did not answer on {self.socket} within {timeout:.0f} s"
            f"{f' ({last})' if last else ''}:\n{_indent(self.log_tail())}"
        )

    def stop(self) -> None:
        """SIGTERM, then SIGKILL after STOP_TIMEOUT; by PID, only our own process."""
        proc = self.proc
        if proc is None or proc.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.kill(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.kill(proc.pid, signal.SIGKILL)
            proc.wait(timeout=STOP_TIMEOUT)


def _indent(text: str, by: str = "    ") -> str:
    return "\n".join(by + line for line in text.splitlines())


# -- configs --------------------------------------------------------------------------------------


def _lldp_section(opts: DemoOptions, socket: str | None = None) -> dict[str, Any]:
    if opts.lldp == "lldpd":
        if socket is None:
            raise DemoError("--lldp lldpd: no lldpd socket (the demo starts one per namespace)")
        return {"transport": "lldpd", "socket": socket}
    return {"transport": "own"}


def _merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for k, v in extra.items():
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = _merge(out[k], v)
        else:
            out[k] = v
    return out


def bridge_config(
    opts: DemoOptions, work: Path, *, lock: bool, lldpd_socket: str | None = None
) -> dict[str, Any]:
    """The switch agent's configuration (docs/config.md)."""
    cfg: dict[str, Any] = {
        "role": "bridge",
        "daemon": {
            "state_file": str(work / "bridge.state.json"),
            "control_socket": str(work / "bridge.sock"),
            "log": {"format": "human", "level": "debug" if opts.verbose else "info"},
        },
        "linux_bridge": BRIDGE,
        "interfaces": [
            {
                "name": PORT,
                "variant": "std",
                "lldp": _lldp_section(opts, lldpd_socket),
                "evb": {"rrcap": True},
            }
        ],
        "policy": {"mode": "allow_all"},
    }
    if lock:
        cfg["lock_ports"] = True
    return _merge(cfg, opts.extra_bridge_config)


def station_config(
    opts: DemoOptions, work: Path, lldpd_socket: str | None = None
) -> dict[str, Any]:
    """The hypervisor agent's configuration: no VSIs at start (the demo associates them)."""
    cfg: dict[str, Any] = {
        "role": "station",
        "daemon": {
            "state_file": str(work / "station.state.json"),
            "control_socket": str(work / "station.sock"),
            "log": {"format": "human", "level": "debug" if opts.verbose else "info"},
        },
        "interfaces": [
            {
                "name": UPLINK,
                "variant": "std",
                "lldp": _lldp_section(opts, lldpd_socket),
                "evb": {"rrreq": True},
                "vsis": [],
            }
        ],
    }
    return _merge(cfg, opts.extra_station_config)


# -- kernel state readers -------------------------------------------------------------------------


@dataclass(frozen=True)
class PortState:
    """What the switch kernel says about ``swp1``."""

    hairpin: bool
    learning: bool
    unicast_flood: bool
    vlans: dict[int, int]  # vid -> flags (2 PVID, 4 untagged); {} without VLAN filtering
    fdb: list[dict[str, Any]]  # static entries on the port: mac, vid

    @property
    def locked(self) -> bool:
        return not self.learning and not self.unicast_flood


def read_port(sw: Netns) -> PortState:
    """Hairpin, learning, flooding, VLANs and static FDB entries of ``swp1`` (rtnetlink)."""
    from pyroute2 import IPRoute

    from ..bridge.linux import LinuxBridge

    br = LinuxBridge(BRIDGE, netns=sw.name)
    with IPRoute(netns=sw.name, flags=0) as ipr:
        msg = ipr.link("get", ifname=PORT)[0]
        slave = ("linkinfo", "slave_data")
        learning = bool(msg.get((*slave, "IFLA_BRPORT_LEARNING")))
        flood = bool(msg.get((*slave, "IFLA_BRPORT_UNICAST_FLOOD")))
    fdb = [
        {"mac": e.mac, "vid": e.vid, "port": e.port}
        for e in br.fdb_entries(PORT)
        if e.static and not e.local
    ]
    return PortState(
        hairpin=br.hairpin(PORT),
        learning=learning,
        unicast_flood=flood,
        vlans=br.port_vlans(PORT),
        fdb=sorted(fdb, key=lambda d: (d["mac"], d["vid"] or 0)),
    )


def show_commands(sw: Netns, vlan_mode: bool) -> list[tuple[str, str]]:
    """The iproute2 views of the switch the demo prints (what an operator would type)."""
    views = [
        ("bridge fdb show dev swp1 | grep -v permanent", _fdb_text(sw)),
        ("bridge -d link show dev swp1", _link_text(sw)),
    ]
    if vlan_mode:
        views.append(
            (
                "bridge vlan show dev swp1",
                sw.run("bridge", "vlan", "show", "dev", PORT, check=False).stdout,
            )
        )
    return views


def _fdb_text(sw: Netns) -> str:
    out = sw.run("bridge", "fdb", "show", "dev", PORT, check=False).stdout
    return "\n".join(r for r in out.splitlines() if "permanent" not in r)


def _link_text(sw: Netns) -> str:
    out = sw.run("bridge", "-d", "link", "show", "dev", PORT, check=False).stdout
    keep = ("hairpin", "learning", "flood", "locked")
    words = out.split()
    picked = [f"{w} {words[i + 1]}" for i, w in enumerate(words[:-1]) if w in keep]
    head = out.splitlines()[0] if out else ""
    return head + ("\n    " + " ".join(picked) if picked else "")


# -- pings ----------------------------------------------------------------------------------------


def ping_pairs(
    pairs: Sequence[tuple[Vm, Vm]], *, count: int = 3, wait: float = 1.0
) -> dict[tuple[int, int], bool]:
    """ICMP ping a -> b for each pair, in parallel (each thread enters its own namespace)."""
    if not pairs:
        return {}
    with concurrent.futures.ThreadPoolExecutor(max_workers=min(16, len(pairs))) as pool:
        futs = {
            (a.index, b.index): pool.submit(icmp_ping, a.ns.name, b.ip, count=count, wait=wait)
            for a, b in pairs
        }
        return {k: f.result() for k, f in futs.items()}


def _pairs_text(results: dict[tuple[int, int], bool]) -> str:
    return "  ".join(
        f"vm{a}->vm{b}:{'ok' if ok else '--'}" for (a, b), ok in sorted(results.items())
    )


# -- the demo -------------------------------------------------------------------------------------


class Demo:
    """One run: testbed, daemons, steps, claims."""

    def __init__(self, opts: DemoOptions, rep: Reporter) -> None:
        self.opts, self.rep = opts, rep
        self.res = DemoResult(vms=opts.vms)
        self.topo: Topology | None = None
        self.work: Path | None = None
        self.daemons: list[Daemon] = []
        self.lldpds: dict[str, Any] = {}  # role -> interop.lldpd.LldpdProcess (--lldp lldpd)
        self.bridge: Daemon | None = None
        self.station: Daemon | None = None
        self.sw: Netns | None = None
        self.hv: Netns | None = None
        self.vmlist: list[Vm] = []

    # claims

    def claim(self, step: int, text: str, ok: bool, detail: str = "") -> bool:
        c = Claim(step, text, ok, detail)
        self.res.claims.append(c)
        self.rep.claim(c)
        return ok

    # set-up

    def probe(self) -> None:
        from ..netlink import probe_kernel_caps

        caps = probe_kernel_caps()
        if not caps.macvlan_vepa:
            raise DemoError("this kernel has no macvlan VEPA mode (CONFIG_MACVLAN)")
        vlan = caps.bridge_vlan_filtering and caps.vlan_8021q and not self.opts.no_vlan
        self.res.vlan_mode = vlan
        if not vlan:
            missing = [
                n
                for n, have in (
                    ("bridge VLAN filtering", caps.bridge_vlan_filtering),
                    ("802.1Q VLAN interfaces", caps.vlan_8021q),
                )
                if not have
            ]
            why = (
                f"this kernel has no {' and no '.join(missing)}"
                if missing
                else "VLANs turned off with --no-vlan"
            )
            self.notice(
                f"{why}: the VMs run untagged on a VLAN-unaware bridge, so the VLAN steps are "
                "skipped (run `qbg demo --vm` to see them in a QEMU guest with Debian's kernel)"
            )
        if not caps.nft_bridge:
            self.notice(
                "bridge-family nftables is not available here: the bridge agent cannot keep "
                "802.1Qbg frames unbridged (isolation); the demo's single port is unaffected"
            )

    def notice(self, text: str) -> None:
        self.res.notices.append(text)
        self.rep.notice(text)

    def build(self) -> None:
        """Namespaces, veth, bridge; no VMs yet (they come after the port is locked)."""
        self.topo = Topology()
        self.sw = self.topo.netns("demo-sw-")
        self.hv = self.topo.netns("demo-hv-")
        self.res.namespaces = {"switch": self.sw.name, "hypervisor": self.hv.name}
        # the uplink stays down until the port is locked, so the switch never learns its MAC
        self.topo.veth(self.sw, PORT, self.hv, UPLINK, mac_a=PORT_MAC, mac_b=UPLINK_MAC, up=False)
        self.topo.bridge(self.sw, BRIDGE, ports=[PORT], vlan_filtering=self.res.vlan_mode)
        self.work = Path(tempfile.mkdtemp(prefix="qbgdemo-"))
        self.res.workdir = str(self.work)

    def write_configs(self) -> tuple[Path, Path]:
        assert self.work is not None
        lock = True  # the bridge agent locks swp1 (lock_ports, docs/config.md)
        self.res.lock_by = "bridge agent"
        bpath, spath = self.work / "bridge.yaml", self.work / "station.yaml"
        sockets = {role: str(lp.socket) for role, lp in self.lldpds.items()}
        bcfg = bridge_config(self.opts, self.work, lock=lock, lldpd_socket=sockets.get("switch"))
        scfg = station_config(self.opts, self.work, lldpd_socket=sockets.get("hypervisor"))
        bpath.write_text(yaml.safe_dump(bcfg, sort_keys=False))
        spath.write_text(yaml.safe_dump(scfg, sort_keys=False))
        return bpath, spath

    def start_lldpds(self) -> None:
        """``--lldp lldpd``: one lldpd per namespace (own mount namespace, own socket, ``-I``
        restricted to the one test interface), as an operator's existing lldpd would be."""
        from .lldpd import LldpdMissing, start_lldpd

        assert self.sw and self.hv and self.work
        try:
            self.lldpds["switch"] = start_lldpd(self.sw, [PORT], self.work, name="lldpd-switch")
            self.lldpds["hypervisor"] = start_lldpd(
                self.hv, [UPLINK], self.work, name="lldpd-hypervisor"
            )
        except LldpdMissing as exc:
            raise DemoError(f"--lldp lldpd: {exc}") from None
        for role, lp in self.lldpds.items():
            self.rep.note(f"lldpd on the {role} (pid {lp.pid}), socket {lp.socket}")

    def start_daemons(self) -> None:
        assert self.sw and self.hv and self.work
        if self.opts.lldp == "lldpd":
            self.start_lldpds()
        bpath, spath = self.write_configs()
        self.rep.note(f"configs, logs, sockets: {self.work}")
        self.bridge = Daemon(
            "bridge", self.sw, bpath, self.work / "bridge.sock", self.work / "bridge.log"
        )
        self.station = Daemon(
            "station", self.hv, spath, self.work / "station.sock", self.work / "station.log"
        )
        self.daemons = [self.station, self.bridge]  # stop order: station first
        self.bridge.start()
        self.rep.note(
            f"qbg bridge  in {self.sw.name} (pid {self.bridge.proc and self.bridge.proc.pid})"
        )
        self._ready(self.bridge)
        self.hv.up(UPLINK)
        self.station.start()
        self.rep.note(
            f"qbg station in {self.hv.name} (pid {self.station.proc and self.station.proc.pid})"
        )
        self._ready(self.station)

    def _ready(self, d: Daemon) -> None:
        try:
            d.wait_ready()
        except DemoError as exc:
            if self.opts.lldp == "lldpd":
                lp = self.lldpds.get("switch" if d.role == "bridge" else "hypervisor")
                raise DemoError(
                    f"{exc}\n--lldp lldpd: this qbg {d.role} could not use lldpd"
                    + (f" at {lp.socket}; lldpd log:\n{lp.log_text()[-1500:]}" if lp else "")
                ) from None
            raise

    def add_vms(self) -> None:
        from ..station.vepa import create_vepa

        assert self.topo and self.hv
        hosts = SUBNET.hosts()
        next(hosts)  # .1 stays free
        for i in range(1, self.opts.vms + 1):
            ns = self.topo.netns(f"demo-vm{i}-")
            vid = (
                self.opts.vlans[((i - 1) // 2) % len(self.opts.vlans)]
                if self.res.vlan_mode
                else None
            )
            vm = Vm(i, ns, "eth0", f"02:51:00:00:00:{i:02x}", str(next(hosts)), vid)
            # created in the hypervisor under a unique name, moved into the VM, renamed eth0
            port = create_vepa(
                UPLINK,
                f"vm{i}",
                vid=vid,
                mac=vm.mac,
                netns=self.hv.name,
                target_netns=ns.name,
                up=False,
            )
            if port.vlan_ifname is not None:  # up=False left the 802.1Q sub-interface down
                self.hv.up(port.vlan_ifname)
            ns.ip("link", "set", "dev", port.ifname, "name", vm.ifname)
            ns.addr(vm.ifname, f"{vm.ip}/{SUBNET.prefixlen}")
            ns.up(vm.ifname)
            self.vmlist.append(vm)
            self.res.namespaces[vm.name] = ns.name
        if self.res.vlan_mode:
            self.res.vlans = sorted({vm.vid for vm in self.vmlist if vm.vid is not None})

    def pairs(self) -> list[tuple[Vm, Vm]]:
        """VM pairs that share a segment (all pairs untagged; same VLAN otherwise)."""
        return [(a, b) for a, b in itertools.combinations(self.vmlist, 2) if a.vid == b.vid]

    def cross_pairs(self) -> list[tuple[Vm, Vm]]:
        return [(a, b) for a, b in itertools.combinations(self.vmlist, 2) if a.vid != b.vid]

    # steps

    def step_evb(self) -> None:
        self.rep.step(1, "EVB: qbg bridge on the switch, qbg station on the hypervisor")
        self.start_daemons()
        assert self.station and self.bridge and self.sw
        deadline = time.monotonic() + EVB_TIMEOUT
        st = br = None
        port = read_port(self.sw)
        while time.monotonic() < deadline:
            st = _iface_status(self.station, UPLINK)
            br = _iface_status(self.bridge, PORT)
            port = read_port(self.sw)
            if _rr(st) and _rr(br) and port.hairpin:
                break
            for d in self.daemons:
                if d.exited() is not None:
                    raise DemoError(
                        f"qbg {d.role} exited with status {d.exited()}:\n{_indent(d.log_tail())}"
                    )
            time.sleep(0.2)
        self.res.evb_rr = _rr(st) and _rr(br)
        self.res.hairpin = port.hairpin
        self.rep.note(f"station uplink EVB: {_evb_text(st)}")
        self.rep.note(f"bridge  swp1   EVB: {_evb_text(br)}")
        with contextlib.suppress(Exception):
            for n in self.station.call("neighbors").get("neighbors", []):
                self.rep.note(
                    f"station sees neighbour chassis {n.get('chassis_id')} port "
                    f"{n.get('port_id')} (EVB TLV {'present' if n.get('evb') else 'absent'})"
                )
        ok = self.claim(
            1,
            "EVB negotiated with reflective relay: hairpin on at swp1",
            self.res.evb_rr and port.hairpin,
            f"station rr={_rr(st)} bridge rr={_rr(br)} hairpin={'on' if port.hairpin else 'off'}",
        )
        self.res.port_locked = port.locked
        self.claim(
            1,
            "switch port swp1 locked: learning off, unknown-unicast flooding off "
            "(set by the bridge agent)",
            port.locked,
            f"learning={'on' if port.learning else 'off'} "
            f"flood={'on' if port.unicast_flood else 'off'}",
        )
        if not ok:
            for d in self.daemons:
                self.rep.shell(f"tail {d.log}", d.log_tail())

    def step_before(self) -> None:
        self.rep.step(2, "VMs on VEPA macvlans, not yet associated")
        self.add_vms()
        for vm in self.vmlist:
            where = f"VLAN {vm.vid} ({UPLINK}.{vm.vid})" if vm.vid else "untagged"
            self.rep.note(f"{vm.name}: {vm.ns.name} eth0 {vm.mac} {vm.ip} {where}")
        pairs = self.pairs()
        self.res.pairs = len(pairs)
        results = ping_pairs(pairs, count=2)
        self.res.ping_before_ok = sum(results.values())
        self.rep.note(_pairs_text(results))
        assert self.sw
        port = read_port(self.sw)
        self.claim(
            2,
            "VM-to-VM ping fails before association",
            self.res.ping_before_ok == 0,
            f"{self.res.ping_before_ok}/{len(pairs)} pairs answered; the switch has "
            f"{len(port.fdb)} static entries"
            + (" and none of the VMs' VLANs" if self.res.vlan_mode else "")
            + ", learns nothing and floods no unknown unicast",
        )

    def step_assoc(self) -> None:
        from ..control import ControlError, ControlUnreachable

        self.rep.step(3, "associate the VMs (VDP over ECP)")
        assert self.station
        n = 0
        for vm in self.vmlist:
            try:
                r = self.station.call(
                    "vsi.assoc",
                    interface=UPLINK,
                    manager_id=MANAGER_ID,
                    type_id=TYPE_ID,
                    type_version=TYPE_VERSION,
                    vsiid_format="uuid",
                    vsiid=vm.vsiid,
                    filter_format="mac-vid",
                    filters=[vm.filter()],
                )
                vsi = (r or {}).get("vsi", {})
                state = vsi.get("state")
                self.rep.note(
                    f"{vm.name}: vsi.assoc {vm.vsiid} {vm.mac} vid {vm.vid or 0} -> {state} "
                    f"(confirmed {vsi.get('confirmed_mode')})"
                )
                # the station reports lldpad's machine states; the confirmed mode says it
                n += state == "ASSOCIATED" or vsi.get("confirmed_mode") == "assoc"
            except (ControlError, ControlUnreachable) as exc:
                self.rep.note(f"{vm.name}: vsi.assoc failed: {exc}")
        self.res.associated = n
        bridge_vsis = self._bridge_vsis()
        self.claim(
            3,
            "every VM associated",
            n == len(self.vmlist),
            f"station: {n}/{len(self.vmlist)} confirmed assoc; bridge: {bridge_vsis}",
        )

    def _bridge_vsis(self) -> str:
        assert self.bridge
        try:
            vsis = self.bridge.call("vsi.list").get("vsis", [])
        except Exception as exc:
            return f"? ({exc})"
        states: dict[str, int] = {}
        for v in vsis:
            states[str(v.get("state"))] = states.get(str(v.get("state")), 0) + 1
        return ", ".join(f"{c} {s}" for s, c in sorted(states.items())) or "none"

    def expected_fdb(self, vms: Sequence[Vm]) -> set[tuple[str, int | None]]:
        return {(vm.mac, vm.vid) for vm in vms}

    def step_switch(self) -> None:
        self.rep.step(4, "the switch after association")
        assert self.sw
        port = self._wait_port(lambda p: self.expected_fdb(self.vmlist) <= _fdb_set(p))
        for title, text in show_commands(self.sw, self.res.vlan_mode):
            self.rep.shell(title, text)
        have = _fdb_set(port)
        want = self.expected_fdb(self.vmlist)
        self.res.fdb = port.fdb
        self.res.fdb_entries = len(want & have)
        self.res.hairpin = port.hairpin
        self.claim(
            4,
            "static FDB entry MAC" + ("/VID" if self.res.vlan_mode else "") + " -> swp1 per VM",
            want <= have,
            f"{len(want & have)}/{len(want)}"
            + (f"; missing {sorted(map(_fdb_str, want - have))}" if want - have else ""),
        )
        if self.res.vlan_mode:
            self.res.vlans_added = sorted(v for v in port.vlans if v in self.res.vlans)
            self.claim(
                4,
                f"VLANs {', '.join(map(str, self.res.vlans))} added to swp1",
                set(self.res.vlans) <= set(port.vlans),
                f"swp1 VLANs {sorted(port.vlans)}",
            )
        self.claim(4, "hairpin (reflective relay) on at swp1", port.hairpin)

    def step_after(self) -> None:
        self.rep.step(5, "VM-to-VM ping after association")
        pairs = self.pairs()
        results = ping_pairs(pairs)
        self.res.ping_after_ok = sum(results.values())
        self.rep.note(_pairs_text(results))
        self.claim(
            5,
            "VM-to-VM ping works, reflected by the switch (VEPA: every frame leaves the uplink)",
            self.res.ping_after_ok == len(pairs) > 0,
            f"{self.res.ping_after_ok}/{len(pairs)} pairs",
        )
        cross = self.cross_pairs()
        if cross:
            cres = ping_pairs(cross, count=1)
            self.res.cross_vlan_ok = sum(cres.values())
            self.claim(
                5,
                "VMs on different VLANs stay apart",
                self.res.cross_vlan_ok == 0,
                f"{self.res.cross_vlan_ok}/{len(cross)} cross-VLAN pairs answered",
            )

    def _deassoc(self, vm: Vm) -> str:
        from ..control import ControlError, ControlUnreachable

        assert self.station
        try:
            r = self.station.call(
                "vsi.deassoc",
                interface=UPLINK,
                manager_id=MANAGER_ID,
                type_id=TYPE_ID,
                type_version=TYPE_VERSION,
                vsiid_format="uuid",
                vsiid=vm.vsiid,
                filter_format="mac-vid",
                filters=[vm.filter()],
            )
            return str((r or {}).get("vsi", {}).get("state"))
        except (ControlError, ControlUnreachable) as exc:
            return f"failed: {exc}"

    def step_deassoc(self) -> None:
        assert self.sw
        # the last VM that has a partner on its segment (so there is traffic to cut)
        paired = {vm.index for pair in self.pairs() for vm in pair}
        victim = next(vm for vm in reversed(self.vmlist) if vm.index in paired)
        self.res.deassoc_vm = victim.name
        self.rep.step(6, f"de-associate {victim.name}")
        state = self._deassoc(victim)
        self.rep.note(f"{victim.name}: vsi.deassoc {victim.vsiid} -> {state}")
        port = self._wait_port(lambda p: (victim.mac, victim.vid) not in _fdb_set(p))
        for title, text in show_commands(self.sw, self.res.vlan_mode):
            self.rep.shell(title, text)
        gone = (victim.mac, victim.vid) not in _fdb_set(port)
        others = [vm for vm in self.vmlist if vm is not victim]
        kept = self.expected_fdb(others) <= _fdb_set(port)
        self.res.deassoc_entries_removed = gone
        self.claim(
            6,
            f"{victim.name}'s FDB entry removed, the others kept",
            gone and kept,
            f"{victim.mac}{f'/{victim.vid}' if victim.vid else ''} "
            f"{'gone' if gone else 'still there'}; others {'kept' if kept else 'missing'}",
        )
        if self.res.vlan_mode and victim.vid is not None:
            shared = any(vm.vid == victim.vid for vm in others)
            present = victim.vid in port.vlans
            self.claim(
                6,
                f"VLAN {victim.vid} "
                + ("kept on swp1 (still used by another VM)" if shared else "removed from swp1"),
                present == shared,
                f"swp1 VLANs {sorted(port.vlans)}",
            )
        mine = [(a, b) for a, b in self.pairs() if victim in (a, b)]
        rest = [(a, b) for a, b in self.pairs() if victim not in (a, b)]
        # both directions: the victim pings out, and the others ping it
        cut_pairs = mine + [(b, a) for a, b in mine]
        cut = ping_pairs(cut_pairs, count=2)
        still = ping_pairs(rest)
        self.rep.note(_pairs_text(cut | still))
        self.res.deassoc_cut = bool(mine) and gone and not any(cut.values())
        self.res.others_unaffected = all(still.values())
        self.claim(
            6,
            f"{victim.name} lost connectivity",
            self.res.deassoc_cut,
            f"{sum(cut.values())}/{len(cut)} pings to/from {victim.name} answered",
        )
        if rest:
            self.claim(
                6,
                "the other VMs still reach each other",
                self.res.others_unaffected,
                f"{sum(still.values())}/{len(rest)} pairs",
            )

    def step_cleanup(self) -> None:
        assert self.sw
        self.rep.step(7, "de-associate the rest")
        rest = [vm for vm in self.vmlist if vm.name != self.res.deassoc_vm]
        for vm in rest:
            self.rep.note(f"{vm.name}: vsi.deassoc -> {self._deassoc(vm)}")
        port = self._wait_port(lambda p: not (self.expected_fdb(self.vmlist) & _fdb_set(p)))
        left = self.expected_fdb(self.vmlist) & _fdb_set(port)
        vlans_left = sorted(set(self.res.vlans) & set(port.vlans))
        self.res.vlans_removed = sorted(set(self.res.vlans_added) - set(port.vlans))
        self.res.clean_after = not left and not vlans_left
        for title, text in show_commands(self.sw, self.res.vlan_mode):
            self.rep.shell(title, text)
        detail = f"{len(left)} VM entries left"
        if self.res.vlan_mode:
            detail += f", VLANs left {vlans_left or 'none'}"
        self.claim(
            7,
            "no VM entries" + (" and no VM VLANs" if self.res.vlan_mode else "") + " left on swp1",
            self.res.clean_after,
            detail,
        )

    def _wait_port(self, pred: Callable[[PortState], bool], timeout: float = 10.0) -> PortState:
        assert self.sw
        deadline = time.monotonic() + timeout
        while True:
            port = read_port(self.sw)
            if pred(port) or time.monotonic() > deadline:
                return port
            time.sleep(0.1)

    # run / teardown

    def run(self) -> DemoResult:
        rep = self.rep
        vl = f"VLANs {', '.join(map(str, self.opts.vlans))}"
        rep.line(f"qbg demo: {self.opts.vms} VMs behind one VEPA uplink, one Linux switch ({vl})")
        try:
            self.probe()
            self.build()
            assert self.sw and self.hv
            rep.note(
                f"switch {self.sw.name}: {BRIDGE} "
                f"(vlan_filtering {int(self.res.vlan_mode)}, STP off), port {PORT} {PORT_MAC}"
            )
            rep.note(f"hypervisor {self.hv.name}: {UPLINK} {UPLINK_MAC} <-veth-> {PORT}")
            self.step_evb()
            self.step_before()
            self.step_assoc()
            self.step_switch()
            self.step_after()
            self.step_deassoc()
            self.step_cleanup()
        except DemoError as exc:
            self.res.error = str(exc)
            rep.line()
            rep.line(f"qbg demo: ERROR: {exc}")
        except Exception as exc:  # unexpected: still report it, with the daemons' logs
            self.res.error = f"{type(exc).__name__}: {exc}"
            rep.line()
            rep.line(f"qbg demo: ERROR: {self.res.error}")
            for d in self.daemons:
                rep.shell(f"tail {d.log}", d.log_tail())
        if not self.res.ok and self.res.error is None:
            for d in self.daemons:
                rep.shell(f"tail {d.log}", d.log_tail(15))
        self.summary()
        return self.res

    def summary(self) -> None:
        rep = self.rep
        rep.line()
        rep.line(rep._c("1", "Summary"))
        width = max((len(c.text) for c in self.res.claims), default=20)
        for c in self.res.claims:
            tag = rep._c("32", "PASS") if c.ok else rep._c("31", "FAIL")
            rep.line(f"  {c.step}  {c.text:<{width}}  {tag}")
        passed = sum(c.ok for c in self.res.claims)
        verdict = "every claim held" if self.res.ok else "NOT every claim held"
        if self.res.error:
            verdict += " (the demo stopped early)"
        rep.line(f"  {passed}/{len(self.res.claims)} claims passed: {verdict}")

    def keep(self) -> None:
        """Leave everything up: detach from the cleanup safety net and print how to explore."""
        assert self.work and self.sw and self.hv
        _detach(self.topo)
        state = {
            "namespaces": [self.sw.name, self.hv.name, *(vm.ns.name for vm in self.vmlist)],
            "pids": [d.proc.pid for d in self.daemons if d.proc and d.proc.poll() is None],
        }
        (self.work / "testbed.json").write_text(json.dumps(state, indent=1))
        qbg = _qbg_command()
        r = self.rep
        r.line()
        r.line(r._c("1", "The testbed is still up (--keep). Explore it:"))
        r.line(f"  {qbg} ctl --socket {self.work}/station.sock status")
        r.line(f"  {qbg} ctl --socket {self.work}/station.sock vsi list")
        r.line(f"  {qbg} ctl --socket {self.work}/bridge.sock neighbors")
        r.line(f"  bridge -n {self.sw.name} fdb show dev {PORT}")
        r.line(f"  bridge -n {self.sw.name} -d link show dev {PORT}")
        if self.res.vlan_mode:
            r.line(f"  bridge -n {self.sw.name} vlan show dev {PORT}")
        if len(self.vmlist) >= 2:
            a, b = self.vmlist[0], self.vmlist[1]
            r.line(f"  ip netns exec {a.ns.name} ping {b.ip}        # {a.name} -> {b.name}")
            r.line(
                f"  {qbg} ctl --socket {self.work}/station.sock vsi assoc -i {UPLINK} "
                f"--mgrid {MANAGER_ID} --type-id {TYPE_ID} --type-version {TYPE_VERSION} "
                f"--vsiid {a.vsiid} --filter {a.vid or 0}-{a.mac}"
            )
        r.line(f"  logs: {self.work}/bridge.log {self.work}/station.log")
        r.line("Remove it:")
        r.line(f"  {qbg} demo --teardown {self.work}")

    def teardown(self) -> None:
        for d in self.daemons:
            with contextlib.suppress(Exception):
                d.stop()
        for lp in self.lldpds.values():
            with contextlib.suppress(Exception):
                lp.stop()
        if self.topo is not None:
            self.topo.close()
        if self.work is not None and self.res.ok:
            shutil.rmtree(self.work, ignore_errors=True)
        elif self.work is not None:
            self.rep.line(f"logs kept in {self.work}")


def _qbg_command() -> str:
    """How to call this qbg: the venv's ``qbg`` script next to the interpreter, if there."""
    script = Path(sys.executable).parent / "qbg"
    return str(script) if script.exists() else f"{sys.executable} -m qbg.cli"


def _detach(topo: Topology | None) -> None:
    """Take the testbed out of interop.netns's cleanup registry (used by --keep only)."""
    if topo is None:
        return
    names = {ns.name for ns in topo.namespaces}
    with _netns._lock:
        _netns._namespaces.difference_update(names)
        for pid, proc in list(_netns._processes.items()):
            if _netns._ns_of(proc) in names:
                del _netns._processes[pid]
    topo.namespaces.clear()


def _iface_status(d: Daemon, ifname: str) -> dict[str, Any] | None:
    try:
        st = d.call("status", timeout=5.0)
    except Exception:
        return None
    for iface in st.get("interfaces", []):
        if iface.get("name") == ifname:
            return dict(iface)
    return None


def _rr(iface: dict[str, Any] | None) -> bool:
    return bool(iface and (iface.get("evb") or {}).get("rr"))


def _evb_text(iface: dict[str, Any] | None) -> str:
    if not iface:
        return "(no status)"
    evb = iface.get("evb") or {}
    keys = ("state", "rr", "r", "rte", "rwd", "rka")
    return " ".join(f"{k}={evb.get(k)}" for k in keys if k in evb) or "(no EVB)"


def _fdb_set(port: PortState) -> set[tuple[str, int | None]]:
    return {(e["mac"], e["vid"]) for e in port.fdb}


def _fdb_str(item: tuple[str, int | None]) -> str:
    mac, vid = item
    return mac if vid is None else f"{mac}/{vid}"


# -- teardown of a kept testbed -------------------------------------------------------------------


def teardown_kept(work: Path, out: IO[str]) -> int:
    """Remove what ``--keep`` left: stop the daemons by PID, delete the namespaces and ``work``."""
    try:
        state = json.loads((work / "testbed.json").read_text())
    except (OSError, ValueError) as exc:
        print(f"qbg demo --teardown: {work}: no testbed.json ({exc})", file=out)
        return 2
    for pid in state.get("pids", []):
        if _is_our_daemon(int(pid), work):
            with contextlib.suppress(ProcessLookupError):
                os.kill(int(pid), signal.SIGTERM)
    deadline = time.monotonic() + STOP_TIMEOUT
    for pid in state.get("pids", []):
        while _is_our_daemon(int(pid), work) and time.monotonic() < deadline:
            time.sleep(0.1)
        if _is_our_daemon(int(pid), work):
            with contextlib.suppress(ProcessLookupError):
                os.kill(int(pid), signal.SIGKILL)
    for name in state.get("namespaces", []):
        if str(name).startswith(_netns.PREFIX):
            subprocess.run(["ip", "netns", "del", str(name)], capture_output=True)
            print(f"deleted namespace {name}", file=out)
    shutil.rmtree(work, ignore_errors=True)
    print(f"removed {work}", file=out)
    return 0


def _is_our_daemon(pid: int, work: Path) -> bool:
    """The PID is still a qbg daemon started with a config from ``work`` (not a reused PID)."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    return any(arg.startswith(str(work).encode()) for arg in cmdline) and b"qbg.cli" in cmdline


# -- --vm: the same demo inside a QEMU guest ------------------------------------------------------


def run_in_guest(argv: Sequence[str], opts: DemoOptions, out: IO[str], err: IO[str]) -> int:
    """Boot the Debian-kernel guest (interop/vm.py) and run ``qbg demo`` there, streaming its
    progress; returns the guest demo's exit status."""
    from .vm import GuestKernel, VmError, available

    reason = available()
    if reason:
        print(f"qbg demo --vm: {reason}", file=err)
        return 2
    inner = [a for a in argv if a not in ("--vm", "--keep")]
    if "--keep" in argv:
        print("qbg demo --vm: --keep is ignored (the guest powers off at the end)", file=err)
    print("qbg demo --vm: preparing the guest kernel (first time: apt-get download)...", file=err)
    try:
        guest = GuestKernel.prepare(ROOT / "build" / "vm")
    except VmError as exc:
        print(f"qbg demo --vm: {exc}", file=err)
        return 2
    # A private work dir (its own out/ share), so concurrent guests (tests/vm) are not disturbed.
    with guest.private("vm-demo-") as mine:
        return _guest_demo(mine, inner, opts, out, err)


def _guest_demo(
    guest: GuestKernel, inner: Sequence[str], opts: DemoOptions, out: IO[str], err: IO[str]
) -> int:
    from .vm import VmError

    outdir = guest.workdir / "out"
    result = outdir / "demo.stdout"
    pythonpath = os.environ.get("PYTHONPATH")
    cmd = " ".join(
        [
            f"cd {_q(str(ROOT))} &&",
            f"PYTHONPATH={_q(pythonpath)}" if pythonpath else "",
            _q(sys.executable),
            "-m qbg.democli",
            *map(_q, inner),
            f"> {_q(str(result))}" if opts.json else "",
        ]
    )
    print(f"qbg demo --vm: booting Linux {guest.release} under QEMU (TCG, ~1-3 min)", file=err)
    stream = err if opts.json else out
    try:
        res = guest.run_streaming(cmd, stream, timeout=900)
    except VmError as exc:
        print(f"qbg demo --vm: {exc}", file=err)
        return 2
    if opts.json:
        with contextlib.suppress(OSError):
            out.write(result.read_text())
            out.flush()
    return res.rc


def _q(s: str) -> str:
    import shlex

    return shlex.quote(s)


# -- entry points ---------------------------------------------------------------------------------


def options(args: argparse.Namespace) -> DemoOptions:
    return DemoOptions(
        vms=args.vms,
        vlans=tuple(args.vlans),
        lldp=args.lldp,
        keep=args.keep,
        json=args.json,
        no_vlan=args.no_vlan,
        extra_bridge_config=args.extra_bridge_config,
        extra_station_config=args.extra_station_config,
        verbose=args.verbose,
    )


@contextlib.contextmanager
def _interrupts_as_exceptions() -> Iterator[None]:
    """SIGTERM/SIGHUP raise KeyboardInterrupt in the main thread, so ``finally`` tears down."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    owner = os.getpid()

    def handler(signum: int, frame: object) -> None:
        if os.getpid() != owner:  # a forked helper (pyroute2) inherited us: just die
            os._exit(128 + signum)
        raise KeyboardInterrupt(f"signal {signum}")

    old = {s: signal.signal(s, handler) for s in (signal.SIGTERM, signal.SIGHUP)}
    try:
        yield
    finally:
        for s, h in old.items():
            signal.signal(s, h)


def run_demo(opts: DemoOptions, rep: Reporter) -> DemoResult:
    """Build, demonstrate, tear down (unless ``opts.keep``); the result with every claim."""
    if os.geteuid() != 0:
        res = DemoResult(vms=opts.vms, error="qbg demo needs root (network namespaces)")
        rep.line(f"qbg demo: ERROR: {res.error}")
        return res
    for tool in ("ip", "bridge"):
        if shutil.which(tool) is None:
            res = DemoResult(vms=opts.vms, error=f"{tool} (iproute2) is not installed")
            rep.line(f"qbg demo: ERROR: {res.error}")
            return res
    demo = Demo(opts, rep)
    interrupted = False
    try:
        with _interrupts_as_exceptions():
            res = demo.run()
            if opts.keep and demo.sw is not None:
                demo.keep()
                return res
    except KeyboardInterrupt:
        interrupted = True
        demo.res.error = "interrupted"
        rep.line("\nqbg demo: interrupted, tearing down")
    finally:
        if not (opts.keep and demo.sw is not None and not interrupted and demo.res.error is None):
            with _interrupts_as_exceptions():
                demo.teardown()
    return demo.res


def main(args: argparse.Namespace, argv: Sequence[str] | None = None) -> int:
    """``qbg demo``: exit 0 only when every claim held (1 otherwise, 2 usage/environment)."""
    if args.teardown:
        return teardown_kept(Path(args.teardown), sys.stdout)
    opts = options(args)
    if args.vm:
        raw = list(sys.argv[1:] if argv is None else argv)
        if argv is None and "demo" in raw:  # called from qbg/cli.py: drop "qbg ... demo"
            raw = raw[raw.index("demo") + 1 :]
        return run_in_guest(raw, opts, sys.stdout, sys.stderr)
    rep = Reporter(sys.stderr if opts.json else sys.stdout)
    res = run_demo(opts, rep)
    if opts.json:
        print(json.dumps(res.to_json()), flush=True)
    return 0 if res.ok else 1
