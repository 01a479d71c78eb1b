"""qbg.control and qbg ctl over a real unix socket: replies, typed errors, hostile clients."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import socket
import stat
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from qbg import ctl
from qbg.control import ControlClient, ControlError, ControlServer, ControlUnreachable
from qbg.lldp.errors import LocalError

ROOT = Path(__file__).resolve().parents[2]


class ServerThread:
    """A ControlServer on its own event loop in a thread, so tests can use the sync client."""

    def __init__(self, path: Path, handlers: dict[str, Any], **kw: Any) -> None:
        self.loop = asyncio.new_event_loop()
        self.server = ControlServer(path, handlers, **kw)
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)

    def __enter__(self) -> ControlServer:
        self.thread.start()
        asyncio.run_coroutine_threadsafe(self.server.start(), self.loop).result(5)
        return self.server

    def __exit__(self, *exc: object) -> None:
        asyncio.run_coroutine_threadsafe(self.server.close(), self.loop).result(5)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)
        self.loop.close()


class Daemon:
    """Toy handlers with state, to check that refused requests change nothing."""

    def __init__(self) -> None:
        self.vsis: dict[str, dict[str, Any]] = {}
        self.calls = 0

    async def status(self, args: dict[str, Any]) -> Any:
        self.calls += 1
        return {
            "role": "station",
            "interfaces": [{"name": "eth0", "variant": "std", "link": "up",
                            "evb": {"state": "negotiated", "rr": True, "r": 3, "rte": 14,
                                    "rwd": 20, "rka": 20},
                            "vsis": {"ASSOCIATED": len(self.vsis)},
                            "ecp": {"sent": 2174, "retransmits": 1918, "give_ups": 139},
                            "vdp": {"window": 181, "batch": 65536}}],
        }  # fmt: skip

    async def assoc(self, args: dict[str, Any]) -> Any:
        self.calls += 1
        vsiid = args.get("vsiid")
        if not isinstance(vsiid, str):
            raise ControlError("bad_args", "vsiid must be a string")
        if vsiid in self.vsis:
            raise LocalError("EBUSY", "VSI is waiting for a response")
        self.vsis[vsiid] = {**args, "state": "ASSOCIATED"}
        return {"vsi": self.vsis[vsiid]}

    async def vsi_list(self, args: dict[str, Any]) -> Any:
        return {"vsis": list(self.vsis.values())}

    async def boom(self, args: dict[str, Any]) -> Any:
        raise ZeroDivisionError("bug in a handler")

    async def slow(self, args: dict[str, Any]) -> Any:
        await asyncio.sleep(float(args.get("s", 0.5)))
        return "late"

    async def unserialisable(self, args: dict[str, Any]) -> Any:
        return {"x": object()}

    def handlers(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "vsi.assoc": self.assoc,
            "vsi.list": self.vsi_list,
            "boom": self.boom,
            "slow": self.slow,
            "unserialisable": self.unserialisable,
        }


@pytest.fixture
def sock_path() -> Iterator[Path]:
    d = tempfile.mkdtemp(prefix="qbg-ctl-")  # short: sun_path holds 108 bytes
    yield Path(d) / "ctl.sock"
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture
def daemon() -> Daemon:
    return Daemon()


@pytest.fixture
def server(sock_path: Path, daemon: Daemon) -> Iterator[ControlServer]:
    with ServerThread(
        sock_path, daemon.handlers(), allowed_uids={os.getuid()}, handler_timeout=2.0
    ) as srv:
        yield srv


def raw(
    path: Path, data: bytes, *, read: bool = True, timeout: float = 5.0
) -> list[dict[str, Any]]:
    """Send bytes on a fresh connection, read replies until the server closes or goes quiet."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(timeout)
    s.connect(str(path))
    try:
        try:
            s.sendall(data)
            s.shutdown(socket.SHUT_WR)
        except OSError:
            pass  # the server hung up on us (too_large): its reply is still readable
        if not read:
            return []
        buf = b""
        while True:
            try:
                chunk = s.recv(65536)
            except (ConnectionResetError, TimeoutError):
                break
            if not chunk:
                break
            buf += chunk
        return [json.loads(line) for line in buf.splitlines() if line.strip()]
    finally:
        s.close()


def alive(path: Path) -> None:
    with ControlClient(path, timeout=5) as c:
        assert c.call("ping") == {"pong": True}


# --- requests and typed errors --------------------------------------------------------------


