"""qbg.metrics: exposition format that parses back, HTTP on loopback, log formats."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import re
import urllib.error
import urllib.request

import pytest
from hypothesis import given
from hypothesis import strategies as st

from qbg.metrics import MetricsServer, QbgMetrics, Registry, escape_label, setup_logging

_SAMPLE = re.compile(r"([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)")
_PAIR = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"(,|$)')


def _unescape(v: str) -> str:
    return re.sub(r"\\(.)", lambda m: {"n": "\n", "\\": "\\", '"': '"'}[m.group(1)], v)


def parse_exposition(
    text: str,
) -> tuple[dict[str, tuple[str, str]], list[tuple[str, dict[str, str], float]]]:
    """A strict reader of text format 0.0.4: (name → (type, help), samples)."""
    meta: dict[str, list[str]] = {}
    samples: list[tuple[str, dict[str, str], float]] = []
    assert text.endswith("\n")
    for line in text.split("\n")[:-1]:  # the format splits on LF only
        if line.startswith("# HELP "):
            name, _, help_ = line[7:].partition(" ")
            meta.setdefault(name, ["", ""])[1] = help_
        elif line.startswith("# TYPE "):
            name, _, kind = line[7:].partition(" ")
            assert kind in ("counter", "gauge", "untyped", "histogram", "summary")
            assert name in meta, "TYPE after HELP"
            meta[name][0] = kind
        else:
            m = _SAMPLE.fullmatch(line)
            assert m, f"bad sample line {line!r}"
            name, labels_text, value = m.groups()
            labels: dict[str, str] = {}
            if labels_text:
                pos = 0
                while pos < len(labels_text):
                    pm = _PAIR.match(labels_text, pos)
                    assert pm, f"bad labels {labels_text!r}"
                    labels[pm.group(1)] = _unescape(pm.group(2))
                    pos = pm.end()
            assert name in meta, f"sample {name} before its TYPE"
            samples.append((name, labels, float(value)))
    return {k: (v[0], v[1]) for k, v in meta.items()}, samples


def test_render_parses_back() -> None:
    m = QbgMetrics()
    m.frames_rx.inc(interface="eth0", protocol="lldp")
    m.frames_rx.inc(3, interface="eth0", protocol="ecp")
    m.frames_dropped.inc(interface="eth0", reason="decode")
    m.ecp_retransmits.inc(2, interface="eth0")
    m.set_vsi_counts("eth0", {"ASSOCIATED": 4}, ("PREASSOCIATED", "ASSOCIATED"))
    m.set_evb_state("eth0", "negotiated", ("waiting", "negotiated", "lost"))
    m.control_requests.inc()
    m.up.set(1, role="station")
    meta, samples = parse_exposition(m.registry.render())
    assert meta["qbg_frames_received_total"][0] == "counter"
    assert meta["qbg_vsis"][0] == "gauge"
    got = {(n, tuple(sorted(lab.items()))): v for n, lab, v in samples}
    assert got["qbg_frames_received_total", (("interface", "eth0"), ("protocol", "ecp"))] == 3
    assert got["qbg_vsis", (("interface", "eth0"), ("state", "ASSOCIATED"))] == 4
    assert got["qbg_vsis", (("interface", "eth0"), ("state", "PREASSOCIATED"))] == 0
    assert got["qbg_evb_negotiation", (("interface", "eth0"), ("state", "negotiated"))] == 1
    assert got["qbg_evb_negotiation", (("interface", "eth0"), ("state", "lost"))] == 0
    assert got["qbg_control_requests_total", ()] == 1
    assert "qbg_ecp_retransmits_total" in meta and "qbg_ecp_giveups_total" in meta


@given(value=st.text(max_size=30), help_=st.text(max_size=30))
def test_label_escaping_round_trips(value: str, help_: str) -> None:
    r = Registry()
    c = r.counter("x_total", help_, ("l",))
    c.inc(l=value)
    meta, samples = parse_exposition(r.render())
    assert samples == [("x_total", {"l": value}, 1.0)]
    assert "\n" not in meta["x_total"][1]


def test_values_and_misuse() -> None:
    r = Registry()
    g = r.gauge("g", "a gauge")
    g.set(float("inf"))
    assert "g +Inf" in r.render()
    g.set(0.25)
    assert "g 0.25" in r.render()
    g.dec(1.25)
    assert "g -1" in r.render()
    c = r.counter("c_total", "c", ("a",))
    with pytest.raises(ValueError):
        c.inc(-1, a="x")
    with pytest.raises(ValueError):
        c.inc(b="x")
    with pytest.raises(ValueError):
        r.counter("c_total", "again")
    with pytest.raises(ValueError):
        r.counter("bad-name", "x")
    with pytest.raises(ValueError):
        r.counter("ok", "x", ("__reserved",))
    assert escape_label('a"b\\c\nd') == 'a\\"b\\\\c\\nd'


def test_collectors_run_at_scrape_and_failures_are_contained(
    caplog: pytest.LogCaptureFixture,
) -> None:
    r = Registry()
    g = r.gauge("vsis", "VSIs", ("state",))
    calls: list[int] = []

    def collect() -> None:
        calls.append(1)
        g.set(len(calls), state="ASSOCIATED")

    def broken() -> None:
        raise ZeroDivisionError

    r.add_collector(collect)
    r.add_collector(broken)
    assert 'vsis{state="ASSOCIATED"} 1' in r.render()
    assert 'vsis{state="ASSOCIATED"} 2' in r.render()
    assert "collector failed" in caplog.text


def fetch(url: str, method: str = "GET") -> tuple[int, str, bytes]:
    req = urllib.request.Request(url, method=method)
    try:
        with urllib.request.urlopen(req, timeout=5) as resp:
            return resp.status, resp.headers["Content-Type"], resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers["Content-Type"], exc.read()


def test_http_on_loopback_ephemeral_port() -> None:
    m = QbgMetrics()
    m.frames_tx.inc(interface="eth0", protocol="lldp")

    async def main() -> None:
        async with MetricsServer(m.registry, "127.0.0.1", 0) as srv:
            assert srv.port != 0
            base = f"http://127.0.0.1:{srv.port}"
            status, ctype, body = await asyncio.to_thread(fetch, base + "/metrics")
            assert status == 200 and ctype.startswith("text/plain; version=0.0.4")
            _, samples = parse_exposition(body.decode())
            assert (
                "qbg_frames_sent_total",
                {"interface": "eth0", "protocol": "lldp"},
                1.0,
            ) in samples
            status, _, body = await asyncio.to_thread(fetch, base + "/metrics", "HEAD")
            assert status == 200 and body == b""
            assert (await asyncio.to_thread(fetch, base + "/nope"))[0] == 404
            assert (await asyncio.to_thread(fetch, base + "/metrics", "POST"))[0] == 405
            assert (await asyncio.to_thread(fetch, base + "/"))[0] == 200
            # garbage and a silent client do not stop the server
            reader, writer = await asyncio.open_connection("127.0.0.1", srv.port)
            writer.write(b"\x00\xff garbage\r\n\r\n")
            await writer.drain()
            assert (await reader.read()).startswith(b"HTTP/1.0 400")
            writer.close()
            _, silent = await asyncio.open_connection("127.0.0.1", srv.port)
            assert (await asyncio.to_thread(fetch, base + "/metrics"))[0] == 200
            silent.close()

    asyncio.run(main())


def test_non_loopback_needs_permission() -> None:
    with pytest.raises(ValueError, match="loopback"):
        MetricsServer(Registry(), "0.0.0.0", 0)
    MetricsServer(Registry(), "0.0.0.0", 0, allow_non_loopback=True)  # constructed, not started
    MetricsServer(Registry(), "::1", 0)
    MetricsServer(Registry(), "localhost", 0)


def test_json_logging() -> None:
    buf = io.StringIO()
    setup_logging("json", "debug", stream=buf)
    log = logging.getLogger("qbg.station")
    log.debug("vsi %s associated", "u1", extra={"fields": {"interface": "eth0", "vid": 100}})
    try:
        raise RuntimeError("boom")
    except RuntimeError:
        log.exception("failed")
    lines = [json.loads(line) for line in buf.getvalue().splitlines()]
    assert lines[0]["msg"] == "vsi u1 associated" and lines[0]["level"] == "debug"
    assert lines[0]["interface"] == "eth0" and lines[0]["vid"] == 100
    assert lines[0]["logger"] == "qbg.station" and lines[0]["ts"].endswith("Z")
    assert "RuntimeError: boom" in lines[1]["exc"]


def test_human_logging_and_reconfigure() -> None:
    buf = io.StringIO()
    setup_logging("json", "info", stream=io.StringIO())
    setup_logging("human", "warning", stream=buf)  # replaces the first handler
    assert len([h for h in logging.getLogger("qbg").handlers if getattr(h, "_qbg", False)]) == 1
    log = logging.getLogger("qbg.bridge")
    log.info("hidden")
    log.warning("port %s down", "swp1", extra={"fields": {"vsis": 3}})
    out = buf.getvalue()
    assert "hidden" not in out
    assert re.search(
        r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3} WARNING qbg.bridge: port swp1 down vsis=3", out
    )
    with pytest.raises(ValueError):
        setup_logging("xml")
    with pytest.raises(ValueError):
        setup_logging("human", "loud")
