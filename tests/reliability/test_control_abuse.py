"""Bad control-socket requests, bad configuration, peer credentials and capabilities.

Every refused request must leave the daemon alive and its state unchanged (docs/control.md
"Errors"); a bad configuration must stop the daemon before it touches anything
(docs/config.md "All or nothing"); the socket admits root only by default (SO_PEERCRED) and the
daemons run with only CAP_NET_RAW and CAP_NET_ADMIN (examples/systemd/).
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from qbg.interop.testbed import Testbed

from .ctlclient import Ctl
from .netbed import bed, mac

pytestmark = pytest.mark.netns

ROOT = Path(__file__).resolve().parents[2]

BAD_LINES: list[tuple[bytes, str]] = [
    (b"not json\n", "bad_json"),
    (b"\xff\xfe\n", "bad_json"),
    (b"[" * 5000 + b"]" * 5000 + b"\n", "bad_json"),
    (b"[1, 2]\n", "bad_request"),
    (b'"ping"\n', "bad_request"),
    (b"{}\n", "bad_request"),
    (b'{"cmd": 5}\n', "bad_request"),
    (b'{"cmd": ""}\n', "bad_request"),
    (b'{"cmd": "' + b"x" * 65 + b'"}\n', "bad_request"),
    (b'{"cmd": "status", "args": []}\n', "bad_request"),
    (b'{"cmd": "status", "id": 1.5}\n', "bad_request"),
    (b'{"cmd": "status", "id": {}}\n', "bad_request"),
    (b'{"cmd": "status", "extra": 1}\n', "bad_request"),
    (b'{"cmd": "no.such.command"}\n', "unknown_command"),
    (b'{"cmd": "policy.show"}\n', "unknown_command"),  # a bridge command on a station
    (b'{"cmd": "vsi.assoc", "args": {}}\n', "bad_args"),
    (b'{"cmd": "vsi.assoc", "args": {"interface": 7}}\n', "bad_args"),
    (b'{"cmd": "vsi.assoc", "args": {"interface": "nope"}}\n', "not_found"),
    (
        b'{"cmd": "vsi.assoc", "args": {"interface": "uplink", "manager_id": "pkmgr", '
        b'"type_id": "5", "type_version": 4, "vsiid": "00000000-0000-4000-8000-000000000009", '
        b'"filters": [{"vid": 100, "mac": "02:aa:00:00:00:09"}]}}\n',
        "bad_args",
    ),
    (
        b'{"cmd": "vsi.assoc", "args": {"interface": "uplink", "manager_id": "pkmgr", '
        b'"type_id": 5, "type_version": 4, "vsiid": "00000000-0000-4000-8000-000000000009", '
        b'"filters": [{"vid": 4095, "mac": "02:aa:00:00:00:09"}]}}\n',
        "bad_args|EINVAL",
    ),
    (
        b'{"cmd": "vsi.assoc", "args": {"interface": "uplink", "manager_id": "pkmgr", '
        b'"type_id": 5, "type_version": 4, "vsiid": "not-a-uuid", '
        b'"filters": [{"vid": 100, "mac": "02:aa:00:00:00:09"}]}}\n',
        "bad_args|EINVAL",
    ),
    (
        b'{"cmd": "vsi.assoc", "args": {"interface": "uplink", "manager_id": "pkmgr", '
        b'"type_id": 5, "type_version": 4, "vsiid": "00000000-0000-4000-8000-000000000009", '
        b'"filters": [{"vid": 100, "mac": "01:00:5e:00:00:01"}]}}\n',
        "EINVAL",  # valid JSON types, invalid VSI (vdp.md §7.3): the core's client rule
    ),
    (b'{"cmd": "vsi.deassoc", "args": {"interface": "uplink", "vsiid": 3}}\n', "bad_args"),
]


def _station(tb: Testbed) -> None:
    tb.start_bridge()
    tb.start_station(0, vsis=[tb.vsi(1)])
    tb.wait_for(lambda: tb.fdb_macs() == {mac(1)}, what="association")


def _snapshot(tb: Testbed) -> tuple[object, ...]:
    st = tb.ctl("station0", "vsi", "list")["vsis"]
    br = tb.ctl("bridge", "vsi", "list")["vsis"]
    strip = [{k: v for k, v in x.items() if k not in ("state",)} for x in st]
    return (json.dumps(strip, sort_keys=True), json.dumps(br, sort_keys=True), tb.fdb_macs())


def test_bad_requests_get_typed_errors_and_change_nothing() -> None:
    with bed(1) as tb:
        _station(tb)
        before = _snapshot(tb)
        sock = tb.daemons["station0"].socket
        tried = 0
        with Ctl(sock) as c:
            for line, code in BAD_LINES:
                c.send_raw(line)
                reply = c.line()
                assert reply is not None and reply["ok"] is False, (line[:80], reply)
                assert reply["error"]["code"] in code.split("|"), (line[:80], reply)
                tried += 1
            assert c.call("ping")["result"] == {"pong": True}  # connection still usable
        # too large: one error, connection closed, daemon fine
        with Ctl(sock) as c:
            c.send_raw(b'{"cmd": "ping", "args": {"x": "' + b"a" * (70 * 1024) + b'"}}\n')
            reply = c.line()
            assert reply is not None and reply["error"]["code"] == "too_large"
            assert c.line() is None
        # closed early: half a request, a request without newline, an idle connection
        for partial in (b'{"cmd": "vsi.as', b'{"cmd": "ping"}', b""):
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.connect(str(sock))
            s.sendall(partial)
            s.close()
            tried += 1
        # a burst of connections beyond the limit (64): "busy", the others keep working
        conns = []
        busy = 0
        try:
            for _ in range(80):
                c = Ctl(sock, timeout=5)
                conns.append(c)
            for c in conns:
                reply = c.call("ping")
                busy += reply.get("ok") is False and reply["error"]["code"] == "busy"
        except (ConnectionError, OSError, AssertionError):
            busy += 1
        finally:
            for c in conns:
                c.close()
        assert busy > 0
        time.sleep(0.5)
        assert tb.daemons["station0"].alive() and tb.daemons["bridge"].alive()
        assert _snapshot(tb) == before
        status = tb.ctl("station0", "status")
        assert status["role"] == "station"
        print(f"\ncontrol abuse: {tried} bad requests/connections, {busy} busy refusals")


def _as_nobody(path: Path) -> subprocess.CompletedProcess[str]:
    """Connect to the control socket as uid 65534 (a forked child; no interpreter needed)."""
    code = (
        "import os, socket, sys\n"
        "os.setgid(65534); os.setuid(65534)\n"
        "s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)\n"
        "try:\n"
        f"    s.connect({str(path)!r})\n"
        "except OSError as e:\n"
        "    print('connect-error', e.errno); sys.exit(0)\n"
        "try:\n"
        '    s.sendall(b\'{"cmd": "status"}\\n\')\n'
        "except OSError:\n"
        "    pass  # the daemon may refuse and close before we write: its reply is still queued\n"
        "print(s.recv(65536).decode().strip())\n"
    )
    # the interpreter is read before setuid, so the child can use it
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=30)


def test_control_socket_is_root_only_with_peer_credentials() -> None:
    with bed(1) as tb:
        _station(tb)
        sock = tb.daemons["station0"].socket
        assert (sock.stat().st_mode & 0o777) == 0o600
        # file mode keeps other users out ...
        os.chmod(tb.dir, 0o755)
        out = _as_nobody(sock).stdout
        assert "connect-error 13" in out, out
        # ... and with the file opened up, SO_PEERCRED still refuses them
        os.chmod(sock, 0o666)
        p = _as_nobody(sock)
        out = p.stdout
        assert out.strip(), p.stderr
        reply = json.loads(out)
        assert reply["ok"] is False and reply["error"]["code"] == "permission_denied", out
        assert tb.ctl("station0", "vsi", "list")["vsis"]  # root still served
        metrics = tb.ctl("station0", "status")
        assert metrics["role"] == "station"


def test_bad_config_half_applies_nothing() -> None:
    """A bridge config whose second port is wrong: exit 2 before the kernel is touched (no
    nftables table, no hairpin, no socket, no state file)."""
    with bed(2) as tb:
        good = tb.bridge_config()
        bad = good.replace("swp2\n    evb: {rte: 8, rka: 20}", "swp2\n    evb: {rte: 99, rka: 20}")
        assert bad != good
        cases = {
            "bad-port": bad,
            "bad-policy": good + "policy:\n  mode: type_db\n  types: [{type_id: 5, vlans: [1]}]\n",
            "unknown-key": good + "policy:\n  mac_migraton: true\n",
            "not-yaml": good + "policy: [\n",
            "huge": good + "policy:\n  types:\n" + "    - {type_id: 1}\n" * 300_000,
        }
        for name, text in cases.items():
            cfg = tb.dir / f"{name}.yaml"
            cfg.write_text(text)
            p = tb.switch.run(
                sys.executable, "-m", "qbg.cli", "bridge", "-c", str(cfg), check=False, timeout=60
            )
            assert p.returncode == 2, (name, p.returncode, p.stderr[-500:])
            assert f"{name}.yaml" in p.stderr, (name, p.stderr[-300:])
            nft = tb.switch.run("nft", "list", "tables", check=False).stdout
            assert "qbg" not in nft, (name, nft)
            assert not tb.hairpin(0) and not tb.hairpin(1)
            assert not (tb.dir / "bridge.sock").exists()
            assert not (tb.dir / "bridge.state.json").exists()


CAPS = "net_raw,net_admin"


def _capabilities(pid: int) -> dict[str, int]:
    out = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("Cap"):
            k, v = line.split(":")
            out[k] = int(v.strip(), 16)
    return out


@pytest.mark.parametrize(
    "role",
    ["bridge", "station"],
)
def test_daemon_runs_with_only_net_raw_and_net_admin(role: str) -> None:
    """The daemon under the capabilities of examples/systemd/qbg-ROLE.service: bounding,
    permitted, effective and ambient sets hold CAP_NET_RAW and CAP_NET_ADMIN only, securebits
    noroot (uid 0 gets no capabilities from exec) and no_new_privs; it negotiates, associates
    and programs the bridge like a fully privileged one."""
    unit = (ROOT / "examples" / "systemd" / f"qbg-{role}.service").read_text()
    assert "AmbientCapabilities=CAP_NET_RAW CAP_NET_ADMIN" in unit
    assert "CapabilityBoundingSet=CAP_NET_RAW CAP_NET_ADMIN" in unit
    assert "NoNewPrivileges=yes" in unit and "ProtectSystem=strict" in unit
    want = (1 << 12) | (1 << 13)  # CAP_NET_ADMIN = 12, CAP_NET_RAW = 13
    setpriv = [
        "setpriv",
        "--no-new-privs",
        "--securebits=+noroot,+noroot_locked",
        f"--inh-caps=-all,+{CAPS.replace(',', ',+')}",
        f"--ambient-caps=-all,+{CAPS.replace(',', ',+')}",
        f"--bounding-set=-all,+{CAPS.replace(',', ',+')}",
    ]
    with bed(1) as tb:
        d_ns = tb.switch if role == "bridge" else tb.hosts[0]
        if role == "station":
            tb.start_bridge()
            text = tb.station_config(0, [tb.vsi(1)])
        else:
            text = tb.bridge_config()
        cfg = tb.dir / f"capped-{role}.yaml"
        cfg.write_text(text)
        log = open(tb.dir / f"capped-{role}.log", "wb")  # noqa: SIM115
        proc = d_ns.spawn(
            *setpriv, sys.executable, "-m", "qbg.cli", role, "-c", str(cfg),
            stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        log.close()
        try:
            sock = tb.dir / (("bridge" if role == "bridge" else "station0") + ".sock")
            tb.wait_for(lambda: sock.exists() or proc.poll() is not None, what="capped daemon")
            assert proc.poll() is None, (tb.dir / f"capped-{role}.log").read_text()[-2000:]
            # ``ip netns exec`` execs setpriv, which execs python: the PID is the daemon's
            caps = _capabilities(proc.pid)
            assert caps["CapBnd"] == want and caps["CapPrm"] == want, caps
            assert caps["CapEff"] == want and caps["CapAmb"] == want, caps
            nnp = Path(f"/proc/{proc.pid}/status").read_text()
            assert "NoNewPrivs:\t1" in nnp
            if role == "station":
                tb.wait_for(lambda: tb.fdb_macs() == {mac(1)}, what="association by capped")
            else:
                tb.start_station(0, vsis=[tb.vsi(1)])
                tb.wait_for(lambda: tb.fdb_macs() == {mac(1)}, what="FDB by capped bridge")
                tb.wait_for(lambda: tb.hairpin(0), what="hairpin by capped bridge")
                nft = tb.switch.run("nft", "list", "tables").stdout
                assert "qbg" in nft
            with Ctl(sock) as c:
                reply = c.call("status")
            assert reply["ok"], reply
            text_log = (tb.dir / f"capped-{role}.log").read_text()
            assert "Operation not permitted" not in text_log, text_log[-2000:]
        finally:
            d_ns.stop(proc)
