"""Site settings, each declared once: name, default, help.

The defaults are the Brussels floor. A site overrides them in a TOML file
(``deploy/site.sample.toml`` documents every key, generated from this list).
:func:`load_settings` validates types and values and says exactly which key
is wrong; nothing half-loaded is ever returned.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, get_type_hints
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import msgspec

from espace.protocol import KINDS


class SettingsError(ValueError):
    """A site configuration that cannot be used; the text names the key."""


@dataclass(frozen=True, slots=True)
class StationSpec:
    id: str
    kind: str  # pc | tablet
    accessible: bool = False
    zone: str = ""
    x: int = 0  # position on the floor map (grid cells)
    y: int = 0


@dataclass(frozen=True, slots=True)
class PrinterSpec:
    id: str
    uri: str = ""  # ipp://host:631/printers/NAME; empty: not polled
    via_server: bool = False  # jobs counted from the print server's page_log, not from the agents
    x: int = 0
    y: int = 0


def brussels_stations() -> tuple[StationSpec, ...]:
    """PC-01…PC-45 (PC-45 accessible), TAB-01…TAB-16 (TAB-16 accessible), in rows on the map."""
    pcs = tuple(
        StationSpec(
            id=f"PC-{n:02d}",
            kind="pc",
            accessible=(n == 45),
            zone="pc-a" if n <= 24 else "pc-b",
            x=(n - 1) % 8,
            y=(n - 1) // 8,
        )
        for n in range(1, 46)
    )
    tabs = tuple(
        StationSpec(id=f"TAB-{n:02d}", kind="tablet", accessible=(n == 16), zone="tablets", x=9 + (n - 1) % 2, y=(n - 1) // 2)
        for n in range(1, 17)
    )
    return pcs + tabs


def brussels_hours() -> dict[str, list[str]]:
    day = ["09:00-17:00"]
    return {"mon": day, "tue": day, "wed": day, "thu": ["09:00-19:00"], "fri": day}


@dataclass(frozen=True, slots=True)
class Setting:
    name: str
    default: Any
    help: str


SETTINGS: tuple[Setting, ...] = (
    Setting("site_name", "Cité des métiers — Beroepenpunt Brussels", "Name shown on pages."),
    Setting("host", "127.0.0.1", "Address the controller listens on."),
    Setting("port", 8080, "TCP port of the controller (HTTP, dashboard and agent WebSocket)."),
    Setting("database", "var/espace.db", "Path of the SQLite store."),
    Setting("timezone", "Europe/Brussels", "Local time zone for opening hours, screens and exports."),
    Setting("session_minutes", 60, "Length of a walk-up session."),
    Setting("warn_minutes", [10, 5, 1], "Minutes before the end at which the visitor is warned."),
    Setting("idle_prompt_minutes", 10, "Minutes without input before 'Are you still there?'."),
    Setting("idle_grace_minutes", 2, "Minutes after the idle prompt before the session ends (reason idle)."),
    Setting("extension_minutes", 30, "Length of one extension."),
    Setting("max_extensions", 1, "Extensions allowed per session (stewards may override)."),
    Setting("last_call_minutes", 15, "Minutes before closing at which every station gets a last call."),
    Setting("min_session_minutes", 5, "A session shorter than this is not started."),
    Setting("queue_hold_minutes", 5, "How long a freed station is held for the called queue ticket."),
    Setting("booking_lead_minutes", 10, "Stations switch to reserved this long before a booking."),
    Setting("booking_release_minutes", 15, "A booking unclaimed this long after its start releases its stations."),
    Setting("print_quota_pages", 0, "Pages per session before printing is held (0: no quota; warned at 80%)."),
    Setting("heartbeat_seconds", 10, "How often agents report idle time and health."),
    Setting("offline_after_seconds", 20, "A station whose link answers no ping for about this long (real seconds) shows as offline."),
    Setting("event_retention_days", 400, "Raw events older than this are pruned (sessions and prints are kept)."),
    Setting("hours", brussels_hours(), "Opening hours per weekday: {mon = [\"09:00-17:00\"], ...}."),
    Setting("closed", [], "Closed dates (public holidays), ISO dates."),
    Setting("exceptions", {}, "Special hours on given dates: {\"2026-12-24\" = [\"09:00-12:00\"]}."),
    Setting("stations", None, "The stations: [[stations]] id, kind (pc|tablet), accessible, zone, x, y. Default: the Brussels floor."),
    Setting("printers", [{"id": "PRN-1", "uri": "", "x": 4, "y": 7}], "Printers: [[printers]] id, uri (ipp://…), via_server (counted from the print server's log), x, y."),
    Setting("printer_poll_seconds", 30, "How often each printer's IPP status is read."),
    Setting("print_server_log", "", "Path of the print server's CUPS page_log on the controller's host (e.g. /var/log/cups/page_log); empty: no print server."),
    Setting("print_server_hosts", {}, "Extra {host or IP = station id} for the print server's log, beyond enrolled host names."),
    Setting("zeroconf", False, "Advertise _espace._tcp.local. by mDNS (off by default: only where IT wants it)."),
    Setting("zeroconf_interfaces", ["127.0.0.1"], "Interfaces mDNS may use."),
    Setting("zeroconf_port", 0, "Port mDNS advertises; 0: port. Behind nginx on the LAN (the controller on 127.0.0.1), nginx's: 443."),
    Setting("zeroconf_tls_cert", "", "Certificate whose fingerprint mDNS advertises (stations then use wss:// and pin it); empty: tls_cert. Behind nginx, the one nginx serves."),
    Setting("tls_cert", "", "PEM certificate for HTTPS/WSS; empty: plain HTTP (behind a reverse proxy)."),
    Setting("tls_key", "", "PEM private key for tls_cert."),
    Setting("enrolment", True, "Accept enrolment requests from unknown stations (they wait for approval)."),
    Setting("trusted_proxies", [], "Reverse proxies (addresses or networks, e.g. [\"127.0.0.1\"]) whose X-Forwarded-For and X-Forwarded-Proto are believed; from anyone else they are ignored."),
    Setting("station_events_per_second", 50, "Events a station may send per second, sustained; beyond, the controller reads its link more slowly."),
    Setting("station_events_burst", 2000, "Events a station may send at once (a replay after a long outage) before the rate applies."),

    Setting("quarantine_after_days", 31, "A station's event older than this (a PC left unplugged) waits in quarantine for an admin instead of being counted."),
    Setting("future_tolerance_minutes", 5, "A station's event or session start further ahead of the controller's clock than this waits in quarantine."),
)

_BY_NAME = {s.name: s for s in SETTINGS}


@dataclass(frozen=True, slots=True)
class Settings:
    site_name: str
    host: str
    port: int
    database: str
    timezone: str
    session_minutes: int
    warn_minutes: list[int]
    idle_prompt_minutes: int
    idle_grace_minutes: int
    extension_minutes: int
    max_extensions: int
    last_call_minutes: int
    min_session_minutes: int
    queue_hold_minutes: int
    booking_lead_minutes: int
    booking_release_minutes: int
    print_quota_pages: int
    heartbeat_seconds: int
    offline_after_seconds: int
    event_retention_days: int
    hours: dict[str, list[str]]
    closed: list[str]
    exceptions: dict[str, list[str]]
    stations: tuple[StationSpec, ...]
    printers: tuple[PrinterSpec, ...]
    printer_poll_seconds: int
    print_server_log: str
    print_server_hosts: dict[str, str]
    zeroconf: bool
    zeroconf_interfaces: list[str]
    zeroconf_port: int
    zeroconf_tls_cert: str
    tls_cert: str
    tls_key: str
    enrolment: bool
    trusted_proxies: list[str]
    station_events_per_second: int
    station_events_burst: int

    quarantine_after_days: int
    future_tolerance_minutes: int
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def station(self, station_id: str) -> StationSpec | None:
        for spec in self.stations:
            if spec.id == station_id:
                return spec
        return None

    def with_(self, **changes: Any) -> Settings:
        return replace(self, **changes)


_TYPES = get_type_hints(Settings)


def _check(name: str, value: Any) -> Any:
    if name == "stations":
        if value is None:
            return brussels_stations()
        try:
            specs = tuple(msgspec.convert(v, StationSpec) for v in value)
        except (msgspec.ValidationError, TypeError) as exc:
            raise SettingsError(f"stations: {exc}") from None
        ids = [s.id for s in specs]
        if len(set(ids)) != len(ids):
            raise SettingsError("stations: station ids must be unique")
        for s in specs:
            if s.kind not in KINDS:
                raise SettingsError(f"stations: {s.id}: kind must be 'pc' or 'tablet', not {s.kind!r}")
        return specs
    if name == "printers":
        try:
            return tuple(msgspec.convert(v, PrinterSpec) for v in value)
        except (msgspec.ValidationError, TypeError) as exc:
            raise SettingsError(f"printers: {exc}") from None
    try:
        value = msgspec.convert(value, _TYPES[name])
    except msgspec.ValidationError as exc:
        raise SettingsError(f"{name}: {exc}") from None
    if name == "timezone":
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise SettingsError(f"timezone: unknown time zone {value!r}") from None
    if name in ("session_minutes", "port", "heartbeat_seconds", "station_events_per_second", "station_events_burst", "quarantine_after_days") and value <= 0:
        raise SettingsError(f"{name}: must be positive, got {value}")
    if name == "trusted_proxies":
        import ipaddress

        for net in value:
            try:
                ipaddress.ip_network(net, strict=False)
            except ValueError:
                raise SettingsError(f"trusted_proxies: {net!r} is not an IP address or network") from None
    if name == "zeroconf_port" and not 0 <= value <= 65535:
        raise SettingsError(f"zeroconf_port: must be 0 (the controller's port) or a TCP port, got {value}")
    if name == "future_tolerance_minutes" and value < 0:
        raise SettingsError(f"{name}: must be 0 or more, got {value}")
    if name == "warn_minutes" and any(m <= 0 for m in value):
        raise SettingsError("warn_minutes: every warning must be at least 1 minute before the end")
    return value


def make_settings(**overrides: Any) -> Settings:
    """Defaults, with ``overrides`` validated like a TOML file's keys."""
    unknown = sorted(set(overrides) - set(_BY_NAME))
    if unknown:
        raise SettingsError(f"unknown setting(s): {', '.join(unknown)}")
    values = {s.name: _check(s.name, overrides.get(s.name, s.default)) for s in SETTINGS}
    return Settings(**values)


def load_settings(path: str | Path | None, **overrides: Any) -> Settings:
    """Read a site TOML file (or only defaults when ``path`` is None), then ``overrides``."""
    data: dict[str, Any] = {}
    if path is not None:
        p = Path(path)
        try:
            data = tomllib.loads(p.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise SettingsError(f"{p}: no such file") from None
        except tomllib.TOMLDecodeError as exc:
            raise SettingsError(f"{p}: not valid TOML: {exc}") from None
    data.update({k: v for k, v in overrides.items() if v is not None})
    return make_settings(**data)


def sample_toml() -> str:
    """Every setting with its help and default, as a commented TOML file."""
    import json

    lines = ["# Espace site configuration. Every key is optional; defaults shown.", ""]
    for s in SETTINGS:
        lines.append(f"# {s.help}")
        lines.append(f"# {s.name} = {json.dumps(s.default, ensure_ascii=False)}")
        lines.append("")
    return "\n".join(lines)
