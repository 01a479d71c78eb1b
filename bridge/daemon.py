"""``qbg bridge``: the switch agent on a Linux bridge.

Runs one :class:`~qbg.vdp.port.BridgePort` per configured bridge port (the ports facing EVB
stations) and turns its events into kernel state through :class:`~qbg.bridge.linux.LinuxBridge`:

* reflective relay negotiated on a port (RRCTR advertised) → ``hairpin on``; withdrawn → off;
* a VSI entering Associate → the bridge VLAN of each filter entry on the port (reference-counted,
  where the kernel has VLAN filtering) and a static FDB entry MAC[/VID] → port for formats 2/4;
* a VSI leaving Associate (station De-Associate, keep-alive supervision timeout, withdrawal,
  downgrade) → exactly what it added is removed.

802.1Qbg frames stay on the port they arrived on: a bridge without STP floods frames to
01-80-C2-00-00-00 (linux.md §3.1), so the agent installs its own bridge-family nftables table that
drops them in prerouting on its ports (the agent's AF_PACKET socket still receives them).

Kernel work runs in order, off the protocol's critical path and batched: the events of one
step (one received VDPDU: up to 42 VSIs) become one group — VLAN adds, then static FDB adds,
or FDB deletes, then VLAN deletes — that a worker task runs after the step's frames are out.
Static FDB entries go over :class:`~qbg.bridge.linux.LinuxBridge`'s own rtnetlink socket, one
``sendmsg`` per group, in the event loop itself (microseconds per entry); the rarer pyroute2
operations (hairpin, VLANs, port locks) run in a worker thread.

Persistence (never lose an association the station was told about): every change of the VSI
table is appended to the state journal (:meth:`~qbg.store.StateStore.append`) *before* the
frames of the same step leave — the pump hands the events over first — so the VDP response
that confirms an Associate is sent after its journal line is written; a SIGKILL at any point
loses no confirmed VSI.  Changes of the kernel records are journaled as each group completes.
The whole state is rewritten only once the journal has been quiet for 0.2 s (or is long), so
a burst of associations costs a few appended lines per PDU, not a rewrite of every VSI.  A
restarted bridge agent replays snapshot + journal, reconciles the kernel with what its restored
VSIs need (re-adds what is missing, removes its own stale entries) and restores the VSIs under
keep-alive supervision.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from qbg.config import BridgeConfig, PolicyConfig
from qbg.control import ControlError
from qbg.daemon import (
    AgentDaemon,
    Handler,
    Interface,
    evb_config,
    port_options,
    random_seq,
    vsi_fields,
)
from qbg.evb.negotiation import EvbRole
from qbg.evb.port import EvbNegotiated, EvbPeerLost
from qbg.lldp.errors import LocalError
from qbg.lldp.events import Event
from qbg.lldp.frame import mac_str
from qbg.netlink import LinkEvent
from qbg.vdp.draft_station import DraftVsiBound, DraftVsiReleased
from qbg.vdp.events import RemoveReason, VsiAdded, VsiChanged, VsiRemoved, VsiRequestRefused
from qbg.vdp.filters import FilterEntry
from qbg.vdp.policy import (
    AllowAll,
    Bindings,
    Decision,
    Policy,
    PolicyRequest,
    TypeDbPolicy,
    VsiType,
)
from qbg.vdp.port import BridgePort, DraftBridgePort
from qbg.vdp.tlv import VdpError, VsiKey, VsiTlv
from qbg.vdp.vsiid import vsiid_text

__all__ = ["BridgeDaemon", "build_policy", "main"]

log = logging.getLogger("qbg.bridge")

ASSOC = 3
MODE_NAMES = {1: "preassoc", 2: "preassoc-rr", 3: "assoc"}
STATE_NAMES = {1: "PREASSOCIATED", 2: "PREASSOCIATED_RR", 3: "ASSOCIATED"}


class Unenforceable:
    """Wraps a policy: refuse VSIs whose VLAN the kernel cannot enforce (no VLAN filtering)."""

    def __init__(self, inner: Policy) -> None:
        self.inner = inner

    def decide(self, req: PolicyRequest) -> Decision:
        if req.mode == ASSOC and any(f.vid for f in req.filters):
            return Decision.refuse(VdpError.INSUFFICIENT_RESOURCES, hard=True)
        return self.inner.decide(req)

    def bound(self, req: PolicyRequest, filters: tuple[FilterEntry, ...]) -> None:
        self.inner.bound(req, filters)

    def released(self, port: str, key: Any) -> None:
        self.inner.released(port, key)


class PortLimit:
    """Wraps a policy: at most ``limit`` VSIs per port, all types together (any mode)."""

    def __init__(self, inner: Policy, limit: int) -> None:
        self.inner = inner
        self.limit = limit
        self.ports: dict[str, set[Any]] = {}

    def decide(self, req: PolicyRequest) -> Decision:
        held = self.ports.get(req.port, set())
        if req.current_mode is None and req.key not in held and len(held) >= self.limit:
            return Decision.refuse(VdpError.INSUFFICIENT_RESOURCES)
        return self.inner.decide(req)

    def bound(self, req: PolicyRequest, filters: tuple[FilterEntry, ...]) -> None:
        self.ports.setdefault(req.port, set()).add(req.key)
        self.inner.bound(req, filters)

    def released(self, port: str, key: Any) -> None:
        self.ports.get(port, set()).discard(key)
        self.inner.released(port, key)


class RateLimit:
    """Wraps a policy: per port, at most ``rate`` new or changed VSI requests per second with
    bursts of ``burst`` (token bucket); the rest are refused with code 2 (insufficient
    resources, retry later).  Keep-alives of known VSIs never reach the policy, so a flood of
    associates from one port neither costs the others nor starves its own keep-alives."""

    def __init__(
        self, inner: Policy, rate: float, burst: int, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.inner = inner
        self.rate = rate
        self.burst = burst
        self.clock = clock
        self.buckets: dict[str, tuple[float, float]] = {}  # port: (tokens, last refill)
        self.refused = 0

    def decide(self, req: PolicyRequest) -> Decision:
        now = self.clock()
        tokens, last = self.buckets.get(req.port, (float(self.burst), now))
        tokens = min(float(self.burst), tokens + (now - last) * self.rate)
        if tokens < 1.0:
            self.buckets[req.port] = (tokens, now)
            self.refused += 1
            return Decision.refuse(VdpError.INSUFFICIENT_RESOURCES)
        self.buckets[req.port] = (tokens - 1.0, now)
        return self.inner.decide(req)

    def bound(self, req: PolicyRequest, filters: tuple[FilterEntry, ...]) -> None:
        self.inner.bound(req, filters)

    def released(self, port: str, key: Any) -> None:
        self.inner.released(port, key)


def build_policy(cfg: PolicyConfig, *, vlan_enforceable: bool) -> Policy:
    """The core policy object for the configured policy (docs/config.md, policy)."""
    bindings = Bindings(allow_migration=cfg.mac_migration)
    policy: Policy
    if cfg.mode == "allow_all":
        policy = AllowAll(vid=cfg.wildcard_vid, bindings=bindings)
    else:
        types: dict[tuple[int, int] | int, VsiType] = {}
        for t in cfg.types:
            vlans = None
            if t.vlans is not None:
                vlans = frozenset(v for lo, hi in t.vlans for v in range(lo, hi + 1))
            entry = VsiType(
                vlans=vlans,
                wildcard_vid=t.wildcard_vid,
                group_vids=dict(t.group_vids),
                pcp=t.pcp,
                mac_prefixes=tuple(bytes.fromhex(p.replace(":", "")) for p in t.mac_prefixes),
                macs=frozenset(bytes.fromhex(m.replace(":", "")) for m in t.macs),
                max_vsis_per_port=t.max_vsis_per_port,
                enforceable=t.enforceable,
            )
            types[t.type_id if t.version is None else (t.type_id, t.version)] = entry
        policy = TypeDbPolicy(
            types,
            bindings=bindings,
            refuse_unenforceable=cfg.refuse_unenforceable,
            unknown_type_code=cfg.unknown_type_code,
        )
    if cfg.refuse_unenforceable and not vlan_enforceable:
        policy = Unenforceable(policy)
    if cfg.max_vsis_per_port is not None:
        policy = PortLimit(policy, cfg.max_vsis_per_port)
    if cfg.rate_limit is not None:
        policy = RateLimit(policy, cfg.rate_limit.requests_per_s, cfg.rate_limit.burst)
    return policy


def _owner(port: str, key: VsiKey) -> str:
    return f"{port}/{key.vsiid.hex()}/{key.mgrid.hex()}"


@dataclass(slots=True)
class _Group:
    """Batched data-plane work: ``add`` = VLAN adds, then static FDB adds; ``del`` = FDB
    deletes, then VLAN deletes (each VSI's VLAN is on the port before its FDB entry, and its
    entries go before the VLAN)."""

    kind: str
    vlans: list[tuple[str, int, str]] = field(default_factory=list)  # (port, vid, owner)
    fdbs: list[tuple[str, str, int | None]] = field(default_factory=list)  # (port, mac, vid)

    def __len__(self) -> int:
        return len(self.vlans) + len(self.fdbs)


_GROUP_MAX = 512  # entries per group: bounds one netlink round (and one step of the loop)
_Work = _Group | tuple[str, Callable[[], Any]]


class BridgeDaemon(AgentDaemon):
    role = "bridge"
    config: BridgeConfig
    VSI_STATES = ("PREASSOCIATED", "PREASSOCIATED_RR", "ASSOCIATED")
    JOURNAL = True

    def __init__(self, config: BridgeConfig) -> None:
        super().__init__(config)
        self.bridge_name = config.linux_bridge
        self.linux: Any = None  # LinuxBridge, created at start (needs the kernel)
        self.caps: Any = None
        self.policy: Policy | None = None
        self._records: dict[str, Any] | None = None
        self._restored: list[tuple[str, bytes, VsiTlv]] = []
        self._queue: asyncio.Queue[_Work] | None = None
        self._group: _Group | None = None  # the open group (queued, not yet started)
        self._worker: asyncio.Task[None] | None = None
        self._in_thread = False  # a worker thread is changing the records
        self.kernel_errors = 0
        self._draft_filters: dict[tuple[str, Any], tuple[FilterEntry, ...]] = {}

    # --- start / stop ---------------------------------------------------------------------------

    async def on_start(self) -> None:
        from qbg.bridge.linux import BridgeRecords, LinuxBridge
        from qbg.netlink import get_link, probe_kernel_caps

        self.caps = await asyncio.to_thread(probe_kernel_caps)
        name = self.bridge_name
        if name is None:  # the master of the first configured port
            for iface in self.interfaces.values():
                info = await asyncio.to_thread(get_link, iface.name)
                if info is not None and info.master:
                    name = await asyncio.to_thread(_ifname, info.master)
                    break
        if name is None:
            raise SystemExit("qbg bridge: no linux_bridge configured and no port is enslaved")
        self.bridge_name = name
        records = BridgeRecords.from_dict(self._records) if self._records else None
        self.linux = await asyncio.to_thread(LinuxBridge, name, records=records)
        self.linux.journal = []
        enforce = bool(self.linux.vlan_filtering)
        if not enforce:
            log.warning(
                "bridge %s: no VLAN filtering (%s): associations get FDB entries and hairpin "
                "but their VLANs are NOT enforced",
                name,
                "kernel lacks it" if not self.caps.bridge_vlan_filtering else "vlan_filtering 0",
            )
        self.policy = build_policy(self.config.policy, vlan_enforceable=enforce)
        self._queue = asyncio.Queue()
        self._worker = asyncio.create_task(self._work(), name="bridge-kernel")
        if records is not None:
            # The kernel should hold what the restored VSIs need, not merely what the records
            # say: a SIGKILL between saving a VSI change and finishing its kernel work leaves
            # the two apart (F3, docs/RELIABILITY.md).  The VSIs are the truth.
            desired = self._desired_records(records)
            report = await asyncio.to_thread(self.linux.reconcile, desired)
            log.info(
                "reconciled kernel state with records: %d re-added, %d stale removed, %d failed",
                len(report.added),
                len(report.removed),
                len(report.failed),
            )
        ports = list(self.interfaces)
        try:
            change = await asyncio.to_thread(self.linux.isolate, ports)
        except Exception as err:
            raise SystemExit(
                f"qbg bridge: cannot confine 802.1Qbg frames to their ports on {name} "
                f"(bridge-family nftables): {err}"
            ) from err
        log.info("802.1Qbg frames confined to their ports on %s (%s)", name, change.value)
        if self.config.lock_ports:
            for port in ports:
                try:
                    change = await asyncio.to_thread(self.linux.lock_port, port)
                    log.info(
                        "%s: locked (learning off, unknown-unicast flooding off): %s",
                        port,
                        change.value,
                    )
                except Exception as err:  # a port that is not there yet: lock it when it is
                    log.warning("%s: cannot lock port: %s", port, err)
        # one snapshot of what was restored, replayed and reconciled: the journal starts afresh
        self.linux.journal.clear()
        self.save_now()

    def _desired_records(self, records: Any) -> Any:
        """Kernel state the restored VSIs need: FDB entries (and VLANs where the bridge filters
        VLANs) of every associated VSI; hairpin, isolation and port locks as recorded."""
        from qbg.bridge.linux import BridgeRecords, FdbRecord

        vlans_on = bool(self.linux is not None and self.linux.vlan_filtering)
        fdb: set[FdbRecord] = set()
        vlans: dict[tuple[str, int], set[str]] = {}
        for port, mgrid, tlv in self._restored:
            if int(tlv.mode) != ASSOC:
                continue
            owner = _owner(port, tlv.key(mgrid))
            for f in tlv.filters:
                vid = f.vid or None
                if vid and vlans_on:
                    vlans.setdefault((port, vid), set()).add(owner)
                if f.mac is not None:
                    fdb.add(FdbRecord(port, mac_str(f.mac), vid if vlans_on else None))
        return BridgeRecords(
            hairpin=set(records.hairpin),
            fdb=fdb,
            vlans=vlans,
            isolated=set(records.isolated),
            locked=dict(records.locked),
        )

    async def on_stop(self) -> None:
        if self._queue is not None:
            await self._queue.join()
        if self._worker is not None:
            self._worker.cancel()

    def kernel_warnings(self, caps: Any) -> list[str]:
        if self.linux is not None and not self.linux.vlan_filtering:
            return ["bridge VLAN filtering unavailable: VSI VLANs are not enforced"]
        return []

    async def _work(self) -> None:
        assert self._queue is not None
        while True:
            item = await self._queue.get()
            try:
                if isinstance(item, _Group):
                    await self._after_vdp()
                    if item is self._group:
                        self._group = None  # started: later work opens a new group
                    await self._run_group(item)
                else:
                    what, op = item
                    result = await self._in_worker_thread(op)
                    log.debug("kernel: %s: %s", what, getattr(result, "value", result))
            except Exception as err:
                what = f"{item.kind} ×{len(item)}" if isinstance(item, _Group) else item[0]
                self._kernel_failed(what, err)
            finally:
                self._queue.task_done()
                self._journal_records()

    async def _after_vdp(self) -> None:
        """Let the protocol go first: wait (a loop turn at least, at most 20 ms) until no
        port is in the middle of a VDPDU, so frames already received are acked first and the
        group holds the entries of whole PDUs (one netlink round per PDU, not per step)."""
        assert self.loop is not None
        end = self.loop.time() + 0.02
        await asyncio.sleep(0)
        while self.loop.time() < end and any(
            isinstance(i.port, BridgePort) and i.port.vdp.has_work()
            for i in self.interfaces.values()
        ):
            await asyncio.sleep(0)

    async def _in_worker_thread(self, op: Callable[[], Any]) -> Any:
        self._in_thread = True
        try:
            return await asyncio.to_thread(op)
        finally:
            self._in_thread = False

    async def _run_group(self, group: _Group) -> None:
        """One group: FDB entries in one netlink round in the loop, VLANs in a thread."""
        lb = self.linux
        if group.kind == "add":
            if group.vlans:
                await self._guarded("vlan add", lambda: lb.vlan_add_many(group.vlans), thread=True)
            if group.fdbs:
                await self._guarded("fdb add", lambda: lb.fdb_add_many(group.fdbs))
        else:
            if group.fdbs:
                await self._guarded("fdb del", lambda: lb.fdb_del_many(group.fdbs))
            if group.vlans:
                await self._guarded("vlan del", lambda: lb.vlan_del_many(group.vlans), thread=True)

    async def _guarded(self, what: str, op: Callable[[], Any], *, thread: bool = False) -> None:
        try:
            result = await self._in_worker_thread(op) if thread else op()
        except Exception as err:
            self._kernel_failed(what, err)
            return
        if log.isEnabledFor(logging.DEBUG):
            counts: dict[str, int] = {}
            for change in result:
                counts[change.value] = counts.get(change.value, 0) + 1
            log.debug("kernel: %s ×%d: %s", what, len(result), counts)

    def _kernel_failed(self, what: str, err: Exception) -> None:
        self.kernel_errors += 1
        self.metrics.errors.inc(interface="", kind="kernel")
        log.error("kernel: %s failed: %s", what, err)

    def _journal_records(self) -> None:
        """Journal what the kernel work changed in the records."""
        lb = self.linux
        if lb is not None and lb.journal:
            self.journal(*lb.journal)
            lb.journal.clear()
            self.flush_journal()

    def compaction_blocked(self) -> bool:
        return self._in_thread

    def _kernel(self, what: str, op: Callable[[], Any]) -> None:
        if self._queue is not None:
            self._group = None  # keep order: work after this op goes into a new group
            self._queue.put_nowait((what, op))

    def _group_for(self, kind: str) -> _Group | None:
        if self._queue is None:
            return None
        group = self._group
        if group is None or group.kind != kind or len(group) >= _GROUP_MAX:
            group = self._group = _Group(kind)
            self._queue.put_nowait(group)
        return group

    def _on_link_event(self, ev: LinkEvent) -> None:
        if self.linux is not None and ev.kind in ("added", "removed", "changed"):
            self.linux.forget_port(ev.link.ifname)  # a re-created port has a new ifindex
        super()._on_link_event(ev)

    # --- ports ----------------------------------------------------------------------------------

    def make_port(self, iface: Interface, mac: bytes) -> BridgePort | DraftBridgePort:
        cfg = iface.config
        if cfg.variant == "draft":
            return DraftBridgePort(
                iface.name,
                mac,
                evb_config(cfg, EvbRole.BRIDGE),
                port_options(cfg),
                policy=self.policy,
                initial_seq=random_seq(),
                rng=random_seq,
            )
        port = BridgePort(
            iface.name,
            mac,
            evb_config(cfg, EvbRole.BRIDGE),
            port_options(cfg),
            policy=self.policy,
            initial_seq=random_seq(),
            rng=random_seq,
        )
        now = self.loop.time() if self.loop is not None else 0.0
        for name, mgrid, tlv in self._restored:
            if name == iface.name:
                try:
                    port.vdp.restore(mgrid, tlv, now)
                except LocalError as err:
                    log.error("%s: cannot restore a VSI: %s", name, err)
        self._restored = [r for r in self._restored if r[0] != iface.name]
        return port

    def on_port_event(self, iface: Interface, event: Event) -> None:
        lb = self.linux
        port = iface.name
        if isinstance(event, EvbNegotiated):
            on = event.negotiated.rr_enabled
            self._kernel(
                f"hairpin {port} {'on' if on else 'off'}", lambda: lb.set_hairpin(port, on)
            )
        elif isinstance(event, EvbPeerLost):
            self._kernel(f"hairpin {port} off", lambda: lb.set_hairpin(port, False))
        elif isinstance(event, VsiAdded):
            if log.isEnabledFor(logging.DEBUG):
                log.debug("%s: VSI %s added in mode %d", port, _label(event.key), event.mode)
            if event.mode == ASSOC:
                self._program(port, event.key, event.filters)
            self._journal_vsi(iface, event.key)
        elif isinstance(event, VsiChanged):
            log.info(
                "%s: VSI %s mode %d -> %d", port, _label(event.key), event.old_mode, event.mode
            )
            if event.mode == ASSOC and event.old_mode != ASSOC:
                self._program(port, event.key, event.filters)
            elif event.old_mode == ASSOC and event.mode != ASSOC:
                self._unprogram(port, event.key, event.filters)
            self._journal_vsi(iface, event.key)
        elif isinstance(event, VsiRemoved):
            if log.isEnabledFor(logging.DEBUG):
                log.debug("%s: VSI %s removed (%s)", port, _label(event.key), event.reason.value)
            if event.mode == ASSOC:
                self._unprogram(port, event.key, event.filters)
            self._journal_vsi(iface, event.key)
        elif isinstance(event, DraftVsiBound):
            filters = tuple(
                FilterEntry(ps=False, pcp=0, vid=e.vid, mac=e.mac) for e in event.tlv.entries
            )
            self._draft_filters[(port, event.key)] = filters
            if event.mode == 2:  # draft associate (vdp.md §13.1)
                self._program(port, _draft_owner_key(event.key), filters)
        elif isinstance(event, DraftVsiReleased):
            filters = self._draft_filters.pop((port, event.key), ())
            self._unprogram(port, _draft_owner_key(event.key), filters)
        elif isinstance(event, VsiRequestRefused):
            log.warning(
                "%s: request for VSI %s refused (code %d%s)",
                port,
                _label(event.key),
                event.code,
                ", kept" if event.keep else "",
            )

    def _program(self, port: str, key: VsiKey, filters: tuple[FilterEntry, ...]) -> None:
        group = self._group_for("add")
        if group is None:
            return
        vlans = bool(self.linux is not None and self.linux.vlan_filtering)
        owner = _owner(port, key) if vlans else ""
        for f in filters:
            vid = f.vid or None
            if vid and vlans:
                group.vlans.append((port, vid, owner))
            if f.mac is not None:
                group.fdbs.append((port, f.mac.hex(":"), vid if vlans else None))

    def _unprogram(self, port: str, key: VsiKey, filters: tuple[FilterEntry, ...]) -> None:
        group = self._group_for("del")
        if group is None:
            return
        vlans = bool(self.linux is not None and self.linux.vlan_filtering)
        owner = _owner(port, key) if vlans else ""
        for f in filters:
            vid = f.vid or None
            if f.mac is not None:
                group.fdbs.append((port, f.mac.hex(":"), vid if vlans else None))
            if vid and vlans:
                group.vlans.append((port, vid, owner))

    # --- persistence ----------------------------------------------------------------------------

    def _journal_vsi(self, iface: Interface, key: VsiKey) -> None:
        """The VSI's row as it is now (its stored TLV), or its removal."""
        port = iface.port
        if not isinstance(port, BridgePort):
            return  # draft 0.2 profiles are not persisted
        wire = port.vdp.wire(key)
        if wire is not None:
            self.journal(("vsi", iface.name, key.mgrid.hex(), wire.hex()))
        else:
            self.journal(
                (
                    "vsi-",
                    iface.name,
                    key.mgrid.hex(),
                    key.type_id,
                    key.type_version,
                    int(key.vsiid_format),
                    key.vsiid.hex(),
                    int(key.filter_format),
                )
            )

    def restore_journal(self, entries: list[Any]) -> None:
        from qbg.bridge.linux import BridgeRecords, apply_changes

        vsis = {(n, t.key(m)): (n, m, t) for n, m, t in self._restored}
        changes: list[Any] = []
        for entry in entries:
            try:
                kind = entry[0]
                if kind == "vsi":
                    name, mgrid = str(entry[1]), bytes.fromhex(entry[2])
                    tlv = VsiTlv.decode(bytes.fromhex(entry[3]))
                    vsis[(name, tlv.key(mgrid))] = (name, mgrid, tlv)
                elif kind == "vsi-":
                    key = VsiKey(
                        mgrid=bytes.fromhex(entry[2]),
                        type_id=int(entry[3]),
                        type_version=int(entry[4]),
                        vsiid_format=int(entry[5]),
                        vsiid=bytes.fromhex(entry[6]),
                        filter_format=int(entry[7]),
                    )
                    vsis.pop((str(entry[1]), key), None)
                else:
                    changes.append(entry)
            except Exception as err:
                log.error("state journal: skipping an entry: %s", err)
        self._restored = list(vsis.values())
        if changes:
            records = BridgeRecords.from_dict(self._records) if self._records else BridgeRecords()
            try:
                apply_changes(records, changes)
            except Exception as err:
                log.error("state journal: bad record change: %s", err)
            self._records = records.to_dict()

    def state_items(self) -> int:
        n = len(self._restored)
        for iface in self.interfaces.values():
            if isinstance(iface.port, BridgePort):
                n += len(iface.port.vdp)
        return 2 * n  # a VSI and its FDB record

    # --- persistence ----------------------------------------------------------------------------

    def state(self) -> dict[str, Any]:
        vsis = []
        for iface in self.interfaces.values():
            port = iface.port
            if not isinstance(port, BridgePort):
                continue
            vdp = port.vdp
            for key in vdp:
                wire = vdp.wire(key)
                if wire is not None:
                    vsis.append(
                        {"interface": iface.name, "mgrid": key.mgrid.hex(), "tlv": wire.hex()}
                    )
        vsis.extend(
            {"interface": n, "mgrid": m.hex(), "tlv": t.encode().hex()}
            for n, m, t in self._restored
        )
        return {
            "bridge": self.bridge_name,
            "records": self.linux.records.to_dict() if self.linux is not None else self._records,
            "vsis": vsis,
        }

    def restore(self, state: dict[str, Any]) -> None:
        self._records = state.get("records")
        for item in state.get("vsis", ()):
            try:
                self._restored.append(
                    (
                        str(item["interface"]),
                        bytes.fromhex(item["mgrid"]),
                        VsiTlv.decode(bytes.fromhex(item["tlv"])),
                    )
                )
            except Exception as err:
                log.error("state: skipping a VSI record: %s", err)

    # --- control --------------------------------------------------------------------------------

    def handlers(self) -> dict[str, Handler]:
        h = super().handlers()
        h["vsi.list"] = self.h_vsi_list
        h["vsi.deassoc"] = self.h_vsi_deassoc
        h["policy.show"] = self.h_policy_show
        h["policy.set"] = self.h_policy_set
        return h

    async def h_policy_set(self, args: dict[str, Any]) -> dict[str, Any]:
        """Change policy keys at run time, all or none; VSIs the new policy refuses are
        withdrawn (bridge-initiated De-Associate).  Keys as in docs/config.md (policy)."""
        import dataclasses

        settings = args.get("settings")
        if not isinstance(settings, dict) or not settings:
            raise ControlError("bad_args", "settings must be a non-empty object")
        simple: dict[str, type | tuple[type, ...]] = {
            "wildcard_vid": (int, type(None)),
            "refuse_unenforceable": bool,
            "mac_migration": bool,
            "max_vsis_per_port": (int, type(None)),
            "unknown_type_code": int,
        }
        changes: dict[str, Any] = {}
        for key, value in settings.items():
            kind = simple.get(key)
            if kind is None:
                raise ControlError(
                    "bad_args", f"policy key {key!r} cannot be set at run time ({sorted(simple)})"
                )
            if not isinstance(value, kind) or (isinstance(value, bool) and kind is int):
                raise ControlError("bad_args", f"policy key {key!r}: wrong type")
            changes[key] = value
        wv = changes.get("wildcard_vid")
        if wv is not None and not 2 <= wv <= 4094:
            raise ControlError("bad_args", "wildcard_vid must be 2..4094")
        new_cfg = dataclasses.replace(self.config.policy, **changes)
        enforce = bool(self.linux is not None and self.linux.vlan_filtering)
        policy = build_policy(new_cfg, vlan_enforceable=enforce)  # validated: now apply
        self.config = dataclasses.replace(self.config, policy=new_cfg)
        self.policy = policy
        withdrawn = 0
        for iface in self.interfaces.values():
            port = iface.port
            if isinstance(port, BridgePort) and iface.pump is not None:
                before = len(port.vdp)
                port.vdp.policy = policy
                iface.pump.emit(port.revalidate(iface.pump.now()))
                withdrawn += before - len(port.vdp)
        log.info("policy changed (%s); %d VSI(s) withdrawn", ", ".join(changes), withdrawn)
        result = await self.h_policy_show({})
        result["withdrawn"] = withdrawn
        return result

    def _rows(self, iface: Interface) -> list[tuple[Any, dict[str, Any]]]:
        port = iface.port
        if isinstance(port, DraftBridgePort):
            return self._draft_rows(iface.name, port)
        if not isinstance(port, BridgePort):
            return []
        rows = []
        for key in port.vdp:
            tlv = port.vdp.vsi(key)
            if tlv is None:
                continue
            rows.append((key, self._vsi_json(iface.name, key, tlv, port.vdp.state(key).name)))
        return rows

    def _draft_rows(self, name: str, port: DraftBridgePort) -> list[tuple[Any, dict[str, Any]]]:
        """Draft 0.2 profiles (vdp.md §13): 1-octet manager ID, instance UUID, MAC/VLAN."""
        rows: list[tuple[Any, dict[str, Any]]] = []
        for (pname, key), filters in self._draft_filters.items():
            if pname != name:
                continue
            mgrid, type_id, version, instance = key
            rows.append(
                (
                    key,
                    {
                        "interface": name,
                        "variant": "draft",
                        "manager_id": str(mgrid),
                        "type_id": type_id,
                        "type_version": version,
                        "vsiid_format": "uuid",
                        "vsiid": vsiid_text(5, instance),
                        "filter_format": "mac-vid",
                        "filters": [
                            {"vid": f.vid, "mac": mac_str(f.mac) if f.mac else None}
                            for f in filters
                        ],
                        "state": port.vdp.state(key).name,
                    },
                )
            )
        return rows

    @staticmethod
    def _vsi_json(name: str, key: VsiKey, tlv: VsiTlv, state: str) -> dict[str, Any]:
        return {
            "interface": name,
            **vsi_fields(key.mgrid, tlv),
            "state": state,
            "requested_mode": MODE_NAMES.get(int(tlv.mode)),
            "confirmed_mode": MODE_NAMES.get(int(tlv.mode)),
        }

    def vsi_counts(self, iface: Interface) -> dict[str, int]:
        counts: dict[str, int] = {}
        for _, row in self._rows(iface):
            counts[row["state"]] = counts.get(row["state"], 0) + 1
        return counts

    async def h_vsi_list(self, args: dict[str, Any]) -> dict[str, Any]:
        only = self.iface_arg(args, required=False)
        want = args.get("state")
        out: list[dict[str, Any]] = []
        for iface in self.interfaces.values():
            if only is not None and iface is not only:
                continue
            out.extend(r for _, r in self._rows(iface) if want is None or r["state"] == want)
        return {"vsis": out}

    async def h_vsi_deassoc(self, args: dict[str, Any]) -> dict[str, Any]:
        iface = self.iface_arg(args)
        assert iface is not None
        port = self.port_of(iface)
        assert isinstance(port, BridgePort)
        vsiid = args.get("vsiid")
        if not isinstance(vsiid, str):
            raise ControlError("bad_args", "vsiid is required (string)")
        matches = [(k, r) for k, r in self._rows(iface) if r["vsiid"] == vsiid.lower()]
        for field_name in ("manager_id", "type_id", "type_version", "vsiid_format"):
            if field_name in args:
                matches = [(k, r) for k, r in matches if r[field_name] == args[field_name]]
        if not matches:
            raise ControlError("not_found", f"no VSI {vsiid} on {iface.name}")
        if len(matches) > 1:
            raise ControlError("bad_args", "several VSIs match: add manager_id/type_id")
        key, row = matches[0]
        assert iface.pump is not None
        iface.pump.emit(port.withdraw(key, iface.pump.now()))
        row["state"] = "DEASSOCIATED"
        return {"vsi": row}

    async def h_policy_show(self, args: dict[str, Any]) -> dict[str, Any]:
        p = self.config.policy
        return {
            "mode": p.mode,
            "wildcard_vid": p.wildcard_vid,
            "refuse_unenforceable": p.refuse_unenforceable,
            "mac_migration": p.mac_migration,
            "max_vsis_per_port": p.max_vsis_per_port,
            "types": [
                {"type_id": t.type_id, "version": t.version, "vlans": t.vlans} for t in p.types
            ],
            "ports": {
                i.name: {"vsis": len(i.port.vdp) if isinstance(i.port, BridgePort) else 0}
                for i in self.interfaces.values()
            },
            "vlan_enforced": bool(self.linux is not None and self.linux.vlan_filtering),
        }


def _draft_owner_key(key: tuple[int, int, int, bytes]) -> VsiKey:
    """A ratified-style key for a draft profile (owner names of reference-counted VLANs)."""
    mgrid, type_id, version, instance = key
    return VsiKey(
        mgrid=bytes([mgrid]) + bytes(15),
        type_id=type_id,
        type_version=version,
        vsiid_format=5,
        vsiid=instance,
        filter_format=2,
    )


def _label(key: VsiKey) -> str:
    return vsiid_text(int(key.vsiid_format), key.vsiid)


def _ifname(index: int) -> str | None:
    from pyroute2 import IPRoute

    with IPRoute() as ipr:
        links = ipr.link("get", index=index)
        return str(links[0].get("ifname")) if links else None


_ = RemoveReason  # re-exported for handlers that inspect reasons


def main(config_path: str) -> int:
    from qbg.config import load_bridge_config
    from qbg.metrics import setup_logging

    cfg = load_bridge_config(config_path)
    setup_logging(cfg.daemon.log_format, cfg.daemon.log_level)
    return asyncio.run(BridgeDaemon(cfg).run())
