"""``qbg station``: the hypervisor agent.

Registers each VM's VSI (MAC/VLAN and VSI type) with the adjacent bridge through VDP, from the
configuration file and from the control API, keeps them alive, and reports every state change.

Desired state vs. protocol state: the daemon keeps the VSIs it was asked for (``desired``) and
lets the core's per-VSI machines (:class:`~qbg.vdp.station.VdpStation`) run the protocol.  A VSI
from the configuration that ended without the bridge refusing it (response-wait timeout, ECP
gave up, link trouble) is requested again after ``RETRY_S``; a VSI the bridge refused or
withdrew stays ended until asked again.  The desired set is persisted, so a restarted station
re-announces every VSI at once: its requests reach the bridge as keep-alives of known VSIs
(vdp.md §11.2 "known VSI, same mode"), well inside the bridge's supervision time, and nothing is
dropped.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from dataclasses import dataclass, field
from typing import Any

from qbg.config import FILTER_FORMATS, HINTS, VSIID_FORMATS, StationConfig, VsiConfig
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
from qbg.lldp.errors import EncodeError, LocalError
from qbg.lldp.events import Event
from qbg.vdp.draft02 import DraftFilterEntry, DraftVdpTlv
from qbg.vdp.draft_station import DraftProfileConfirmed, DraftProfileEnded
from qbg.vdp.events import (
    DeassocReason,
    VsiAssociated,
    VsiDeassociated,
    VsiKeepaliveRefused,
    VsiPreassociated,
    VsiRefused,
)
from qbg.vdp.filters import FilterEntry
from qbg.vdp.port import DraftStationPort, StationPort
from qbg.vdp.tlv import VsiKey, VsiTlv
from qbg.vdp.vsiid import parse_mgrid, parse_vsiid, vsiid_text

from .table import VsiTable

__all__ = ["StationDaemon", "main"]

log = logging.getLogger("qbg.station")

RETRY_S = 5.0
MODES = {"preassoc": 1, "preassoc-rr": 2, "assoc": 3, "deassoc": 4}
MODE_NAMES = {v: k for k, v in MODES.items()}
HINT_BITS = {"none": 0x00, "to": 0x10, "from": 0x20}
FORMAT_NAMES = {v: k for k, v in FILTER_FORMATS.items()}
VSIID_NAMES = {v: k for k, v in VSIID_FORMATS.items()}


@dataclass
class StationVsi:
    """One VSI the station was asked to register."""

    interface: str
    mgrid: bytes
    tlv: VsiTlv  # requested mode and hint bits
    name: str | None = None
    source: str = "api"  # "config" or "api"
    confirmed: str | None = None  # last confirmed mode name
    filters: tuple[FilterEntry, ...] = ()  # as confirmed by the bridge
    last_status: int | None = None
    ended: str | None = None  # why it ended, while not active
    waiters: list[asyncio.Future[dict[str, Any]]] = field(default_factory=list)

    @property
    def key(self) -> VsiKey:
        return self.tlv.key(self.mgrid)


def vsi_from_config(v: VsiConfig) -> tuple[bytes, VsiTlv]:
    filters = tuple(
        FilterEntry(
            ps=f.ps,
            pcp=f.pcp,
            vid=f.vid,
            mac=None if f.mac is None else bytes.fromhex(f.mac.replace(":", "")),
            group_id=f.group_id,
        )
        for f in v.filters
    )
    tlv = VsiTlv(
        mode=MODES[v.mode],
        status=HINT_BITS[v.hints],
        type_id=v.type_id,
        type_version=v.type_version,
        vsiid_format=VSIID_FORMATS[v.vsiid_format],
        vsiid=v.vsiid_bytes,
        filter_format=FILTER_FORMATS[v.filter_format],
        filters=filters,
    )
    return v.manager_id_bytes, tlv


def draft_tlv(v: StationVsi) -> DraftVdpTlv:
    """The draft 0.2 form of a VSI (vdp.md §13.1): 1-octet manager ID, instance = VSI ID,
    MAC/VLAN entries, mode = ratified type − 1."""
    t = v.tlv
    return DraftVdpTlv(
        mode=int(t.mode) - 1,
        mgrid=v.mgrid[0],
        type_id=t.type_id,
        type_version=t.type_version,
        instance=t.vsiid,
        entries=tuple(DraftFilterEntry(mac=f.mac or bytes(6), vid=f.vid) for f in t.filters),
    )


def org_tlvs(specs: Any, tlv: VsiTlv) -> bytes:
    """Encode vdptool-style org TLV specs (``cisco,vm_name=web1,vm_uuid=UUID,ipv4_addr=A``):
    the Cisco VM name TLV (F1) and L3 address TLV (F2) of vdp.md §8, in that order."""
    import ipaddress
    import uuid as _uuid

    from qbg.vdp.orgtlv import CiscoL3AddressTlv, CiscoVmNameTlv

    if specs is None:
        return b""
    if not isinstance(specs, list) or not all(isinstance(x, str) for x in specs):
        raise ControlError("bad_args", "oui must be a list of strings")
    fields: dict[str, str] = {}
    for spec in specs:
        org, _, rest = spec.partition(",")
        if org.strip().lower() != "cisco":
            raise ControlError("bad_args", f"oui {org!r}: only 'cisco' org TLVs are known")
        for item in filter(None, rest.split(",")):
            key, sep, value = item.partition("=")
            if not sep or key not in ("vm_name", "vm_uuid", "ipv4_addr"):
                raise ControlError("bad_args", f"oui: unknown item {item!r}")
            fields[key] = value
    out = b""
    try:
        if "vm_name" in fields or "vm_uuid" in fields:
            vm_uuid = _uuid.UUID(fields["vm_uuid"]).bytes if "vm_uuid" in fields else tlv.vsiid
            out += CiscoVmNameTlv(
                vsiid_format=tlv.vsiid_format,
                vsiid=tlv.vsiid,
                vm_uuid=vm_uuid,
                name=fields.get("vm_name", "").encode(),
            ).encode()
        if "ipv4_addr" in fields:
            addr = ipaddress.IPv4Address(fields["ipv4_addr"]).packed
            out += CiscoL3AddressTlv(
                vsiid_format=tlv.vsiid_format, vsiid=tlv.vsiid, address=addr
            ).encode()
    except (ValueError, EncodeError) as err:
        raise ControlError("bad_args", f"oui: {err}") from err
    return out


def _arg(args: dict[str, Any], name: str, kind: type | tuple[type, ...], default: Any = ...) -> Any:
    if name not in args or args[name] is None:
        if default is ...:
            raise ControlError("bad_args", f"{name} is required")
        return default
    value = args[name]
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise ControlError("bad_args", f"{name}: wrong type {type(value).__name__}")
    return value


def filters_from_args(fmt: int, raw: Any) -> tuple[FilterEntry, ...]:
    if not isinstance(raw, list) or not raw:
        raise ControlError("bad_args", "filters must be a non-empty list")
    out = []
    for i, f in enumerate(raw):
        if not isinstance(f, dict):
            raise ControlError("bad_args", f"filters[{i}] must be an object")
        unknown = set(f) - {"vid", "ps", "pcp", "mac", "group_id"}
        if unknown:
            raise ControlError("bad_args", f"filters[{i}]: unknown keys {sorted(unknown)}")
        try:
            mac = f.get("mac")
            entry = FilterEntry(
                ps=bool(f.get("ps", False)),
                pcp=int(f.get("pcp", 0)),
                vid=int(f.get("vid", 0)),
                mac=None if mac is None else bytes.fromhex(str(mac).replace(":", "")),
                group_id=None if f.get("group_id") is None else int(f["group_id"]),
            )
        except (ValueError, TypeError, EncodeError) as err:
            raise ControlError("bad_args", f"filters[{i}]: {err}") from err
        needs_mac, needs_gid = fmt in (2, 4), fmt in (3, 4)
        if needs_mac != (entry.mac is not None) or needs_gid != (entry.group_id is not None):
            raise ControlError(
                "bad_args", f"filters[{i}] does not match filter format {FORMAT_NAMES[fmt]}"
            )
        out.append(entry)
    return tuple(out)


def vsi_json(v: StationVsi, state: str | None) -> dict[str, Any]:
    t = v.tlv
    filters = v.filters or t.filters
    hints = {0: "none", 0x10: "to", 0x20: "from"}.get(t.status & 0x30, "none")
    return {
        "interface": v.interface,
        "name": v.name,
        "source": v.source,
        **vsi_fields(v.mgrid, t, filters),
        "state": state or "ENDED",
        "requested_mode": MODE_NAMES.get(int(t.mode), str(int(t.mode))),
        "confirmed_mode": v.confirmed,
        "hints": hints,
        "last_status": v.last_status,
        "ended": v.ended,
    }


class StationDaemon(AgentDaemon):
    role = "station"
    config: StationConfig
    VSI_STATES = ("WAIT_SYSCMD_2", "STATION_PROCWAIT", "TXMIT_KAWAIT", "TXMIT_DEAWAIT", "ENDED")

    def __init__(self, config: StationConfig) -> None:
        super().__init__(config)
        self.vsis = VsiTable()
        for iface in config.interfaces:
            for vc in iface.vsis:
                mgrid, tlv = vsi_from_config(vc)
                v = StationVsi(iface.name, mgrid, tlv, name=vc.name, source="config")
                self.vsis[(iface.name, v.key)] = v

    # --- VM interfaces (optional) ---------------------------------------------------------------

    async def on_start(self) -> None:
        """Create the VEPA macvlan/macvtap of every configured VSI that asks for one."""
        from qbg.netlink import probe_kernel_caps

        wanted = [(i, vc) for i in self.config.interfaces for vc in i.vsis if vc.vm_interface]
        if not wanted:
            return
        caps = await asyncio.to_thread(probe_kernel_caps)
        for iface, vc in wanted:
            vi = vc.vm_interface
            assert vi is not None
            first = vc.filters[0]
            vid = first.vid or None
            if vid is not None and not caps.vlan_8021q:
                log.warning(
                    "%s: VM interface %s for %s: this kernel has no 802.1Q, created UNTAGGED "
                    "(VLAN %d is not applied on the station)",
                    iface.name,
                    vi.name,
                    vc.name,
                    vid,
                )
                vid = None
            await asyncio.to_thread(self._create_vm_interface, iface.name, vc, vid)

    @staticmethod
    def _create_vm_interface(uplink: str, vc: VsiConfig, vid: int | None) -> None:
        from qbg.station.vepa import VepaError, create_vepa

        vi = vc.vm_interface
        assert vi is not None
        try:
            port = create_vepa(
                uplink,
                vi.name,
                kind=vi.create,
                vid=vid,
                mac=vc.filters[0].mac,
                target_netns=vi.netns,
            )
            log.info("%s: created %s %s (VEPA) for %s", uplink, vi.create, port.ifname, vc.name)
        except (VepaError, ValueError, OSError) as err:
            log.error("%s: cannot create VM interface %s for %s: %s", uplink, vi.name, vc.name, err)

    # --- ports and events -----------------------------------------------------------------------

    def make_port(self, iface: Interface, mac: bytes) -> StationPort | DraftStationPort:
        cfg = iface.config
        if cfg.variant == "draft":
            return DraftStationPort(
                iface.name,
                mac,
                evb_config(cfg, EvbRole.STATION),
                port_options(cfg),
                initial_seq=random_seq(),
                rng=random_seq,
            )
        return StationPort(
            iface.name,
            mac,
            evb_config(cfg, EvbRole.STATION),
            port_options(cfg),
            initial_seq=random_seq(),
            rng=random_seq,
        )

    def on_link_up(self, iface: Interface) -> None:
        """Announce every desired VSI of this interface (start-up, restart, link up)."""
        self._announce(iface, [v for v in self.vsis.values() if v.interface == iface.name])

    def _announce(self, iface: Interface, vsis: list[StationVsi]) -> None:
        port = iface.port
        if isinstance(port, DraftStationPort) and iface.pump is not None:
            self._announce_draft(iface, port, vsis)
            return
        if not isinstance(port, StationPort) or iface.pump is None or not vsis:
            return
        pending = [v for v in vsis if v.key not in port.vdp]
        if not pending:
            return
        now = iface.pump.now()
        out, errors = port.commands([(v.mgrid, v.tlv) for v in pending], now)
        iface.pump.emit(out)
        for v, err in zip(pending, errors, strict=True):
            if err is not None:
                v.ended = f"refused locally: {err.code}"
                log.error("%s: VSI %s not requested: %s", iface.name, v.name or "", err)
            else:
                v.ended = None
        log.info("%s: announced %d VSI(s)", iface.name, len(pending) - sum(map(bool, errors)))

    def _announce_draft(
        self, iface: Interface, port: DraftStationPort, vsis: list[StationVsi]
    ) -> None:
        """Draft 0.2 (vdp.md §13): one profile per VSI; modes are the ratified type − 1."""
        assert iface.pump is not None
        for v in vsis:
            dtlv = draft_tlv(v)
            if port.vdp.state(dtlv.key()) is not None:
                continue
            try:
                iface.pump.emit(port.command(dtlv, iface.pump.now()))
                v.ended = None
            except LocalError as err:
                v.ended = f"refused locally: {err.code}"
                log.error("%s: draft profile %s not requested: %s", iface.name, v.name or "", err)

    def _draft_vsi(self, iface: Interface, key: object) -> StationVsi | None:
        for v in self.vsis.values():
            if v.interface == iface.name and draft_tlv(v).key() == key:
                return v
        return None

    def on_port_event(self, iface: Interface, event: Event) -> None:
        if isinstance(event, DraftProfileConfirmed):
            v = self._draft_vsi(iface, event.key)
            if v is not None:
                v.confirmed = {0: "preassoc", 1: "preassoc-rr", 2: "assoc"}.get(event.mode)
                v.last_status, v.ended = 0, None
                log.info("%s: draft profile %s %s", iface.name, self._label(v), v.confirmed)
                self._wake(v, None)
            return
        if isinstance(event, DraftProfileEnded):
            v = self._draft_vsi(iface, event.key)
            if v is not None:
                v.confirmed, v.ended = None, event.reason
                log.warning(
                    "%s: draft profile %s ended: %s", iface.name, self._label(v), event.reason
                )
                self._wake(
                    v,
                    None
                    if event.reason == "station"
                    else ControlError(
                        "refused", f"profile ended: {event.reason}", {"response": event.response}
                    ),
                )
            return
        if isinstance(event, VsiAssociated | VsiPreassociated):
            v = self.vsis.get((iface.name, event.key))
            if v is None:
                return
            v.confirmed = (
                "assoc"
                if isinstance(event, VsiAssociated)
                else ("preassoc-rr" if event.rr else "preassoc")
            )
            v.filters, v.last_status, v.ended = event.filters, 0x40, None
            log.debug("%s: VSI %s %s", iface.name, self._label(v), v.confirmed)
            self._wake(v, None)
        elif isinstance(event, VsiRefused):
            v = self.vsis.get((iface.name, event.key))
            if v is not None:
                v.last_status = 0x40 | (0x20 if event.keep else 0) | (0x10 if event.hard else 0)
                v.last_status |= event.code
                data = {"status": v.last_status, "error": event.code, "keep": event.keep}
                data["hard"] = event.hard
                log.warning("%s: VSI %s refused (code %d)", iface.name, self._label(v), event.code)
                self._wake(v, ControlError("refused", "the bridge refused the request", data))
        elif isinstance(event, VsiKeepaliveRefused):
            v = self.vsis.get((iface.name, event.key))
            if v is not None:
                log.warning(
                    "%s: keep-alive of %s refused (code %d)", iface.name, self._label(v), event.code
                )
        elif isinstance(event, VsiDeassociated):
            self._ended(iface, event)

    def _ended(self, iface: Interface, event: VsiDeassociated) -> None:
        v = self.vsis.get((iface.name, event.key))
        if v is None:
            return
        reason = event.reason
        v.confirmed = None
        v.ended = reason.value
        if reason is DeassocReason.STATION and int(v.tlv.mode) == 4:
            log.info("%s: VSI %s de-associated", iface.name, self._label(v))
            del self.vsis[(iface.name, event.key)]  # its removal was journaled by the request
            self._wake(v, None)
        elif reason in (DeassocReason.TIMEOUT, DeassocReason.TX_REFUSED):
            log.warning(
                "%s: VSI %s: no answer from the bridge (%s)",
                iface.name,
                self._label(v),
                reason.value,
            )
            self._wake(v, ControlError("timeout", "the bridge did not answer in time"))
            if v.source == "config" and self.loop is not None:
                self.loop.call_later(RETRY_S, self._retry, iface, v)
        else:
            log.warning(
                "%s: VSI %s ended: %s (code %d)",
                iface.name,
                self._label(v),
                reason.value,
                event.code,
            )
            if v.waiters:
                self._wake(
                    v,
                    ControlError(
                        "refused",
                        f"VSI ended: {reason.value}",
                        {"status": v.last_status, "error": event.code},
                    ),
                )

    def _retry(self, iface: Interface, v: StationVsi) -> None:
        if self.vsis.get((iface.name, v.key)) is v and v.ended and iface.oper_up:
            self._announce(iface, [v])

    @staticmethod
    def _label(v: StationVsi) -> str:
        return v.name or vsiid_text(int(v.tlv.vsiid_format), v.tlv.vsiid)

    @staticmethod
    def _wake(v: StationVsi, err: ControlError | None) -> None:
        waiters, v.waiters = v.waiters, []
        for fut in waiters:
            if not fut.done():
                if err is None:
                    fut.set_result({})
                else:
                    fut.set_exception(err)

    # --- persistence ----------------------------------------------------------------------------
    #
    # What persists is the desired set: every VSI asked for through the API and not being
    # de-associated (configured VSIs come from the file).  Each change is one journal line
    # written before the request's frames leave (:meth:`_persist`); the whole set is rewritten
    # only when the journal is quiet or long, so a request costs the same at any table size.

    @staticmethod
    def _persisted(v: StationVsi) -> bool:
        return v.source == "api" and int(v.tlv.mode) != 4

    def _persist(self, v: StationVsi) -> None:
        """Journal ``v`` as it now stands: its row if it is desired, else its removal."""
        if v.source != "api":
            return
        row = self.vsis.get((v.interface, v.key)) is v and self._persisted(v)
        tlv = v.tlv.encode().hex()
        if row:
            self.journal(("vsi", v.interface, v.mgrid.hex(), tlv, v.name))
        else:
            self.journal(("vsi-", v.interface, v.mgrid.hex(), tlv))

    def state(self) -> dict[str, Any]:
        return {
            "vsis": [
                {
                    "interface": v.interface,
                    "name": v.name,
                    "mgrid": v.mgrid.hex(),
                    "tlv": v.tlv.encode().hex(),
                }
                for v in self.vsis.values()
                if self._persisted(v)
            ]
        }

    def state_items(self) -> int:
        return sum(1 for v in self.vsis.values() if v.source == "api")

    def _record(self, iface: Any, mgrid: Any, tlv: Any, name: Any) -> StationVsi | None:
        """A persisted VSI (snapshot entry or journal line) back as an API VSI, or ``None``
        for an interface this configuration no longer has.  Raises on damaged fields."""
        iface = str(iface)
        v = StationVsi(
            iface,
            bytes.fromhex(mgrid),
            VsiTlv.decode(bytes.fromhex(tlv)),
            name=name if isinstance(name, str) else None,
            source="api",
        )
        return v if iface in self.interfaces else None

    def restore(self, state: dict[str, Any]) -> None:
        for item in state.get("vsis", ()):
            try:
                v = self._record(item["interface"], item["mgrid"], item["tlv"], item.get("name"))
            except Exception as err:  # a damaged entry: skip it, keep the rest
                log.error("state: skipping a VSI record: %s", err)
                continue
            if v is not None:
                self.vsis.setdefault((v.interface, v.key), v)

    def restore_journal(self, entries: list[Any]) -> None:
        """Replay the lines of :meth:`_persist` onto the restored snapshot, oldest first."""
        for entry in entries:
            try:
                kind = entry[0]
                if kind not in ("vsi", "vsi-"):
                    raise ValueError(f"unknown entry kind {kind!r}")
                name = entry[4] if kind == "vsi" and len(entry) > 4 else None
                v = self._record(entry[1], entry[2], entry[3], name)
            except Exception as err:  # a damaged line: skip it, keep the rest
                log.error("state journal: skipping an entry: %s", err)
                continue
            if v is None:
                continue
            slot = (v.interface, v.key)
            old = self.vsis.get(slot)
            if kind == "vsi-":
                if old is not None and old.source == "api":
                    del self.vsis[slot]
            elif old is None or old.source == "api":
                self.vsis[slot] = v

    # --- control --------------------------------------------------------------------------------

    def handlers(self) -> dict[str, Handler]:
        h = super().handlers()
        h["vsi.list"] = self.h_vsi_list
        for mode in ("preassoc", "preassoc-rr", "assoc", "deassoc"):
            h["vsi." + mode.replace("-", "_")] = self._mode_handler(mode)
        h["vsi.assoc_many"] = self.h_assoc_many
        return h

    async def h_assoc_many(self, args: dict[str, Any]) -> dict[str, Any]:
        """Many VSI requests in one call: they share ECPDUs from the first one on (vdp.md §2).

        ``args``: ``interface``, ``vsis`` (list of VSI objects as for ``vsi.assoc``), ``mode``
        (default ``assoc``), ``wait`` (default true: reply when every VSI was answered).
        Result: ``{"vsis": [VSI...], "errors": [null | {"code", "message"}...]}``.  Every VSI is
        validated before anything is sent; local refusals are reported per VSI.
        """
        iface = self.iface_arg(args)
        assert iface is not None
        port = self.port_of(iface)
        assert isinstance(port, StationPort)
        mode = _arg(args, "mode", str, "assoc")
        if mode not in ("preassoc", "preassoc-rr", "assoc"):
            raise ControlError("bad_args", "mode must be preassoc, preassoc-rr or assoc")
        items = _arg(args, "vsis", list)
        if not items or len(items) > 100_000:
            raise ControlError("bad_args", "vsis must hold 1..100000 VSI objects")
        wait = _arg(args, "wait", bool, True)
        requests = []
        for i, item in enumerate(items):
            if not isinstance(item, dict):
                raise ControlError("bad_args", f"vsis[{i}] must be an object")
            try:
                requests.append(self._tlv_from_args(mode, item))
            except ControlError as err:
                raise ControlError(err.code, f"vsis[{i}]: {err.message}") from err
        if not iface.oper_up or iface.pump is None:
            raise ControlError("ENODEV", f"{iface.name}: link is down")
        out, errors = port.commands(requests, iface.pump.now())
        loop = asyncio.get_running_loop()
        records: list[StationVsi] = []
        futures = []
        for (mgrid, tlv), refused in zip(requests, errors, strict=True):
            key = tlv.key(mgrid)
            v = self.vsis.get((iface.name, key))
            if v is None:
                v = StationVsi(iface.name, mgrid, tlv, source="api")
                if refused is None:
                    self.vsis[(iface.name, key)] = v
            records.append(v)
            if refused is None:
                self._persist(v)
                if wait:
                    fut: asyncio.Future[dict[str, Any]] = loop.create_future()
                    v.waiters.append(fut)
                    futures.append(fut)
        self.flush_journal()
        iface.pump.emit(out)
        if futures:
            timeout = port.vdp.resp_wait_us / 1e6 * 2 + 5.0
            done, _ = await asyncio.wait(futures, timeout=timeout)
            for fut in done:
                fut.exception()  # retrieved: the per-VSI state below tells the outcome
        return {
            "vsis": [vsi_json(v, self._state_of(v)) for v in records],
            "errors": [
                None if e is None else {"code": e.code, "message": e.reason} for e in errors
            ],
        }

    def _state_of(self, v: StationVsi) -> str | None:
        iface = self.interfaces.get(v.interface)
        port = iface.port if iface else None
        if isinstance(port, DraftStationPort):
            dst = port.vdp.state(draft_tlv(v).key())
            return None if dst is None else dst.name
        if not isinstance(port, StationPort):
            return None
        st = port.vdp.state(v.key)
        return None if st is None else st.name

    def vsi_counts(self, iface: Interface) -> dict[str, int]:
        counts: dict[str, int] = {}
        for v in self.vsis.values():
            if v.interface == iface.name:
                s = self._state_of(v) or "ENDED"
                counts[s] = counts.get(s, 0) + 1
        return counts

    async def h_vsi_list(self, args: dict[str, Any]) -> dict[str, Any]:
        only = self.iface_arg(args, required=False)
        want = _arg(args, "state", str, None)
        rows = []
        for v in self.vsis.values():
            if only is not None and v.interface != only.name:
                continue
            row = vsi_json(v, self._state_of(v))
            if want is None or row["state"] == want:
                rows.append(row)
        return {"vsis": rows}

    def _mode_handler(self, mode: str) -> Handler:
        async def handler(args: dict[str, Any]) -> dict[str, Any]:
            return await self.vsi_request(mode, args)

        return handler

    def _find(self, iface: Interface, args: dict[str, Any]) -> StationVsi | None:
        return self.vsis.find(iface.name, _arg(args, "vsiid", str))

    def _tlv_from_args(self, mode: str, args: dict[str, Any]) -> tuple[bytes, VsiTlv]:
        try:
            mgrid = parse_mgrid(str(_arg(args, "manager_id", (str, int))))
            vfmt_name = _arg(args, "vsiid_format", str, "uuid")
            if vfmt_name not in VSIID_FORMATS:
                raise ControlError("bad_args", f"vsiid_format must be one of {list(VSIID_FORMATS)}")
            vfmt = VSIID_FORMATS[vfmt_name]
            vsiid = parse_vsiid(vfmt, _arg(args, "vsiid", str))
            ffmt_name = _arg(args, "filter_format", str, "mac-vid")
            if ffmt_name not in FILTER_FORMATS:
                raise ControlError(
                    "bad_args", f"filter_format must be one of {list(FILTER_FORMATS)}"
                )
            ffmt = FILTER_FORMATS[ffmt_name]
            hints = _arg(args, "hints", str, "none")
            if hints not in HINTS:
                raise ControlError("bad_args", f"hints must be one of {list(HINTS)}")
            tlv = VsiTlv(
                mode=MODES[mode],
                status=HINT_BITS[hints],
                type_id=_arg(args, "type_id", int),
                type_version=_arg(args, "type_version", int),
                vsiid_format=vfmt,
                vsiid=vsiid,
                filter_format=ffmt,
                filters=filters_from_args(ffmt, args.get("filters")),
            )
        except (EncodeError, ValueError) as err:
            raise ControlError("bad_args", str(err)) from err
        return mgrid, tlv

    async def vsi_request(self, mode: str, args: dict[str, Any]) -> dict[str, Any]:
        iface = self.iface_arg(args)
        assert iface is not None
        port = self.port_of(iface)
        if isinstance(port, DraftStationPort):
            return await self._draft_request(iface, port, mode, args)
        assert isinstance(port, StationPort)
        wait = _arg(args, "wait", bool, True)
        name = _arg(args, "name", str, None)
        existing = self._find(iface, args) if "vsiid" in args else None
        if mode == "deassoc" and existing is not None and "filters" not in args:
            mgrid, tlv = existing.mgrid, existing.tlv
        else:
            mgrid, tlv = self._tlv_from_args(mode, args)
        tlv = dataclasses.replace(tlv, mode=MODES[mode])
        if not iface.oper_up or iface.pump is None:
            raise ControlError("ENODEV", f"{iface.name}: link is down")
        key = tlv.key(mgrid)
        v = self.vsis.get((iface.name, key))
        org = org_tlvs(args.get("oui"), tlv)
        out = port.command(mgrid, tlv, iface.pump.now(), org=org)  # LocalError → its code
        if v is None:
            v = StationVsi(iface.name, mgrid, tlv, name=name, source="api")
            self.vsis[(iface.name, key)] = v
        else:
            v.tlv = dataclasses.replace(v.tlv, mode=tlv.mode)
        v.ended = None
        fut: asyncio.Future[dict[str, Any]] | None = None
        if wait:
            fut = asyncio.get_running_loop().create_future()
            v.waiters.append(fut)
        # The desired set changed: persist it before anything goes on the wire, so a SIGKILL
        # right after this request cannot lose the VSI.
        self._persist(v)
        self.flush_journal()
        iface.pump.emit(out)
        if fut is not None:
            timeout = port.vdp.resp_wait_us / 1e6 + 5.0
            try:
                await asyncio.wait_for(fut, timeout)
            except TimeoutError as err:
                raise ControlError("timeout", "no answer within the response wait") from err
        return {"vsi": vsi_json(v, self._state_of(v))}

    async def _draft_request(
        self, iface: Interface, port: DraftStationPort, mode: str, args: dict[str, Any]
    ) -> dict[str, Any]:
        existing = self._find(iface, args) if "vsiid" in args else None
        if mode == "deassoc" and existing is not None and "filters" not in args:
            mgrid, tlv = existing.mgrid, existing.tlv
        else:
            mgrid, tlv = self._tlv_from_args(mode, args)
        tlv = dataclasses.replace(tlv, mode=MODES[mode])
        if not iface.oper_up or iface.pump is None:
            raise ControlError("ENODEV", f"{iface.name}: link is down")
        key = tlv.key(mgrid)
        v = self.vsis.get((iface.name, key)) or StationVsi(iface.name, mgrid, tlv, source="api")
        v.tlv = dataclasses.replace(v.tlv, mode=tlv.mode)
        out = port.command(draft_tlv(v), iface.pump.now())
        self.vsis[(iface.name, key)] = v
        fut: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        v.waiters.append(fut)
        self._persist(v)
        self.flush_journal()
        iface.pump.emit(out)
        if _arg(args, "wait", bool, True):
            try:
                await asyncio.wait_for(fut, 10.0)
            except TimeoutError as err:
                raise ControlError("timeout", "no answer within the response wait") from err
        if mode == "deassoc" and self.vsis.get((iface.name, key)) is v:
            del self.vsis[(iface.name, key)]  # its removal was journaled above
        return {"vsi": vsi_json(v, self._state_of(v))}


def main(config_path: str) -> int:
    from qbg.config import load_station_config
    from qbg.metrics import setup_logging

    cfg = load_station_config(config_path)
    setup_logging(cfg.daemon.log_format, cfg.daemon.log_level)
    return asyncio.run(StationDaemon(cfg).run())
