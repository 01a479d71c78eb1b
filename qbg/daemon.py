"""The asyncio runtime both agents share: ports on raw links, link events, control, metrics.

One :class:`AgentDaemon` runs one role.  Per configured interface it keeps an
:class:`Interface`: the sans-IO port of the core (:class:`~qbg.vdp.port.StationPort` or
:class:`~qbg.vdp.port.BridgePort`), an AF_PACKET :class:`~qbg.link.RawLink` and a
:class:`~qbg.pump.Pump` that moves frames and time between them.  rtnetlink link events
(:class:`~qbg.netlink.LinkMonitor`) open the link when the interface appears, reset the port's
machines on oper-down and resume them on oper-up.  The control socket answers the commands of
docs/control.md; the role subclasses add theirs and react to the port events.

Bad input never stops the daemon: undecodable frames come back from the core as
``FrameDropped`` events (counted by reason and logged at debug level), control requests are
validated before anything changes, and an exception in an event handler is logged and counted.
On SIGTERM/SIGINT every port sends its LLDP shutdown PDU and the state is saved.

Persistence: both roles append each change to the state journal (:meth:`journal`) before the
frames that follow from it leave (the bridge, ``JOURNAL``: written by the pump before the frames
of the same step; the station: by the API request before its VDP request) and rewrite the
whole state only after ``COMPACT_IDLE_S`` without changes (environment ``QBG_STATE_COMPACT_S``
overrides it, for tests) or when the journal grows long.

LLDP transport per interface (docs/lldpd.md): ``own`` runs the core's LLDP agent on the raw
link; ``lldpd`` creates the port with ``lldp_external`` and a :class:`~qbg.lldpd.LldpdClient`:
the port's :class:`~qbg.evb.port.EvbAdvertise` events are published as lldpd custom TLVs, and
the peer TLVs lldpd reports go into the port through the pump (``evb_peer``), so negotiation,
ECP and VDP run exactly as with our own agent.  ECP/VDP stay on our raw sockets.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import gc
import logging
import os
import secrets
import signal
import time
from collections import Counter as TallyCounter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from . import __version__
from .config import BridgeConfig, DaemonConfig, InterfaceConfig, StationConfig
from .control import ControlError, ControlServer
from .evb.ecp import EcpGaveUp
from .evb.negotiation import EvbConfig, EvbRole, EvbVariant
from .evb.port import EvbAdvertise, EvbNegotiated, EvbPeerLost
from .lldp.agent import NeighborAdded, NeighborAged, NeighborDeleted
from .lldp.events import Event, FrameDropped
from .lldp.tlv import Lldpdu
from .lldpd import LldpdClient
from .metrics import Counter, MetricsServer, QbgMetrics
from .netlink import LinkEvent, LinkMonitor, aget_link
from .pump import Pump
from .store import StateStore
from .vdp.port import BridgePort, DraftBridgePort, DraftStationPort, PortOptions, StationPort
from .vdp.station import VdpStation

__all__ = ["AgentDaemon", "Interface", "evb_config", "port_options", "vsi_fields"]

log = logging.getLogger("qbg.daemon")

Handler = Callable[[dict[str, Any]], Awaitable[Any]]
AnyPort = StationPort | BridgePort | DraftStationPort | DraftBridgePort


def evb_config(iface: InterfaceConfig, role: EvbRole) -> EvbConfig:
    """The core's EVB policy for one configured interface."""
    e = iface.evb
    draft = iface.variant == "draft"
    return EvbConfig(
        role=role,
        variant=EvbVariant.DRAFT if draft else EvbVariant.STD,
        rrreq=e.rr,
        rrcap=e.rr,
        gid=e.gid,
        r=e.r,
        rte=e.rte,
        rwd=e.rwd,
        rka=e.rka,
        vsis=e.vsis,
    )


