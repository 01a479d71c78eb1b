"""The Linux-bridge side effects of VDP: hairpin, static FDB, port VLANs, 802.1Qbg isolation.

What: :class:`LinuxBridge` applies what the bridge agent decided to one kernel bridge, with
idempotent operations that return a :class:`Change`, and keeps a :class:`BridgeRecords` of
everything *it* added.  It never removes what it did not add: a pre-existing static FDB entry,
VLAN or hairpin setting is reported as ``UNCHANGED`` and left alone.  ``reconcile(records)``
makes the kernel match a persisted record after a restart: missing entries are re-added, own
entries absent from ``records`` are removed, and foreign state is not looked at.

Operations (pyroute2, linux.md §2):

* hairpin = reflective relay: ``brport set mode=0|1`` (``IFLA_BRPORT_MODE``).
* static FDB: ``fdb replace flags=master state=noarp|reachable`` ("static", forwarding; plain
  ``add`` fails with EEXIST on a learned entry and without ``master`` lands in the port's own list).
* port VLANs: ``vlan_filter add/del``.  Only on a VLAN-filtering bridge; otherwise every VLAN
  operation, and any FDB operation with a VID, returns ``Change.UNSUPPORTED`` (this kernel has no
  ``CONFIG_BRIDGE_VLAN_FILTERING``; ``vlan_filter del`` there even "succeeds" silently).

Isolation — why nftables and not STP.  A Linux bridge with STP off (the default) *forwards*
01-80-C2-00-00-00, so a station's LLDP/ECP/VDP frames for the nearest bridge would be flooded
to the other hypervisors, outside the scope of the protocol (linux.md §3.1).  Two cures work:

1. ``stp_state 1``: the kernel then traps the address.  But it changes the operator's bridge
   globally: every port link-up waits 2 x forward_delay (>= 4 s) before VM traffic flows, the
   bridge sends BPDUs to every station, and turning it off again on shutdown may not be ours to
   do.  That is exactly "touching what we did not create".
2. A bridge-family nftables table of our own (``qbg_<bridge>``) dropping, in *prerouting*, the
   frames with destination 01-80-C2-00-00-{00,03,0E} and ethertype 0x88CC/0x8940/0x88B7 that
   enter one of our ports (a named ``ifname`` set).  AF_PACKET taps run before the bridge's
   rx_handler, so the agent's ``ETH_P_ALL`` socket on the port still gets the frame; link-local
   frames the bridge traps (03, 0E by default) never reach the prerouting hook, so the rule only
   ever bites frames the bridge was about to forward (00 with STP off, 03/0E if somebody set
   ``group_fwd_mask``).  STP BPDUs and all other traffic are untouched, and deleting the table
   restores the bridge exactly.  ``meta ibrname`` would be neater than a port set but needs
   ``CONFIG_NFT_BRIDGE_META``, which this kernel lacks.

We chose 2.  The table is rewritten atomically from ``records.isolated`` on every change (one
``nft -f`` transaction), which makes it idempotent.  nft runs as a subprocess (``ip netns exec``
for a namespace): pyroute2's nftables module is incomplete, and the nft CLI is the stable API.

Static FDB entries — the per-VSI work — go over one long-lived rtnetlink socket of our own
(:class:`_Rtnl`, plain ``struct``), not pyroute2: a batch of adds is one ``sendmsg`` and its acks
(the kernel handles rtnetlink requests inside the ``sendmsg``), about 10 µs per entry, cheap
enough for the agent's event loop.  pyroute2 needs milliseconds per entry and holds the GIL
while it parses, which starved the loop that must ack ECP within 2.56 ms (issue #7).  An add is
``NLM_F_CREATE | NLM_F_EXCL``: it only ever creates, so no dump is needed to know that nothing
was there; on ``EEXIST`` the one entry is looked up (``RTM_GETNEIGH`` by MAC/VID, as
``bridge fdb get``) and the ownership rules above decide.  A delete looks its entries up first
and removes only static entries on the recorded port.

Threading: pyroute2's sync ``IPRoute`` runs its own event loop, so from asyncio call the
hairpin/VLAN/lock/isolation methods through ``await asyncio.to_thread(...)``; each opens a
short-lived netlink socket (about 10 ms).  The FDB methods may run in the event loop itself;
their socket is guarded by a lock, so the object stays usable from any thread.

``journal``: when a list, every change to :attr:`LinuxBridge.records` is appended to it as a
small tuple (``("fdb+", port, mac, vid)``, ...) for an append-only state journal;
:func:`apply_changes` replays them onto a :class:`BridgeRecords`.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import re
import shutil
import socket
import struct
import subprocess
import threading
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from pyroute2 import IPRoute, NetlinkError

from ..link import in_netns
from ..lldp.errors import QbgError

__all__ = [
    "BridgeError",
    "BridgeRecords",
    "Change",
    "FdbEntry",
    "FdbRecord",
    "LinuxBridge",
    "ReconcileReport",
    "apply_changes",
    "isolation_ruleset",
]

AF_BRIDGE = 7
NTF_MASTER = 0x04
NUD_REACHABLE = 0x02
NUD_NOARP = 0x40
NUD_PERMANENT = 0x80
STATIC = NUD_NOARP | NUD_REACHABLE  # what iproute2 sends for "static"

BRIDGE_VLAN_INFO_PVID = 0x2
BRIDGE_VLAN_INFO_UNTAGGED = 0x4

QBG_ETHERTYPES = (0x88CC, 0x8940, 0x88B7)
QBG_GROUPS = ("01:80:c2:00:00:00", "01:80:c2:00:00:03", "01:80:c2:00:00:0e")

# rtnetlink (linux/netlink.h, linux/rtnetlink.h, linux/neighbour.h, linux/if_link.h)
NLMSG_ERROR, NLMSG_DONE = 2, 3
RTM_NEWLINK, RTM_GETLINK = 16, 18
RTM_NEWNEIGH, RTM_DELNEIGH, RTM_GETNEIGH = 28, 29, 30
NLM_F_REQUEST, NLM_F_MULTI, NLM_F_ACK, NLM_F_DUMP = 0x1, 0x2, 0x4, 0x300
NLM_F_REPLACE, NLM_F_EXCL, NLM_F_CREATE = 0x100, 0x200, 0x400
NLM_F_ACK_TLVS = 0x200  # in an NLMSG_ERROR: extended-ack attributes follow
NLMSGERR_ATTR_MSG = 1
NDA_LLADDR, NDA_VLAN, NDA_MASTER = 2, 5, 9
IFLA_IFNAME, IFLA_MASTER = 3, 10
SOL_NETLINK, NETLINK_EXT_ACK, NETLINK_CAP_ACK = 270, 11, 10
_NLH = struct.Struct("=IHHII")  # nlmsghdr: len, type, flags, seq, pid
_NDM = struct.Struct("=BBHiHBB")  # ndmsg: family, pad, pad, ifindex, state, flags, type
_IFI = struct.Struct("=BBHiII")  # ifinfomsg: family, pad, type, index, flags, change
_NLA = struct.Struct("=HH")
_U16 = struct.Struct("=H")
_U32 = struct.Struct("=I")
_I32 = struct.Struct("=i")


class BridgeError(QbgError):
    """A bridge operation failed for a reason the caller must handle (``code`` is errno-like)."""

    def __init__(self, code: str, reason: str) -> None:
        super().__init__(f"{code}: {reason}")
        self.code = code
        self.reason = reason


class Change(Enum):
    """What an idempotent operation did."""

    ADDED = "added"
    REMOVED = "removed"
    UNCHANGED = "unchanged"  # already so, or not ours to change, or still referenced
    UNSUPPORTED = "unsupported"  # the kernel or this bridge cannot do it (no VLAN filtering)
    CONFLICT = "conflict"  # a foreign static entry for the same MAC/VID exists elsewhere


_CANONICAL_MAC = re.compile(r"[0-9a-f]{2}(?::[0-9a-f]{2}){5}")


def _norm_mac(mac: str | bytes) -> str:
    if type(mac) is str and _CANONICAL_MAC.fullmatch(mac):
        return mac  # already "aa:bb:cc:dd:ee:ff" (what the daemon passes)
    if isinstance(mac, bytes):
        if len(mac) != 6:
            raise ValueError(f"MAC must be 6 octets: {mac!r}")
        return ":".join(f"{b:02x}" for b in mac)
    parts = mac.lower().replace("-", ":").split(":")
    if len(parts) != 6 or not all(len(p) == 2 for p in parts):
        raise ValueError(f"bad MAC {mac!r}")
    return ":".join(parts)


@dataclass(frozen=True, slots=True)
class FdbRecord:
    """One static FDB entry we added: MAC[/VID] -> port."""

    port: str
    mac: str
    vid: int | None = None


@dataclass(frozen=True, slots=True)
class FdbEntry:
    """One bridge FDB entry as the kernel shows it."""

    port: str
    mac: str
    vid: int | None
    state: int
    flags: int

    @property
    def static(self) -> bool:
        """A forwarding static entry (``bridge fdb ... static``), not learned, not local."""
        return bool(self.state & NUD_NOARP) and not self.state & NUD_PERMANENT

    @property
    def local(self) -> bool:
        return bool(self.state & NUD_PERMANENT)


@dataclass
class BridgeRecords:
    """Everything a :class:`LinuxBridge` added, as plain data (``to_dict`` is JSON-safe).

    ``vlans`` maps ``(port, vid)`` to the owners (VSI keys) that need it: the kernel VLAN goes
    when the last owner does.
    """

    hairpin: set[str] = field(default_factory=set)
    fdb: set[FdbRecord] = field(default_factory=set)
    vlans: dict[tuple[str, int], set[str]] = field(default_factory=dict)
    isolated: set[str] = field(default_factory=set)
    locked: dict[str, tuple[bool, bool]] = field(default_factory=dict)  # port: (learning, flood)

    def copy(self) -> BridgeRecords:
        return BridgeRecords(
            hairpin=set(self.hairpin),
            fdb=set(self.fdb),
            vlans={k: set(v) for k, v in self.vlans.items()},
            isolated=set(self.isolated),
            locked=dict(self.locked),
        )

    def to_dict(self, *, fdb: bool = True) -> dict[str, Any]:
        return {
            "hairpin": sorted(self.hairpin),
            "fdb": [
                {"port": r.port, "mac": r.mac, "vid": r.vid}
                for r in sorted(self.fdb, key=_fdb_sort)
            ]
            if fdb
            else [],
            "vlans": [
                {"port": p, "vid": v, "owners": sorted(o)}
                for (p, v), o in sorted(self.vlans.items())
            ],
            "isolated": sorted(self.isolated),
            "locked": [
                {"port": p, "learning": lf[0], "flood": lf[1]}
                for p, lf in sorted(self.locked.items())
            ],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> BridgeRecords:
        return cls(
            hairpin=set(data.get("hairpin", ())),
            fdb={
                FdbRecord(d["port"], _norm_mac(d["mac"]), d.get("vid")) for d in data.get("fdb", ())
            },
            vlans={(d["port"], int(d["vid"])): set(d["owners"]) for d in data.get("vlans", ())},
            isolated=set(data.get("isolated", ())),
            locked={
                d["port"]: (bool(d["learning"]), bool(d["flood"])) for d in data.get("locked", ())
            },
        )


@dataclass
class ReconcileReport:
    """What ``reconcile`` did; ``failed`` holds (item, reason) for what could not be done."""

    added: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)


def _fdb_sort(rec: FdbRecord) -> tuple[str, str, int]:
    return (rec.port, rec.mac, -1 if rec.vid is None else rec.vid)


def _table_name(bridge: str) -> str:
    return "qbg_" + re.sub(r"[^A-Za-z0-9_]", "_", bridge)


def isolation_ruleset(bridge: str, ports: Iterable[str]) -> str:
    """The nft script that (re)creates our table atomically with ``ports`` in its set."""
    table = _table_name(bridge)
    names = sorted(ports)
    for n in names:
        if not re.fullmatch(r"[A-Za-z0-9_.:@-]{1,15}", n):
            raise ValueError(f"bad interface name {n!r}")
    elements = f"\n    elements = {{ {', '.join(json.dumps(n) for n in names)} }}" if names else ""
    groups = ", ".join(QBG_GROUPS)
    types = ", ".join(f"0x{t:04x}" for t in QBG_ETHERTYPES)
    return (
        f"table bridge {table} {{}}\n"
        f"delete table bridge {table}\n"
        f"table bridge {table} {{\n"
        f"  set ports {{\n    type ifname;{elements}\n  }}\n"
        f"  chain pre {{\n"
        f"    type filter hook prerouting priority -200; policy accept;\n"
        f"    iifname @ports ether daddr {{ {groups} }} ether type {{ {types} }} drop"
        f' comment "qbg: 802.1Qbg frames are never bridged"\n'
        f"  }}\n"
        f"}}\n"
    )


def _attr(kind: int, data: bytes) -> bytes:
    n = 4 + len(data)
    return _NLA.pack(n, kind) + data + b"\0" * (-n % 4)


def _attrs(data: bytes, pos: int) -> dict[int, bytes]:
    """The top-level attributes of a message body from ``pos`` (last one of a type wins)."""
    out: dict[int, bytes] = {}
    n = len(data)
    while pos + 4 <= n:
        length, kind = _NLA.unpack_from(data, pos)
        if length < 4:
            break
        out[kind & 0x3FFF] = data[pos + 4 : pos + length]
        pos += (length + 3) & ~3
    return out


@dataclass(slots=True)
class _Reply:
    """What the kernel said to one request: ``error`` (0 or a positive errno), the extended-ack
    message if any, and the data messages (type, body) that came before the ack."""

    error: int = 0
    message: str = ""
    data: list[tuple[int, bytes]] = field(default_factory=list)


class _Rtnl:
    """A minimal rtnetlink client: batches of requests, one ``sendmsg`` per chunk.

    The kernel processes every message of a ``sendmsg`` before it returns and queues one ack
    per message (``NLM_F_ACK``), so a chunk costs one send and a few reads.  Chunks are kept
    small enough that their acks fit the receive buffer (a full buffer drops acks)."""

    CHUNK = 128

    def __init__(self, netns: str | None = None) -> None:
        with in_netns(netns):
            sock = socket.socket(
                socket.AF_NETLINK, socket.SOCK_RAW | socket.SOCK_CLOEXEC, socket.NETLINK_ROUTE
            )
        try:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
            cap_ack = True
            try:
                sock.setsockopt(SOL_NETLINK, NETLINK_CAP_ACK, 1)  # errors without our request
            except OSError:
                cap_ack = False
            with contextlib.suppress(OSError):
                sock.setsockopt(SOL_NETLINK, NETLINK_EXT_ACK, 1)  # the kernel's reason
            sock.bind((0, 0))
            sock.settimeout(5.0)
        except BaseException:
            sock.close()
            raise
        self.sock = sock
        self.cap_ack = cap_ack
        self.lock = threading.Lock()
        self._seq = int.from_bytes(os.urandom(3), "big") + 1

    def close(self) -> None:
        self.sock.close()

    def transact(self, requests: Sequence[tuple[int, int, bytes]]) -> list[_Reply]:
        """Send each ``(type, flags, body)`` (``NLM_F_REQUEST | NLM_F_ACK`` added) and return
        one :class:`_Reply` per request, in order."""
        replies = [_Reply() for _ in requests]
        with self.lock:
            for start in range(0, len(requests), self.CHUNK):
                chunk = requests[start : start + self.CHUNK]
                first = self._seq
                self._seq = (self._seq + len(chunk)) & 0x7FFFFFFF or 1
                parts = []
                for i, (mtype, flags, body) in enumerate(chunk):
                    seq = (first + i) & 0x7FFFFFFF
                    head = _NLH.pack(
                        16 + len(body), mtype, flags | NLM_F_REQUEST | NLM_F_ACK, seq, 0
                    )
                    parts.append(head + body)
                self.sock.send(b"".join(parts))
                self._collect(replies, start, first, len(chunk), dump=False)
        return replies

    def dump(self, mtype: int, body: bytes) -> list[tuple[int, bytes]]:
        """A ``NLM_F_DUMP`` request; the data messages (type, body) up to ``NLMSG_DONE``."""
        reply = [_Reply()]
        with self.lock:
            seq = self._seq
            self._seq = (self._seq + 1) & 0x7FFFFFFF or 1
            self.sock.send(
                _NLH.pack(16 + len(body), mtype, NLM_F_REQUEST | NLM_F_DUMP, seq, 0) + body
            )
            self._collect(reply, 0, seq, 1, dump=True)
        if reply[0].error:
            raise OSError(reply[0].error, reply[0].message or os.strerror(reply[0].error))
        return reply[0].data

    def _collect(
        self, replies: list[_Reply], start: int, first: int, count: int, *, dump: bool
    ) -> None:
        pending = count
        while pending:
            data = self.sock.recv(1 << 18)
            pos, n = 0, len(data)
            while pos + 16 <= n:
                length, mtype, flags, seq, _ = _NLH.unpack_from(data, pos)
                if length < 16:
                    break
                i = (seq - first) & 0x7FFFFFFF
                if i < count:
                    reply = replies[start + i]
                    if mtype == NLMSG_ERROR:
                        (err,) = _I32.unpack_from(data, pos + 16)
                        reply.error = -err
                        if flags & NLM_F_ACK_TLVS and self.cap_ack:
                            # the request is not echoed (NETLINK_CAP_ACK): error + header only
                            msg = _attrs(data[pos : pos + length], 16 + 4 + 16).get(
                                NLMSGERR_ATTR_MSG
                            )
                            if msg:
                                reply.message = msg.rstrip(b"\0").decode(errors="replace")
                        pending -= 1
                    elif mtype == NLMSG_DONE:
                        if dump:
                            (err,) = _I32.unpack_from(data, pos + 16) if length >= 20 else (0,)
                            reply.error = -err
                            pending -= 1
                    else:
                        reply.data.append((mtype, data[pos + 16 : pos + length]))
                pos += (length + 3) & ~3


_LLADDR_HDR = _NLA.pack(10, NDA_LLADDR)  # 4 + 6 octets, then 2 of padding


def _neigh_body(ifindex: int, mac: str, vid: int | None, *, state: int, flags: int) -> bytes:
    body = b"".join(
        (
            _NDM.pack(AF_BRIDGE, 0, 0, ifindex, state, flags, 0),
            _LLADDR_HDR,
            bytes.fromhex(mac.replace(":", "")),
            b"\0\0",
        )
    )
    if vid is not None:
        body += _attr(NDA_VLAN, _U16.pack(vid))
    return body


def apply_changes(records: BridgeRecords, changes: Iterable[Sequence[Any]]) -> BridgeRecords:
    """Replay the change tuples of :attr:`LinuxBridge.journal` (JSON-decoded lists are fine)
    onto ``records`` (in place; returned for convenience).  Unknown kinds are ignored."""
    for ch in changes:
        kind = ch[0]
        if kind == "fdb+":
            records.fdb.add(FdbRecord(str(ch[1]), _norm_mac(ch[2]), ch[3]))
        elif kind == "fdb-":
            records.fdb.discard(FdbRecord(str(ch[1]), _norm_mac(ch[2]), ch[3]))
        elif kind == "vlan+":
            records.vlans.setdefault((str(ch[1]), int(ch[2])), set()).add(str(ch[3]))
        elif kind == "vlan-":
            key = (str(ch[1]), int(ch[2]))
            owners = records.vlans.get(key)
            if owners is not None:
                owners.discard(str(ch[3]))
                if not owners:
                    del records.vlans[key]
        elif kind == "small":
            small = BridgeRecords.from_dict(ch[1])
            records.hairpin, records.isolated = small.hairpin, small.isolated
            records.locked = small.locked
    return records


class LinuxBridge:
    """Idempotent VDP side effects on bridge ``name`` (in netns ``netns``), with ownership."""

    def __init__(
        self, name: str, *, netns: str | None = None, records: BridgeRecords | None = None
    ) -> None:
        self.name = name
        self.netns = netns
        self.records = records.copy() if records is not None else BridgeRecords()
        self.journal: list[tuple[Any, ...]] | None = None  # record changes (module doc)
        self._rtnl: _Rtnl | None = None
        self._index: dict[str, int] = {}  # port name -> ifindex, checked to be ours
        with self._ipr() as ipr:
            msg = self._get(ipr, name)
            if msg.get(("linkinfo", "kind")) != "bridge":
                raise BridgeError("EINVAL", f"{name} is not a bridge")
            self.ifindex = int(msg["index"])
            self.vlan_filtering = msg.get(("linkinfo", "data", "IFLA_BR_VLAN_FILTERING")) == 1

    # -- plumbing ----------------------------------------------------------------------------

    @contextlib.contextmanager
    def _ipr(self) -> Iterator[Any]:
        with IPRoute(netns=self.netns, flags=0) as ipr:
            yield ipr

    @staticmethod
    def _get(ipr: Any, ifname: str) -> Any:
        try:
            return ipr.link("get", ifname=ifname)[0]
        except NetlinkError as exc:
            raise BridgeError("ENODEV", f"no interface {ifname}") from exc

    def _port_index(self, ipr: Any, port: str) -> int:
        msg = self._get(ipr, port)
        if msg.get("IFLA_MASTER") != self.ifindex:
            raise BridgeError("EINVAL", f"{port} is not a port of {self.name}")
        return int(msg["index"])

    @property
    def rtnl(self) -> _Rtnl:
        if self._rtnl is None:
            self._rtnl = _Rtnl(self.netns)
        return self._rtnl

    def close(self) -> None:
        """Close the FDB netlink socket (it reopens on the next FDB operation)."""
        if self._rtnl is not None:
            self._rtnl.close()
            self._rtnl = None

    def forget_port(self, port: str | None = None) -> None:
        """Drop the cached ifindex of ``port`` (all if ``None``): it was removed, re-created
        or moved (the daemon calls this on link events)."""
        if port is None:
            self._index.clear()
        else:
            self._index.pop(port, None)

    def _resolve(self, port: str) -> int:
        """ifindex of ``port``, checked to be a port of this bridge (cached, raw netlink)."""
        index = self._index.get(port)
        if index is not None:
            return index
        body = _IFI.pack(0, 0, 0, 0, 0, 0) + _attr(IFLA_IFNAME, port.encode() + b"\0")
        (reply,) = self.rtnl.transact([(RTM_GETLINK, 0, body)])
        link = next((d for t, d in reply.data if t == RTM_NEWLINK), None)
        if reply.error or link is None:
            raise BridgeError("ENODEV", f"no interface {port}")
        index = int(_IFI.unpack_from(link)[3])
        master = _attrs(link, _IFI.size).get(IFLA_MASTER)
        if master is None or _U32.unpack(master[:4])[0] != self.ifindex:
            raise BridgeError("EINVAL", f"{port} is not a port of {self.name}")
        self._index[port] = index
        return index

    def _port_names(self) -> dict[int, str]:
        """ifindex -> name of the bridge's current ports (one raw link dump)."""
        names: dict[int, str] = {}
        body = _IFI.pack(0, 0, 0, 0, 0, 0)
        for mtype, data in self.rtnl.dump(RTM_GETLINK, body):
            if mtype != RTM_NEWLINK:
                continue
            attrs = _attrs(data, _IFI.size)
            master = attrs.get(IFLA_MASTER)
            name = attrs.get(IFLA_IFNAME)
            if (
                master is not None
                and name is not None
                and _U32.unpack(master[:4])[0] == self.ifindex
            ):
                names[_IFI.unpack_from(data)[3]] = name.rstrip(b"\0").decode()
        return names

    # -- records (every change goes through here, so it can be journaled) ---------------------

    def _log(self, *change: Any) -> None:
        if self.journal is not None:
            self.journal.append(change)

    def _own_fdb(self, rec: FdbRecord) -> None:
        if rec not in self.records.fdb:
            self.records.fdb.add(rec)
            self._log("fdb+", rec.port, rec.mac, rec.vid)

    def _disown_fdb(self, rec: FdbRecord) -> None:
        if rec in self.records.fdb:
            self.records.fdb.discard(rec)
            self._log("fdb-", rec.port, rec.mac, rec.vid)

    def _own_vlan(self, key: tuple[str, int], owner: str) -> None:
        owners = self.records.vlans.setdefault(key, set())
        if owner not in owners:
            owners.add(owner)
            self._log("vlan+", key[0], key[1], owner)

    def _disown_vlan(self, key: tuple[str, int], owner: str) -> None:
        owners = self.records.vlans.get(key)
        if owners is not None and owner in owners:
            owners.discard(owner)
            if not owners:
                del self.records.vlans[key]
            self._log("vlan-", key[0], key[1], owner)

    def _small_changed(self) -> None:
        if self.journal is not None:
            d = self.records.to_dict(fdb=False)
            self._log("small", {k: d[k] for k in ("hairpin", "isolated", "locked")})

    def ports(self) -> list[str]:
        """Names of the bridge's current ports."""
        with self._ipr() as ipr:
            return sorted(
                m.get("IFLA_IFNAME")
                for m in ipr.link("dump")
                if m.get("IFLA_MASTER") == self.ifindex
            )

    # -- hairpin (reflective relay) ------------------------------------------------------------

    def hairpin(self, port: str) -> bool:
        """Kernel state of hairpin mode on ``port``."""
        with self._ipr() as ipr:
            msg = ipr.link("get", index=self._port_index(ipr, port))[0]
            return bool(msg.get(("linkinfo", "slave_data", "IFLA_BRPORT_MODE")))

    def set_hairpin(self, port: str, on: bool) -> Change:
        """Turn reflective relay on/off.  Off only undoes our own "on" (foreign: UNCHANGED)."""
        current = self.hairpin(port)
        if on:
            if current:
                return Change.UNCHANGED
            self._write_hairpin(port, True)
            self.records.hairpin.add(port)
            self._small_changed()
            return Change.ADDED
        if port not in self.records.hairpin:
            return Change.UNCHANGED
        self.records.hairpin.discard(port)
        self._small_changed()
        if not current:
            return Change.UNCHANGED
        self._write_hairpin(port, False)
        return Change.REMOVED

    def _write_hairpin(self, port: str, on: bool) -> bool:
        with self._ipr() as ipr:
            ipr.brport("set", index=self._port_index(ipr, port), mode=1 if on else 0)
        return True

    # -- locked ports (learning off, unknown-unicast flooding off) ----------------------------

    def port_flags(self, port: str) -> tuple[bool, bool]:
        """(learning, unicast flooding) of ``port`` as the kernel has them."""
        with self._ipr() as ipr:
            msg = ipr.link("get", index=self._port_index(ipr, port))[0]
            slave = ("linkinfo", "slave_data")
            return (
                bool(msg.get((*slave, "IFLA_BRPORT_LEARNING"))),
                bool(msg.get((*slave, "IFLA_BRPORT_UNICAST_FLOOD"))),
            )

    def lock_port(self, port: str) -> Change:
        """Only static (associated) MACs forward on ``port``: learning and unknown-unicast
        flooding off, learned entries flushed.  The previous flags are recorded and restored
        by :meth:`unlock_port` (a locked port is a common switch-security setting; with VDP it
        makes "no association, no traffic" true even without VLAN filtering)."""
        current = self.port_flags(port)
        if current == (False, False) and port in self.records.locked:
            return Change.UNCHANGED
        before = self.records.locked.get(port, current)  # restart: keep the original flags
        learned = [e for e in self.fdb_entries(port) if not e.static and not e.local]
        with self._ipr() as ipr:
            index = self._port_index(ipr, port)
            ipr.brport("set", index=index, learning=0, unicast_flood=0)
            for entry in learned:
                extra = {"vlan": entry.vid} if entry.vid else {}
                with contextlib.suppress(NetlinkError):
                    ipr.fdb("del", ifindex=index, lladdr=entry.mac, flags=NTF_MASTER, **extra)
        self.records.locked[port] = before
        self._small_changed()
        return Change.ADDED

    def unlock_port(self, port: str) -> Change:
        """Restore the flags :meth:`lock_port` found."""
        before = self.records.locked.pop(port, None)
        if before is None:
            return Change.UNCHANGED
        self._small_changed()
        learning, flood = before
        with self._ipr() as ipr:
            ipr.brport(
                "set",
                index=self._port_index(ipr, port),
                learning=int(learning),
                unicast_flood=int(flood),
            )
        return Change.REMOVED

    # -- static FDB ----------------------------------------------------------------------------

    def fdb_entries(self, port: str | None = None) -> list[FdbEntry]:
        """The bridge FDB (``bridge fdb show br <name>``), optionally of one port: one raw
        link dump and one FDB dump filtered to this bridge."""
        names = self._port_names()
        body = _IFI.pack(AF_BRIDGE, 0, 0, 0, 0, 0) + _attr(IFLA_MASTER, _U32.pack(self.ifindex))
        out = []
        for mtype, data in self.rtnl.dump(RTM_GETNEIGH, body):
            entry = self._entry(mtype, data, names)
            if entry is not None and (port is None or entry.port == port):
                out.append(entry)
        return out

    def _entry(self, mtype: int, data: bytes, names: dict[int, str]) -> FdbEntry | None:
        """An :class:`FdbEntry` from an ``RTM_NEWNEIGH`` of this bridge on one of ``names``."""
        if mtype != RTM_NEWNEIGH or len(data) < _NDM.size:
            return None
        family, _, _, ifindex, state, flags, _ = _NDM.unpack_from(data)
        attrs = _attrs(data, _NDM.size)
        master, lladdr, vlan = attrs.get(NDA_MASTER), attrs.get(NDA_LLADDR), attrs.get(NDA_VLAN)
        if family != AF_BRIDGE or master is None or lladdr is None or len(lladdr) != 6:
            return None
        if _U32.unpack(master[:4])[0] != self.ifindex:
            return None
        name = names.get(ifindex)
        if name is None:
            return None
        vid = _U16.unpack(vlan[:2])[0] if vlan is not None and len(vlan) >= 2 else None
        return FdbEntry(name, _norm_mac(lladdr), vid, state, flags)

    def _find(self, mac: str, vid: int | None) -> list[FdbEntry]:
        return [e for e in self.fdb_entries() if e.mac == mac and e.vid == vid]

    def _lookup_many(self, keys: Sequence[tuple[str, int | None]]) -> list[FdbEntry | None]:
        """The bridge's entry for each (MAC, VID) (``bridge fdb get``), in one batch; ``None``
        where there is none or it is not on one of our ports (e.g. the bridge's own MAC)."""
        if not keys:
            return []
        requests = []
        master = _attr(NDA_MASTER, _U32.pack(self.ifindex))
        for mac, vid in keys:
            body = _neigh_body(0, mac, vid, state=0, flags=0) + master
            requests.append((RTM_GETNEIGH, 0, body))
        replies = self.rtnl.transact(requests)
        names: dict[int, str] | None = None
        out: list[FdbEntry | None] = []
        for reply in replies:
            if reply.error == errno.ENOENT:
                out.append(None)
                continue
            if reply.error:
                raise BridgeError(
                    errno.errorcode.get(reply.error, str(reply.error)),
                    f"fdb get: {reply.message or os.strerror(reply.error)}",
                )
            if names is None:
                names = {i: n for n, i in self._index.items()}
            entry = None
            for mtype, data in reply.data:
                entry = self._entry(mtype, data, names)
                if entry is None and mtype == RTM_NEWNEIGH and len(data) >= _NDM.size:
                    ifindex = _NDM.unpack_from(data)[3]
                    if ifindex not in names and ifindex != self.ifindex:  # a port not cached
                        names = self._port_names()
                        entry = self._entry(mtype, data, names)
                        if entry is None:  # a foreign device: report it under its ifindex
                            entry = self._foreign_entry(data)
                    elif ifindex == self.ifindex:
                        entry = self._foreign_entry(data)
            out.append(entry)
        return out

    def _foreign_entry(self, data: bytes) -> FdbEntry:
        """An entry on no port of ours (the bridge device itself): named ``#ifindex``."""
        _, _, _, ifindex, state, flags, _ = _NDM.unpack_from(data)
        attrs = _attrs(data, _NDM.size)
        vlan = attrs.get(NDA_VLAN)
        vid = _U16.unpack(vlan[:2])[0] if vlan is not None and len(vlan) >= 2 else None
        return FdbEntry(
            f"#{ifindex}", _norm_mac(attrs.get(NDA_LLADDR, bytes(6))), vid, state, flags
        )

    def fdb_add(self, port: str, mac: str | bytes, vid: int | None = None) -> Change:
        """Static entry ``mac[/vid] -> port`` (converts a learned entry; never moves a foreign
        static one: CONFLICT).  A VID on a VLAN-unaware bridge is UNSUPPORTED."""
        return self.fdb_add_many([(port, mac, vid)])[0]

    def fdb_add_many(self, items: Sequence[tuple[str, str | bytes, int | None]]) -> list[Change]:
        """:meth:`fdb_add` for many entries: one netlink round for the batch.

        Every entry is first sent as an exclusive create (``NLM_F_EXCL``), all in one
        ``sendmsg``; only those the kernel already has (``EEXIST``: learned, ours, someone
        else's) are looked up and decided by the rules of :meth:`fdb_add` — in order, so an
        entry that appears twice in a batch is ADDED, then UNCHANGED.  A port that is not
        there or not ours fails the whole batch before anything is sent (BridgeError); a
        kernel refusal of one entry (a VID the port lacks) raises after the others are done."""
        results: list[Change | None] = [None] * len(items)
        todo: list[tuple[int, str, str, int | None]] = []
        for i, (port, raw_mac, vid) in enumerate(items):
            mac = _norm_mac(raw_mac)
            if vid is not None and not self.vlan_filtering:
                results[i] = Change.UNSUPPORTED
            else:
                todo.append((i, port, mac, vid))
        index = {port: self._resolve(port) for port in {t[1] for t in todo}}
        flags = NLM_F_CREATE | NLM_F_EXCL
        requests = [
            (RTM_NEWNEIGH, flags, _neigh_body(index[p], m, v, state=STATIC, flags=NTF_MASTER))
            for _, p, m, v in todo
        ]
        failure: BridgeError | None = None
        existing: list[tuple[int, str, str, int | None]] = []
        for (i, port, mac, vid), reply in zip(todo, self.rtnl.transact(requests), strict=True):
            if reply.error == 0:
                self._own_fdb(FdbRecord(port, mac, vid))
                results[i] = Change.ADDED
            elif reply.error == errno.EEXIST:
                existing.append((i, port, mac, vid))
            else:
                failure = failure or self._fdb_error(reply, port, vid, "add")
                self._check_gone(reply, port)
        if existing:
            found = self._lookup_many([(m, v) for _, _, m, v in existing])
            replace: list[tuple[int, str, str, int | None, FdbEntry | None]] = []
            moving: set[tuple[str, int | None]] = set()
            for (i, port, mac, vid), entry in zip(existing, found, strict=True):
                if (mac, vid) in moving:  # the lookup is stale: decided after the first
                    replace.append((i, port, mac, vid, None))
                elif entry is not None and entry.static and entry.port == port:
                    results[i] = Change.UNCHANGED  # ours already, or someone else's identical
                elif (
                    entry is not None
                    and (entry.static or entry.local)
                    and FdbRecord(entry.port, mac, vid) not in self.records.fdb
                ):
                    results[i] = Change.CONFLICT
                else:  # learned, our own elsewhere, or gone since the create: replace
                    replace.append((i, port, mac, vid, entry))
                    moving.add((mac, vid))
            failure = self._fdb_replace(replace, index, results) or failure
        if failure is not None:
            raise failure
        return [r if r is not None else Change.UNCHANGED for r in results]

    def _fdb_replace(
        self,
        replace: list[tuple[int, str, str, int | None, FdbEntry | None]],
        index: dict[str, int],
        results: list[Change | None],
    ) -> BridgeError | None:
        """Replace (convert a learned entry / move our own) and record; duplicates of a
        (MAC, VID) within the batch are decided one at a time after the first."""
        failure: BridgeError | None = None
        first: list[tuple[int, str, str, int | None, FdbEntry | None]] = []
        later: list[tuple[int, str, str, int | None, FdbEntry | None]] = []
        seen: set[tuple[str, int | None]] = set()
        for item in replace:
            key = (item[2], item[3])
            (later if key in seen else first).append(item)
            seen.add(key)
        flags = NLM_F_CREATE | NLM_F_REPLACE
        requests = [
            (RTM_NEWNEIGH, flags, _neigh_body(index[p], m, v, state=STATIC, flags=NTF_MASTER))
            for _, p, m, v, _ in first
        ]
        for (i, port, mac, vid, entry), reply in zip(
            first, self.rtnl.transact(requests), strict=True
        ):
            if reply.error:
                failure = failure or self._fdb_error(reply, port, vid, "add")
                continue
            if entry is not None:  # an own entry for the same MAC/VID on another port moved
                self._disown_fdb(FdbRecord(entry.port, mac, vid))
            self._own_fdb(FdbRecord(port, mac, vid))
            results[i] = Change.ADDED
        for i, port, mac, vid, _ in later:
            try:
                results[i] = self.fdb_add(port, mac, vid)
            except BridgeError as err:
                failure = failure or err
        return failure

    def _fdb_error(self, reply: _Reply, port: str, vid: int | None, what: str) -> BridgeError:
        if reply.error == errno.EINVAL and vid is not None:
            if what == "add":
                return BridgeError("EINVAL", f"VLAN {vid} is not on {port} (vlan_add it first)")
            # the kernel keeps static entries of a VLAN removed from the port, and refuses to
            # delete them until the VLAN is back ("unconfigured vlan")
            return BridgeError("EINVAL", f"VLAN {vid} is no longer on {port}: entry kept")
        name = errno.errorcode.get(reply.error, str(reply.error))
        return BridgeError(
            name, f"fdb {what} on {port}: {reply.message or os.strerror(reply.error)}"
        )

    def _check_gone(self, reply: _Reply, port: str) -> None:
        if reply.error in (errno.ENODEV, errno.EINVAL, errno.EOPNOTSUPP):
            self.forget_port(port)  # re-resolved (and re-checked) next time

    def fdb_del(self, port: str, mac: str | bytes, vid: int | None = None) -> Change:
        """Remove our static entry; entries we did not add are left alone (UNCHANGED)."""
        return self.fdb_del_many([(port, mac, vid)])[0]

    def fdb_del_many(self, items: Sequence[tuple[str, str | bytes, int | None]]) -> list[Change]:
        """:meth:`fdb_del` for many entries: one lookup round and one delete round.

        Only our own records are considered; each is deleted if the kernel still has it as a
        static entry on the recorded port (else the record just goes).  A kernel refusal keeps
        that record and raises after the others are done."""
        results: list[Change] = []
        mine: list[tuple[int, FdbRecord]] = []
        for i, (port, raw_mac, vid) in enumerate(items):
            mac = _norm_mac(raw_mac)
            rec = FdbRecord(port, mac, vid)
            if vid is not None and not self.vlan_filtering:
                results.append(Change.UNSUPPORTED)
            elif rec not in self.records.fdb:
                results.append(Change.UNCHANGED)
            else:
                results.append(Change.UNCHANGED)
                mine.append((i, rec))
        failure: BridgeError | None = None
        removed = self._fdb_delete_many([rec for _, rec in mine])
        for (i, rec), gone in zip(mine, removed, strict=True):
            if isinstance(gone, BridgeError):
                failure = failure or gone  # refused: record kept
                continue
            self._disown_fdb(rec)
            results[i] = Change.REMOVED if gone else Change.UNCHANGED
        if failure is not None:
            raise failure
        return results

    def _fdb_present(self, rec: FdbRecord) -> bool:
        return any(e.static and e.port == rec.port for e in self._find(rec.mac, rec.vid))

    def _fdb_write(self, rec: FdbRecord) -> bool:
        index = self._resolve(rec.port)
        body = _neigh_body(index, rec.mac, rec.vid, state=STATIC, flags=NTF_MASTER)
        (reply,) = self.rtnl.transact([(RTM_NEWNEIGH, NLM_F_CREATE | NLM_F_REPLACE, body)])
        if reply.error:
            self._check_gone(reply, rec.port)
            raise self._fdb_error(reply, rec.port, rec.vid, "add")
        return True

    def _fdb_delete(self, rec: FdbRecord) -> bool:
        (gone,) = self._fdb_delete_many([rec])
        if isinstance(gone, BridgeError):
            raise gone
        return gone

    def _fdb_delete_many(
        self, recs: Sequence[FdbRecord], found: Sequence[FdbEntry | None] | None = None
    ) -> list[bool | BridgeError]:
        """Delete each entry that is static on its record's port (``found``: the kernel's
        entries, looked up if not given).  Per record: True deleted, False not there (or not
        static there: not ours to delete), or the error that refused it."""
        if not recs:
            return []
        if found is None:
            found = self._lookup_many([(r.mac, r.vid) for r in recs])
        out: list[bool | BridgeError] = [False] * len(recs)
        todo: list[tuple[int, FdbRecord, int]] = []
        for i, (rec, entry) in enumerate(zip(recs, found, strict=True)):
            if entry is not None and entry.static and entry.port == rec.port:
                try:
                    todo.append((i, rec, self._resolve(rec.port)))
                except BridgeError as err:
                    out[i] = err
        requests = [
            (RTM_DELNEIGH, 0, _neigh_body(index, r.mac, r.vid, state=0, flags=NTF_MASTER))
            for _, r, index in todo
        ]
        for (i, rec, _), reply in zip(todo, self.rtnl.transact(requests), strict=True):
            if reply.error == 0:
                out[i] = True
            elif reply.error != errno.ENOENT:
                out[i] = self._fdb_error(reply, rec.port, rec.vid, "del")
        return out

    # -- port VLANs (needs a VLAN-filtering bridge) ----------------------------------------------

    def port_vlans(self, port: str) -> dict[int, int]:
        """``{vid: flags}`` of ``port`` (flags: 2 PVID, 4 untagged); ``{}`` if unsupported."""
        if not self.vlan_filtering:
            return {}
        with self._ipr() as ipr:
            index = self._port_index(ipr, port)
            for m in ipr.get_vlans():
                if int(m["index"]) != index:
                    continue
                spec = m.get_nested("IFLA_AF_SPEC")
                if spec is None:
                    return {}
                return {
                    int(v["vid"]): int(v["flags"]) for v in spec.get_attrs("IFLA_BRIDGE_VLAN_INFO")
                }
        return {}

    def _vids(self, port: str, cache: dict[str, set[int]] | None) -> set[int]:
        """The port's VIDs (kernel), through a per-batch ``cache`` if given."""
        if cache is None:
            return set(self.port_vlans(port))
        vids = cache.get(port)
        if vids is None:
            vids = cache[port] = set(self.port_vlans(port))
        return vids

    def vlan_add_many(self, items: Sequence[tuple[str, int, str]]) -> list[Change]:
        """:meth:`vlan_add` for many (port, vid, owner): one VLAN dump per port for the batch.
        A failing item raises after the others are done."""
        cache: dict[str, set[int]] = {}
        results: list[Change] = []
        failure: Exception | None = None
        for port, vid, owner in items:
            try:
                results.append(self.vlan_add(port, vid, owner, _cache=cache))
            except (BridgeError, NetlinkError, OSError, ValueError) as err:
                results.append(Change.UNCHANGED)
                failure = failure or err
        if failure is not None:
            raise failure
        return results

    def vlan_del_many(self, items: Sequence[tuple[str, int, str]]) -> list[Change]:
        """:meth:`vlan_del` for many (port, vid, owner), one VLAN dump per port."""
        cache: dict[str, set[int]] = {}
        results: list[Change] = []
        failure: Exception | None = None
        for port, vid, owner in items:
            try:
                results.append(self.vlan_del(port, vid, owner, _cache=cache))
            except (BridgeError, NetlinkError, OSError) as err:
                results.append(Change.UNCHANGED)
                failure = failure or err
        if failure is not None:
            raise failure
        return results

    def vlan_add(
        self, port: str, vid: int, owner: str, *, _cache: dict[str, set[int]] | None = None
    ) -> Change:
        """Make ``vid`` a (tagged) member VLAN of ``port`` on behalf of ``owner`` (refcounted)."""
        if not 1 <= vid <= 4094:
            raise ValueError(f"VID out of range: {vid}")
        if not self.vlan_filtering:
            return Change.UNSUPPORTED
        key = (port, vid)
        vids = self._vids(port, _cache)
        present = vid in vids
        if key in self.records.vlans:
            self._own_vlan(key, owner)
            if present:
                return Change.UNCHANGED
        elif present:
            return Change.UNCHANGED  # foreign VLAN: never recorded, never removed
        else:
            self._own_vlan(key, owner)
        with self._ipr() as ipr:
            ipr.vlan_filter("add", index=self._port_index(ipr, port), vlan_info={"vid": vid})
        vids.add(vid)
        return Change.ADDED

    def vlan_del(
        self, port: str, vid: int, owner: str, *, _cache: dict[str, set[int]] | None = None
    ) -> Change:
        """Drop ``owner``'s claim; the kernel VLAN goes with the last owner."""
        if not self.vlan_filtering:
            return Change.UNSUPPORTED
        key = (port, vid)
        owners = self.records.vlans.get(key)
        if owners is None:
            return Change.UNCHANGED
        if owner in owners:
            self._disown_vlan(key, owner)  # with the last owner the key goes
        elif not owners:  # an empty owner set (a hand-edited state file): the key goes
            del self.records.vlans[key]
            self._log("vlan-", port, vid, owner)
        if key in self.records.vlans:
            return Change.UNCHANGED
        vids = self._vids(port, _cache)
        if vid not in vids:
            return Change.UNCHANGED
        # Our static entries on this VID go first: the kernel would keep them after the VLAN
        # is gone and then refuse to delete them (EINVAL, "unconfigured vlan").
        mine = [
            r for r in sorted(self.records.fdb, key=_fdb_sort) if r.port == port and r.vid == vid
        ]
        failure = None
        for rec, gone in zip(mine, self._fdb_delete_many(mine), strict=True):
            if isinstance(gone, BridgeError):
                failure = failure or gone
            else:
                self._disown_fdb(rec)
        if failure is not None:
            raise failure
        self._vlan_write("del", port, vid)
        vids.discard(vid)
        return Change.REMOVED

    # -- isolation (nftables) ------------------------------------------------------------------

    def _nft(self, *args: str, script: str | None = None) -> subprocess.CompletedProcess[str]:
        if shutil.which("nft") is None:
            raise BridgeError("ENOENT", "nft not installed (apt-get install nftables)")
        cmd = ["nft", *args]
        if self.netns is not None:
            cmd = ["ip", "netns", "exec", self.netns, *cmd]
        return subprocess.run(cmd, input=script, capture_output=True, text=True, timeout=30)

    def isolated_ports(self) -> set[str] | None:
        """Ports in our nft set (kernel state); ``None`` if our table does not exist."""
        proc = self._nft("-j", "list", "set", "bridge", _table_name(self.name), "ports")
        if proc.returncode != 0:
            return None
        for item in json.loads(proc.stdout).get("nftables", []):
            if "set" in item:
                return {str(e) for e in item["set"].get("elem", [])}
        return set()

    def _write_isolation(self) -> None:
        if not self.records.isolated:
            self._nft("delete", "table", "bridge", _table_name(self.name))  # absent: fine
            return
        proc = self._nft("-f", "-", script=isolation_ruleset(self.name, self.records.isolated))
        if proc.returncode != 0:
            raise BridgeError("EIO", f"nft failed: {proc.stderr.strip()}")

    def isolate(self, ports: Iterable[str] | None = None) -> Change:
        """Keep 802.1Qbg frames entering ``ports`` (default: every current port) unbridged."""
        wanted = set(self.ports() if ports is None else ports)
        if wanted <= self.records.isolated and self.isolated_ports() == self.records.isolated:
            return Change.UNCHANGED
        self.records.isolated |= wanted
        self._small_changed()
        self._write_isolation()
        return Change.ADDED

    def unisolate(self, ports: Iterable[str] | None = None) -> Change:
        """Undo ``isolate`` for ``ports`` (default: all); the table goes with the last port."""
        drop = set(self.records.isolated if ports is None else ports) & self.records.isolated
        if not drop:
            return Change.UNCHANGED
        self.records.isolated -= drop
        self._small_changed()
        self._write_isolation()
        return Change.REMOVED

    # -- restart -------------------------------------------------------------------------------

    def reconcile(self, records: BridgeRecords) -> ReconcileReport:
        """Make the kernel hold exactly our ``records``: re-add what is missing, remove own
        entries (in ``self.records``) that ``records`` no longer has.  Foreign state is kept."""
        rep = ReconcileReport()
        old, new = self.records, records.copy()

        def attempt(item: str, fn: Any) -> bool:
            try:
                return bool(fn())
            except (BridgeError, NetlinkError, OSError) as exc:
                rep.failed.append((item, str(exc)))
                return False

        # 1. stale own entries
        for port in sorted(old.hairpin - new.hairpin):
            if attempt(f"hairpin {port}", lambda p=port: self.hairpin(p)) and attempt(
                f"hairpin {port}", lambda p=port: self._write_hairpin(p, False)
            ):
                rep.removed.append(f"hairpin {port}")
        # the FDB, looked at once (a lookup per record would be O(N²) at 100,000 VSIs)
        kernel_fdb: dict[tuple[str, int | None], list[FdbEntry]] | None = None
        try:
            kernel_fdb = {}
            for e in self.fdb_entries():
                kernel_fdb.setdefault((e.mac, e.vid), []).append(e)
        except (BridgeError, OSError) as exc:
            rep.failed.append(("fdb", str(exc)))

        def on_port(rec: FdbRecord) -> FdbEntry | None:
            assert kernel_fdb is not None
            return next(
                (e for e in kernel_fdb.get((rec.mac, rec.vid), ()) if e.port == rec.port), None
            )

        stale = sorted(old.fdb - new.fdb, key=_fdb_sort)
        if kernel_fdb is not None and stale:
            try:
                results = self._fdb_delete_many(stale, [on_port(r) for r in stale])
            except OSError as exc:
                results = [BridgeError("EIO", str(exc))] * len(stale)
            for rec, gone in zip(stale, results, strict=True):
                item = f"fdb {rec.mac} vid {rec.vid} {rec.port}"
                if isinstance(gone, BridgeError):
                    rep.failed.append((item, str(gone)))
                elif gone:
                    rep.removed.append(item)
        for port, vid in sorted(old.vlans.keys() - new.vlans.keys()):
            item = f"vlan {vid} {port}"
            if (
                self.vlan_filtering
                and attempt(item, lambda p=port, v=vid: v in self.port_vlans(p))
                and attempt(item, lambda p=port, v=vid: self._vlan_write("del", p, v))
            ):
                rep.removed.append(f"vlan {vid} {port}")

        # 2. missing entries
        for port in sorted(new.hairpin):
            if attempt(f"hairpin {port}", lambda p=port: not self.hairpin(p)) and attempt(
                f"hairpin {port}", lambda p=port: self._write_hairpin(p, True)
            ):
                rep.added.append(f"hairpin {port}")
        # VLANs first: the kernel refuses an FDB entry for a VID the port lacks
        for port, vid in sorted(new.vlans):
            item = f"vlan {vid} {port}"
            if not self.vlan_filtering:
                rep.failed.append((item, Change.UNSUPPORTED.value))
            elif attempt(item, lambda p=port, v=vid: v not in self.port_vlans(p)) and attempt(
                item, lambda p=port, v=vid: self._vlan_write("add", p, v)
            ):
                rep.added.append(item)
        missing: list[tuple[str, FdbRecord, int]] = []
        for rec in sorted(new.fdb, key=_fdb_sort):
            item = f"fdb {rec.mac} vid {rec.vid} {rec.port}"
            if rec.vid is not None and not self.vlan_filtering:
                rep.failed.append((item, Change.UNSUPPORTED.value))
                continue
            if kernel_fdb is None:
                continue
            entry = on_port(rec)
            if entry is not None and entry.static:
                continue
            try:
                missing.append((item, rec, self._resolve(rec.port)))
            except BridgeError as exc:
                rep.failed.append((item, str(exc)))
        requests = [
            (
                RTM_NEWNEIGH,
                NLM_F_CREATE | NLM_F_REPLACE,
                _neigh_body(index, rec.mac, rec.vid, state=STATIC, flags=NTF_MASTER),
            )
            for _, rec, index in missing
        ]
        try:
            replies = self.rtnl.transact(requests)
        except OSError as exc:
            replies = [_Reply(error=exc.errno or errno.EIO, message=str(exc))] * len(missing)
        for (item, rec, _), reply in zip(missing, replies, strict=True):
            if reply.error:
                rep.failed.append((item, str(self._fdb_error(reply, rec.port, rec.vid, "add"))))
            else:
                rep.added.append(item)

        # 3. isolation: rewrite our table if the kernel's set differs from the record
        self.records = new
        try:
            kernel = self.isolated_ports() or set()
            if kernel != new.isolated:
                self._write_isolation()
                rep.added += [f"isolate {p}" for p in sorted(new.isolated - kernel)]
                rep.removed += [f"isolate {p}" for p in sorted(kernel - new.isolated)]
        except (BridgeError, OSError) as exc:
            rep.failed.append(("isolation", str(exc)))
        return rep

    def _vlan_write(self, cmd: str, port: str, vid: int) -> bool:
        with self._ipr() as ipr:
            ipr.vlan_filter(cmd, index=self._port_index(ipr, port), vlan_info={"vid": vid})
        return True

    def release(self) -> ReconcileReport:
        """Remove everything we added (clean shutdown)."""
        return self.reconcile(BridgeRecords())
