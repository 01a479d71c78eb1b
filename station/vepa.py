"""Station side plumbing: a VM's macvlan/macvtap in VEPA mode on the uplink.

What: :func:`create_vepa` adds ``ifname`` as a macvlan (or macvtap) in ``vepa`` mode on
``uplink`` — optionally on a VLAN sub-interface ``<uplink>.<vid>`` it creates when needed — and
can move it into another namespace (the "VM").  :func:`delete_vepa` undoes exactly that.

Why VEPA: in VEPA mode every frame between two VMs of one hypervisor goes out of the uplink and
must be reflected by the adjacent bridge (hairpin = reflective relay, which VDP/EVB negotiates);
``bridge`` mode would switch it locally and make the protocol pointless (linux.md §4.1).
The uplink must not itself be a bridge port (EBUSY).  802.1Q sub-interfaces need
``CONFIG_VLAN_8021Q``: without it a VID request raises :class:`VepaError` ``ENOTSUP`` (errno 95)
(probe first with :func:`qbg.netlink.probe_kernel_caps`).

Several ports may share one sub-interface (one VLAN, several VMs).  Deleting an 802.1Q device
makes the kernel delete every macvlan/macvtap on it, so :func:`delete_vepa` removes a
sub-interface we created (marked with :data:`VLAN_ALIAS`) only once no port sits on it any
more -- whichever port goes last, and also when the others were moved into (named) VM
namespaces.
"""

from __future__ import annotations

import contextlib
import errno
import os
from dataclasses import dataclass
from typing import Any

from pyroute2 import IPRoute, NetlinkError

from ..lldp.errors import QbgError

__all__ = ["VLAN_ALIAS", "VepaError", "VepaPort", "create_vepa", "delete_vepa"]

VLAN_ALIAS = "qbg: 802.1Q sub-interface for VEPA ports"  # ifalias of the ones we create
NETNS_DIR = "/run/netns"


class VepaError(QbgError):
    """Creating or deleting a VEPA port failed; ``code`` is an errno name."""

    def __init__(self, code: str, reason: str) -> None:
        super().__init__(f"{code}: {reason}")
        self.code = code
        self.reason = reason


@dataclass(frozen=True, slots=True, kw_only=True)
class VepaPort:
    """What :func:`create_vepa` made; pass it back to :func:`delete_vepa`."""

    ifname: str
    uplink: str
    kind: str  # "macvlan" or "macvtap"
    mac: bytes
    netns: str | None = None  # namespace of the uplink
    target_netns: str | None = None  # where the port lives now (None: with the uplink)
    vid: int | None = None
    vlan_ifname: str | None = None  # the 802.1Q sub-interface the port sits on
    created_vlan: bool = False  # we created vlan_ifname (and delete it again)


def _errname(exc: NetlinkError) -> str:
    return errno.errorcode.get(exc.code, str(exc.code))


def _lookup(ipr: Any, ifname: str) -> int | None:
    found = ipr.link_lookup(ifname=ifname)
    return int(found[0]) if found else None


def create_vepa(
    uplink: str,
    ifname: str,
    *,
    kind: str = "macvlan",
    vid: int | None = None,
    mac: str | None = None,
    netns: str | None = None,
    target_netns: str | None = None,
    up: bool = True,
) -> VepaPort:
    """Create ``ifname`` (VEPA) on ``uplink`` in ``netns``; optionally tag ``vid``, set ``mac``,
    move it to ``target_netns``, bring it (and the uplink) up."""
    if kind not in ("macvlan", "macvtap"):
        raise ValueError(f"kind must be macvlan or macvtap, not {kind!r}")
    if vid is not None and not 1 <= vid <= 4094:
        raise ValueError(f"VID out of range: {vid}")
    with IPRoute(netns=netns, flags=0) as ipr:
        low = _lookup(ipr, uplink)
        if low is None:
            raise VepaError("ENODEV", f"no uplink {uplink}")
        lower_name, vlan_ifname, created_vlan = uplink, None, False
        if vid is not None:
            vlan_ifname = f"{uplink}.{vid}"
            if len(vlan_ifname) > 15:
                vlan_ifname = f"{uplink[: 14 - len(str(vid))]}.{vid}"
            existing = _lookup(ipr, vlan_ifname)
            if existing is None:
                try:
                    ipr.link("add", ifname=vlan_ifname, kind="vlan", link=low, vlan_id=vid)
                except NetlinkError as exc:
                    raise VepaError(
                        _errname(exc), f"802.1Q sub-interface {vlan_ifname}: {exc}"
                    ) from exc
                created_vlan = True
                existing = _lookup(ipr, vlan_ifname)
                assert existing is not None
                ipr.link("set", index=existing, ifalias=VLAN_ALIAS)
            assert existing is not None
            low, lower_name = existing, vlan_ifname
        attrs: dict[str, Any] = {
            "ifname": ifname,
            "kind": kind,
            "link": low,
            f"{kind}_mode": "vepa",
        }
        if mac is not None:
            attrs["address"] = mac
        try:
            ipr.link("add", **attrs)
        except NetlinkError as exc:
            if created_vlan and vlan_ifname is not None:
                ipr.link("del", index=low)
            raise VepaError(_errname(exc), f"{kind} {ifname} on {lower_name}: {exc}") from exc
        index = _lookup(ipr, ifname)
        assert index is not None
        if up:
            ipr.link("set", index=int(_lookup(ipr, uplink) or 0), state="up")
            if created_vlan:
                ipr.link("set", index=low, state="up")
        if target_netns is not None:
            ipr.link("set", index=index, net_ns_fd=target_netns)
    with IPRoute(netns=target_netns if target_netns is not None else netns, flags=0) as ipr:
        index = _lookup(ipr, ifname)
        if index is None:
            raise VepaError("ENODEV", f"{ifname} vanished after creation")
        if up:
            ipr.link("set", index=index, state="up")
        addr = ipr.link("get", index=index)[0].get("IFLA_ADDRESS")
    return VepaPort(
        ifname=ifname,
        uplink=uplink,
        kind=kind,
        mac=bytes.fromhex(addr.replace(":", "")),
        netns=netns,
        target_netns=target_netns,
        vid=vid,
        vlan_ifname=vlan_ifname,
        created_vlan=created_vlan,
    )


