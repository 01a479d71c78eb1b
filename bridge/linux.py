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

Threading: pyroute2's sync ``IPRoute`` runs its own event loop, so from asyncio call these
methods through ``await asyncio.to_thread(bridge.fdb_add, ...)``.  Each call opens a short-lived
netlink socket (about 10 ms), which keeps the object usable from any thread.
"""

from __future__ import annotations

import contextlib
import errno
import json
import re
import shutil
import subprocess
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from pyroute2 import IPRoute, NetlinkError

from ..lldp.errors import QbgError

__all__ = [
    "BridgeError",
    "BridgeRecords",
    "Change",
    "FdbEntry",
    "FdbRecord",
    "LinuxBridge",
    "ReconcileReport",
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


def _norm_mac(mac: str | bytes) -> str:
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

    def to_dict(self) -> dict[str, Any]:
        return {
            "hairpin": sorted(self.hairpin),
            "fdb": [
                {"port": r.port, "mac": r.mac, "vid": r.vid}
                for r in sorted(self.fdb, key=_fdb_sort)
            ],
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


class LinuxBridge:
    """Idempotent VDP side effects on bridge ``name`` (in netns ``netns``), with ownership."""

    def __init__(
        self, name: str, *, netns: str | None = None, records: BridgeRecords | None = None
    ) -> None:
        self.name = name
        self.netns = netns
        self.records = records.copy() if records is not None else BridgeRecords()
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
            return Change.ADDED
        if port not in self.records.hairpin:
            return Change.UNCHANGED
        self.records.hairpin.discard(port)
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
        return Change.ADDED

    def unlock_port(self, port: str) -> Change:
        """Restore the flags :meth:`lock_port` found."""
        before = self.records.locked.pop(port, None)
        if before is None:
            return Change.UNCHANGED
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
        """The bridge FDB (``bridge fdb show br <name>``), optionally of one port."""
        with self._ipr() as ipr:
            names = {
                int(m["index"]): m.get("IFLA_IFNAME")
                for m in ipr.link("dump")
                if m.get("IFLA_MASTER") == self.ifindex
            }
            out = []
            for m in ipr.fdb("dump"):
                if m["family"] != AF_BRIDGE or m.get("NDA_MASTER") != self.ifindex:
                    continue
                name = names.get(int(m["ifindex"]))
                if name is None or (port is not None and name != port):
                    continue
                out.append(
                    FdbEntry(
                        name,
                        _norm_mac(m.get("NDA_LLADDR")),
                        m.get("NDA_VLAN"),
                        int(m["state"]),
                        int(m["flags"]),
                    )
                )
            return out

    def _find(self, mac: str, vid: int | None) -> list[FdbEntry]:
        return [e for e in self.fdb_entries() if e.mac == mac and e.vid == vid]

    def fdb_add(self, port: str, mac: str | bytes, vid: int | None = None) -> Change:
        """Static entry ``mac[/vid] -> port`` (converts a learned entry; never moves a foreign
        static one: CONFLICT).  A VID on a VLAN-unaware bridge is UNSUPPORTED."""
        mac = _norm_mac(mac)
        if vid is not None and not self.vlan_filtering:
            return Change.UNSUPPORTED
        rec = FdbRecord(port, mac, vid)
        for e in self._find(mac, vid):
            if e.static and e.port == port:
                return Change.UNCHANGED  # ours already, or someone else's identical entry
            if (e.static or e.local) and FdbRecord(e.port, mac, vid) not in self.records.fdb:
                return Change.CONFLICT
        self._fdb_write(rec)
        # an own entry for the same MAC/VID on another port was just moved by "replace"
        self.records.fdb = {r for r in self.records.fdb if (r.mac, r.vid) != (mac, vid)}
        self.records.fdb.add(rec)
        return Change.ADDED

    def fdb_add_many(self, items: Sequence[tuple[str, str | bytes, int | None]]) -> list[Change]:
        """:meth:`fdb_add` for many entries with one FDB dump and one netlink socket.

        A burst of associations (a hypervisor announcing hundreds of VSIs) would otherwise dump
        the whole FDB once per entry: O(N²) work while the agent must keep acking ECP within
        its ack timer.  Same rules and results as :meth:`fdb_add`, entry by entry."""
        index: dict[tuple[str, int | None], list[FdbEntry]] = {}
        for e in self.fdb_entries():
            index.setdefault((e.mac, e.vid), []).append(e)
        results: list[Change] = []
        ports: dict[str, int] = {}
        with self._ipr() as ipr:
            for port, raw_mac, vid in items:
                mac = _norm_mac(raw_mac)
                if vid is not None and not self.vlan_filtering:
                    results.append(Change.UNSUPPORTED)
                    continue
                change: Change | None = None
                for e in index.get((mac, vid), ()):
                    if e.static and e.port == port:
                        change = Change.UNCHANGED
                        break
                    if (e.static or e.local) and FdbRecord(
                        e.port, mac, vid
                    ) not in self.records.fdb:
                        change = Change.CONFLICT
                        break
                if change is not None:
                    results.append(change)
                    continue
                if port not in ports:
                    ports[port] = self._port_index(ipr, port)
                kw: dict[str, Any] = {"vlan": vid} if vid is not None else {}
                try:
                    ipr.fdb(
                        "replace", ifindex=ports[port], lladdr=mac, flags=NTF_MASTER,
                        state=STATIC, **kw,
                    )  # fmt: skip
                except NetlinkError as exc:
                    if exc.code == errno.EINVAL and vid is not None:
                        raise BridgeError(
                            "EINVAL", f"VLAN {vid} is not on {port} (vlan_add it first)"
                        ) from exc
                    raise
                rec = FdbRecord(port, mac, vid)
                for e in index.get((mac, vid), ()):  # an own entry on another port moved
                    self.records.fdb.discard(FdbRecord(e.port, mac, vid))
                self.records.fdb.add(rec)
                entry = FdbEntry(port, mac, vid, STATIC, NTF_MASTER)
                index[(mac, vid)] = [entry]
                results.append(Change.ADDED)
        return results

    def fdb_del(self, port: str, mac: str | bytes, vid: int | None = None) -> Change:
        """Remove our static entry; entries we did not add are left alone (UNCHANGED)."""
        mac = _norm_mac(mac)
        if vid is not None and not self.vlan_filtering:
            return Change.UNSUPPORTED
        rec = FdbRecord(port, mac, vid)
        if rec not in self.records.fdb:
            return Change.UNCHANGED
        removed = self._fdb_delete(rec)  # raises (record kept) if the kernel refuses
        self.records.fdb.discard(rec)
        return Change.REMOVED if removed else Change.UNCHANGED

    def _fdb_present(self, rec: FdbRecord) -> bool:
        return any(e.static and e.port == rec.port for e in self._find(rec.mac, rec.vid))

    def _fdb_write(self, rec: FdbRecord) -> bool:
        with self._ipr() as ipr:
            kw: dict[str, Any] = {"vlan": rec.vid} if rec.vid is not None else {}
            try:
                ipr.fdb(
                    "replace",
                    ifindex=self._port_index(ipr, rec.port),
                    lladdr=rec.mac,
                    flags=NTF_MASTER,
                    state=STATIC,
                    **kw,
                )
            except NetlinkError as exc:
                if exc.code == errno.EINVAL and rec.vid is not None:
                    raise BridgeError(
                        "EINVAL", f"VLAN {rec.vid} is not on {rec.port} (vlan_add it first)"
                    ) from exc
                raise
        return True

    def _fdb_delete(self, rec: FdbRecord) -> bool:
        if not self._fdb_present(rec):
            return False
        with self._ipr() as ipr:
            kw: dict[str, Any] = {"vlan": rec.vid} if rec.vid is not None else {}
            try:
                ipr.fdb(
                    "del",
                    ifindex=self._port_index(ipr, rec.port),
                    lladdr=rec.mac,
                    flags=NTF_MASTER,
                    **kw,
                )
            except NetlinkError as exc:
                if exc.code == errno.EINVAL and rec.vid is not None:
                    # the kernel keeps static entries of a VLAN removed from the port, and
                    # refuses to delete them until the VLAN is back ("unconfigured vlan")
                    raise BridgeError(
                        "EINVAL", f"VLAN {rec.vid} is no longer on {rec.port}: entry kept"
                    ) from exc
                if exc.code != errno.ENOENT:
                    raise
                return False
        return True

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

    def vlan_add(self, port: str, vid: int, owner: str) -> Change:
        """Make ``vid`` a (tagged) member VLAN of ``port`` on behalf of ``owner`` (refcounted)."""
        if not 1 <= vid <= 4094:
            raise ValueError(f"VID out of range: {vid}")
        if not self.vlan_filtering:
            return Change.UNSUPPORTED
        key = (port, vid)
        present = vid in self.port_vlans(port)
        if key in self.records.vlans:
            self.records.vlans[key].add(owner)
            if present:
                return Change.UNCHANGED
        elif present:
            return Change.UNCHANGED  # foreign VLAN: never recorded, never removed
        else:
            self.records.vlans[key] = {owner}
        with self._ipr() as ipr:
            ipr.vlan_filter("add", index=self._port_index(ipr, port), vlan_info={"vid": vid})
        return Change.ADDED

    def vlan_del(self, port: str, vid: int, owner: str) -> Change:
        """Drop ``owner``'s claim; the kernel VLAN goes with the last owner."""
        if not self.vlan_filtering:
            return Change.UNSUPPORTED
        key = (port, vid)
        owners = self.records.vlans.get(key)
        if owners is None:
            return Change.UNCHANGED
        owners.discard(owner)
        if owners:
            return Change.UNCHANGED
        del self.records.vlans[key]
        if vid not in self.port_vlans(port):
            return Change.UNCHANGED
        # Our static entries on this VID go first: the kernel would keep them after the VLAN
        # is gone and then refuse to delete them (EINVAL, "unconfigured vlan").
        for rec in sorted(self.records.fdb, key=_fdb_sort):
            if rec.port == port and rec.vid == vid:
                self._fdb_delete(rec)
                self.records.fdb.discard(rec)
        self._vlan_write("del", port, vid)
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
        self._write_isolation()
        return Change.ADDED

    def unisolate(self, ports: Iterable[str] | None = None) -> Change:
        """Undo ``isolate`` for ``ports`` (default: all); the table goes with the last port."""
        drop = set(self.records.isolated if ports is None else ports) & self.records.isolated
        if not drop:
            return Change.UNCHANGED
        self.records.isolated -= drop
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
        for rec in sorted(old.fdb - new.fdb, key=_fdb_sort):
            item = f"fdb {rec.mac} vid {rec.vid} {rec.port}"
            if attempt(item, lambda r=rec: self._fdb_delete(r)):
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
        for rec in sorted(new.fdb, key=_fdb_sort):
            item = f"fdb {rec.mac} vid {rec.vid} {rec.port}"
            if rec.vid is not None and not self.vlan_filtering:
                rep.failed.append((item, Change.UNSUPPORTED.value))
            elif attempt(item, lambda r=rec: not self._fdb_present(r)) and attempt(
                item, lambda r=rec: self._fdb_write(r)
            ):
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