def test_ok_and_builtin_commands(server: ControlServer, sock_path: Path) -> None:
    with ControlClient(sock_path) as c:
        assert c.call("status")["role"] == "station"
        assert "vsi.assoc" in c.call("commands")["commands"]
        reply = c.request({"cmd": "status", "args": {}, "id": 42})
        assert reply["id"] == 42 and reply["ok"] is True
        reply = c.request({"cmd": "status", "id": "abc"})  # args optional, string id
        assert reply["id"] == "abc" and reply["ok"] is True
    assert server.requests == 4


def test_socket_mode_is_0600(server: ControlServer, sock_path: Path) -> None:
    st_ = sock_path.stat()
    assert stat.S_ISSOCK(st_.st_mode)
    assert stat.S_IMODE(st_.st_mode) == 0o600


def test_handler_errors_are_typed(server: ControlServer, sock_path: Path, daemon: Daemon) -> None:
    with ControlClient(sock_path) as c:
        c.call("vsi.assoc", vsiid="u1")
        with pytest.raises(ControlError) as info:
            c.call("vsi.assoc", vsiid="u1")
        assert info.value.code == "EBUSY"
        with pytest.raises(ControlError) as info:
            c.call("vsi.assoc", vsiid=5)
        assert info.value.code == "bad_args"
        with pytest.raises(ControlError) as info:
            c.call("boom")
        assert info.value.code == "internal" and "ZeroDivisionError" in info.value.message
        with pytest.raises(ControlError) as info:
            c.call("unserialisable")
        assert info.value.code == "internal"
        with pytest.raises(ControlError) as info:
            c.call("slow", s=10)
        assert info.value.code == "timeout"
        with pytest.raises(ControlError) as info:
            c.call("no.such.command")
        assert info.value.code == "unknown_command"
        assert list(daemon.vsis) == ["u1"]  # nothing half-applied
        assert c.call("ping") == {"pong": True}  # same connection still usable
    assert server.rejected == 6


@pytest.mark.parametrize(
    ("line", "code"),
    [
        (b"{not json\n", "bad_json"),
        (b"\xff\xfe\xfd\n", "bad_json"),
        (b"[1, 2]\n", "bad_request"),
        (b'"status"\n', "bad_request"),
        (b'{"cmd": 5}\n', "bad_request"),
        (b'{"cmd": ""}\n', "bad_request"),
        (b'{"cmd": "status", "args": [1]}\n', "bad_request"),
        (b'{"cmd": "status", "args": "x"}\n', "bad_request"),
        (b'{"cmd": "status", "id": [1]}\n', "bad_request"),
        (b'{"cmd": "status", "id": true}\n', "bad_request"),
        (b'{"cmd": "status", "extra": 1}\n', "bad_request"),
        (b'{"cmd": "' + b"x" * 100 + b'"}\n', "bad_request"),
        (b"[" * 100_000 + b"\n", "too_large"),
        (b"[" * 50_000 + b"\n", "bad_json"),  # deep nesting: RecursionError inside json
    ],
)
def test_bad_envelopes(
    server: ControlServer, sock_path: Path, daemon: Daemon, line: bytes, code: str
) -> None:
    good = b'{"cmd": "ping", "id": 1}\n'
    replies = raw(sock_path, line + good)
    assert replies[0]["ok"] is False and replies[0]["error"]["code"] == code
    assert set(replies[0]["error"]) >= {"code", "message"}
    if code != "too_large":  # the connection survives everything but an unframeable line
        assert replies[1] == {"id": 1, "ok": True, "result": {"pong": True}}
    assert daemon.calls == 0
    alive(sock_path)


def test_huge_payload_is_refused_and_closed(server: ControlServer, sock_path: Path) -> None:
    big = json.dumps({"cmd": "vsi.assoc", "args": {"vsiid": "x" * 2_000_000}}).encode() + b"\n"
    replies = raw(sock_path, big + b'{"cmd": "ping"}\n')
    assert len(replies) == 1 and replies[0]["error"]["code"] == "too_large"
    assert server.rejected == 1
    alive(sock_path)


def test_just_under_the_limit_is_accepted(server: ControlServer, sock_path: Path) -> None:
    req = {"cmd": "vsi.assoc", "args": {"vsiid": ""}, "id": 1}
    pad = 64 * 1024 - len(json.dumps(req)) - 1
    req["args"] = {"vsiid": "x" * pad}
    line = json.dumps(req).encode() + b"\n"
    assert len(line) == 64 * 1024
    replies = raw(sock_path, line)
    assert replies[0]["ok"] is True