def _uppers(ipr: Any, index: int) -> list[str]:
    """Devices in ``ipr``'s namespace stacked on ``index`` of the same namespace."""
    return [
        str(m.get("IFLA_IFNAME"))
        for m in ipr.link("dump")
        if m.get("IFLA_LINK") == index and m.get("IFLA_LINK_NETNSID") is None
    ]


def _uppers_elsewhere(netns: str | None, index: int) -> list[str]:
    """Devices in *other* named namespaces (and the current one) stacked on ``index`` of
    ``netns``: a link there whose IFLA_LINK is ``index`` and whose IFLA_LINK_NETNSID is the id
    that namespace gave ``netns``."""
    own_path = os.path.join(NETNS_DIR, netns) if netns is not None else "/proc/self/ns/net"
    fd = os.open(own_path, os.O_RDONLY)
    try:
        own = os.fstat(fd).st_ino
        seen = {own}
        names: list[str | None] = [None]
        with contextlib.suppress(FileNotFoundError):
            names += sorted(os.listdir(NETNS_DIR))
        found = []
        for name in names:
            path = os.path.join(NETNS_DIR, name) if name is not None else "/proc/self/ns/net"
            try:
                ino = os.stat(path).st_ino
            except OSError:
                continue
            if ino in seen:
                continue
            seen.add(ino)
            try:
                with IPRoute(netns=name, flags=0) as ipr:
                    links = [
                        m
                        for m in ipr.link("dump")
                        if m.get("IFLA_LINK") == index and m.get("IFLA_LINK_NETNSID") is not None
                    ]
                    if not links:
                        continue
                    nsid = (ipr.get_netnsid(fd=fd) or {}).get("nsid")
                    found += [
                        f"{name}:{m.get('IFLA_IFNAME')}"
                        for m in links
                        if m.get("IFLA_LINK_NETNSID") == nsid
                    ]
            except (NetlinkError, OSError):
                continue  # a namespace that vanished meanwhile
        return found
    finally:
        os.close(fd)


def delete_vepa(port: VepaPort) -> None:
    """Delete the port (wherever it lives) and the VLAN sub-interface if we created it and no
    other port still sits on it.  Missing interfaces are not an error: deletion is idempotent."""
    where = port.target_netns if port.target_netns is not None else port.netns
    with IPRoute(netns=where, flags=0) as ipr:
        index = _lookup(ipr, port.ifname)
        if index is not None:
            ipr.link("del", index=index)
    if port.vlan_ifname is None:
        return
    with IPRoute(netns=port.netns, flags=0) as ipr:
        index = _lookup(ipr, port.vlan_ifname)
        if index is None:
            return
        alias = ipr.link("get", index=index)[0].get("IFLA_IFALIAS")
        if not (port.created_vlan or alias == VLAN_ALIAS) or _uppers(ipr, index):
            return  # not ours, or still carrying ports here
    if _uppers_elsewhere(port.netns, index):
        return  # ports moved into VM namespaces still use it
    with IPRoute(netns=port.netns, flags=0) as ipr:
        if _lookup(ipr, port.vlan_ifname) == index:
            ipr.link("del", index=index)
