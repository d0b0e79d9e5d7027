"""``espace-agent session-ui``: the sub-command's arguments, without loading Tk.

The service process builds the same ``espace-agent`` parser; declaring the
session screen's arguments here keeps tkinter and the screens out of the
service's memory. Tk is imported only when ``session-ui`` runs.

The screen reads the service's own configuration (``--config``, by default
:data:`agent.config.DEFAULT_CONFIG`): the control socket (``agent.control_socket``)
and how to measure idleness (``[idle]``). So the autostart entry and the
Windows logon task need no arguments at all, and cannot disagree with the service.
"""

from __future__ import annotations

import argparse
import logging
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agent.config import DEFAULT_CONFIG, AgentConfig, ConfigError, IdleSection, load_config
from espace.i18n import LANGS


@dataclass(frozen=True, slots=True)
class SessionSettings:
    control: str  # the service's control socket
    idle: IdleSection  # [idle] of the service's configuration
    config: str | None  # the file read, or None (defaults: no file at the default path)


def session_settings(config: str | None, control: str | None) -> SessionSettings:
    """What the screen needs from ``--config`` and ``--control``; :class:`ConfigError` if unusable.

    An explicit ``--config`` must be readable. With none given, a missing
    :data:`DEFAULT_CONFIG` means the defaults (a station configured only by its
    service's defaults); an unreadable one is an error, never silently ignored.
    """
    path = config or DEFAULT_CONFIG
    if config is None and not Path(path).exists():
        cfg, used = AgentConfig(), None
    else:
        try:
            cfg, used = load_config(path), path
        except PermissionError:
            raise ConfigError(f"{path}: not readable by this account (the installer makes it 0644: it holds no secret)") from None
    return SessionSettings(control=control or cfg.agent.control_socket, idle=cfg.idle, config=used)


def cmd_session_ui(args: argparse.Namespace) -> int:
    try:
        settings = session_settings(args.config, args.control)
    except ConfigError as exc:
        print(f"error: configuration: {exc}", file=sys.stderr)
        return 2
    try:
        from agent.ui.session_app import cmd_session_ui as run
    except ImportError as exc:  # a host with no Tk (python3-tk) cannot show the visitor's screens
        print(f"error: the session screens need Tk (Debian: apt install python3-tk): {exc}", file=sys.stderr)
        return 2
    return run(args, settings)


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add ``session-ui`` to ``espace-agent``'s sub-commands."""
    sp = subparsers.add_parser(
        "session-ui",
        help="run the visitor's screens (lock screen, countdown) in the desktop session",
    )
    sp.add_argument(
        "--config", "-c", default=None,
        help=f"the service's agent.toml: control socket and [idle] (default {DEFAULT_CONFIG}; none there: defaults)",
    )  # fmt: skip
    sp.add_argument("--control", default=None, help="the service's control socket (default: agent.control_socket of --config)")
    sp.add_argument("--lang", default="fr", choices=LANGS, help="the lock screen's default language (default fr)")
    sp.add_argument("--clock", default=None, help="virtual clock spec shared with the service (tests, demo)")
    sp.set_defaults(func=cmd_session_ui)
    return sp


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m agent.ui.session_cli")
    ap.add_argument("--log-level", default="INFO")
    add_parser(ap.add_subparsers(dest="command", required=True))
    args = ap.parse_args(argv)
    logging.basicConfig(
        level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
