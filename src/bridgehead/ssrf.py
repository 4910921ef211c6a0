"""The server-side request forgery guard: which addresses an outbound request may reach.

Bridgehead fetches URLs that others choose: an OpenAPI connector's backend and
spec, a client's metadata document and its keys (Client ID Metadata Documents).
The check runs where the connection is made, on the addresses the host name
resolves to, and the connection then goes to the address that was checked — so
a DNS answer that changes between check and connect (rebinding) or a redirect
cannot lead a request somewhere the check did not see.

By default only public addresses are reachable. A guard may open loopback and
private ranges (internal APIs live there: the openapi connector's
``allow_private_network``) or loopback alone (a development switch for client
metadata documents). Link-local addresses (among them the cloud metadata service
at 169.254.169.254), multicast, unspecified and reserved addresses stay closed
whatever the setting: nothing Bridgehead talks to is served from them.
"""

from __future__ import annotations

import ipaddress
import socket
import ssl
from collections.abc import Iterable
from typing import Any

import anyio
import httpcore
import httpx

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

_THIS_NETWORK = ipaddress.ip_network("0.0.0.0/8")
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
ALWAYS_REFUSED = frozenset({"unspecified", "multicast", "link-local", "reserved"})


PRIVATE_NETWORK_HINT = "set allow_private_network = true on the connector to allow it"


class BlockedAddressError(Exception):
    """A connection the guard refused; the message names the host, the address and why."""

    def __init__(self, host: str, address: str, kind: str, hint: str = PRIVATE_NETWORK_HINT) -> None:
        self.host = host
        self.address = address
        self.kind = kind
        why = "Bridgehead never connects to those" if kind in ALWAYS_REFUSED else hint
        shown = host if host == address else f"{host} ({address})"
        super().__init__(f"refused to connect to {shown}: a {kind} address; {why}")


def _embedded_ipv4(address: IPAddress) -> IPAddress:
    """The IPv4 address an IPv6 address carries (mapped, 6to4, NAT64), else the address itself."""
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return address.ipv4_mapped
        if address.sixtofour is not None:
            return address.sixtofour
        if address in _NAT64:
            return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return address


def address_kind(address: IPAddress) -> str | None:
    """Why an address is not public ("loopback", "link-local", ...), or None for a public one."""
    address = _embedded_ipv4(address)
    if address.is_unspecified or (isinstance(address, ipaddress.IPv4Address) and address in _THIS_NETWORK):
        return "unspecified"
    if address.is_multicast:
        return "multicast"
    if address.is_link_local:
        return "link-local"
    if address.is_loopback:
        return "loopback"
    if address.is_reserved:
        return "reserved"
    if not address.is_global:
        return "private"
    return None


class AddressGuard:
    """Decides whether a resolved address may be connected to.

    ``allow_private_network`` opens loopback and private addresses; ``allow_loopback``
    opens loopback alone; ``hint`` is what a refusal tells the operator to change.
    """

    def __init__(
        self, allow_private_network: bool = False, *, allow_loopback: bool = False, hint: str | None = None
    ) -> None:
        self.allow_private_network = allow_private_network
        self.opened = {"loopback", "private"} if allow_private_network else set()
        if allow_loopback:
            self.opened.add("loopback")
        self.hint = hint or PRIVATE_NETWORK_HINT

    def check(self, host: str, address: str) -> None:
        """Raise BlockedAddressError unless ``address`` (which ``host`` resolved to) is allowed."""
        kind = address_kind(ipaddress.ip_address(address.split("%", 1)[0]))
        if kind is None or kind in self.opened:
            return
        raise BlockedAddressError(host, address, kind, self.hint)

    def vet(self, host: str, infos: Iterable[tuple[Any, ...]]) -> list[str]:
        """The addresses from a getaddrinfo answer, in order; any refused one refuses the host."""
        addresses: list[str] = []
        for info in infos:
            address = str(info[4][0])
            self.check(host, address)
            if address not in addresses:
                addresses.append(address)
        return addresses


class GuardedAsyncBackend(httpcore.AsyncNetworkBackend):
    """httpcore's network backend with every TCP connection checked by an AddressGuard."""

    def __init__(self, guard: AddressGuard) -> None:
        self._guard = guard
        self._inner = httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109 - httpcore's signature
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        try:
            infos = await anyio.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except OSError as exc:
            raise httpcore.ConnectError(f"cannot resolve host {host!r}: {exc}") from exc
        last: Exception | None = None
        for address in self._guard.vet(host, infos):
            try:
                return await self._inner.connect_tcp(address, port, timeout, local_address, socket_options)
            except httpcore.ConnectError as exc:
                last = exc
        raise last or httpcore.ConnectError(f"no address for host {host!r}")

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,  # noqa: ASYNC109 - httpcore's signature
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        raise httpcore.ConnectError("outbound requests never use unix sockets")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


class GuardedSyncBackend(httpcore.NetworkBackend):
    """The blocking twin of GuardedAsyncBackend, for loading a spec while the server is built."""

    def __init__(self, guard: AddressGuard) -> None:
        self._guard = guard
        self._inner = httpcore.SyncBackend()

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        try:
            infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except OSError as exc:
            raise httpcore.ConnectError(f"cannot resolve host {host!r}: {exc}") from exc
        last: Exception | None = None
        for address in self._guard.vet(host, infos):
            try:
                return self._inner.connect_tcp(address, port, timeout, local_address, socket_options)
            except httpcore.ConnectError as exc:
                last = exc
        raise last or httpcore.ConnectError(f"no address for host {host!r}")

    def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Iterable[Any] | None = None
    ) -> httpcore.NetworkStream:
        raise httpcore.ConnectError("outbound requests never use unix sockets")

    def sleep(self, seconds: float) -> None:
        self._inner.sleep(seconds)


def ssl_context(ca_file: str | None) -> ssl.SSLContext:
    """The TLS context for backend requests: the default trust store, or a company CA bundle."""
    if ca_file is not None:
        return ssl.create_default_context(cafile=ca_file)
    return httpx.create_ssl_context()


# httpx has no public way to hand its transport a network backend; the pool it builds is
# replaced by one with the guarded backend, configured as httpx would configure it.
# Environment proxies are off (trust_env=False): through a proxy the guard would only see
# the proxy's address.
_POOL_LIMITS: dict[str, Any] = {
    "max_connections": 100,
    "max_keepalive_connections": 20,
    "keepalive_expiry": 5.0,
}


def guarded_async_transport(guard: AddressGuard, ca_file: str | None = None) -> httpx.AsyncHTTPTransport:
    """An httpx transport whose every connection passes the guard."""
    context = ssl_context(ca_file)
    transport = httpx.AsyncHTTPTransport(verify=context, trust_env=False)
    transport._pool = httpcore.AsyncConnectionPool(
        ssl_context=context, network_backend=GuardedAsyncBackend(guard), **_POOL_LIMITS
    )
    return transport


def guarded_sync_transport(guard: AddressGuard, ca_file: str | None = None) -> httpx.HTTPTransport:
    """The blocking twin of guarded_async_transport."""
    context = ssl_context(ca_file)
    transport = httpx.HTTPTransport(verify=context, trust_env=False)
    transport._pool = httpcore.ConnectionPool(
        ssl_context=context, network_backend=GuardedSyncBackend(guard), **_POOL_LIMITS
    )
    return transport
