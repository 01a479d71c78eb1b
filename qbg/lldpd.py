"""lldpd as qbg's LLDP transport: publish our EVB TLV through lldpd, learn the peer's from it.

What: :class:`LldpdClient` drives one interface of a running lldpd over its control socket with
``lldpcli -u SOCKET`` (docs/lldpd.md):

* our TLV is an lldpd *custom TLV* on that port only —
  ``configure ports IF lldp custom-tlv replace oui 00,80,c2 subtype 13 oui-info …`` (lldpd sends
  an LLDPDU at once after every port change, so no separate ``update`` is needed), removed with
  ``unconfigure ports IF lldp custom-tlv oui … subtype …``;
* lldpd sends to the nearest-customer-bridge address (``configure lldp agent-type
  nearest-customer-bridge``, a global lldpd setting; the previous value is put back on
  :meth:`LldpdClient.close`);
* the peer's TLV comes from ``lldpcli -f json0 watch ports IF`` (one JSON object per neighbour
  change, flushed per object; lldpd lists TLVs it does not understand, EVB and CDCP included,
  under ``unknown-tlvs`` with OUI, subtype and value) plus one ``show neighbors`` after each
  (re)connection.

Why subprocesses and not liblldpctl: lldpcli is the stable, documented interface, it is on every
machine that has lldpd, and its ``json0`` output has a fixed shape (every value a list).  A
command costs about 5 ms (measured, docs/lldpd.md).

Failure handling: a missing socket, a dead or restarted lldpd, an interface lldpd does not manage
(``-I``) all end the session with a logged error; the client retries with exponential backoff
(``min_backoff`` … ``max_backoff``), reports ``health`` for ``qbg ctl status`` and never raises
into the daemon.  After a reconnection everything is configured again (a restarted lldpd has
forgotten our TLV).  The peer's last TLV is kept across an lldpd outage for its TTL — a new lldpd
hears the peer only at the peer's next transmission, up to 30 s later — and reported lost only if
nothing refreshes it by then.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

__all__ = [
    "AGENT_TYPES",
    "JsonStream",
    "LldpdClient",
    "LldpdError",
    "Neighbor",
    "neighbors_of",
    "org_key",
]

log = logging.getLogger("qbg.lldpd")

OrgKey = tuple[int, int]  # (OUI as int, subtype)
PeerCallback = Callable[[OrgKey, bytes | None, str], None]

AGENT_TYPES = {
    "nearest bridge": "nearest-bridge",
    "nearest non-TPMR bridge": "nearest-nontpmr-bridge",
    "nearest customer bridge": "nearest-customer-bridge",
}
"""lldpd's displayed agent types → the ``configure lldp agent-type`` keyword."""

DEFAULT_TTL = 120.0


class LldpdError(Exception):
    """lldpcli failed, lldpd is unreachable, or it does not manage the interface."""


def org_key(oui: int, subtype: int) -> OrgKey:
    return (oui, subtype)


def _oui_text(oui: int) -> str:
    return ",".join(f"{b:02x}" for b in oui.to_bytes(3, "big"))


def _hex_list(data: bytes) -> str:
    return ",".join(f"{b:02x}" for b in data)


class JsonStream:
    """Splits lldpcli's output (pretty-printed JSON objects, one after another) into objects."""

    def __init__(self) -> None:
        self._buf = ""
        self._dec = json.JSONDecoder()

    def feed(self, text: str) -> list[dict[str, Any]]:
        self._buf += text
        out: list[dict[str, Any]] = []
        while True:
            stripped = self._buf.lstrip()
            if not stripped:
                self._buf = ""
                return out
            try:
                obj, end = self._dec.raw_decode(stripped)
            except ValueError:
                self._buf = stripped
                if len(stripped) > 4_000_000:  # garbage that never parses: start over
                    self._buf = ""
                return out
            self._buf = stripped[end:]
            if isinstance(obj, dict):
                out.append(obj)


@dataclass(frozen=True, slots=True)
class Neighbor:
    """One neighbour as lldpd reports it on our interface."""

    ifname: str
    chassis_id: str
    port_id: str
    ttl: float | None
    tlvs: dict[OrgKey, bytes]

    @property
    def key(self) -> tuple[str, str]:
        return (self.chassis_id, self.port_id)


def _first(node: Any, name: str) -> Any:
    """json0: ``node[name][0]`` (every value is a list), or ``None``."""
    if not isinstance(node, dict):
        return None
    v = node.get(name)
    if isinstance(v, list) and v:
        return v[0]
    return None


