"""The station's configuration file (``agent.toml``) and the real probes it selects.

``deploy/station/agent.sample.toml`` documents every key. :func:`load_config`
validates the file and says which key is wrong; :func:`build_probes` turns
it into the OS seams of :mod:`agent.probes`.
"""

from __future__ import annotations

import os
import socket
import sys
import tomllib
from pathlib import Path
from typing import Any

import msgspec

from agent.channel import default_address


class ConfigError(ValueError):
    pass


# Where the service's unit (Debian) and the Windows installer put the configuration; the
# session screen reads the same file to find the service's control socket and its [idle].
DEFAULT_CONFIG = (
    os.path.join(os.environ.get("ProgramData", r"C:\ProgramData"), "Espace", "agent.toml")
    if sys.platform == "win32"
    else "/etc/espace-agent/agent.toml"
)


class StationSection(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    id: str = ""
    kind: str = "pc"


class ControllerSection(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    url: str = ""
    interfaces: list[str] = msgspec.field(default_factory=list)
    tls_fingerprint: str = ""
    discover: bool = True
    site: str = ""


class AgentSection(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    state_dir: str = "/var/lib/espace-agent"
    heartbeat_seconds: float = 15.0
    control_socket: str = msgspec.field(default_factory=default_address)  # Unix socket; Windows: \\.\pipe\espace-agent
    print_poll_seconds: float = 5.0
    offline_grant_after_seconds: float = 15.0

    keep_acked_days: float = 7.0  # acknowledged events kept this long, to re-send after a controller restore
    keep_acked_events: int = 20_000  # ... and at most this many


class WipeSection(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    roots: list[str] = msgspec.field(default_factory=list)
    allow_home: bool = False
    user: str = "visitor"
    logoff: bool = False
    kill_timeout: float = 5.0


class IdleSection(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    source: str = "auto"
    display: str = ""
    session: str = "auto"


class PrintSection(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    source: str = "auto"
    page_log: str = "/var/log/cups/page_log"
    cupsd_conf: str = "/etc/cups/cupsd.conf"  # its PageLogFormat says how page_log lines read


class HealthSection(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    disk_path: str = "/"


class LockdownSection(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """No screen, no desktop (:mod:`agent.screenwatch`): needs ``[wipe] user``."""

    watch_screen: bool = True
    screen_grace_seconds: float = 30.0
    screen_lost_grace_seconds: float = 5.0


class AgentConfig(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    station: StationSection = msgspec.field(default_factory=StationSection)
    controller: ControllerSection = msgspec.field(default_factory=ControllerSection)
    agent: AgentSection = msgspec.field(default_factory=AgentSection)
    wipe: WipeSection = msgspec.field(default_factory=WipeSection)
    idle: IdleSection = msgspec.field(default_factory=IdleSection)
    print: PrintSection = msgspec.field(default_factory=PrintSection)
    health: HealthSection = msgspec.field(default_factory=HealthSection)
    lockdown: LockdownSection = msgspec.field(default_factory=LockdownSection)

    @property
    def station_id(self) -> str:
        return self.station.id or socket.gethostname().split(".")[0].upper()


def load_config(path: str | Path) -> AgentConfig:
    p = Path(path)
    try:
        data = tomllib.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{p}: no such file") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{p}: not valid TOML: {exc}") from None
    try:
        cfg = msgspec.convert(data, AgentConfig)
    except msgspec.ValidationError as exc:
        raise ConfigError(f"{p}: {exc}") from None
    if cfg.lockdown.screen_grace_seconds <= 0 or cfg.lockdown.screen_lost_grace_seconds <= 0:
        raise ConfigError(f"{p}: lockdown: the grace seconds must be positive")
    if not cfg.controller.url and not cfg.controller.discover:
        raise ConfigError(f"{p}: controller: give a url, or leave discover on")
    return cfg


def build_probes(cfg: AgentConfig) -> Any:
    """The real OS seams this configuration asks for (imported lazily: Windows-only code stays off Linux)."""
    from agent.core import Probes
    from agent.probes.base import FakeHealth, FakePrints, FakeResetter, PrintSource
    from agent.probes.health import PsutilHealth
    from agent.probes.reset import WipeReset

    prints: PrintSource
    source = cfg.print.source
    if source == "auto":
        source = "windows" if sys.platform == "win32" else "cups"
    if source == "cups":
        from agent.probes.print_cups import LOCAL_HOSTS, CupsPageLogTailer

        prints = CupsPageLogTailer(cfg.print.page_log, hosts=LOCAL_HOSTS, start_at_end=True, cupsd_conf=cfg.print.cupsd_conf or None)
    elif source == "windows":
        from agent.probes.print_windows import WindowsPrintEvents

        prints = WindowsPrintEvents(state_file=Path(cfg.agent.state_dir) / "print_windows.json")  # bookmark across restarts
    elif source == "fake":
        prints = FakePrints()
    else:
        raise ConfigError(f"print.source: unknown source {source!r}")
    reset = (
        WipeReset(cfg.wipe.roots, cfg.wipe.user or None, cfg.wipe.logoff, allow_home=cfg.wipe.allow_home, kill_timeout=cfg.wipe.kill_timeout)
        if cfg.wipe.roots
        else FakeResetter()
    )
    health: PsutilHealth | FakeHealth
    try:
        health = PsutilHealth(cfg.health.disk_path)
    except OSError:
        health = FakeHealth()
    from agent.probes.print_gate import CupsPrintGate, FakePrintGate
    from agent.probes.reported import ReportedIdle

    gate = CupsPrintGate(cfg.wipe.user) if source == "cups" and cfg.wipe.user else FakePrintGate()
    return Probes(idle=ReportedIdle(), prints=prints, reset=reset, health=health, print_gate=gate)
