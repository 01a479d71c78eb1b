"""Throwaway network topologies for tests and demos: namespaces, veth pairs, Linux bridges.

What: :class:`Topology` is a context manager that creates uniquely named namespaces
(``qbgt-<tag><random>``), veth pairs whose ends are created *inside* those namespaces, bridges,
and background processes, and deletes all of it on exit, on exceptions, on KeyboardInterrupt,
on SIGTERM and (last resort) at interpreter exit.

Why subprocess (``ip``, ``ip netns exec``) and not pyroute2 here: ``ip netns add`` maintains the
``/run/netns`` bind mounts exactly as every other tool expects, ``ip netns exec`` also remounts
``/sys`` for the namespace, and the commands double as a readable recipe of the topology.

Safety rules, enforced by construction: every interface is created with ``ip -n <our ns>``, so
nothing is ever created on, attached to, or sent from the host's own interfaces; only names from
our own registry are deleted; only processes we started are signalled, by PID.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import secrets
import select
import signal
import socket
import struct
import subprocess
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from types import FrameType

from ..link import in_netns

__all__ = [
    "PREFIX",
    "Netns",
    "Topology",
    "cleanup_all",
    "created_namespaces",
    "icmp_ping",
    "unique_name",
]

PREFIX = "qbgt-"

_lock = threading.Lock()
_namespaces: set[str] = set()  # every namespace this process created and has not deleted
_processes: dict[int, subprocess.Popen[bytes]] = {}
_safety_net_installed = False
_owner_pid = os.getpid()  # forked children (pyroute2 forks one per netns socket) must not clean


def unique_name(tag: str = "") -> str:
    """``qbgt-<tag><8 hex>``: unique across concurrent test runs on one machine."""
    return f"{PREFIX}{tag}{secrets.token_hex(4)}"


def created_namespaces() -> frozenset[str]:
    """Namespaces this process created and has not deleted yet."""
    with _lock:
        return frozenset(_namespaces)


def _run(args: Sequence[str], *, check: bool = True, timeout: float = 30.0) -> str:
    proc = subprocess.run(list(args), capture_output=True, text=True, timeout=timeout)
    if check and proc.returncode != 0:
        raise subprocess.CalledProcessError(proc.returncode, list(args), proc.stdout, proc.stderr)
    return proc.stdout


def _delete_namespace(name: str) -> None:
    if not name.startswith(PREFIX):  # never delete anything that is not ours by name
        raise ValueError(f"refusing to delete namespace {name!r}")
    _run(["ip", "netns", "del", name], check=False)
    with _lock:
        _namespaces.discard(name)


def _kill(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=3)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.kill(proc.pid, signal.SIGKILL)
            proc.wait(timeout=3)
    with _lock:
        _processes.pop(proc.pid, None)


def cleanup_all() -> None:
    """Kill our processes (by PID) and delete our namespaces.  Idempotent; the safety net.

    Does nothing in a forked child: pyroute2 forks a helper per namespaced netlink socket and
    stops it with SIGTERM, and that child must not tear down the parent's topology.
    """
    if os.getpid() != _owner_pid:
        return
    with _lock:
        procs = list(_processes.values())
        names = list(_namespaces)
    for proc in procs:
        with contextlib.suppress(Exception):
            _kill(proc)
    for name in names:
        with contextlib.suppress(Exception):
            _delete_namespace(name)


def _on_sigterm(signum: int, frame: FrameType | None) -> None:
    if os.getpid() != _owner_pid:  # a forked child inherited the handler: just die
        os._exit(128 + signum)
    cleanup_all()
    raise SystemExit(128 + signum)


def _install_safety_net() -> None:
    global _safety_net_installed, _owner_pid
    with _lock:
        if _safety_net_installed:
            return
        _safety_net_installed = True
        _owner_pid = os.getpid()
    atexit.register(cleanup_all)
    # Only the main thread may set handlers, and only if nobody else owns SIGTERM already.
    if (
        threading.current_thread() is threading.main_thread()
        and signal.getsignal(signal.SIGTERM) is signal.SIG_DFL
    ):
        signal.signal(signal.SIGTERM, _on_sigterm)


@dataclass
class Netns:
    """One namespace we created; helpers run commands inside it."""

    name: str

    def run(
        self, *args: str, check: bool = True, timeout: float = 30.0
    ) -> subprocess.CompletedProcess[str]:
        """``ip netns exec <ns> args...``; raises CalledProcessError (with stderr) if ``check``."""
        cmd = ["ip", "netns", "exec", self.name, *args]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
        if check and proc.returncode != 0:
            raise subprocess.CalledProcessError(proc.returncode, cmd, proc.stdout, proc.stderr)
        return proc

    def ip(self, *args: str, check: bool = True) -> str:
        """``ip -n <ns> args...`` (stdout)."""
        return _run(["ip", "-n", self.name, *args], check=check)

    def spawn(self, *args: str, **kwargs: object) -> subprocess.Popen[bytes]:
        """Start a background process in the namespace; it is killed by PID on cleanup."""
        proc: subprocess.Popen[bytes] = subprocess.Popen(  # type: ignore[call-overload]
            ["ip", "netns", "exec", self.name, *args], **kwargs
        )
        with _lock:
            _processes[proc.pid] = proc
        return proc

    def stop(self, proc: subprocess.Popen[bytes]) -> None:
        """Terminate one process we spawned (SIGTERM, then SIGKILL after 3 s)."""
        _kill(proc)

    def up(self, *ifnames: str) -> None:
        for ifname in ifnames:
            self.ip("link", "set", "dev", ifname, "up")

    def set_mac(self, ifname: str, mac: str) -> None:
        self.ip("link", "set", "dev", ifname, "address", mac)

    def addr(self, ifname: str, cidr: str) -> None:
        self.ip("addr", "add", cidr, "dev", ifname)

    def ping(self, address: str, *, count: int = 2, wait: float = 1.0) -> bool:
        """True if at least one ICMP echo reply came back (IPv4).

        Done in Python with a raw ICMP socket opened inside the namespace, so the tests do not
        depend on the ``ping`` binary being installed (it was missing on this machine).
        """
        return icmp_ping(self.name, address, count=count, wait=wait)

    def ifindex(self, ifname: str) -> int:
        out = self.ip("-o", "link", "show", "dev", ifname)
        return int(out.split(":", 1)[0])


@dataclass
class Topology:
    """A set of namespaces and what lives in them, deleted as a whole by ``close()``.

    Usage::

        with Topology() as topo:
            hv, sw = topo.netns("hv"), topo.netns("sw")
            topo.veth(hv, "uplink", sw, "swp1")
            topo.bridge(sw, "br0", ports=["swp1"])
    """

    namespaces: list[Netns] = field(default_factory=list)

    def __post_init__(self) -> None:
        _install_safety_net()

    def netns(self, tag: str = "") -> Netns:
        """Create and register a fresh namespace with ``lo`` up."""
        name = unique_name(tag)
        with _lock:
            _namespaces.add(name)  # register first: a failure below is still cleaned up
        _run(["ip", "netns", "add", name])
        ns = Netns(name)
        self.namespaces.append(ns)
        ns.ip("link", "set", "dev", "lo", "up")
        return ns

    def veth(
        self,
        a: Netns,
        name_a: str,
        b: Netns,
        name_b: str,
        *,
        mac_a: str | None = None,
        mac_b: str | None = None,
        up: bool = True,
    ) -> None:
        """A veth pair created directly inside ``a`` with its peer placed into ``b``."""
        self._check(a)
        self._check(b)
        cmd = ["link", "add", "name", name_a]
        if mac_a:
            cmd += ["address", mac_a]
        cmd += ["type", "veth", "peer", "name", name_b]
        if mac_b:
            cmd += ["address", mac_b]
        cmd += ["netns", b.name]
        a.ip(*cmd)
        if up:
            a.up(name_a)
            b.up(name_b)

    def bridge(
        self,
        ns: Netns,
        name: str = "br0",
        *,
        ports: Sequence[str] = (),
        stp: bool = False,
        forward_delay_cs: int = 200,
        vlan_filtering: bool = False,
        up: bool = True,
    ) -> None:
        """A Linux bridge in ``ns`` (STP off by default, the kernel default) with ``ports``.

        ``vlan_filtering`` makes it VLAN-aware (needs ``CONFIG_BRIDGE_VLAN_FILTERING``); each
        port then starts with only the default VLAN 1 (PVID, egress untagged)."""
        self._check(ns)
        args = ["link", "add", "name", name, "type", "bridge", "stp_state", "1" if stp else "0"]
        if stp:
            args += ["forward_delay", str(forward_delay_cs)]
        if vlan_filtering:
            args += ["vlan_filtering", "1"]
        ns.ip(*args)
        for port in ports:
            ns.ip("link", "set", "dev", port, "master", name)
            ns.up(port)
        if up:
            ns.up(name)

    def close(self) -> None:
        """Kill processes started in our namespaces, then delete the namespaces."""
        ours = {ns.name for ns in self.namespaces}
        with _lock:
            procs = [p for p in _processes.values() if _ns_of(p) in ours]
        for proc in procs:
            with contextlib.suppress(Exception):
                _kill(proc)
        for ns in reversed(self.namespaces):
            with contextlib.suppress(Exception):
                _delete_namespace(ns.name)
        self.namespaces.clear()

    def __enter__(self) -> Topology:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _check(self, ns: Netns) -> None:
        if ns not in self.namespaces:
            raise ValueError(f"{ns.name} is not part of this topology")


def _checksum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    total: int = sum(struct.unpack(f"!{len(data) // 2}H", data))
    total = (total >> 16) + (total & 0xFFFF)
    total += total >> 16
    return ~total & 0xFFFF


def icmp_ping(netns: str, address: str, *, count: int = 2, wait: float = 1.0) -> bool:
    """Send ``count`` ICMP echo requests from namespace ``netns``; True on the first reply."""
    with in_netns(netns):
        sock = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
    ident = secrets.randbits(16)
    try:
        for seq in range(1, count + 1):
            body = b"qbg-ping" + bytes(24)
            hdr = struct.pack("!BBHHH", 8, 0, 0, ident, seq)
            packet = struct.pack("!BBHHH", 8, 0, _checksum(hdr + body), ident, seq) + body
            with contextlib.suppress(OSError):  # EHOSTUNREACH etc.: just no reply
                sock.sendto(packet, (address, 0))
            deadline = time.monotonic() + wait
            while (left := deadline - time.monotonic()) > 0:
                ready, _, _ = select.select([sock], [], [], left)
                if not ready:
                    break
                data, (src, _) = sock.recvfrom(2048)
                ihl = (data[0] & 0x0F) * 4
                icmp_type, _, _, rid, rseq = struct.unpack_from("!BBHHH", data, ihl)
                if src == address and icmp_type == 0 and rid == ident and rseq == seq:
                    return True
        return False
    finally:
        sock.close()


def _ns_of(proc: subprocess.Popen[bytes]) -> str | None:
    args = proc.args
    if isinstance(args, list) and len(args) > 3 and args[:3] == ["ip", "netns", "exec"]:
        return str(args[3])
    return None


@contextlib.contextmanager
def topology() -> Iterator[Topology]:
    """Functional spelling of ``with Topology() as topo``."""
    topo = Topology()
    try:
        yield topo
    finally:
        topo.close()