def _value(node: Any, name: str) -> str | None:
    item = _first(node, name)
    if isinstance(item, dict):
        v = item.get("value")
        return v if isinstance(v, str) else None
    return None


def _parse_unknown(entry: dict[str, Any]) -> tuple[OrgKey, bytes] | None:
    try:
        oui = int(str(entry["oui"]).replace(",", "").replace(":", ""), 16)
        subtype = int(str(entry["subtype"]))
        raw = str(entry.get("value", ""))
        info = bytes(int(x, 16) for x in raw.split(",") if x.strip()) if raw else b""
    except (KeyError, ValueError):
        return None
    return ((oui, subtype), info)


def _neighbor(iface: dict[str, Any]) -> Neighbor | None:
    name = iface.get("name")
    if not isinstance(name, str):
        return None
    chassis = _first(iface, "chassis")
    port = _first(iface, "port")
    cid_node = _first(chassis, "id")
    pid_node = _first(port, "id")
    cid = cid_node.get("value") if isinstance(cid_node, dict) else None
    pid = pid_node.get("value") if isinstance(pid_node, dict) else None
    ttl_s = _value(port, "ttl")
    tlvs: dict[OrgKey, bytes] = {}
    unknown = _first(iface, "unknown-tlvs")
    if isinstance(unknown, dict):
        for entry in unknown.get("unknown-tlv", []) or []:
            if isinstance(entry, dict):
                parsed = _parse_unknown(entry)
                if parsed is not None:
                    tlvs.setdefault(parsed[0], parsed[1])
    ttl: float | None = None
    if ttl_s is not None:
        with contextlib.suppress(ValueError):
            ttl = float(ttl_s)
    return Neighbor(
        ifname=name,
        chassis_id=str(cid or ""),
        port_id=str(pid or ""),
        ttl=ttl,
        tlvs=tlvs,
    )


def neighbors_of(obj: dict[str, Any]) -> Iterator[tuple[str, Neighbor]]:
    """``(kind, neighbour)`` pairs of one lldpcli json0 object: kind is ``lldp-added``,
    ``lldp-updated``, ``lldp-deleted`` (watch) or ``lldp`` (``show neighbors``)."""
    for kind, body in obj.items():
        items = body if isinstance(body, list) else [body]
        for item in items:
            if not isinstance(item, dict):
                continue
            for iface in item.get("interface", []) or []:
                if isinstance(iface, dict):
                    nb = _neighbor(iface)
                    if nb is not None:
                        yield kind, nb


