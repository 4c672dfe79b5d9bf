"""pos.ports: a port is bound first, and a port that cannot be had is one plain line."""

from __future__ import annotations

import socket

import pytest

from pos.ports import PortUnavailable, bind, bind_all


def test_bind_listens_on_the_port_it_names():
    with bind("127.0.0.1", 0, change="use --port") as sock:
        port = sock.getsockname()[1]
        with socket.create_connection(("127.0.0.1", port), timeout=5):
            pass  # accepted by the kernel's queue: the socket is listening


def test_a_port_in_use_names_the_port_and_what_moves_it(busy_port):
    with pytest.raises(PortUnavailable) as caught:
        bind("127.0.0.1", busy_port, change="set [till] port or --port")
    assert str(caught.value) == f"port {busy_port} is in use (set [till] port or --port)"
    assert not isinstance(caught.value, OSError)  # no `except OSError` on the way up rewords it


def test_an_address_this_machine_does_not_have_names_the_host_setting():
    with pytest.raises(PortUnavailable) as caught:
        # 192.0.2.0/24 is TEST-NET-1: never an address of this machine
        bind("192.0.2.1", 0, change="set [till] port or --port", change_host="set [till] host or --host")
    message = str(caught.value)
    assert message.startswith("cannot listen on 192.0.2.1:0: ")
    assert message.endswith("(set [till] host or --host)")


def test_a_port_beyond_tcp_is_refused_before_any_socket():
    with pytest.raises(PortUnavailable, match=r"port 70000 is not a TCP port \(0\.\.65535; use --port\)"):
        bind("127.0.0.1", 70000, change="use --port")


def test_bind_all_closes_what_it_bound_when_one_port_is_taken(busy_port):
    with bind("127.0.0.1", 0, change="-") as probe:
        free = probe.getsockname()[1]
    with pytest.raises(PortUnavailable, match=f"port {busy_port} is in use \\(use --b\\)") as caught:
        bind_all("127.0.0.1", {"a": (free, "use --a"), "b": (busy_port, "use --b")})
    # "a" was let go, though the traceback in `caught` still holds bind_all's frame and its sockets
    assert caught.traceback
    with bind("127.0.0.1", free, change="-"):
        pass
    sockets = bind_all("127.0.0.1", {"a": (0, "use --a"), "c": (0, "use --c")})
    try:
        assert sorted(sockets) == ["a", "c"]
        assert all(sock.getsockname()[1] > 0 for sock in sockets.values())
    finally:
        for sock in sockets.values():
            sock.close()
