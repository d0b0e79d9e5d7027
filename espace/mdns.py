"""What the controller's advertisement and the agent's browsing share: the
DNS-SD service type, and one :class:`~zeroconf.asyncio.AsyncZeroconf` bound
to configured IPv4 addresses only (never every interface by default).

Configured interfaces are IPv4 addresses (``"192.168.10.2"``) or interface
names (``"eth0"``, resolved to their IPv4 addresses).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

from zeroconf import IPVersion
from zeroconf.asyncio import AsyncZeroconf

SERVICE_TYPE = "_espace._tcp.local."


def interface_addresses(interfaces: Iterable[str], setting: str) -> list[str]:
    """IPv4 addresses of the configured interfaces (addresses kept as they are, names resolved).

    Blocking (it lists the host's adapters): run it off the event loop. ``setting``
    names the configuration key in the errors.
    """
    import ifaddr  # a zeroconf dependency

    result: list[str] = []
    adapters = None
    for item in interfaces:
        try:
            ip = ipaddress.ip_address(item)
        except ValueError:
            if adapters is None:
                adapters = ifaddr.get_adapters()
            found = [
                a.ip
                for ad in adapters
                if item in (ad.name, ad.nice_name)
                for a in ad.ips
                if isinstance(a.ip, str)
            ]
            if not found:
                raise ValueError(f"{setting}: no IPv4 address on interface {item!r}") from None
            result.extend(found)
        else:
            if ip.version != 4:
                raise ValueError(f"{setting}: {item!r}: only IPv4 is supported")
            result.append(str(ip))
    return list(dict.fromkeys(result))


def bound_zeroconf(addresses: list[str]) -> AsyncZeroconf:
    """The process's one AsyncZeroconf, on these IPv4 addresses only."""
    return AsyncZeroconf(interfaces=addresses, ip_version=IPVersion.V4Only)