class LldpdClient:
    """One interface's custom TLVs in lldpd, and its neighbours' TLVs of the kinds we watch.

    ``on_peer(key, info, reason)`` is called whenever the peer's TLV of kind ``key`` changes:
    ``info`` is the value after OUI and subtype, or ``None`` with ``reason`` ("tlv removed",
    "deleted", "aged").  Call :meth:`publish` with our TLVs; :meth:`start` once; :meth:`close`
    on shutdown (removes our TLVs and restores the agent type).
    """

    def __init__(
        self,
        socket: str,
        ifname: str,
        on_peer: PeerCallback,
        *,
        watch: Sequence[OrgKey] = ((0x0080C2, 0x0D),),
        lldpcli: str = "lldpcli",
        agent_type: str | None = "nearest-customer-bridge",
        min_backoff: float = 0.5,
        max_backoff: float = 10.0,
        resync_s: float = 10.0,
        command_timeout: float = 10.0,
    ) -> None:
        self.socket = socket
        self.ifname = ifname
        self.on_peer = on_peer
        self.watch = tuple(watch)
        self.lldpcli = lldpcli
        self.agent_type = agent_type
        self.min_backoff = min_backoff
        self.max_backoff = max_backoff
        self.resync_s = resync_s
        self.command_timeout = command_timeout
        self.health = "starting"
        self.error: str | None = None
        self.retry_at: float | None = None
        self.sessions = 0
        self.failures = 0
        self.commands = 0
        self.last_command_ms: float | None = None
        self.neighbor: Neighbor | None = None
        self.peer: dict[OrgKey, bytes] = {}
        self._desired: dict[OrgKey, bytes | None] = {}
        self._published: dict[OrgKey, bytes | None] = {}
        self._neighbors: dict[tuple[str, str], Neighbor] = {}
        self._original_agent: str | None = None
        self._changed_agent = False
        self._task: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()
        self._closing = False
        self._lock = asyncio.Lock()
        self._watch_proc: asyncio.subprocess.Process | None = None
        self._stale: asyncio.TimerHandle | None = None
        self._connected = False
        self._fast_until = 0.0

    # --- public ---------------------------------------------------------------------------------

    def publish(self, key: OrgKey, info: bytes | None) -> None:
        """From now on our TLV ``key`` carries ``info`` (``None``: not sent)."""
        self._desired[key] = info
        self._wake.set()

    def resync(self, window: float = 10.0) -> None:
        """Check soon (every 0.5 s for ``window`` seconds) that lldpd carries our TLVs — after
        a link up, when lldpd may just be (re)creating its port."""
        self._fast_until = time.monotonic() + window
        self._wake.set()

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run())

    def status(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "transport": "lldpd",
            "socket": self.socket,
            "health": self.health,
            "sessions": self.sessions,
            "failures": self.failures,
            "peer_tlv": bool(self.peer),
        }
        if self.error:
            out["error"] = self.error
        if self.retry_at is not None and self.health != "ok":
            out["retry_in_s"] = round(max(0.0, self.retry_at - time.monotonic()), 1)
        if self.last_command_ms is not None:
            out["last_command_ms"] = round(self.last_command_ms, 1)
        return out

    async def close(self, *, timeout: float = 5.0) -> None:
        """Stop watching; remove our TLVs from lldpd and restore its agent type (best effort)."""
        self._closing = True
        self._wake.set()
        if self._stale is not None:
            self._stale.cancel()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
        await self._stop_watch()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self._cleanup(), timeout)
        self.health = "closed"

    # --- lldpcli ----------------------------------------------------------------------------------

    async def _cli(self, *args: str, json_out: bool = False) -> str:
        cmd = [self.lldpcli, "-u", self.socket]
        if json_out:
            cmd += ["-f", "json0"]
        cmd += list(args)
        async with self._lock:
            t0 = time.monotonic()
            try:
                proc = await asyncio.create_subprocess_exec(
                    *cmd,
                    stdin=asyncio.subprocess.DEVNULL,
                    stdout=asyncio.subprocess.PIPE,
                    stderr=asyncio.subprocess.PIPE,
                )
            except OSError as err:
                raise LldpdError(f"cannot run {self.lldpcli}: {err}") from err
            try:
                out, err_b = await asyncio.wait_for(proc.communicate(), self.command_timeout)
            except TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    proc.kill()
                await proc.wait()
                raise LldpdError(f"lldpcli {' '.join(args)}: timed out") from None
            self.commands += 1
            self.last_command_ms = (time.monotonic() - t0) * 1000
        errtext = _clean_stderr(err_b.decode(errors="replace"))
        if proc.returncode != 0:
            raise LldpdError(errtext or f"lldpcli {' '.join(args)}: exit {proc.returncode}")
        if errtext:
            log.warning("%s: lldpcli %s: %s", self.ifname, " ".join(args), errtext)
        return out.decode(errors="replace")

    async def _cli_json(self, *args: str) -> dict[str, Any]:
        text = await self._cli(*args, json_out=True)
        try:
            obj = json.loads(text) if text.strip() else {}
        except ValueError as err:
            raise LldpdError(f"lldpcli {' '.join(args)}: bad JSON: {err}") from err
        return obj if isinstance(obj, dict) else {}

    async def _agent_type_now(self) -> str | None:
        conf = await self._cli_json("show", "configuration")
        c = _first(_first(conf, "configuration"), "config")
        shown = _value(c, "lldp-agent-type")
        if shown is None:
            return None
        return AGENT_TYPES.get(shown, "nearest-bridge")  # "unknown" = lldpd's default (NB)

    async def _port_managed(self) -> bool:
        obj = await self._cli_json("show", "interfaces", "ports", self.ifname)
        return any(nb.ifname == self.ifname for _, nb in neighbors_of(obj))

    async def _local_tlvs(self) -> dict[OrgKey, bytes] | None:
        obj = await self._cli_json("show", "interfaces", "ports", self.ifname, "details")
        for _, nb in neighbors_of(obj):
            if nb.ifname == self.ifname:
                return nb.tlvs
        return None

    async def _apply(self, key: OrgKey, info: bytes | None) -> None:
        oui, subtype = key
        base = ("ports", self.ifname, "lldp", "custom-tlv")
        if info is None:
            await self._cli("unconfigure", *base, "oui", _oui_text(oui), "subtype", str(subtype))
        else:
            args = ["configure", *base, "replace", "oui", _oui_text(oui), "subtype", str(subtype)]
            if info:
                args += ["oui-info", _hex_list(info)]
            await self._cli(*args)
        self._published[key] = info
        log.debug("%s: lldpd custom TLV %06x/%d = %s", self.ifname, oui, subtype, info)

    async def _sync(self) -> None:
        for key, info in list(self._desired.items()):
            if key not in self._published or self._published[key] != info:
                await self._apply(key, info)

    async def _cleanup(self) -> None:
        for key, info in list(self._published.items()):
            if info is not None:
                await self._apply(key, None)
        if self._changed_agent and self._original_agent is not None:
            await self._cli("configure", "lldp", "agent-type", self._original_agent)
            self._changed_agent = False
        log.info("%s: removed our TLVs from lldpd", self.ifname)

    # --- sessions -------------------------------------------------------------------------------

    async def _run(self) -> None:
        backoff = self.min_backoff
        while not self._closing:
            t0 = time.monotonic()
            try:
                await self._session()
            except asyncio.CancelledError:
                raise
            except (LldpdError, OSError) as err:
                self._fail(str(err))
            except Exception as err:  # never let a parsing surprise kill the transport
                log.exception("%s: lldpd session failed", self.ifname)
                self._fail(f"internal error: {err}")
            finally:
                self._connected = False
                await self._stop_watch()
            if self._closing:
                return
            if time.monotonic() - t0 > 30:
                backoff = self.min_backoff  # it ran for a while: retry fast
            self.retry_at = time.monotonic() + backoff
            log.warning(
                "%s: lldpd at %s: %s; retrying in %.1f s",
                self.ifname,
                self.socket,
                self.error,
                backoff,
            )
            self._wake.clear()
            await asyncio.sleep(backoff)
            backoff = min(self.max_backoff, backoff * 2)

    def _fail(self, msg: str) -> None:
        self.failures += 1
        self.error = msg
        self.health = "unreachable" if "connect" in msg or "No such file" in msg else "error"
        self._published.clear()  # configure everything again next time
        self._hold_peer()

    async def _session(self) -> None:
        self.health = "connecting"
        # Watch first, so that nothing that changes after our query is missed.
        try:
            proc = await asyncio.create_subprocess_exec(
                self.lldpcli,
                "-u",
                self.socket,
                "-f",
                "json0",
                "watch",
                "ports",
                self.ifname,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
            )
        except OSError as err:
            raise LldpdError(f"cannot run {self.lldpcli}: {err}") from err
        self._watch_proc = proc
        original = await self._agent_type_now()
        if not await self._port_managed():
            raise LldpdError(
                f"lldpd does not manage {self.ifname} (is it in lldpd's -I list, and up?)"
            )
        if self.agent_type is not None and original != self.agent_type:
            await self._cli("configure", "lldp", "agent-type", self.agent_type)
            if not self._changed_agent:
                self._original_agent = original
                self._changed_agent = True
        self._published.clear()
        await self._sync()
        shown = await self._cli_json("show", "neighbors", "ports", self.ifname, "details")
        self._replace_neighbors([nb for _, nb in neighbors_of(shown) if nb.ifname == self.ifname])
        self.sessions += 1
        self.health = "ok"
        self.error = None
        self.retry_at = None
        self._connected = True
        log.info("%s: EVB TLV exchange through lldpd at %s", self.ifname, self.socket)
        assert proc.stdout is not None
        reader = asyncio.ensure_future(self._read_watch(proc))
        try:
            while not reader.done():
                waker = asyncio.ensure_future(self._wake.wait())
                fast = time.monotonic() < self._fast_until
                done, _ = await asyncio.wait(
                    {reader, waker},
                    timeout=0.5 if fast else self.resync_s,
                    return_when=asyncio.FIRST_COMPLETED,
                )
                waker.cancel()
                if reader in done:
                    break
                self._wake.clear()
                if self._closing:
                    return
                await self._sync()
                if waker not in done or time.monotonic() < self._fast_until:
                    await self._verify()
            reader.result()
        finally:
            if not reader.done():
                reader.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await reader

    async def _verify(self) -> None:
        """Periodic check that lldpd still has our TLVs (it forgets a port's settings when the
        interface disappears and comes back) and our agent type."""
        local = await self._local_tlvs()
        if local is None:
            self.health = "error"
            self.error = f"lldpd does not manage {self.ifname} now (interface gone?)"
            self._published.clear()
            return
        if self.health != "ok":
            self.health, self.error = "ok", None
        for key, info in self._desired.items():
            if local.get(key) != info:
                log.warning("%s: lldpd lost our TLV %06x/%d; re-adding", self.ifname, *key)
                self._published.pop(key, None)
        if self.agent_type is not None and await self._agent_type_now() != self.agent_type:
            log.warning(
                "%s: lldpd agent type changed behind our back; setting it again", self.ifname
            )
            await self._cli("configure", "lldp", "agent-type", self.agent_type)
        await self._sync()

    async def _read_watch(self, proc: asyncio.subprocess.Process) -> None:
        assert proc.stdout is not None
        stream = JsonStream()
        while True:
            chunk = await proc.stdout.read(65536)
            if not chunk:
                break
            for obj in stream.feed(chunk.decode(errors="replace")):
                self._on_watch(obj)
        err = b""
        if proc.stderr is not None:
            with contextlib.suppress(Exception):
                err = await asyncio.wait_for(proc.stderr.read(), 1.0)
        await proc.wait()
        msg = _clean_stderr(err.decode(errors="replace"))
        raise LldpdError(f"lldpd went away ({msg or f'watch exited {proc.returncode}'})")

    async def _stop_watch(self) -> None:
        proc, self._watch_proc = self._watch_proc, None
        if proc is None or proc.returncode is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            proc.terminate()  # our own child, by PID
        try:
            await asyncio.wait_for(proc.wait(), 2.0)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            await proc.wait()

    # --- neighbours -----------------------------------------------------------------------------

    def _on_watch(self, obj: dict[str, Any]) -> None:
        for kind, nb in neighbors_of(obj):
            if nb.ifname != self.ifname:
                continue
            log.debug(
                "%s: lldpd %s %s/%s %s", self.ifname, kind, nb.chassis_id, nb.port_id, nb.tlvs
            )
            if kind == "lldp-deleted":
                self._neighbors.pop(nb.key, None)
                self._recompute("deleted")
            else:
                self._neighbors.pop(nb.key, None)
                self._neighbors[nb.key] = nb  # most recent last
                self._recompute("tlv removed")

    def _replace_neighbors(self, nbs: list[Neighbor]) -> None:
        """The neighbour list after a (re)connection."""
        self._neighbors = {nb.key: nb for nb in nbs}
        if not nbs and self.peer:
            # A fresh lldpd knows no neighbour yet: keep what we had until its TTL runs out.
            self._hold_peer()
            return
        self._recompute("tlv removed")

    def _hold_peer(self) -> None:
        """lldpd is out of reach (or restarted): keep the peer's TLVs for their TTL."""
        if not self.peer or self._stale is not None:
            return
        ttl = (self.neighbor.ttl if self.neighbor else None) or DEFAULT_TTL
        self._stale = asyncio.get_running_loop().call_later(ttl, self._expire)

    def _expire(self) -> None:
        self._stale = None
        if self._connected and self._neighbors:
            return
        self._neighbors = {}
        self._recompute("aged")

    def _recompute(self, reason: str) -> None:
        """What lldpd reported is authoritative: report every watched TLV that changed."""
        if self._stale is not None:
            self._stale.cancel()
            self._stale = None
        # The neighbour that carries a watched TLV (the most recently reported one wins).
        chosen: Neighbor | None = None
        for nb in self._neighbors.values():
            if chosen is None or any(k in nb.tlvs for k in self.watch):
                chosen = nb
        self.neighbor = chosen
        for key in self.watch:
            new = chosen.tlvs.get(key) if chosen is not None else None
            if new == self.peer.get(key):
                continue
            if new is None:
                self.peer.pop(key, None)
            else:
                self.peer[key] = new
            try:
                self.on_peer(key, new, reason)
            except Exception:
                log.exception("%s: peer TLV handler failed", self.ifname)


def _clean_stderr(text: str) -> str:
    """lldpcli's log lines without their timestamps, joined."""
    lines = []
    for line in text.splitlines():
        line = line.strip()
        if not line:
            continue
        if line[:4].isdigit() and " " in line:
            line = line.split(" ", 1)[1]
        lines.append(line)
    return "; ".join(lines)