def port_options(iface: InterfaceConfig) -> PortOptions:
    return PortOptions(
        mtu=iface.ecp.mtu,
        min_gap_ms=iface.ecp.min_gap_ms,
        lldpad_compatible_pacing=iface.ecp.lldpad_compatible_pacing,
        vdp_hold=iface.vdp.hold_until_evb_s,
        batch_replies=iface.vdp.batch,
        strict_error_codes=iface.vdp.strict_error_codes,
        lldp_external=iface.lldp.transport == "lldpd",
    )


def evb_tlv_key(iface: InterfaceConfig) -> tuple[int, int]:
    """(OUI, subtype) of the EVB TLV this interface sends and accepts."""
    return (0x001B3F, 0x00) if iface.variant == "draft" else (0x0080C2, 0x0D)


def random_seq() -> int:
    """A random non-zero ECP sequence number (ecp.md §3.3: a fresh space on every start)."""
    return secrets.randbelow(0xFFFF) + 1


@dataclass
class Interface:
    """One configured interface at run time."""

    config: InterfaceConfig
    port: AnyPort | None = None
    link: Any = None  # RawLink, imported lazily (needs AF_PACKET)
    pump: Pump | None = None
    oper_up: bool = False
    present: bool = False
    drops: TallyCounter[str] = field(default_factory=TallyCounter)
    error: str | None = None
    lldpd: LldpdClient | None = None  # transport lldpd only

    @property
    def name(self) -> str:
        return self.config.name


