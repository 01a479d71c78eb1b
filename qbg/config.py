"""YAML configuration of both daemons → frozen dataclasses, with file:line:field errors.

The daemons refuse to start on a bad configuration and never apply half of one, so everything is
checked here, before any value reaches a port: types, ranges, unknown keys (with a "did you
mean"), and the cross-field rules of the handbook (one EVB variant per interface, VID 0 only alone
in format 1, VID 1/4095 refused, MACs neither zero nor multicast, group filter formats only with
GroupID support, exponents ≥ 28 only when explicitly allowed: interop-lldpad.md Q-T3).

Strategy: the document is *composed* (``yaml.compose``), not loaded, so every mapping, sequence
and scalar keeps its position; a small reader (:class:`_Map`) walks the node tree with the
declared keys of each section and converts scalars itself.  Every failure becomes one
:class:`ConfigError` whose text reads ``station.yaml:12: interfaces[0].evb.rte: expected an
integer 0..31, got 'fast'``.  Nothing else escapes :func:`load_config_text` (property-tested).

The schema is documented key by key in ``docs/config.md``; ``examples/`` has complete files.
"""

from __future__ import annotations

import difflib
import ipaddress
import re
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, NoReturn, TypeVar, cast

import yaml

from qbg.lldp.errors import QbgError
from qbg.vdp.vsiid import parse_mgrid  # the text forms of vdp.md §3: one implementation

__all__ = [
    "BridgeConfig",
    "ConfigError",
    "DaemonConfig",
    "EcpOptions",
    "EvbParams",
    "FilterConfig",
    "InterfaceConfig",
    "LldpConfig",
    "MetricsConfig",
    "PolicyConfig",
    "RateLimit",
    "StationConfig",
    "VdpOptions",
    "VmInterfaceConfig",
    "VsiConfig",
    "VsiTypeConfig",
    "check_config",
    "load_bridge_config",
    "load_config_text",
    "load_station_config",
    "parse_mac",
    "parse_mgrid",
    "parse_vsiid",
]

Role = Literal["station", "bridge"]
T = TypeVar("T")

MAX_CONFIG_BYTES = 4 * 1024 * 1024
_MAX_NODES = 200_000

VSIID_FORMATS = {"ipv4": 1, "ipv6": 2, "mac": 3, "local": 4, "uuid": 5}
FILTER_FORMATS = {"vid": 1, "mac-vid": 2, "group-vid": 3, "group-mac-vid": 4}
# Bytes per filter entry (vdp.md §7.1): the VSI TLV is 25 + N·E octets and at most 511.
_ENTRY_SIZE = {1: 2, 2: 8, 3: 6, 4: 12}
MODES = ("preassoc", "preassoc-rr", "assoc")
HINTS = ("none", "to", "from")


class ConfigError(QbgError):
    """A configuration that cannot be used, located as ``file:line: field: reason``."""

    def __init__(self, file: str, line: int, field: str, reason: str) -> None:
        super().__init__(f"{file}:{line}: {field}: {reason}")
        self.file = file
        self.line = line
        self.field = field
        self.reason = reason


# --- values ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class LldpConfig:
    """Who speaks LLDP on the interface: qbg's own agent, or an lldpd over its socket."""

    transport: Literal["own", "lldpd"] = "own"
    socket: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class EvbParams:
    """Local EVB TLV policy (evb-tlv.md §3; qbg defaults).

    ``rr`` is RRREQ on a station and RRCAP on a bridge; ``gid`` is SGID/BGID.  For the draft
    variant only ``rte``, ``rr`` and ``vsis`` apply (evb-tlv.md §4).
    """

    r: int = 3
    rte: int = 8
    rwd: int = 20
    rka: int = 20
    rr: bool = True
    gid: bool = False
    vsis: int = 3295
    allow_large_exponents: bool = False

    @property
    def rrreq(self) -> bool:
        return self.rr

    @property
    def rrcap(self) -> bool:
        return self.rr


@dataclass(frozen=True, slots=True, kw_only=True)
class EcpOptions:
    """Per-port ECP transmit options (ecp.md §3.2, §3.5)."""

    mtu: int = 1500
    lldpad_compatible_pacing: bool = False
    min_gap_ms: float = 3.0


@dataclass(frozen=True, slots=True, kw_only=True)
class VdpOptions:
    """Per-port VDP options; station-only and bridge-only ones keep their defaults elsewhere."""

    batch: bool = True  # station: several VSI TLVs per VDPDU (vdp.md §2)
    hold_until_evb_s: float = 10.0  # station: wait for the bridge's EVB TLV (evb-tlv.md §2.7)
    hints_per_command: bool = False  # station: honour hints on every command (vdp.md §10.2)
    deassociate_on_stop: bool = False  # station: De-Associate all on daemon stop (§10.3)
    strict_error_codes: bool = False  # bridge: 0x41/0x45 instead of 0x42 (vdp.md §11.2)


@dataclass(frozen=True, slots=True, kw_only=True)
class FilterConfig:
    """One filter entry; ``ps`` is set exactly when a ``pcp`` was configured."""

    vid: int
    ps: bool = False
    pcp: int = 0
    mac: str | None = None
    group_id: int | None = None

    @property
    def mac_bytes(self) -> bytes | None:
        return None if self.mac is None else bytes.fromhex(self.mac.replace(":", ""))