def test_early_close_and_garbage(server: ControlServer, sock_path: Path, daemon: Daemon) -> None:
    raw(sock_path, b'{"cmd": "vsi.assoc", "args": {"vsiid": "half', read=False)
    raw(sock_path, b"", read=False)
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)  # closes while the handler runs
    s.connect(str(sock_path))
    s.sendall(b'{"cmd": "slow", "args": {"s": 0.2}}\n')
    s.close()
    raw(sock_path, os.urandom(4096) + b"\n" + os.urandom(100))
    time.sleep(0.4)
    assert daemon.vsis == {}
    alive(sock_path)


def test_peer_credentials_refused(sock_path: Path, daemon: Daemon) -> None:
    not_me = os.getuid() + 12345
    with ServerThread(sock_path, daemon.handlers(), allowed_uids={not_me}) as srv:
        with ControlClient(sock_path) as c, pytest.raises(ControlError) as info:
            c.call("status")
        assert info.value.code == "permission_denied"
        assert srv.rejected == 1 and daemon.calls == 0
        assert srv.requests == 0


def test_default_allows_root_only(sock_path: Path, daemon: Daemon) -> None:
    srv = ControlServer(sock_path, daemon.handlers())
    assert srv.allowed_uids == frozenset({0}) and srv.mode == 0o600


def test_stale_socket_replaced_live_one_kept(sock_path: Path, daemon: Daemon) -> None:
    stale = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    stale.bind(str(sock_path))
    stale.close()  # file left behind, nobody listening
    with ServerThread(sock_path, daemon.handlers(), allowed_uids=None):
        alive(sock_path)
        second = ControlServer(sock_path, {})
        with pytest.raises(RuntimeError, match="another daemon"):
            asyncio.run(second.start())
        alive(sock_path)
    assert not sock_path.exists()
    sock_path.write_text("not a socket")
    with pytest.raises(FileExistsError):
        asyncio.run(ControlServer(sock_path, {}).start())


def test_client_unreachable(sock_path: Path) -> None:
    with pytest.raises(ControlUnreachable):
        ControlClient(sock_path).call("status")


def test_on_reject_callback(sock_path: Path, daemon: Daemon) -> None:
    codes: list[str] = []
    with ServerThread(sock_path, daemon.handlers(), allowed_uids=None, on_reject=codes.append):
        raw(sock_path, b"nope\n{}\n")
    assert codes == ["bad_json", "bad_request"]


JSONISH = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=8),
    lambda c: (
        st.lists(c, max_size=3)
        | st.dictionaries(st.sampled_from(["cmd", "args", "id", "x"]), c, max_size=4)
    ),
    max_leaves=10,
)
LINES = st.one_of(
    st.binary(max_size=200),
    st.text(max_size=200).map(str.encode),
    JSONISH.map(lambda v: json.dumps(v).encode()),
)


@settings(max_examples=200, deadline=None)
@given(line=LINES)
def test_handle_line_is_total(line: bytes) -> None:
    d = Daemon()
    srv = ControlServer("/nonexistent/never-bound.sock", d.handlers(), handler_timeout=0.05)
    reply = asyncio.run(srv.handle_line(line))
    assert isinstance(reply, dict) and isinstance(reply["ok"], bool)
    json.dumps(reply)
    if not reply["ok"]:
        assert isinstance(reply["error"]["code"], str) and reply["error"]["message"]


# --- qbg ctl on top of it ---------------------------------------------------------------------


def parse(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="qbg")
    sub = p.add_subparsers(dest="command")
    ctl.register(sub)
    return p.parse_args(argv)


def run_ctl(argv: list[str]) -> int:
    ns = parse(argv)
    rc: int = ns.func(ns)
    return rc


VSI = [
    "-i", "eth0", "-c", "mgrid2=pkmgr", "-c", "typeid=5", "-c", "typeidver=4",
    "-c", "uuid=00000000-0000-4000-8000-000000000001", "-c", "hints=none",
    "-c", "filter=100-02:aa:00:00:00:01",
]  # fmt: skip