class AgentDaemon:
    """Shared daemon machinery; subclasses set ``role`` and build their ports."""

    role = "station"

    def __init__(self, config: StationConfig | BridgeConfig) -> None:
        self.config = config
        self.dconf: DaemonConfig = config.daemon
        self.interfaces: dict[str, Interface] = {
            i.name: Interface(config=i) for i in config.interfaces
        }
        self.metrics = QbgMetrics()
        self.store = StateStore(self.dconf.state_file, kind=self.role)
        self.store.compact = self.JOURNAL
        self.started = time.monotonic()
        self.loop: asyncio.AbstractEventLoop | None = None
        self._stop = asyncio.Event()
        self._monitor: LinkMonitor | None = None
        self._control: ControlServer | None = None
        self._metrics_server: MetricsServer | None = None
        self._save_handle: asyncio.TimerHandle | None = None
        self._jbuf: list[Any] = []  # journal entries not yet written
        self._compact_handle: asyncio.TimerHandle | None = None
        self._last_change = 0.0
        self._snapshot_items = 0
        self._child: tuple[int, int, int, int, int | None] | None = None  # snapshot writer
        # QBG_STATE_COMPACT_S: the quiet time before a journaled state is rewritten (tests)
        self.compact_idle_s = float(os.environ.get("QBG_STATE_COMPACT_S", self.COMPACT_IDLE_S))
        self.handler_errors = 0
        self.exit_code = 0
        self._seen_totals: dict[tuple[Any, ...], int] = {}  # core counters already exported
        self.metrics.registry.add_collector(self._collect)

    # --- to be provided by the roles ------------------------------------------------------------

    def make_port(self, iface: Interface, mac: bytes) -> AnyPort:
        raise NotImplementedError

    def on_port_event(self, iface: Interface, event: Event) -> None:
        """Role-specific reaction to a core event (after the common bookkeeping)."""

    def state(self) -> dict[str, Any]:
        """What to persist (JSON-safe)."""
        return {}

    def restore(self, state: dict[str, Any]) -> None:
        """Take back what :meth:`state` returned before a restart."""

    #: Roles that set this have the pump write the queued journal entries (:meth:`journal`)
    #: before the frames of the same step leave (events first); the others flush them
    #: themselves.  Either way the whole state is rewritten only when the journal is quiet or
    #: long (:meth:`StateStore.append`).
    JOURNAL = False
    COMPACT_IDLE_S = 0.2  # snapshot once no change was journaled for this long

    def restore_journal(self, entries: list[Any]) -> None:
        """Replay journal entries (:meth:`journal`) onto what :meth:`restore` took back."""

    def state_items(self) -> int:
        """About how many journal entries the state amounts to (compaction threshold)."""
        return 0

    def handlers(self) -> dict[str, Handler]:
        return {
            "status": self.h_status,
            "neighbors": self.h_neighbors,
        }

    async def on_start(self) -> None:
        """After state was restored, before interfaces come up."""

    async def on_stop(self) -> None:
        """After the shutdown PDUs went out, before the state is saved."""

    def on_link_up(self, iface: Interface) -> None:
        """The port's machines were (re)started."""

    # --- life cycle -----------------------------------------------------------------------------

    async def run(self) -> int:
        self.loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            self.loop.add_signal_handler(sig, self._on_signal, sig)
        try:
            state = self.store.load()
        except Exception as err:  # StateCorrupt: refuse to start on unreadable state
            log.error("state file: %s", err)
            return 2
        self.restore(state)
        journal = self.store.journal()
        if journal:
            self.restore_journal(journal)
            log.info("state: %d journal entries replayed", len(journal))
        self.metrics.up.set(1, role=self.role)
        await self.on_start()
        self._control = ControlServer(
            self.dconf.control_socket,
            self.handlers(),
            allowed_uids=self.dconf.control_allowed_uids,
            on_reject=lambda code: self.metrics.control_rejected.inc(code=code),
        )
        await self._control.start()
        if self.dconf.metrics is not None:
            m = self.dconf.metrics
            self._metrics_server = MetricsServer(self.metrics.registry, host=m.host, port=m.port)
            await self._metrics_server.start()
        self._monitor = LinkMonitor(self._on_link_event, ifnames=list(self.interfaces))
        await self._monitor.start()
        for iface in self.interfaces.values():
            info = await aget_link(iface.name)
            if info is None:
                log.warning("%s: interface not present; waiting for it", iface.name)
                continue
            self._attach(iface, info.mac, info.oper_up)
        log.info(
            "qbg %s %s started: %s (control %s)",
            self.role,
            __version__,
            ", ".join(self.interfaces),
            self.dconf.control_socket,
        )
        # Everything built so far (imports, pyroute2, configuration: a few hundred thousand
        # objects) lives as long as the daemon; a full collection walking it takes ~30 ms,
        # more than ten ECP ack timers at RTE 8.  Frozen, collections see only newer objects.
        gc.collect()
        gc.freeze()
        await self._stop.wait()
        await self._shutdown()
        return self.exit_code

    def _on_signal(self, sig: signal.Signals) -> None:
        log.info("received %s", sig.name)
        self.stop()

    def stop(self) -> None:
        self._stop.set()

    async def _shutdown(self) -> None:
        log.info("stopping")
        for iface in self.interfaces.values():
            if iface.port is not None and iface.pump is not None and iface.oper_up:
                with contextlib.suppress(Exception):
                    iface.pump.emit(iface.port.shutdown(iface.pump.now()))
        clients = [i.lldpd for i in self.interfaces.values() if i.lldpd is not None]
        if clients:
            await asyncio.gather(*(c.close() for c in clients), return_exceptions=True)
        await self.on_stop()
        self.save_now()
        if self._monitor is not None:
            await self._monitor.stop()
        if self._control is not None:
            await self._control.close()
        if self._metrics_server is not None:
            await self._metrics_server.close()
        for iface in self.interfaces.values():
            if iface.pump is not None:
                iface.pump.close()
            if iface.link is not None:
                iface.link.close()
        self.metrics.up.set(0, role=self.role)

    # --- interfaces -----------------------------------------------------------------------------

    def _attach(self, iface: Interface, mac: bytes, oper_up: bool) -> None:
        from .link import RawLink

        iface.present = True
        if iface.port is None or iface.port.mac != mac:
            iface.port = self.make_port(iface, mac)
            iface.pump = Pump(
                iface.port,
                self._sender(iface),
                self._handler(iface),
                self.loop,
                events_first=self.JOURNAL,
                before_send=self.flush_journal if self.JOURNAL else None,
            )
        if iface.config.lldp.transport == "lldpd" and iface.lldpd is None:
            self._start_lldpd(iface)
        if iface.link is None:
            try:
                iface.link = RawLink(iface.name).open()
            except OSError as err:
                iface.error = f"cannot open raw socket: {err}"
                log.error("%s: %s", iface.name, iface.error)
                return
            pump = iface.pump
            assert pump is not None
            iface.link.start(lambda frame, now: self._receive(iface, frame, now), self.loop)
        iface.error = None
        if oper_up and not iface.oper_up:
            self._up(iface)

    def _start_lldpd(self, iface: Interface) -> None:
        sock = iface.config.lldp.socket
        assert sock is not None  # the config parser requires it with transport lldpd
        key = evb_tlv_key(iface.config)

        def on_peer(k: tuple[int, int], info: bytes | None, reason: str) -> None:
            port, pump = iface.port, iface.pump
            if k != key or port is None or pump is None or not iface.oper_up:
                return
            pump.emit(port.evb_peer(info, pump.now(), reason=reason))

        iface.lldpd = LldpdClient(sock, iface.name, on_peer, watch=(key,))
        iface.lldpd.start()

    def _sender(self, iface: Interface) -> Callable[[bytes], object]:
        def send(frame: bytes) -> None:
            link = iface.link
            proto = _proto(frame)
            if link is None or not link.send(frame):
                self.metrics.errors.inc(interface=iface.name, kind="send")
                return
            self.metrics.frames_tx.inc(interface=iface.name, protocol=proto)

        return send

    def _receive(self, iface: Interface, frame: bytes, now: float) -> None:
        self.metrics.frames_rx.inc(interface=iface.name, protocol=_proto(frame))
        if iface.pump is not None:
            iface.pump.feed(frame, now)

    def _handler(self, iface: Interface) -> Callable[[Event], None]:
        def handle(event: Event) -> None:
            self._common_event(iface, event)
            try:
                self.on_port_event(iface, event)
            except Exception:
                self.handler_errors += 1
                self.metrics.errors.inc(interface=iface.name, kind="handler")
                log.exception("%s: handling %s failed", iface.name, type(event).__name__)

        return handle

    def _up(self, iface: Interface) -> None:
        assert iface.port is not None and iface.pump is not None
        iface.oper_up = True
        log.info("%s: link up", iface.name)
        iface.pump.emit(iface.port.link_up(iface.pump.now(), random_seq()))
        client = iface.lldpd
        if client is not None:
            client.resync()
            info = client.peer.get(evb_tlv_key(iface.config))
            if info is not None:  # what lldpd already knows of the peer
                iface.pump.emit(iface.port.evb_peer(info, iface.pump.now()))
        self.on_link_up(iface)

    def _down(self, iface: Interface) -> None:
        iface.oper_up = False
        log.warning("%s: link down; machines reset", iface.name)
        if iface.port is not None and iface.pump is not None:
            iface.pump.emit(iface.port.link_down(iface.pump.now()))

    def _on_link_event(self, ev: LinkEvent) -> None:
        iface = self.interfaces.get(ev.link.ifname)
        if iface is None:
            return
        if ev.kind == "added" or (
            ev.kind == "changed" and ev.link.mac != getattr(iface.port, "mac", None)
        ):
            if iface.link is not None and ev.kind == "changed":
                iface.link.close()
                iface.link = None
            self._attach(iface, ev.link.mac, ev.link.oper_up)
        elif ev.kind == "up":
            if iface.link is None:
                self._attach(iface, ev.link.mac, True)
            elif not iface.oper_up:
                self._up(iface)
        elif ev.kind == "down":
            if iface.oper_up:
                self._down(iface)
        elif ev.kind == "removed":
            if iface.oper_up:
                self._down(iface)
            iface.present = False
            if iface.link is not None:
                iface.link.close()
                iface.link = None
            log.warning("%s: interface removed", iface.name)

    # --- events common to both roles ------------------------------------------------------------

    def _common_event(self, iface: Interface, event: Event) -> None:
        name = iface.name
        if isinstance(event, FrameDropped):
            reason = f"{event.error.layer}"
            iface.drops[reason] += 1
            self.metrics.frames_dropped.inc(interface=name, reason=reason)
            log.debug("%s: dropped frame: %s", name, event.error)
        elif isinstance(event, EvbNegotiated):
            n = event.negotiated
            self.metrics.evb_rr.set(1 if n.rr_enabled else 0, interface=name)
            self.metrics.set_evb_state(
                name, "negotiated" if n.peer_seen else "local", ("local", "negotiated")
            )
            log.info(
                "%s: EVB %s: R %d RTE %d RWD %d RKA %d, reflective relay %s%s",
                name,
                "negotiated" if n.peer_seen else "local values",
                n.r,
                n.rte,
                n.rwd,
                n.rka,
                "on" if n.rr_enabled else "off",
                " (peer claims our role!)" if n.role_conflict else "",
            )
        elif isinstance(event, EvbPeerLost):
            log.warning("%s: EVB peer lost (%s)", name, event.reason)
        elif isinstance(event, EvbAdvertise):
            if iface.lldpd is not None:
                tlv = event.tlv
                iface.lldpd.publish(
                    evb_tlv_key(iface.config), None if tlv is None else tlv.encode_info()
                )
        elif isinstance(event, NeighborAdded):
            self.metrics.lldp_neighbors.set(1, interface=name)
        elif isinstance(event, NeighborAged | NeighborDeleted):
            self.metrics.lldp_neighbors.set(0, interface=name)
        elif isinstance(event, EcpGaveUp):
            self.metrics.ecp_giveups.inc(interface=name)
            log.warning("%s: ECP gave up on seq %#06x", name, event.seq)

    # --- metrics --------------------------------------------------------------------------------

    VSI_STATES: tuple[str, ...] = ()

    def _collect(self) -> None:
        """Refresh the per-port series at scrape time (counters advance by the core's deltas)."""
        for iface in self.interfaces.values():
            self.metrics.set_vsi_counts(iface.name, self.vsi_counts(iface), self.VSI_STATES)
            port = iface.port
            if port is None:
                continue
            m, name = self.metrics, iface.name
            self._advance(m.ecp_retransmits, port.ecp.stats.retransmissions, interface=name)
            vdp = port.vdp
            if isinstance(vdp, VdpStation):  # a ratified-VDP station
                st = vdp.stats
                self._advance(m.vdp_resends, st.resends, interface=name)
                self._advance(m.vdp_losses, st.wire_losses, interface=name, cause="wire")
                bridge = st.lost_pdus + st.partial_pdus
                self._advance(m.vdp_losses, bridge, interface=name, cause="bridge")
                m.vdp_window.set(vdp.window, interface=name)

    def _advance(self, counter: Counter, total: int, **labels: str) -> None:
        """Move ``counter`` on to the core's running ``total`` (the core counts, we export)."""
        key = (counter.name, *sorted(labels.items()))
        delta = total - self._seen_totals.get(key, 0)
        if delta > 0:
            counter.inc(delta, **labels)
        self._seen_totals[key] = total

    # --- persistence ----------------------------------------------------------------------------

    def save_soon(self, delay: float = 0.2) -> None:
        """Coalesce state writes: at most one every ``delay`` seconds."""
        if self.loop is None or self._save_handle is not None:
            return
        self._save_handle = self.loop.call_later(delay, self.save_now)

    def save_now(self) -> None:
        if self._save_handle is not None:
            self._save_handle.cancel()
            self._save_handle = None
        if self._compact_handle is not None:
            self._compact_handle.cancel()
            self._compact_handle = None
        self._wait_child()  # an older snapshot must not land after this one
        self._jbuf.clear()  # the snapshot holds what they said
        try:
            self.store.save(self.state())
            self._snapshot_items = self.state_items()
        except OSError as err:
            self.metrics.errors.inc(interface="", kind="state-save")
            log.error("cannot save state to %s: %s", self.dconf.state_file, err)

    def journal(self, *entries: Any) -> None:
        """Queue journal entries; they are written by :meth:`flush_journal`, which the pump
        calls before the frames of the same step are sent."""
        self._jbuf.extend(entries)

    def flush_journal(self) -> None:
        """Write the queued journal entries (one ``write()``), then plan a compaction."""
        if not self._jbuf:
            return
        entries, self._jbuf = self._jbuf, []
        try:
            self.store.append(entries)
        except (OSError, TypeError, ValueError) as err:
            self.metrics.errors.inc(interface="", kind="state-save")
            log.error("cannot append to the state journal of %s: %s", self.dconf.state_file, err)
            self.save_soon()  # fall back to a whole snapshot
            return
        if self.loop is None:
            return
        self._last_change = self.loop.time()
        limit = max(20_000, 2 * self._snapshot_items)
        if self.store.journal_entries > limit:
            self.loop.call_soon(self._compact)  # not inside the caller's step
        elif self._compact_handle is None:
            self._compact_handle = self.loop.call_later(self.compact_idle_s, self._compact)

    def _compact(self) -> None:
        """Rewrite the state once the journal has been quiet for ``COMPACT_IDLE_S`` (or is
        long); a busy period is not interrupted by snapshots of a large state."""
        self._compact_handle = None
        if self.loop is None or not self.store.journal_entries:
            return
        quiet = self.loop.time() - self._last_change
        limit = max(20_000, 2 * self._snapshot_items)
        if quiet < self.compact_idle_s and self.store.journal_entries <= limit:
            self._compact_handle = self.loop.call_later(self.compact_idle_s - quiet, self._compact)
            return
        if self.compaction_blocked() or self._child is not None:
            self._compact_handle = self.loop.call_later(self.compact_idle_s, self._compact)
            return
        self._fork_snapshot()

    # A snapshot of 100,000 VSIs takes the best part of a second to build and encode: in the
    # event loop that would stall every port (ECP gives up after 4 ack timers).  A forked child
    # gets a copy-on-write image of the state at this instant, writes it and exits; the loop
    # goes on after the fork (milliseconds).  The journal is rotated just before, so the
    # snapshot covers exactly the older generations, which go once the child succeeded.

    def _fork_snapshot(self) -> None:
        assert self.loop is not None
        generation, before = self.store.rotate()
        items = self.state_items()
        try:
            pid = os.fork()
        except OSError as err:
            self.store.journal_entries += before
            log.warning("cannot fork a snapshot writer (%s): saving in the loop", err)
            self.save_now()
            return
        if pid == 0:  # the child: no loop, no logging (locks of other threads), no exit hooks
            code = 1
            try:
                signal.set_wakeup_fd(-1)
                for sig in (signal.SIGTERM, signal.SIGINT):
                    signal.signal(sig, signal.SIG_DFL)
                self.store.write_snapshot(self.store.encode_snapshot(self.state(), generation))
                code = 0
            finally:
                os._exit(code)
        fd: int | None = None
        try:
            fd = os.pidfd_open(pid)
            self.loop.add_reader(fd, self._child_done)
        except (AttributeError, OSError):
            fd = None
            self.loop.call_later(0.05, self._child_done)
        self._child = (pid, generation, before, items, fd)

    def _child_done(self, *, block: bool = False) -> None:
        child = self._child
        if child is None:
            return
        pid, generation, before, items, fd = child
        try:
            done, status = os.waitpid(pid, 0 if block else os.WNOHANG)
        except ChildProcessError:
            done, status = pid, 1 << 8
        if done == 0:
            if fd is None and self.loop is not None:
                self.loop.call_later(0.05, self._child_done)
            return
        self._child = None
        if fd is not None:
            if self.loop is not None:
                self.loop.remove_reader(fd)
            os.close(fd)
        code = os.waitstatus_to_exitcode(status)
        if code == 0:
            self.store.retire(generation)
            self._snapshot_items = items
            return
        self.store.journal_entries += before  # the journal still has it all
        self.metrics.errors.inc(interface="", kind="state-save")
        log.error("state snapshot writer exited with %d; the journal keeps everything", code)
        if self.loop is not None and self._compact_handle is None:
            self._compact_handle = self.loop.call_later(
                max(1.0, self.compact_idle_s), self._compact
            )

    def _wait_child(self) -> None:
        if self._child is not None:
            self._child_done(block=True)

    def compaction_blocked(self) -> bool:
        """Whether the state cannot be snapshot right now (the bridge: kernel work in a
        worker thread is changing its records)."""
        return False

    # --- control handlers -----------------------------------------------------------------------

    def iface_arg(self, args: dict[str, Any], required: bool = True) -> Interface | None:
        name = args.get("interface")
        if name is None:
            if required:
                raise ControlError("bad_args", "interface is required")
            return None
        if not isinstance(name, str):
            raise ControlError("bad_args", "interface must be a string")
        iface = self.interfaces.get(name)
        if iface is None:
            raise ControlError("not_found", f"no interface {name!r} in this daemon's config")
        return iface

    def port_of(self, iface: Interface) -> AnyPort:
        if iface.port is None:
            raise ControlError("ENODEV", f"{iface.name}: interface not present")
        return iface.port

    def vsi_counts(self, iface: Interface) -> dict[str, int]:
        return {}

    async def h_status(self, args: dict[str, Any]) -> dict[str, Any]:
        from .netlink import probe_kernel_caps

        caps = await asyncio.to_thread(probe_kernel_caps)
        out = []
        for iface in self.interfaces.values():
            port = iface.port
            n = port.negotiated if port is not None else None
            evb: dict[str, Any] = {"state": "down"}
            if n is not None and iface.oper_up:
                evb = {
                    "state": "negotiated" if n.peer_seen else "waiting",
                    "rr": n.rr_enabled,
                    "r": n.r,
                    "rte": n.rte,
                    "rwd": n.rwd,
                    "rka": n.rka,
                    "gid": n.group_ids,
                }
            entry: dict[str, Any] = {
                "name": iface.name,
                "variant": iface.config.variant,
                "link": "up" if iface.oper_up else "down",
                "present": iface.present,
                "lldp": (
                    iface.lldpd.status()
                    if iface.lldpd is not None
                    else {"transport": "own", "health": "ok"}
                    if iface.config.lldp.transport == "own"
                    else {
                        "transport": "lldpd",
                        "socket": iface.config.lldp.socket,
                        "health": "waiting for the interface",
                    }
                ),
                "evb": evb,
                "vsis": self.vsi_counts(iface),
                "drops": dict(iface.drops),
            }
            if iface.error:
                entry["error"] = iface.error
            if port is not None:
                s = port.ecp.stats
                entry["ecp"] = {
                    "sent": s.requests_sent,
                    "retransmits": s.retransmissions,
                    "give_ups": s.give_ups,
                    "received": s.requests_received,
                    "duplicates": s.duplicates,
                }
                entry["vdp"] = vdp_status(port.vdp)
            out.append(entry)
        return {
            "role": self.role,
            "version": __version__,
            "pid": os.getpid(),
            "uptime_s": round(time.monotonic() - self.started, 3),
            "kernel": {
                "bridge_vlan_filtering": caps.bridge_vlan_filtering,
                "vlan_8021q": caps.vlan_8021q,
                "warnings": self.kernel_warnings(caps),
            },
            "interfaces": out,
        }

    def kernel_warnings(self, caps: Any) -> list[str]:
        return []

    async def h_neighbors(self, args: dict[str, Any]) -> dict[str, Any]:
        only = self.iface_arg(args, required=False)
        rows = []
        for iface in self.interfaces.values():
            if only is not None and iface is not only:
                continue
            port = iface.port
            if port is None:
                continue
            if iface.lldpd is not None:
                nb = iface.lldpd.neighbor
                if nb is not None:
                    peer = port.evb.peer
                    rows.append(
                        {
                            "interface": iface.name,
                            "via": "lldpd",
                            "chassis_id": nb.chassis_id,
                            "port_id": nb.port_id,
                            "ttl": nb.ttl,
                            "expires_in_s": None,
                            "evb": _evb_json(peer) if peer is not None else None,
                        }
                    )
                continue
            pdu: Lldpdu | None = port.evb.agent.neighbor
            if pdu is None:
                continue
            peer = port.evb.peer
            rows.append(
                {
                    "interface": iface.name,
                    "chassis_id": _id_text(pdu.chassis_id),
                    "port_id": _id_text(pdu.port_id),
                    "ttl": pdu.ttl,
                    "expires_in_s": _expires(port),
                    "evb": _evb_json(peer) if peer is not None else None,
                }
            )
        return {"neighbors": rows}


