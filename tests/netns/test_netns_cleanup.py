"""The topology helpers clean up after themselves, on success, failure and signals."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from qbg.interop.netns import PREFIX, Topology, created_namespaces, unique_name

pytestmark = pytest.mark.netns

ROOT = Path(__file__).resolve().parents[2]


def namespaces() -> set[str]:
    out = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    return {line.split()[0] for line in out.splitlines() if line.strip()}


def test_unique_names() -> None:
    names = {unique_name("x") for _ in range(1000)}
    assert len(names) == 1000 and all(n.startswith(PREFIX + "x") for n in names)


def test_context_manager_deletes_everything() -> None:
    with Topology() as topo:
        a, b = topo.netns("a"), topo.netns("b")
        topo.veth(a, "va", b, "vb")
        topo.bridge(b, "br0", ports=["vb"])
        assert {a.name, b.name} <= namespaces()
        assert {a.name, b.name} <= created_namespaces()
    assert not {a.name, b.name} & namespaces()
    assert not {a.name, b.name} & created_namespaces()


def test_cleanup_on_exception_and_kills_own_processes() -> None:
    with pytest.raises(RuntimeError), Topology() as topo:
        ns = topo.netns("p")
        proc = ns.spawn("sleep", "60")
        name = ns.name
        raise RuntimeError("test failure inside the topology")
    assert proc.poll() is not None  # killed by PID
    assert name not in namespaces()


def test_failed_creation_is_still_cleaned_up() -> None:
    with Topology() as topo:
        a = topo.netns("a")
        with pytest.raises(subprocess.CalledProcessError):
            topo.veth(a, "bad name with spaces", a, "x")
        name = a.name
    assert name not in namespaces()


def _child(body: str) -> subprocess.Popen[str]:
    code = textwrap.dedent(
        f"""
        import sys, time
        sys.path.insert(0, {str(ROOT)!r})
        from qbg.interop.netns import Topology
        {body}
        """
    )
    return subprocess.Popen(
        [sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def test_keyboard_interrupt_cleans_up() -> None:
    proc = _child(
        """
        with Topology() as topo:
            print(topo.netns("ki").name, flush=True)
            time.sleep(30)
        """
    )
    assert proc.stdout is not None
    name = proc.stdout.readline().strip()
    assert name in namespaces()
    os.kill(proc.pid, signal.SIGINT)
    proc.wait(10)
    assert name not in namespaces()


def test_sigterm_cleans_up() -> None:
    proc = _child(
        """
        topo = Topology()  # no with-block: only the signal safety net can clean up
        print(topo.netns("term").name, flush=True)
        time.sleep(30)
        """
    )
    assert proc.stdout is not None
    name = proc.stdout.readline().strip()
    assert name in namespaces()
    os.kill(proc.pid, signal.SIGTERM)
    proc.wait(10)
    assert name not in namespaces()


def test_atexit_cleans_up() -> None:
    proc = _child(
        """
        topo = Topology()
        print(topo.netns("exit").name, flush=True)
        """
    )
    out, _ = proc.communicate(timeout=20)
    assert out.strip() and out.strip() not in namespaces()


def test_forked_children_do_not_clean_the_parents_topology() -> None:
    """pyroute2 forks a helper per namespaced socket and SIGTERMs it: the inherited handler
    must not delete the parent's namespaces (this bug was real)."""
    from qbg.netlink import get_link

    with Topology() as topo:
        a = topo.netns("fork")
        for _ in range(20):
            assert get_link("lo", netns=a.name) is not None
        assert a.name in namespaces()


def test_refuses_to_delete_foreign_names() -> None:
    from qbg.interop import netns as mod

    with pytest.raises(ValueError):
        mod._delete_namespace("not-ours")
