"""The namespace kit and wait_for: what they promise every other test."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from hardware.lab import plumbing
from tests.support.netns import NetnsKit
from tests.support.wait import WaitTimeout, wait_for, wait_for_line


def test_wait_for_returns_the_value_and_names_what_timed_out() -> None:
    calls = iter([None, 0, "", "found"])
    assert wait_for(lambda: next(calls), timeout=5, interval=0.001) == "found"

    def broken() -> None:
        raise KeyError("not yet")

    started = time.monotonic()
    with pytest.raises(WaitTimeout, match=r"the answer not true after 0.2 s \(last error: KeyError\('not yet'\)\)"):
        wait_for(broken, timeout=0.2, interval=0.01, what="the answer")
    assert time.monotonic() - started >= 0.2
    assert issubclass(WaitTimeout, AssertionError)  # pytest reports a failure, not an error


def test_wait_for_line_shows_the_file_when_the_line_never_comes(tmp_path: Path) -> None:
    log = tmp_path / "x.log"
    log.write_text("starting\nready 42\n")
    assert wait_for_line(log, r"^ready (\d+)", 1).group(1) == "42"
    with pytest.raises(WaitTimeout):  # `after` skips what was there before
        wait_for_line(log, r"^starting", 0.1, after=len("starting\n"))
    with pytest.raises(WaitTimeout, match="(?s)never.*starting\nready 42"):
        wait_for_line(log, "never", 0.1)


@pytest.mark.root
def test_close_leaves_nothing_even_after_a_failure(tmp_path: Path) -> None:
    net = NetnsKit(tmp_path)
    with pytest.raises(RuntimeError, match="the test failed"):
        with net:
            server, client = net.ns("server"), net.ns("client")
            net.bridge(server, "br0", address="10.0.0.1/24", mac="02:00:00:00:00:01")
            net.plug(server, "br0", "port1", client, "eth0", mac="02:00:00:00:00:02")
            net.ip(client, "addr", "add", "10.0.0.2/24", "dev", "eth0")
            assert net.run(client, "ping", "-c", "1", "-W", "1", "10.0.0.1").returncode == 0
            # A process that leaves a grandchild behind (as dhcpcd forks), and one outside the
            # kit's own process list that merely runs in one of its namespaces.
            forker_log = tmp_path / "forker.log"
            forker = net.spawn(server, ["sh", "-c", "sleep 600 & echo started; wait"], log=forker_log,
                               ready=lambda: "started" in forker_log.read_text())
            stray = net.spawn(client, ["sleep", "600"])
            pids = plumbing.namespace_pids(server) + plumbing.namespace_pids(client)
            assert forker.pid in pids and stray.pid in pids and len(pids) >= 3
            raise RuntimeError("the test failed")
    assert not any((plumbing.NETNS_DIR / name).exists() for name in (server, client))
    assert plumbing.wait_gone(pids, 5) == []
    net.close()  # a second close is harmless


@pytest.mark.root
def test_spawn_fails_with_the_log_when_the_program_dies_before_it_is_ready(net: NetnsKit) -> None:
    ns = net.ns("one")
    with pytest.raises(AssertionError, match="(?s)it exited 3 first.*no such config"):
        net.spawn(ns, ["sh", "-c", "echo 'no such config' >&2; exit 3"], ready=lambda: False,
                  what="the daemon ready")
    with pytest.raises(AssertionError, match="(?s)the slow one not true after 0.3 s.*still starting"):
        net.spawn(ns, ["sh", "-c", "echo still starting; sleep 600"], ready=lambda: False, timeout=0.3,
                  what="the slow one")


@pytest.mark.root
def test_names_are_the_kits_own_and_links_stay_out_of_the_host(net: NetnsKit) -> None:
    a, b = net.ns("a"), net.ns("b")
    assert a.startswith(net.prefix) and net.prefix.startswith("kit-")
    net.veth(a, "kitv0", b, "kitv1")
    net.ip(a, "addr", "add", "192.0.2.1/24", "dev", "kitv0")
    assert net.addresses(a, "kitv0") == ["192.0.2.1/24"]
    assert plumbing.link_state(b, "kitv1") == "up"
    for name in ("kitv0", "kitv1"):  # made inside the namespaces, never in the host's
        assert plumbing.run(["ip", "link", "show", name], check=False) == ""
    with pytest.raises(ValueError, match="already has a namespace"):
        net.ns("a")