def vsi_fields(mgrid: bytes, tlv: Any, filters: Any = None) -> dict[str, Any]:
    """The identity and filter part of a VSI object of docs/control.md (both roles)."""
    from .config import FILTER_FORMATS, VSIID_FORMATS
    from .lldp.frame import mac_str
    from .vdp.vsiid import mgrid_text, vsiid_text

    vfmt, ffmt = int(tlv.vsiid_format), int(tlv.filter_format)
    vnames = {v: k for k, v in VSIID_FORMATS.items()}
    fnames = {v: k for k, v in FILTER_FORMATS.items()}
    return {
        "manager_id": mgrid_text(mgrid),
        "type_id": tlv.type_id,
        "type_version": tlv.type_version,
        "vsiid_format": vnames.get(vfmt, str(vfmt)),
        "vsiid": vsiid_text(vfmt, tlv.vsiid),
        "filter_format": fnames.get(ffmt, str(ffmt)),
        "filters": [
            {
                "vid": f.vid,
                "ps": f.ps,
                "pcp": f.pcp,
                **({"mac": mac_str(f.mac)} if f.mac is not None else {}),
                **({"group_id": f.group_id} if f.group_id is not None else {}),
            }
            for f in (tlv.filters if filters is None else filters)
        ],
    }


def _proto(frame: bytes) -> str:
    if len(frame) < 14:
        return "short"
    et = (frame[12] << 8) | frame[13]
    return {0x88CC: "lldp", 0x8940: "ecp", 0x88B7: "ecp-draft"}.get(et, "other")


