"""The addresses ``dataward`` servers listen on (``HOST:PORT``): parsed, then tried, before
anything starts.

Why here and not left to gRPC or the WSGI server: gRPC core takes ``127.0.0.1:99999`` and
listens on some other port without a word, and a port already taken surfaced as exit 70 "this
is a bug" with a raw core line (issue 14). Each failure is its own error with the address and
the setting or option it came from (an address is no secret), mapped in ``_exit_codes``:

- :class:`MalformedBindError` (78): not ``HOST:PORT``, or a port outside 1–65535 (0 stays
  allowed: any free port, the one printed);
- :class:`UnusableBindError` (78): well formed, but not an address of this machine, a host
  name that does not resolve, or a port this user may not open;
- :class:`AddressInUseError` (69): another program listens there (sysexits' "a service is
  unavailable": waiting does not free it; a second ``serve`` on the same zone is refused
  before this, 75, by the zone's writer lock).

A port free when tried may be taken before the server binds it; the server's own bind
failure then maps to :class:`AddressInUseError` too (:func:`in_use`).
"""

from __future__ import annotations

import errno
import ipaddress
import re
import socket
from dataclasses import dataclass

__all__ = [
    "AddressInUseError",
    "Bind",
    "BindError",
    "MalformedBindError",
    "UnusableBindError",
    "check_bindable",
    "in_use",
    "parse_bind",
]

_HOST_NAME = re.compile(
    r"^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$"
)
_MAX_PORT = 65535


class BindError(Exception):
    """A listening address that cannot be used; the message names it and where it came from."""


class MalformedBindError(BindError):
    """Not ``HOST:PORT`` with a port from 0 to 65535."""


class UnusableBindError(BindError):
    """Well formed, but this machine cannot listen there (not its address, no permission)."""


class AddressInUseError(BindError):
    """Another program already listens on the address."""


@dataclass(frozen=True)
class Bind:
    """A parsed listening address; ``host`` without the brackets of an IPv6 literal."""

    host: str
    port: int

    def at(self, port: int) -> str:
        """``host:port`` for the real ``port`` (the one port 0 got), IPv6 in brackets."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{port}"

    def __str__(self) -> str:
        return self.at(self.port)


def parse_bind(value: str, source: str) -> Bind:
    """``HOST:PORT`` (``[V6]:PORT`` for IPv6) into a :class:`Bind`, or
    :class:`MalformedBindError` naming ``source`` (e.g. ``--grpc-bind``, ``setting grpc.bind``)."""
    host, port = _split(value, source)
    if not port.isascii() or not port.isdigit():
        raise MalformedBindError(
            f"{source}: {value!r} is not HOST:PORT (the port must be a number, 0 for any free port)"
        )
    number = int(port)
    if number > _MAX_PORT:
        raise MalformedBindError(
            f"{source}: port {number} in {value!r} is outside 1-{_MAX_PORT} (0: any free port)"
        )
    return Bind(host, number)


def _split(value: str, source: str) -> tuple[str, str]:
    if "://" in value:
        raise MalformedBindError(f"{source}: {value!r} is a URL; give HOST:PORT")
    if value.startswith("["):
        inside, bracket, port = value[1:].partition("]:")
        try:
            if not bracket or ipaddress.ip_address(inside).version != 6:
                raise ValueError(inside)
        except ValueError:
            raise MalformedBindError(
                f"{source}: {value!r} is not [IPV6]:PORT (e.g. [::1]:8080)"
            ) from None
        return inside, port
    host, colon, port = value.rpartition(":")
    if not colon or not host:
        raise MalformedBindError(
            f"{source}: {value!r} is not HOST:PORT (e.g. 127.0.0.1:8080, 0.0.0.0:8080 for every "
            "address, port 0 for any free port)"
        )
    if ":" in host:
        raise MalformedBindError(
            f"{source}: {value!r}: write an IPv6 address in brackets, [::1]:PORT"
        )
    dotted_numbers = all(part.isdigit() for part in host.split("."))
    if dotted_numbers:
        try:
            ipaddress.IPv4Address(host)
        except ValueError:
            raise MalformedBindError(f"{source}: {host!r} is not an IPv4 address") from None
    elif not _HOST_NAME.match(host):
        raise MalformedBindError(f"{source}: {host!r} is not a host name or an IP address")
    return host, port


def check_bindable(bind: Bind, source: str) -> None:
    """Try to listen on ``bind`` (then let go at once), as the servers do (``SO_REUSEADDR``:
    a port left in TIME_WAIT by a previous run is free for them): :class:`AddressInUseError`
    when another program listens on one of its addresses, :class:`UnusableBindError` when none
    of them can be listened on."""
    try:
        addresses = socket.getaddrinfo(
            bind.host, bind.port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )
    except socket.gaierror as exc:
        raise UnusableBindError(f"{source}: cannot resolve {bind.host!r}: {exc.strerror}") from None
    failures: list[str] = []
    for family, kind, protocol, _name, address in addresses:
        with socket.socket(family, kind, protocol) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind(address)
            except OSError as exc:
                if exc.errno == errno.EADDRINUSE:
                    raise in_use(bind, source) from None
                failures.append(exc.strerror or str(exc))
    if len(failures) == len(addresses):
        raise UnusableBindError(f"{source}: cannot listen on {bind}: {failures[0]}")


def in_use(bind: Bind, source: str) -> AddressInUseError:
    """The error for ``bind`` taken by another program."""
    return AddressInUseError(
        f"{source}: {bind} is already in use by another program; stop it or choose another port"
    )
