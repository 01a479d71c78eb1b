"""Interface facts, link events and kernel capabilities, via rtnetlink (pyroute2).

What:

* :func:`get_link` / :func:`aget_link` — MAC, ifindex, MTU, operstate, master of one interface.
* :class:`LinkMonitor` — asyncio task subscribed to ``RTMGRP_LINK``; turns the kernel's
  duplicated ``RTM_NEWLINK``/``RTM_DELLINK`` stream into :class:`LinkEvent` values
  (``added``, ``removed``, ``up``, ``down``, ``changed``) delivered to a callback.
* :func:`probe_kernel_caps` — a frozen :class:`KernelCaps`: bridge VLAN filtering, 802.1Q VLAN
  devices, macvlan/macvtap VEPA, bridge-family nftables, ``PACKET_IGNORE_OUTGOING``.

Why:

* The sync ``IPRoute`` of pyroute2 0.9 runs its own event loop, so it must not be called from a
  running asyncio loop; coroutine twins (``aget_link``) and the monitor use ``AsyncIPRoute``.
* Each kernel change arrives several times (AF_UNSPEC and AF_BRIDGE copies, repeats), so the
  monitor keeps the last state per ifindex and reports differences only (linux.md §2.3).
* Capabilities are probed by *trying*, in a throwaway namespace (``qbgp-<random>``) that is
  deleted afterwards: the host's interfaces are never touched, and the answer is the kernel's,
  not a guess from a config file that may not exist.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import functools
import logging
import secrets
import shutil
import socket
import subprocess
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from pyroute2 import AsyncIPRoute, IPRoute, NetlinkError
from pyroute2 import config as _pyroute2_config
from pyroute2.netlink.rtnl import RTMGRP_LINK

# pyroute2 forks a helper process for every namespaced netlink socket.  A forked child of an
# asyncio program shares the loop's signal wake-up fd: when pyroute2 stops the helper with
# SIGTERM, Python's C-level handler in the child writes to that fd and the *parent's* loop
# believes it received SIGTERM.  Resetting the helper's SIGTERM to the default action avoids it.
_pyroute2_config.disable_mp_signal = True

__all__ = [
    "KernelCaps",
    "LinkEvent",
    "LinkInfo",
    "LinkMonitor",
    "aget_link",
    "get_link",
    "link_info",
    "probe_kernel_caps",
]

log = logging.getLogger(__name__)

AF_UNSPEC = 0


@dataclass(frozen=True, slots=True, kw_only=True)
class LinkInfo:
    """The facts the agents need about one interface."""

    ifname: str
    ifindex: int
    mac: bytes
    mtu: int
    operstate: str  # "UP", "DOWN", "LOWERLAYERDOWN", "UNKNOWN", ...
    admin_up: bool
    master: int | None = None  # ifindex of the bridge this is a port of
    kind: str | None = None  # "veth", "bridge", "macvlan", ...

    @property
    def oper_up(self) -> bool:
        """Usable for frames: operstate UP, or UNKNOWN on an admin-up device (lo, tun)."""
        return self.operstate == "UP" or (self.operstate == "UNKNOWN" and self.admin_up)


def link_info(msg: Any) -> LinkInfo:
    """Convert one pyroute2 ``ifinfmsg`` into a :class:`LinkInfo`."""
    addr = msg.get("IFLA_ADDRESS") or "00:00:00:00:00:00"
    return LinkInfo(
        ifname=msg.get("IFLA_IFNAME") or "",
        ifindex=int(msg["index"]),
        mac=bytes.fromhex(addr.replace(":", "")),
        mtu=int(msg.get("IFLA_MTU") or 0),
        operstate=str(msg.get("IFLA_OPERSTATE") or "UNKNOWN"),
        admin_up=bool(msg["flags"] & 1),  # IFF_UP
        master=msg.get("IFLA_MASTER"),
        kind=msg.get(("linkinfo", "kind")),
    )


def get_link(ifname: str, *, netns: str | None = None) -> LinkInfo | None:
    """Look one interface up by name (synchronous; not from inside a running loop)."""
    with IPRoute(netns=netns, flags=0) as ipr:
        try:
            msgs = ipr.link("get", ifname=ifname)
        except NetlinkError as exc:
            if exc.code == errno.ENODEV:
                return None
            raise
        return link_info(msgs[0]) if msgs else None


async def aget_link(ifname: str, *, netns: str | None = None) -> LinkInfo | None:
    """Coroutine twin of :func:`get_link`."""
    async with AsyncIPRoute(netns=netns, flags=0) as ipr:
        try:
            msgs = await ipr.link("get", ifname=ifname)
        except NetlinkError as exc:
            if exc.code == errno.ENODEV:
                return None
            raise
        return link_info(msgs[0]) if msgs else None


@dataclass(frozen=True, slots=True, kw_only=True)
class LinkEvent:
    """Something happened to an interface.  ``kind``: added/removed/up/down/changed."""

    kind: str
    link: LinkInfo
    previous: LinkInfo | None = None


class LinkMonitor:
    """Watch rtnetlink link events in one namespace and report them to ``callback``.

    ``ifnames`` limits reports to those names (``None``: all).  On ``start()`` the current
    links are dumped first; with ``initial=True`` each is reported as ``added``.  ``changed`` is
    reported when MAC, MTU, name or master changes without an oper-state transition.
    """

    def __init__(
        self,
        callback: Callable[[LinkEvent], None],
        *,
        netns: str | None = None,
        ifnames: Iterable[str] | None = None,
        initial: bool = False,
    ) -> None:
        self.callback = callback
        self.netns = netns
        self.ifnames = frozenset(ifnames) if ifnames is not None else None
        self.initial = initial
        self.links: dict[int, LinkInfo] = {}
        self._ipr: Any = None
        self._task: asyncio.Task[None] | None = None
        self._ready = asyncio.Event()

    async def start(self) -> None:
        """Subscribe, take the initial dump, and start the reader task."""
        self._ipr = AsyncIPRoute(netns=self.netns, flags=0)
        await self._ipr.setup_endpoint()
        await self._ipr.bind(groups=RTMGRP_LINK)
        async with AsyncIPRoute(netns=self.netns, flags=0) as dumper:
            async for msg in await dumper.link("dump"):
                info = link_info(msg)
                self.links[info.ifindex] = info
                if self.initial and self._wanted(info):
                    self._emit(LinkEvent(kind="added", link=info))
        self._task = asyncio.create_task(self._run(), name=f"link-monitor-{self.netns}")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self._ipr is not None:
            with contextlib.suppress(Exception):
                self._ipr.close()
            self._ipr = None

    async def __aenter__(self) -> LinkMonitor:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def _run(self) -> None:
        while True:
            async for msg in self._ipr.get():  # the messages of one datagram
                try:
                    self.handle(msg)
                except Exception:
                    log.exception("link monitor: bad message")

    def handle(self, msg: Any) -> None:
        """Fold one ``RTM_NEWLINK``/``RTM_DELLINK`` into state; emit what changed."""
        if msg.get("family", AF_UNSPEC) != AF_UNSPEC:  # AF_BRIDGE copies repeat the news
            return
        event = msg.get("event")
        if event not in ("RTM_NEWLINK", "RTM_DELLINK"):
            return
        info = link_info(msg)
        prev = self.links.get(info.ifindex)
        if event == "RTM_DELLINK":
            if self.links.pop(info.ifindex, None) is not None and self._wanted(info):
                self._emit(LinkEvent(kind="removed", link=info, previous=prev))
            return
        self.links[info.ifindex] = info
        if not self._wanted(info) and not (prev and self._wanted(prev)):
            return
        if prev is None:
            self._emit(LinkEvent(kind="added", link=info))
        elif prev.oper_up != info.oper_up:
            self._emit(LinkEvent(kind="up" if info.oper_up else "down", link=info, previous=prev))
        elif (prev.mac, prev.mtu, prev.ifname, prev.master) != (
            info.mac,
            info.mtu,
            info.ifname,
            info.master,
        ):
            self._emit(LinkEvent(kind="changed", link=info, previous=prev))

    def _wanted(self, info: LinkInfo) -> bool:
        return self.ifnames is None or info.ifname in self.ifnames

    def _emit(self, event: LinkEvent) -> None:
        try:
            self.callback(event)
        except Exception:
            log.exception("link monitor callback failed on %s", event)


# -- kernel capabilities -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class KernelCaps:
    """What this kernel can do for 802.1Qbg, as found by trying it in a scratch namespace."""

    bridge_vlan_filtering: bool
    vlan_8021q: bool
    macvlan_vepa: bool
    macvtap_vepa: bool
    nft_bridge: bool  # the nft binary exists and a bridge-family table can be created
    packet_ignore_outgoing: bool
    probed: bool = True  # False: no scratch namespace could be made (no CAP_SYS_ADMIN)


def _try(what: str, fn: Callable[[], object]) -> bool:
    try:
        fn()
    except (NetlinkError, OSError) as exc:
        log.debug("capability probe %s: %s", what, exc)
        return False
    return True


def _probe_ignore_outgoing() -> bool:
    try:
        with socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0) as s:
            s.setsockopt(263, 23, 1)  # SOL_PACKET, PACKET_IGNORE_OUTGOING
    except OSError:
        return False
    return True


def _probe_nft(ns: str) -> bool:
    if shutil.which("nft") is None or shutil.which("ip") is None:
        return False
    cmd = ["ip", "netns", "exec", ns, "nft", "add", "table", "bridge", "qbg_probe"]
    try:
        return subprocess.run(cmd, capture_output=True, timeout=10).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


@functools.cache
def probe_kernel_caps() -> KernelCaps:
    """Probe once per process (cached).  Needs root; creates and deletes ``qbgp-<random>``."""
    ns = f"qbgp-{secrets.token_hex(4)}"
    made = subprocess.run(["ip", "netns", "add", ns], capture_output=True, timeout=10)
    if made.returncode != 0:
        # A daemon confined to CAP_NET_RAW + CAP_NET_ADMIN (examples/systemd) cannot create a
        # namespace; it must not experiment on the host's own interfaces either.  Report
        # "unknown" conservatively: the bridge agent reads VLAN filtering off its real bridge.
        log.warning(
            "kernel capability probe skipped: a scratch namespace needs CAP_SYS_ADMIN "
            "(ip netns add exited %d); capabilities reported as unknown",
            made.returncode,
        )
        return KernelCaps(
            bridge_vlan_filtering=False,
            vlan_8021q=False,
            macvlan_vepa=False,
            macvtap_vepa=False,
            nft_bridge=shutil.which("nft") is not None,
            packet_ignore_outgoing=_probe_ignore_outgoing(),
            probed=False,
        )
    try:
        with IPRoute(netns=ns, flags=0) as ipr:
            ipr.link("add", ifname="pv0", kind="veth", peer={"ifname": "pv1"})
            (low,) = ipr.link_lookup(ifname="pv1")
            vlanf = _try(
                "vlan_filtering",
                lambda: ipr.link("add", ifname="pbr", kind="bridge", br_vlan_filtering=1),
            )
            if vlanf:  # some kernels accept the attribute and ignore it: read it back
                msg = ipr.link("get", ifname="pbr")[0]
                vlanf = msg.get(("linkinfo", "data", "IFLA_BR_VLAN_FILTERING")) == 1
            dot1q = _try(
                "8021q", lambda: ipr.link("add", ifname="pv1.7", kind="vlan", link=low, vlan_id=7)
            )
            mv = _try(
                "macvlan",
                lambda: ipr.link(
                    "add", ifname="pmv", kind="macvlan", link=low, macvlan_mode="vepa"
                ),
            )
            mvt = _try(
                "macvtap",
                lambda: ipr.link(
                    "add", ifname="pmvt", kind="macvtap", link=low, macvtap_mode="vepa"
                ),
            )
            if mv:
                mode = ipr.link("get", ifname="pmv")[0].get(
                    ("linkinfo", "data", "IFLA_MACVLAN_MODE")
                )
                mv = mode == "vepa"
        nft = _probe_nft(ns)
    finally:
        subprocess.run(["ip", "netns", "del", ns], capture_output=True, timeout=10)
    return KernelCaps(
        bridge_vlan_filtering=vlanf,
        vlan_8021q=dot1q,
        macvlan_vepa=mv,
        macvtap_vepa=mvt,
        nft_bridge=nft,
        packet_ignore_outgoing=_probe_ignore_outgoing(),
    )