def _id_text(tlv: Any) -> str:
    from .lldp.tlv import ChassisIdTlv
    from .pcapjson import id_text

    return id_text(tlv.subtype, tlv.value, 4 if isinstance(tlv, ChassisIdTlv) else 3)


def _expires(port: AnyPort) -> float | None:
    """Seconds until the stored neighbour information ages out (rxTTL)."""
    nb = getattr(port.evb.agent, "_neighbor", None)
    if nb is None:
        return None
    return max(0.0, round(float(nb.expires_us) / 1e6 - asyncio.get_running_loop().time(), 1))


def _evb_json(tlv: Any) -> dict[str, Any]:
    from .pcapjson import evb_json

    return evb_json(tlv)


def vdp_status(vdp: Any) -> dict[str, int]:
    """The VDP machine's counters for ``status``; a station adds its learned pace: ``window``
    (requests allowed unanswered), ``batch`` (most VSI TLVs per VDPDU) and ``outstanding``."""
    stats = getattr(vdp, "stats", None)  # the draft 0.2 machines keep none
    out = {k: int(v) for k, v in dataclasses.asdict(stats).items()} if stats is not None else {}
    if isinstance(vdp, VdpStation):  # as in _collect
        out.update(window=vdp.window, batch=vdp.batch, outstanding=vdp.outstanding)
    return out