def test_ctl_exit_codes_and_output(
    server: ControlServer, sock_path: Path, daemon: Daemon, capsys: pytest.CaptureFixture[str]
) -> None:
    s = ["--socket", str(sock_path)]
    assert run_ctl(["ctl", *s, "status"]) == 0
    out = capsys.readouterr().out
    assert "eth0" in out and "negotiated" in out and "3/14/20/20" in out
    assert "ECP TX/RETX/GIVE-UP" in out and "2174/1918/139" in out and " 181" in out
    assert run_ctl(["ctl", *s, "vsi", "assoc", *VSI, "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["vsi"]["filters"] == [
        {"vid": 100, "ps": False, "pcp": 0, "mac": "02:aa:00:00:00:01"}
    ]
    assert result["vsi"]["manager_id"] == "pkmgr" and result["vsi"]["type_id"] == 5
    assert run_ctl(["ctl", *s, "vsi", "list"]) == 0
    assert "ASSOCIATED" in capsys.readouterr().out
    assert run_ctl(["ctl", *s, "vsi", "assoc", *VSI]) == 1  # EBUSY
    assert "EBUSY" in capsys.readouterr().err
    assert run_ctl(["ctl", *s, "--json", "vsi", "assoc", *VSI]) == 1
    assert json.loads(capsys.readouterr().out)["error"]["code"] == "EBUSY"
    assert run_ctl(["ctl", *s, "policy", "show"]) == 1  # unknown_command on a station
    capsys.readouterr()
    bad = [*VSI[:-1], "filter=1-02:aa:00:00:00:01"]  # VID 1
    assert run_ctl(["ctl", *s, "vsi", "assoc", *bad]) == 2
    assert "VID" in capsys.readouterr().err
    assert run_ctl(["ctl", *s, "vsi", "assoc", "-i", "eth0"]) == 2
    assert run_ctl(["ctl", "--socket", str(sock_path) + ".none", "status"]) == 3
    assert len(daemon.vsis) == 1


def test_ctl_filter_forms() -> None:
    assert ctl.parse_filter("100") == ("vid", {"vid": 100, "ps": False, "pcp": 0})
    assert ctl.parse_filter("0xd064")[1] == {"vid": 100, "ps": True, "pcp": 5}
    assert ctl.parse_filter("0-02:aa:00:00:00:01")[0] == "mac-vid"
    assert ctl.parse_filter("0--74565") == (
        "group-vid",
        {"vid": 0, "ps": False, "pcp": 0, "group_id": 74565},
    )
    fmt, e = ctl.parse_filter("vid=5,mac=02:aa:00:00:00:01,group=7,pcp=2")
    assert fmt == "group-mac-vid" and e["ps"] and e["pcp"] == 2
    for bad in ("4095", "1", "x", "5-01:00:5e:00:00:01", "5--0", "vid=5,colour=red", "pcp=3"):
        with pytest.raises(ctl.UsageError):
            ctl.parse_filter(bad)


def test_ctl_requests() -> None:
    uuid = "00000000-0000-4000-8000-000000000001"
    cmd, args = ctl.build_request(
        parse(["ctl", "vsi", "deassoc", "-i", "p1", "--vsiid", uuid, "--hard"])
    )
    assert cmd == "vsi.deassoc" and args["hard"] is True and args["interface"] == "p1"
    cmd, args = ctl.build_request(parse(["ctl", "policy", "set", "-i", "p1", "max_vsis_per_port=5",
                                         "mode=type_db"]))  # fmt: skip
    assert (cmd, args) == (
        "policy.set",
        {"interface": "p1", "settings": {"max_vsis_per_port": 5, "mode": "type_db"}},
    )
    cmd, args = ctl.build_request(parse(["ctl", "vsi", "preassoc-rr", *VSI]))
    assert cmd == "vsi.preassoc_rr"
    with pytest.raises(ctl.UsageError, match="contradicts"):
        ctl.build_request(parse(["ctl", "vsi", "preassoc", *VSI, "-c", "mode=assoc"]))
    with pytest.raises(ctl.UsageError, match="same form"):
        ctl.build_request(parse(["ctl", "vsi", "assoc", *VSI, "--filter", "200"]))


def test_check_config_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run_ctl(["check-config", str(ROOT / "examples" / "station.yaml")]) == 0
    assert "OK (station)" in capsys.readouterr().out
    assert run_ctl(["check-config", "--json", str(ROOT / "examples" / "bridge.yaml")]) == 0
    assert json.loads(capsys.readouterr().out)["role"] == "bridge"
    bad = tmp_path / "b.yaml"
    bad.write_text("role: station\ninterfaces:\n  - name: eth0\n    evb: {rte: fast}\n")
    assert run_ctl(["check-config", str(bad)]) == 2
    assert (
        "b.yaml:4: interfaces[0].evb.rte: expected an integer 0..31, got 'fast'"
        in capsys.readouterr().err
    )