@dataclass(frozen=True, slots=True, kw_only=True)
class VmInterfaceConfig:
    """A VM-side interface the station creates for the VSI (macvlan/macvtap in VEPA mode)."""

    create: Literal["macvlan", "macvtap"]
    name: str
    netns: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class VsiConfig:
    """A VSI the station brings up at start (text forms kept, wire octets precomputed)."""

    name: str
    manager_id: str
    manager_id_bytes: bytes
    type_id: int
    type_version: int
    vsiid_format: str
    vsiid: str
    vsiid_bytes: bytes
    filter_format: str
    filters: tuple[FilterConfig, ...]
    mode: str = "assoc"
    hints: str = "none"
    vm_interface: VmInterfaceConfig | None = None

    @property
    def vsiid_format_code(self) -> int:
        return VSIID_FORMATS[self.vsiid_format]

    @property
    def filter_format_code(self) -> int:
        return FILTER_FORMATS[self.filter_format]

    def key(self) -> tuple[bytes, int, int, int, bytes, int]:
        """The six-field VSI key of vdp.md §7.4."""
        return (
            self.manager_id_bytes,
            self.type_id,
            self.type_version,
            self.vsiid_format_code,
            self.vsiid_bytes,
            self.filter_format_code,
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class InterfaceConfig:
    """One port: EVB variant, LLDP transport, EVB/ECP/VDP options and (station) its VSIs."""

    name: str
    variant: Literal["std", "draft"] = "std"
    lldp: LldpConfig = LldpConfig()
    evb: EvbParams = EvbParams()
    ecp: EcpOptions = EcpOptions()
    vdp: VdpOptions = VdpOptions()
    vsis: tuple[VsiConfig, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class MetricsConfig:
    """Prometheus endpoint; ``None`` listen address means disabled."""

    host: str
    port: int


@dataclass(frozen=True, slots=True, kw_only=True)
class DaemonConfig:
    """Settings of the process itself (files, sockets, logging, metrics)."""

    state_file: str
    control_socket: str
    control_allowed_uids: tuple[int, ...] = (0,)
    log_format: Literal["human", "json"] = "human"
    log_level: str = "info"
    metrics: MetricsConfig | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class RateLimit:
    """Token bucket per port: ``requests_per_s`` sustained, ``burst`` at once."""

    requests_per_s: float
    burst: int


@dataclass(frozen=True, slots=True, kw_only=True)
class VsiTypeConfig:
    """One VSI type database entry (mirrors ``qbg.vdp.policy.VsiType``)."""

    type_id: int
    version: int | None = None  # None: every version
    vlans: tuple[tuple[int, int], ...] | None = None  # inclusive ranges; None: any VID
    wildcard_vid: int | None = None
    group_vids: tuple[tuple[int, int], ...] = ()  # (GroupID, VID)
    pcp: int | None = None
    mac_prefixes: tuple[str, ...] = ()  # "02:aa:00" (whole octets)
    macs: tuple[str, ...] = ()
    max_vsis_per_port: int | None = None
    enforceable: bool = True

    def vlan_set(self) -> frozenset[int] | None:
        if self.vlans is None:
            return None
        return frozenset(v for lo, hi in self.vlans for v in range(lo, hi + 1))


@dataclass(frozen=True, slots=True, kw_only=True)
class PolicyConfig:
    """Bridge resource policy (vdp.md §11.2): allow-all or a VSI type database."""

    mode: Literal["allow_all", "type_db"] = "allow_all"
    wildcard_vid: int | None = None  # allow_all: VID given to wildcards (None: echo 0)
    types: tuple[VsiTypeConfig, ...] = ()
    unknown_type_code: int = 4
    refuse_unenforceable: bool = False
    mac_migration: bool = False
    max_vsis_per_port: int | None = None
    rate_limit: RateLimit | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class StationConfig:
    """Everything ``qbg station`` needs."""

    source: str
    daemon: DaemonConfig
    interfaces: tuple[InterfaceConfig, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class BridgeConfig:
    """Everything ``qbg bridge`` needs."""

    source: str
    daemon: DaemonConfig
    interfaces: tuple[InterfaceConfig, ...]
    policy: PolicyConfig = PolicyConfig()
    linux_bridge: str | None = None
    lock_ports: bool = False  # learning off + unknown-unicast flooding off on our ports


# --- text forms shared with the CLI -----------------------------------------------------------

_MAC_RE = re.compile(r"[0-9A-Fa-f]{2}([:-]?)[0-9A-Fa-f]{2}(\1[0-9A-Fa-f]{2}){4}")
_HEX = re.compile(r"[0-9A-Fa-f]+")
_IFNAME = re.compile(r"[^\s/:]{1,15}")
_V4_PREFIX = bytes(10) + b"\xff\xff"


def parse_mac(text: str) -> bytes:
    """Six octets from ``aa:bb:cc:dd:ee:ff``, ``aa-bb-…`` or ``aabbccddeeff``."""
    text = text.strip()
    if not _MAC_RE.fullmatch(text):
        raise ValueError(f"not a MAC address: {text!r}")
    return bytes.fromhex(re.sub("[:-]", "", text))


def _mac_str(mac: bytes) -> str:
    return ":".join(f"{b:02x}" for b in mac)


def parse_vsiid(fmt: str, text: str) -> bytes:
    """VSI ID octets (vdp.md §6), checked as strictly as a sender should (all-zero refused)."""
    s = text.strip()
    if fmt == "uuid":
        raw = uuid.UUID(s).bytes
        if not any(raw[:8]):
            raise ValueError("the first 8 octets of a UUID must not all be zero (lldpad refuses)")
    elif fmt == "ipv4":
        raw = _V4_PREFIX + ipaddress.IPv4Address(s).packed
        if not any(raw[12:]):
            raise ValueError("0.0.0.0 is not a VSI ID")
    elif fmt == "ipv6":
        raw = ipaddress.IPv6Address(s).packed
        if not any(raw):
            raise ValueError(":: is not a VSI ID")
    elif fmt == "mac":
        mac = parse_mac(s)
        _check_unicast(mac)
        raw = bytes(10) + mac
    else:
        digits = re.sub(r"[\s:.-]", "", s)
        if len(digits) != 32 or not _HEX.fullmatch(digits):
            raise ValueError("expected 32 hex digits")
        raw = bytes.fromhex(digits)
    return raw


def _check_unicast(mac: bytes) -> None:
    if not any(mac):
        raise ValueError("the all-zero MAC is not allowed")
    if mac[0] & 1:
        raise ValueError("a multicast/broadcast MAC is not allowed")


# --- the node reader ------------------------------------------------------------------------


class _Ctx:
    """Per-document state: the file name for messages and a node budget (alias bombs)."""

    def __init__(self, file: str) -> None:
        self.file = file
        self.nodes = 0
        self.constructor = yaml.SafeLoader("")

    def fail(self, node: yaml.Node | None, field: str, reason: str) -> NoReturn:
        line = node.start_mark.line + 1 if node is not None else 1
        raise ConfigError(self.file, line, field or "(top level)", reason)

    def count(self, node: yaml.Node) -> None:
        self.nodes += 1
        if self.nodes > _MAX_NODES:
            self.fail(node, "(document)", f"more than {_MAX_NODES} YAML nodes (alias expansion?)")


def _show(node: yaml.Node) -> str:
    if isinstance(node, yaml.ScalarNode):
        v = node.value
        return repr(v if len(v) <= 40 else v[:37] + "...")
    return "a mapping" if isinstance(node, yaml.MappingNode) else "a list"


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


class _Map:
    """A YAML mapping with a declared key set; getters convert and check one field each."""

    def __init__(
        self,
        ctx: _Ctx,
        node: yaml.Node,
        path: str,
        keys: Sequence[str],
        hints: dict[str, str] | None = None,
    ) -> None:
        ctx.count(node)
        if not isinstance(node, yaml.MappingNode):
            ctx.fail(node, path, f"expected a mapping, got {_show(node)}")
        self.ctx, self.node, self.path = ctx, node, path
        self.items: dict[str, tuple[yaml.Node, yaml.Node]] = {}
        for knode, vnode in node.value:
            ctx.count(knode)
            if not isinstance(knode, yaml.ScalarNode) or knode.tag != "tag:yaml.org,2002:str":
                ctx.fail(knode, path, f"keys must be plain names, got {_show(knode)}")
            key = knode.value
            if key in self.items:
                ctx.fail(knode, _join(path, key), "duplicate key")
            if key not in keys:
                hint = (hints or {}).get(key)
                if hint is None:
                    close = difflib.get_close_matches(key, keys, n=1)
                    hint = (
                        f"did you mean {close[0]!r}?"
                        if close
                        else "expected one of " + ", ".join(keys)
                    )
                ctx.fail(knode, _join(path, key), f"unknown key; {hint}")
            self.items[key] = (knode, vnode)

    def has(self, key: str) -> bool:
        return key in self.items

    def where(self, key: str) -> tuple[yaml.Node, str]:
        """The node to blame for ``key`` (its value, or the mapping when absent) and its path."""
        item = self.items.get(key)
        return (item[1] if item else self.node), _join(self.path, key)

    def fail(self, key: str, reason: str) -> NoReturn:
        node, path = self.where(key)
        self.ctx.fail(node, path, reason)

    def _value(self, key: str, expected: str, required: bool) -> tuple[yaml.Node | None, Any]:
        item = self.items.get(key)
        if item is None:
            if required:
                self.ctx.fail(self.node, _join(self.path, key), f"required, expected {expected}")
            return None, None
        node = item[1]
        self.ctx.count(node)
        if not isinstance(node, yaml.ScalarNode):
            self.ctx.fail(node, _join(self.path, key), f"expected {expected}, got {_show(node)}")
        try:
            value = self.ctx.constructor.construct_object(node, deep=True)
        except (yaml.YAMLError, ValueError, TypeError, OverflowError) as exc:
            self.ctx.fail(node, _join(self.path, key), f"unreadable value ({exc})")
        return node, value

    def is_null(self, key: str) -> bool:
        item = self.items.get(key)
        return item is not None and item[1].tag == "tag:yaml.org,2002:null"

    def integer(
        self,
        key: str,
        default: int | None = None,
        lo: int = 0,
        hi: int = 2**63,
        required: bool = False,
    ) -> int:
        expected = f"an integer {lo}..{hi}"
        node, v = self._value(key, expected, required or default is None)
        if node is None:
            assert default is not None
            return default
        if isinstance(v, bool) or not isinstance(v, int) or not lo <= v <= hi:
            self.ctx.fail(node, _join(self.path, key), f"expected {expected}, got {_show(node)}")
        return v

    def opt_integer(self, key: str, lo: int = 0, hi: int = 2**63) -> int | None:
        if not self.has(key) or self.is_null(key):
            return None
        return self.integer(key, lo=lo, hi=hi, required=True)

    def number(self, key: str, default: float, lo: float = 0.0, hi: float = 1e9) -> float:
        expected = f"a number {lo:g}..{hi:g}"
        node, v = self._value(key, expected, False)
        if node is None:
            return default
        if isinstance(v, bool) or not isinstance(v, int | float) or not lo <= v <= hi:
            self.ctx.fail(node, _join(self.path, key), f"expected {expected}, got {_show(node)}")
        return float(v)

    def boolean(self, key: str, default: bool) -> bool:
        node, v = self._value(key, "true or false", False)
        if node is None:
            return default
        if not isinstance(v, bool):
            self.ctx.fail(node, _join(self.path, key), f"expected true or false, got {_show(node)}")
        return v

    def string(self, key: str, default: str | None = None, required: bool = False) -> str:
        """A string; plain numbers are taken as written (``manager_id: 12``, MACs, hex IDs)."""
        node, v = self._value(key, "a string", required or default is None)
        if node is None:
            assert default is not None
            return default
        if v is None or isinstance(v, bool) or not isinstance(v, str | int | float):
            self.ctx.fail(
                node, _join(self.path, key), f"expected a string, got {_show(node)} (quote it)"
            )
        text: str = node.value
        if not text.strip():
            self.ctx.fail(node, _join(self.path, key), "expected a non-empty string")
        return text.strip()

    def opt_string(self, key: str) -> str | None:
        if not self.has(key) or self.is_null(key):
            return None
        return self.string(key, required=True)

    def choice(self, key: str, choices: Sequence[str], default: str | None = None) -> str:
        node, v = self._value(key, "one of " + ", ".join(choices), default is None)
        if node is None:
            assert default is not None
            return default
        text = node.value if isinstance(v, str | int) and not isinstance(v, bool) else None
        if text not in choices:
            close = difflib.get_close_matches(str(node.value), choices, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            self.ctx.fail(
                node,
                _join(self.path, key),
                f"expected one of {', '.join(choices)}, got {_show(node)}{hint}",
            )
        return str(text)

    def seq(self, key: str, required: bool = False) -> list[tuple[yaml.Node, str]]:
        """The items of a sequence with their paths (``key[i]``); absent or null → []."""
        item = self.items.get(key)
        if item is None or item[1].tag == "tag:yaml.org,2002:null":
            if required:
                self.ctx.fail(self.node, _join(self.path, key), "required, expected a list")
            return []
        node = item[1]
        self.ctx.count(node)
        if not isinstance(node, yaml.SequenceNode):
            self.ctx.fail(node, _join(self.path, key), f"expected a list, got {_show(node)}")
        base = _join(self.path, key)
        return [(n, f"{base}[{i}]") for i, n in enumerate(node.value)]

    def sub(self, key: str, keys: Sequence[str], hints: dict[str, str] | None = None) -> _Map:
        """A sub-mapping (absent or null reads as empty, so all its defaults apply)."""
        item = self.items.get(key)
        if item is None or item[1].tag == "tag:yaml.org,2002:null":
            empty = yaml.MappingNode(
                "tag:yaml.org,2002:map", [], self.node.start_mark, self.node.end_mark
            )
            return _Map(self.ctx, empty, _join(self.path, key), keys)
        return _Map(self.ctx, item[1], _join(self.path, key), keys, hints)


def _scalar_text(ctx: _Ctx, node: yaml.Node, path: str, expected: str) -> str:
    ctx.count(node)
    if not isinstance(node, yaml.ScalarNode) or node.tag == "tag:yaml.org,2002:null":
        ctx.fail(node, path, f"expected {expected}, got {_show(node)}")
    return str(node.value).strip()


def _parsed(
    ctx: _Ctx, node: yaml.Node, path: str, parse: Callable[[str], T], text: str, what: str
) -> T:
    try:
        return parse(text)
    except ValueError as exc:
        ctx.fail(node, path, f"expected {what}, got {text!r}: {exc}")


# --- sections -------------------------------------------------------------------------------


_DAEMON_KEYS = ("state_file", "control_socket", "control_allowed_uids", "log", "metrics")


def _daemon(m: _Map, role: Role) -> DaemonConfig:
    d = m.sub("daemon", _DAEMON_KEYS)
    uids: list[int] = []
    if d.has("control_allowed_uids"):
        for node, path in d.seq("control_allowed_uids"):
            text = _scalar_text(d.ctx, node, path, "a uid")
            if not text.isdigit() or int(text) > 2**32 - 1:
                d.ctx.fail(node, path, f"expected a uid 0..4294967295, got {text!r}")
            uids.append(int(text))
        if not uids:
            d.fail("control_allowed_uids", "expected at least one uid (root is 0)")
    log = d.sub("log", ("format", "level"))
    fmt = log.choice("format", ("human", "json"), "human")
    level = log.choice("level", ("debug", "info", "warning", "error"), "info")
    metrics = None
    mm = d.sub("metrics", ("listen", "allow_non_loopback"))
    allow_any = mm.boolean("allow_non_loopback", False)
    listen = mm.opt_string("listen")
    if listen is not None:
        node, path = mm.where("listen")
        host, port = _parsed(
            d.ctx, node, path, _host_port, listen, "HOST:PORT, e.g. 127.0.0.1:9488"
        )
        if not allow_any and not _is_loopback(host):
            d.ctx.fail(
                node, path, f"{host} is not a loopback address (set allow_non_loopback: true)"
            )
        metrics = MetricsConfig(host=host, port=port)
    return DaemonConfig(
        state_file=d.string("state_file", f"/var/lib/qbg/{role}.state.json"),
        control_socket=d.string("control_socket", f"/run/qbg/{role}.sock"),
        control_allowed_uids=tuple(uids) or (0,),
        log_format=fmt,  # type: ignore[arg-type]
        log_level=level,
        metrics=metrics,
    )


def _host_port(text: str) -> tuple[str, int]:
    m = re.fullmatch(r"\[([0-9A-Fa-f:.]+)\]:(\d{1,5})|([^:\s\[\]]+):(\d{1,5})", text)
    if not m:
        raise ValueError("no port")
    host = m.group(1) or m.group(3)
    port = int(m.group(2) or m.group(4))
    if port > 65535:
        raise ValueError("port outside 0..65535")
    return host, port


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


_IF_KEYS = {
    "station": ("name", "variant", "lldp", "evb", "ecp", "vdp", "vsis"),
    "bridge": ("name", "variant", "lldp", "evb", "ecp", "vdp"),
}
_EVB_KEYS = {
    "station": ("r", "rte", "rwd", "rka", "rrreq", "gid", "vsis", "allow_large_exponents"),
    "bridge": ("r", "rte", "rwd", "rka", "rrcap", "gid", "vsis", "allow_large_exponents"),
}
_VDP_KEYS = {
    "station": ("batch", "hold_until_evb_s", "hints_per_command", "deassociate_on_stop"),
    "bridge": ("strict_error_codes",),
}
_ROLE_HINTS = {
    "rrcap": "rrcap is a bridge setting; a station requests reflective relay with rrreq",
    "rrreq": "rrreq is a station setting; a bridge offers reflective relay with rrcap",
    "vsis": "VSIs are configured on stations only (the bridge learns them from VDP)",
    "strict_error_codes": "strict_error_codes is a bridge setting",
}
_DRAFT_ONLY = ("vsis",)
_STD_ONLY = ("r", "rwd", "rka", "gid")


def _interface(ctx: _Ctx, node: yaml.Node, path: str, role: Role) -> InterfaceConfig:
    m = _Map(ctx, node, path, _IF_KEYS[role], _ROLE_HINTS)
    name = m.string("name", required=True)
    if not _IFNAME.fullmatch(name) or name in (".", ".."):
        m.fail(
            "name",
            f"expected a Linux interface name (1..15 characters, no '/', ':' or blanks), "
            f"got {name!r}",
        )
    variant = m.choice("variant", ("std", "draft"), "std")

    lm = m.sub("lldp", ("transport", "socket"))
    transport = lm.choice("transport", ("own", "lldpd"), "own")
    sock = lm.opt_string("socket")
    if transport == "lldpd" and sock is None:
        lm.fail("socket", "required with transport lldpd (lldpd's control socket path)")
    if transport == "own" and sock is not None:
        lm.fail("socket", "only used with transport lldpd")
    lldp = LldpConfig(transport=transport, socket=sock)  # type: ignore[arg-type]

    rr_key = "rrreq" if role == "station" else "rrcap"
    em = m.sub("evb", _EVB_KEYS[role], _ROLE_HINTS)
    for key in _STD_ONLY if variant == "draft" else _DRAFT_ONLY:
        if em.has(key):
            em.fail(key, f"not used by the {variant} variant (one EVB variant per interface)")
    large = em.boolean("allow_large_exponents", False)
    top = 31 if large else 27
    exp_why = (
        "" if large else " (exponents ≥ 28 overflow lldpad's timers; allow_large_exponents: true)"
    )

    def exp(key: str, default: int) -> int:
        node, _ = em.where(key)
        v = em.integer(key, default, 0, 31)
        if v > top:
            ctx.fail(node, _join(em.path, key), f"expected an integer 0..{top}, got {v}{exp_why}")
        return v

    evb = EvbParams(
        r=em.integer("r", 3, 0, 7),
        rte=exp("rte", 8 if variant == "std" else 15),
        rwd=exp("rwd", 20),
        rka=exp("rka", 20),
        rr=em.boolean(rr_key, True),
        gid=em.boolean("gid", False),
        vsis=em.integer("vsis", 3295, 0, 65535),
        allow_large_exponents=large,
    )

    cm = m.sub("ecp", ("mtu", "lldpad_compatible_pacing", "min_gap_ms"))
    ecp = EcpOptions(
        mtu=cm.integer("mtu", 1500, 128, 9216),
        lldpad_compatible_pacing=cm.boolean("lldpad_compatible_pacing", False),
        min_gap_ms=cm.number("min_gap_ms", 3.0, 0.0, 10_000.0),
    )
    vm = m.sub("vdp", _VDP_KEYS[role], _ROLE_HINTS)
    vdp = VdpOptions(
        batch=vm.boolean("batch", True),
        hold_until_evb_s=vm.number("hold_until_evb_s", 10.0, 0.0, 3600.0),
        hints_per_command=vm.boolean("hints_per_command", False),
        deassociate_on_stop=vm.boolean("deassociate_on_stop", False),
        strict_error_codes=vm.boolean("strict_error_codes", False),
    )
    vsis: list[VsiConfig] = []
    keys: dict[tuple[bytes, int, int, int, bytes, int], str] = {}
    for i, (vnode, vpath) in enumerate(m.seq("vsis")):
        vsi = _vsi(ctx, vnode, vpath, name, i, variant, evb.gid)
        if vsi.key() in keys:
            ctx.fail(
                vnode,
                vpath,
                f"same VSI (manager, type, version, VSI ID, filter format) as {keys[vsi.key()]}",
            )
        keys[vsi.key()] = vpath
        vsis.append(vsi)
    return InterfaceConfig(
        name=name,
        variant=cast(Literal["std", "draft"], variant),
        lldp=lldp,
        evb=evb,
        ecp=ecp,
        vdp=vdp,
        vsis=tuple(vsis),
    )


_VSI_KEYS = (
    "name", "manager_id", "type_id", "type_version", "vsiid_format", "vsiid", "filter_format",
    "filters", "mode", "hints", "vm_interface",
)  # fmt: skip


def _vsi(
    ctx: _Ctx, node: yaml.Node, path: str, ifname: str, index: int, variant: str, gid: bool
) -> VsiConfig:
    m = _Map(ctx, node, path, _VSI_KEYS)
    mgr_text = m.string("manager_id", required=True)
    mnode, mpath = m.where("manager_id")
    mgr = _parsed(ctx, mnode, mpath, parse_mgrid, mgr_text, "a VSI manager ID")
    if variant == "draft" and (any(mgr[1:]) or not mgr_text.isdigit()):
        m.fail(
            "manager_id",
            f"the draft variant carries a 1-octet manager ID: expected 0..255, got {mgr_text!r}",
        )
    type_id = m.integer("type_id", lo=0, hi=0xFFFFFF, required=True)
    type_version = m.integer("type_version", lo=0, hi=255, required=True)
    vfmt = m.choice("vsiid_format", tuple(VSIID_FORMATS), "uuid")
    if variant == "draft" and vfmt != "uuid":
        m.fail("vsiid_format", "the draft variant supports only uuid")
    vtext = m.string("vsiid", required=True)
    vnode, vpath = m.where("vsiid")
    vsiid = _parsed(
        ctx, vnode, vpath, lambda t: parse_vsiid(vfmt, t), vtext, f"a VSI ID of format {vfmt}"
    )
    ffmt = m.choice("filter_format", tuple(FILTER_FORMATS), "mac-vid")
    code = FILTER_FORMATS[ffmt]
    if variant == "draft" and ffmt != "mac-vid":
        m.fail("filter_format", "the draft variant supports only mac-vid")
    if code in (3, 4) and not gid:
        m.fail("filter_format", f"{ffmt} needs GroupID support: set evb.gid: true on the interface")
    filters = [_filter(ctx, n, p, code, variant) for n, p in m.seq("filters", required=True)]
    if not filters:
        m.fail("filters", "expected at least one filter entry")
    limit = (511 - 25) // _ENTRY_SIZE[code]
    if len(filters) > limit:
        m.fail(
            "filters",
            f"at most {limit} entries of format {ffmt} fit in a VSI TLV, got {len(filters)}",
        )
    if code == 1 and len(filters) > 1 and any(f.vid == 0 for f in filters):
        m.fail("filters", "VID 0 (wildcard) is allowed in format vid only as the only entry")
    macs = [f.mac for f in filters if f.mac is not None]
    if len(set(macs)) != len(macs):
        m.fail("filters", "the same MAC appears twice")
    vm = None
    if m.has("vm_interface") and not m.is_null("vm_interface"):
        im = m.sub("vm_interface", ("create", "name", "netns"))
        iname = im.string("name", required=True)
        if not _IFNAME.fullmatch(iname):
            im.fail("name", f"expected a Linux interface name (1..15 characters), got {iname!r}")
        netns = im.opt_string("netns")
        if netns is not None and ("/" in netns or netns in (".", "..") or len(netns) > 255):
            im.fail("netns", f"expected a network namespace name (no '/'), got {netns!r}")
        if code not in (2, 4):
            m.fail(
                "vm_interface",
                "a VM interface takes its MAC from the filters: use mac-vid or group-mac-vid",
            )
        create = cast(Literal["macvlan", "macvtap"], im.choice("create", ("macvlan", "macvtap")))
        vm = VmInterfaceConfig(create=create, name=iname, netns=netns)
    return VsiConfig(
        name=m.string("name", f"{ifname}/{index}"),
        manager_id=mgr_text,
        manager_id_bytes=mgr,
        type_id=type_id,
        type_version=type_version,
        vsiid_format=vfmt,
        vsiid=vtext,
        vsiid_bytes=vsiid,
        filter_format=ffmt,
        filters=tuple(filters),
        mode=m.choice("mode", MODES, "assoc"),
        hints=m.choice("hints", HINTS, "none"),
        vm_interface=vm,
    )


def _filter(ctx: _Ctx, node: yaml.Node, path: str, code: int, variant: str) -> FilterConfig:
    m = _Map(ctx, node, path, ("vid", "pcp", "mac", "group_id"))
    vid = m.integer("vid", lo=0, hi=4095, required=True)
    if vid in (1, 4095):
        m.fail("vid", f"VID {vid} is reserved: expected 0 (bridge assigns) or 2..4094")
    pcp = m.opt_integer("pcp", 0, 7)
    if pcp is not None and variant == "draft":
        m.fail("pcp", "the draft variant carries no priority")
    mac = None
    if code in (2, 4):
        text = m.string("mac", required=True)
        mnode, mpath = m.where("mac")
        raw = _parsed(ctx, mnode, mpath, parse_mac, text, "a MAC address")
        try:
            _check_unicast(raw)
        except ValueError as exc:
            ctx.fail(mnode, mpath, str(exc))
        mac = _mac_str(raw)
    elif m.has("mac"):
        m.fail("mac", "not used by this filter format (use mac-vid or group-mac-vid)")
    group = None
    if code in (3, 4):
        group = m.integer("group_id", lo=1, hi=0xFFFFFFFF, required=True)
    elif m.has("group_id"):
        m.fail("group_id", "not used by this filter format (use group-vid or group-mac-vid)")
    return FilterConfig(vid=vid, ps=pcp is not None, pcp=pcp or 0, mac=mac, group_id=group)


_POLICY_KEYS = (
    "mode", "wildcard_vid", "types", "unknown_type_code", "refuse_unenforceable", "mac_migration",
    "max_vsis_per_port", "rate_limit",
)  # fmt: skip
_TYPE_KEYS = (
    "type_id", "version", "vlans", "wildcard_vid", "group_vids", "pcp", "mac_prefixes", "macs",
    "max_vsis_per_port", "enforceable",
)  # fmt: skip


def _vid(m: _Map, key: str) -> int | None:
    v = m.opt_integer(key, 0, 4095)
    if v is not None and not 2 <= v <= 4094:
        m.fail(key, f"expected a VID 2..4094, got {v}")
    return v


def _policy(m: _Map) -> PolicyConfig:
    p = m.sub("policy", _POLICY_KEYS)
    types = [_vsi_type(p.ctx, n, path) for n, path in p.seq("types")]
    seen: dict[tuple[int, int | None], str] = {}
    for (n, path), t in zip(p.seq("types"), types, strict=True):
        if (t.type_id, t.version) in seen:
            p.ctx.fail(
                n,
                path,
                f"type {t.type_id} version {t.version} already defined at "
                f"{seen[t.type_id, t.version]}",
            )
        seen[t.type_id, t.version] = path
    mode = p.choice("mode", ("allow_all", "type_db"), "type_db" if types else "allow_all")
    if mode == "type_db" and not types:
        p.fail("types", "mode type_db needs at least one type (otherwise every VSI is refused)")
    if mode == "allow_all" and types:
        p.fail("types", "types are used only with mode type_db")
    rl = None
    if p.has("rate_limit") and not p.is_null("rate_limit"):
        r = p.sub("rate_limit", ("requests_per_s", "burst"))
        rate = r.number("requests_per_s", 100.0, 0.001, 1e6)
        rl = RateLimit(
            requests_per_s=rate, burst=r.integer("burst", max(1, int(rate * 2)), 1, 10**6)
        )
    return PolicyConfig(
        mode=mode,  # type: ignore[arg-type]
        wildcard_vid=_vid(p, "wildcard_vid"),
        types=tuple(types),
        unknown_type_code=p.integer("unknown_type_code", 4, 1, 15),
        refuse_unenforceable=p.boolean("refuse_unenforceable", False),
        mac_migration=p.boolean("mac_migration", False),
        max_vsis_per_port=p.opt_integer("max_vsis_per_port", 1, 10**7),
        rate_limit=rl,
    )


def _vsi_type(ctx: _Ctx, node: yaml.Node, path: str) -> VsiTypeConfig:
    m = _Map(ctx, node, path, _TYPE_KEYS)
    vlans = None
    if m.has("vlans") and not m.is_null("vlans"):
        ranges = []
        for n, p in m.seq("vlans"):
            text = _scalar_text(ctx, n, p, "a VID or a range like 200-299")
            mt = re.fullmatch(r"(\d{1,4})(?:\s*-\s*(\d{1,4}))?", text)
            lo, hi = (int(mt.group(1)), int(mt.group(2) or mt.group(1))) if mt else (0, -1)
            if not (2 <= lo <= hi <= 4094):
                ctx.fail(n, p, f"expected a VID 2..4094 or a range LO-HI within it, got {text!r}")
            ranges.append((lo, hi))
        vlans = tuple(ranges)
    groups = []
    for n, p in m.seq("group_vids"):
        g = _Map(ctx, n, p, ("group_id", "vid"))
        gid = g.integer("group_id", lo=1, hi=0xFFFFFFFF, required=True)
        vid = _vid(g, "vid")
        if vid is None:
            g.fail("vid", "required, expected a VID 2..4094")
        groups.append((gid, vid))
    prefixes = []
    for n, p in m.seq("mac_prefixes"):
        text = _scalar_text(ctx, n, p, "a MAC prefix")
        if not re.fullmatch(r"[0-9A-Fa-f]{2}([:-][0-9A-Fa-f]{2}){0,5}", text):
            ctx.fail(n, p, f"expected whole octets like 02:aa:00, got {text!r}")
        prefixes.append(text.lower().replace("-", ":"))
    macs = []
    for n, p in m.seq("macs"):
        text = _scalar_text(ctx, n, p, "a MAC address")
        macs.append(_mac_str(_parsed(ctx, n, p, parse_mac, text, "a MAC address")))
    wild = _vid(m, "wildcard_vid")
    t = VsiTypeConfig(
        type_id=m.integer("type_id", lo=0, hi=0xFFFFFF, required=True),
        version=m.opt_integer("version", 0, 255),
        vlans=vlans,
        wildcard_vid=wild,
        group_vids=tuple(groups),
        pcp=m.opt_integer("pcp", 0, 7),
        mac_prefixes=tuple(prefixes),
        macs=tuple(macs),
        max_vsis_per_port=m.opt_integer("max_vsis_per_port", 1, 10**7),
        enforceable=m.boolean("enforceable", True),
    )
    allowed = t.vlan_set()
    if wild is not None and allowed is not None and wild not in allowed:
        m.fail("wildcard_vid", f"VID {wild} is not in this type's vlans")
    return t


# --- entry points ---------------------------------------------------------------------------

_TOP_KEYS = {
    "station": ("role", "daemon", "interfaces"),
    "bridge": ("role", "daemon", "interfaces", "linux_bridge", "lock_ports", "policy"),
}


def _compose(text: str, file: str) -> yaml.Node:
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else 1
        raise ConfigError(file, line, "(syntax)", f"not valid YAML: {exc.problem or exc}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(file, 1, "(syntax)", f"not valid YAML: {exc}") from None
    except RecursionError:
        raise ConfigError(file, 1, "(syntax)", "document nested too deeply") from None
    if node is None:
        raise ConfigError(file, 1, "(top level)", "empty document, expected a mapping with role:")
    return node


def load_config_text(
    text: str, file: str = "<string>", role: Role | None = None
) -> StationConfig | BridgeConfig:
    """Parse one configuration document; ``role`` (if given) must match its ``role:`` key."""
    try:
        return _load(text, file, role)
    except RecursionError:
        raise ConfigError(file, 1, "(document)", "document nested too deeply") from None


def _load(text: str, file: str, role: Role | None) -> StationConfig | BridgeConfig:
    ctx = _Ctx(file)
    root = _compose(text, file)
    if not isinstance(root, yaml.MappingNode):
        ctx.fail(root, "", f"expected a mapping with role: station|bridge, got {_show(root)}")
    # Read role first, with every key allowed, then re-read with the role's key set.
    found = _Map(ctx, root, "", tuple({k for ks in _TOP_KEYS.values() for k in ks}))
    kind = found.choice("role", ("station", "bridge"))
    if role is not None and kind != role:
        found.fail("role", f"this is a {kind} configuration, expected role: {role}")
    r: Role = "station" if kind == "station" else "bridge"
    m = _Map(
        ctx,
        root,
        "",
        _TOP_KEYS[r],
        {"policy": "policy is a bridge section", "linux_bridge": "a bridge setting"},
    )
    daemon = _daemon(m, r)
    ifaces: list[InterfaceConfig] = []
    names: dict[str, str] = {}
    vm_names: dict[tuple[str | None, str], str] = {}
    for node, path in m.seq("interfaces", required=True):
        iface = _interface(ctx, node, path, r)
        if iface.name in names:
            ctx.fail(
                node,
                path + ".name",
                f"{iface.name} already configured at {names[iface.name]} "
                "(one variant per interface)",
            )
        names[iface.name] = path
        for j, vsi in enumerate(iface.vsis):
            if vsi.vm_interface is not None:
                vk = (vsi.vm_interface.netns, vsi.vm_interface.name)
                if vk in vm_names or (vk[0] is None and vk[1] in names):
                    ctx.fail(
                        node,
                        f"{path}.vsis[{j}].vm_interface.name",
                        f"interface {vk[1]} is used twice",
                    )
                vm_names[vk] = path
        ifaces.append(iface)
    if not ifaces:
        m.fail("interfaces", "expected at least one interface")
    if r == "station":
        return StationConfig(source=file, daemon=daemon, interfaces=tuple(ifaces))
    bridge = m.opt_string("linux_bridge")
    if bridge is not None and not _IFNAME.fullmatch(bridge):
        m.fail("linux_bridge", f"expected a Linux bridge name, got {bridge!r}")
    return BridgeConfig(
        source=file,
        daemon=daemon,
        interfaces=tuple(ifaces),
        policy=_policy(m),
        linux_bridge=bridge,
        lock_ports=m.boolean("lock_ports", False),
    )


def _read(path: str | Path) -> tuple[str, str]:
    p = Path(path)
    name = str(path)
    try:
        data = p.read_bytes()
    except OSError as exc:
        raise ConfigError(name, 0, "(file)", f"cannot read: {exc.strerror or exc}") from None
    if len(data) > MAX_CONFIG_BYTES:
        raise ConfigError(name, 0, "(file)", f"larger than {MAX_CONFIG_BYTES} bytes")
    try:
        return data.decode("utf-8"), name
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise ConfigError(name, line, "(file)", "not UTF-8 text") from None


def load_station_config(path: str | Path) -> StationConfig:
    """Load and check a ``role: station`` file."""
    text, name = _read(path)
    cfg = load_config_text(text, name, "station")
    assert isinstance(cfg, StationConfig)
    return cfg


def load_bridge_config(path: str | Path) -> BridgeConfig:
    """Load and check a ``role: bridge`` file."""
    text, name = _read(path)
    cfg = load_config_text(text, name, "bridge")
    assert isinstance(cfg, BridgeConfig)
    return cfg


def check_config(path: str | Path) -> tuple[Role, StationConfig | BridgeConfig]:
    """Load a file of either role (autodetected from ``role:``); for ``qbg check-config``."""
    text, name = _read(path)
    cfg = load_config_text(text, name)
    return ("station" if isinstance(cfg, StationConfig) else "bridge"), cfg
