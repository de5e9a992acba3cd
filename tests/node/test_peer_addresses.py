"""Which addresses a learned peer may be contacted at (``learn_private`` off), and the
anti-entropy session budget's constants."""

from __future__ import annotations

import socket

import pytest

from node.federation.addresses import PrivateAddress, is_private, public_only_socket
from node.federation.budget import SESSION_ROUNDS
from protocol.reconcile import DEFAULT_LIMITS


@pytest.mark.parametrize(
    "host",
    [
        "127.0.0.1",
        "127.8.9.1",
        "::1",
        "10.1.2.3",
        "172.16.0.1",
        "192.168.1.1",
        "169.254.169.254",
        "fe80::1%eth0",
        "fd00::1",
        "0.0.0.0",
        "::",
        "::ffff:127.0.0.1",
        "::ffff:10.0.0.1",
        "224.0.0.1",
        "not an address",
    ],
)
def test_private_addresses(host: str) -> None:
    assert is_private(host)


@pytest.mark.parametrize("host", ["93.184.216.34", "8.8.8.8", "2606:4700::1111"])
def test_public_addresses(host: str) -> None:
    assert not is_private(host)


def test_the_socket_factory_refuses_before_any_socket_exists() -> None:
    info = (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.1", 80))
    with pytest.raises(PrivateAddress, match="learn_private"):
        public_only_socket(info)
    public = public_only_socket((socket.AF_INET, socket.SOCK_STREAM, 6, "", ("8.8.8.8", 80)))
    public.close()


def test_a_full_session_is_the_initiators_round_cap() -> None:
    assert DEFAULT_LIMITS.max_rounds == SESSION_ROUNDS
