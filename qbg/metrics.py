"""Counters, gauges, the Prometheus text exposition, a tiny asyncio HTTP endpoint, and logging.

No dependency beyond the standard library: the registry renders text exposition format 0.0.4
(``# HELP``/``# TYPE`` lines, escaped label values) and :class:`MetricsServer` answers
``GET /metrics`` on a loopback address by default (a non-loopback address must be allowed
explicitly: the numbers reveal which VMs run where).  :class:`QbgMetrics` declares the series
both daemons export, so dashboards see one vocabulary: frames, drops and errors by reason, ECP
retransmits and give-ups, VSIs by state, EVB negotiation state per port, control rejections.

:func:`setup_logging` configures human-readable lines or JSON lines (one object per record,
extra ``fields={...}`` merged in) for the whole ``qbg`` logger tree.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import ipaddress
import json
import logging
import math
import re
import sys
import threading
from collections.abc import Callable, Iterable, Sequence
from http import HTTPStatus
from typing import IO, Any

__all__ = [
    "Counter",
    "Gauge",
    "JsonFormatter",
    "MetricsServer",
    "QbgMetrics",
    "Registry",
    "escape_label",
    "setup_logging",
]

_NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
_LABEL = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


def escape_label(value: str) -> str:
    """Label value escaping of the text format: backslash, double quote, newline."""
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _escape_help(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\n", "\\n")


def _fmt(value: float) -> str:
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if float(value).is_integer() and abs(value) < 2**53:
        return str(int(value))
    return repr(float(value))


class _Metric:
    """Shared part of counters and gauges: name, help, label names, one value per label set."""

    kind = "untyped"

    def __init__(self, name: str, help: str, labels: Sequence[str] = ()) -> None:
        if not _NAME.fullmatch(name):
            raise ValueError(f"bad metric name {name!r}")
        for label in labels:
            if not _LABEL.fullmatch(label) or label.startswith("__"):
                raise ValueError(f"bad label name {label!r}")
        if len(set(labels)) != len(labels):
            raise ValueError("duplicate label names")
        self.name = name
        self.help = help
        self.labelnames = tuple(labels)
        self._values: dict[tuple[str, ...], float] = {}
        self._lock = threading.Lock()

    def _key(self, labels: dict[str, Any]) -> tuple[str, ...]:
        if set(labels) != set(self.labelnames):
            raise ValueError(f"{self.name} takes labels {self.labelnames}, got {tuple(labels)}")
        return tuple(str(labels[n]) for n in self.labelnames)

    def _add(self, amount: float, labels: dict[str, Any]) -> None:
        key = self._key(labels)
        with self._lock:
            self._values[key] = self._values.get(key, 0.0) + amount

    def value(self, **labels: Any) -> float:
        """Current value for one label set (0 if never touched)."""
        return self._values.get(self._key(labels), 0.0)

    def remove(self, **labels: Any) -> None:
        """Forget one label set (e.g. an interface that went away)."""
        with self._lock:
            self._values.pop(self._key(labels), None)

    def clear(self) -> None:
        with self._lock:
            self._values.clear()

    def samples(self) -> list[tuple[tuple[str, ...], float]]:
        with self._lock:
            return sorted(self._values.items())

    def render(self) -> Iterable[str]:
        yield f"# HELP {self.name} {_escape_help(self.help)}"
        yield f"# TYPE {self.name} {self.kind}"
        for key, value in self.samples():
            if key:
                pairs = ",".join(
                    f'{n}="{escape_label(v)}"' for n, v in zip(self.labelnames, key, strict=True)
                )
                yield f"{self.name}{{{pairs}}} {_fmt(value)}"
            else:
                yield f"{self.name} {_fmt(value)}"


class Counter(_Metric):
    """A value that only goes up (frames, errors); by convention named ``*_total``."""

    kind = "counter"

    def inc(self, amount: float = 1.0, **labels: Any) -> None:
        if amount < 0:
            raise ValueError("counters only go up")
        self._add(amount, labels)


class Gauge(_Metric):
    """A value that goes up and down (VSIs in a state, negotiated flag)."""

    kind = "gauge"

    def set(self, value: float, **labels: Any) -> None:
        key = self._key(labels)
        with self._lock:
            self._values[key] = float(value)

    def inc(self, amount: float = 1.0, **labels: Any) -> None:
        self._add(amount, labels)

    def dec(self, amount: float = 1.0, **labels: Any) -> None:
        self._add(-amount, labels)


class Registry:
    """The metrics of one process; ``collectors`` run before each render to refresh gauges."""

    def __init__(self) -> None:
        self._metrics: dict[str, _Metric] = {}
        self._collectors: list[Callable[[], None]] = []

    def _register(self, metric: _Metric) -> Any:
        if metric.name in self._metrics:
            raise ValueError(f"metric {metric.name} already registered")
        self._metrics[metric.name] = metric
        return metric

    def counter(self, name: str, help: str, labels: Sequence[str] = ()) -> Counter:
        c: Counter = self._register(Counter(name, help, labels))
        return c

    def gauge(self, name: str, help: str, labels: Sequence[str] = ()) -> Gauge:
        g: Gauge = self._register(Gauge(name, help, labels))
        return g

    def get(self, name: str) -> _Metric | None:
        return self._metrics.get(name)

    def add_collector(self, fn: Callable[[], None]) -> None:
        """``fn()`` is called at each scrape, e.g. to set the VSI-by-state gauges."""
        self._collectors.append(fn)

    def render(self) -> str:
        """Text exposition format 0.0.4; a failing collector is logged, not fatal."""
        for fn in self._collectors:
            try:
                fn()
            except Exception:
                logging.getLogger("qbg.metrics").exception("metrics collector failed")
        lines: list[str] = []
        for metric in self._metrics.values():
            lines.extend(metric.render())
        return "\n".join(lines) + "\n"


class QbgMetrics:
    """The standard series of both daemons (names are part of the interface; see docs)."""

    def __init__(self, registry: Registry | None = None) -> None:
        r = self.registry = registry or Registry()
        self.frames_rx = r.counter(
            "qbg_frames_received_total", "Frames received", ("interface", "protocol")
        )
        self.frames_tx = r.counter(
            "qbg_frames_sent_total", "Frames sent", ("interface", "protocol")
        )
        self.frames_dropped = r.counter(
            "qbg_frames_dropped_total",
            "Received frames dropped, by reason",
            ("interface", "reason"),
        )
        self.errors = r.counter("qbg_errors_total", "Errors, by kind", ("interface", "kind"))
        self.ecp_retransmits = r.counter(
            "qbg_ecp_retransmits_total", "ECPDU retransmissions", ("interface",)
        )
        self.ecp_giveups = r.counter(
            "qbg_ecp_giveups_total", "ECPDUs abandoned after R retries", ("interface",)
        )
        self.vdp_resends = r.counter(
            "qbg_vdp_resends_total",
            "Station VSI requests sent again after a loss, before their response wait ended",
            ("interface",),
        )
        self.vdp_losses = r.counter(
            "qbg_vdp_losses_total",
            "Station VDPDUs found lost or partly answered, by cause (wire: ECP saw the link "
            "drop frames; bridge: it took them and did not answer)",
            ("interface", "cause"),
        )
        self.vdp_window = r.gauge(
            "qbg_vdp_window", "Station window: VSI requests allowed unanswered", ("interface",)
        )
        self.vsis = r.gauge("qbg_vsis", "VSIs by state", ("interface", "state"))
        self.evb_state = r.gauge(
            "qbg_evb_negotiation",
            "EVB negotiation state per port (1 for the current state)",
            ("interface", "state"),
        )
        self.evb_rr = r.gauge(
            "qbg_evb_reflective_relay", "Reflective relay on (1) or off", ("interface",)
        )
        self.lldp_neighbors = r.gauge("qbg_lldp_neighbors", "LLDP neighbours", ("interface",))
        self.control_requests = r.counter(
            "qbg_control_requests_total", "Control requests answered with ok"
        )
        self.control_rejected = r.counter(
            "qbg_control_rejected_total", "Control requests rejected, by error code", ("code",)
        )
        self.up = r.gauge("qbg_up", "1 while the daemon runs", ("role",))

    def set_evb_state(self, interface: str, state: str, states: Sequence[str]) -> None:
        """One-hot: ``state`` is 1, every other of ``states`` 0 (no absent series to handle)."""
        for s in states:
            self.evb_state.set(1.0 if s == state else 0.0, interface=interface, state=s)

    def set_vsi_counts(self, interface: str, counts: dict[str, int], states: Sequence[str]) -> None:
        for s in (*states, *(k for k in counts if k not in states)):
            self.vsis.set(counts.get(s, 0), interface=interface, state=s)


# --- HTTP ---------------------------------------------------------------------------------


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class MetricsServer:
    """``GET /metrics`` over HTTP/1.0-style one-shot connections on asyncio streams."""

    def __init__(
        self,
        registry: Registry,
        host: str = "127.0.0.1",
        port: int = 9488,
        *,
        allow_non_loopback: bool = False,
        read_timeout: float = 5.0,
    ) -> None:
        if not allow_non_loopback and not _loopback(host):
            raise ValueError(f"metrics address {host} is not loopback (allow_non_loopback)")
        self.registry = registry
        self.host = host
        self.port = port
        self.read_timeout = read_timeout
        self._server: asyncio.AbstractServer | None = None

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._client, self.host, self.port, limit=8192)
        sock = self._server.sockets[0]
        self.port = sock.getsockname()[1]
        logging.getLogger("qbg.metrics").info(
            "metrics on http://%s:%d/metrics", self.host, self.port
        )

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                await self._server.wait_closed()
            self._server = None

    async def __aenter__(self) -> MetricsServer:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            status, ctype, body, head = await asyncio.wait_for(
                self._request(reader), self.read_timeout
            )
        except (TimeoutError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError):
            status, ctype, body, head = (
                HTTPStatus.BAD_REQUEST,
                "text/plain",
                b"bad request\n",
                False,
            )
        except ConnectionError:
            writer.close()
            return
        try:
            hdr = (
                f"HTTP/1.0 {status.value} {status.phrase}\r\n"
                f"Content-Type: {ctype}\r\nContent-Length: {len(body)}\r\n"
                "Connection: close\r\n\r\n"
            )
            writer.write(hdr.encode("ascii") + (b"" if head else body))
            await writer.drain()
        except ConnectionError:
            pass
        finally:
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    async def _request(self, reader: asyncio.StreamReader) -> tuple[HTTPStatus, str, bytes, bool]:
        line = (await reader.readuntil(b"\n")).decode("latin-1").strip()
        while (await reader.readuntil(b"\n")).strip():  # skip headers
            pass
        parts = line.split()
        if len(parts) != 3 or not parts[2].startswith("HTTP/"):
            raise ValueError("bad request line")
        method, target = parts[0], parts[1].split("?", 1)[0]
        if method not in ("GET", "HEAD"):
            return HTTPStatus.METHOD_NOT_ALLOWED, "text/plain", b"GET only\n", False
        head = method == "HEAD"
        if target == "/metrics":
            return HTTPStatus.OK, CONTENT_TYPE, self.registry.render().encode(), head
        if target == "/":
            return HTTPStatus.OK, "text/plain", b"qbg metrics: /metrics\n", head
        return HTTPStatus.NOT_FOUND, "text/plain", b"not found\n", head


# --- logging ------------------------------------------------------------------------------

_STD_ATTRS = set(vars(logging.LogRecord("x", 0, "x", 0, "x", None, None))) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    """One JSON object per record: ts, level, logger, msg, then ``fields`` and other extras."""

    def format(self, record: logging.LogRecord) -> str:
        ts = datetime.datetime.fromtimestamp(record.created, datetime.UTC)
        out: dict[str, Any] = {
            "ts": ts.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key == "fields" and isinstance(value, dict):
                out.update({str(k): v for k, v in value.items()})
            elif key not in _STD_ATTRS and not key.startswith("_"):
                out[key] = value
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        return json.dumps(out, default=str, ensure_ascii=False)


class HumanFormatter(logging.Formatter):
    """``2024-05-01 12:00:00.123 INFO qbg.station: message key=value``."""

    def __init__(self) -> None:
        super().__init__(
            "%(asctime)s.%(msecs)03d %(levelname)s %(name)s: %(message)s", "%Y-%m-%d %H:%M:%S"
        )

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict) and fields:
            text += " " + " ".join(f"{k}={v}" for k, v in fields.items())
        return text


def setup_logging(
    format: str = "human", level: str | int = "info", stream: IO[str] | None = None
) -> logging.Handler:
    """Send the ``qbg`` logger tree to ``stream`` (stderr) as human lines or JSON lines.

    Replaces a handler installed by an earlier call, so it can be called again on reload.
    """
    if format not in ("human", "json"):
        raise ValueError(f"log format must be human or json, not {format!r}")
    lvl = level if isinstance(level, int) else logging.getLevelName(level.upper())
    if not isinstance(lvl, int):
        raise ValueError(f"unknown log level {level!r}")
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter() if format == "json" else HumanFormatter())
    handler._qbg = True  # type: ignore[attr-defined]
    logger = logging.getLogger("qbg")
    for old in list(logger.handlers):
        if getattr(old, "_qbg", False):
            logger.removeHandler(old)
    logger.addHandler(handler)
    logger.setLevel(lvl)
    logger.propagate = False
    return handler
