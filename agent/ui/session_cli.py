"""``espace-agent session-ui``: the sub-command's arguments, without loading Tk.

The service process builds the same ``espace-agent`` parser; declaring the
session screen's arguments here keeps tkinter and the screens out of the
service's memory. Tk is imported only when ``session-ui`` runs.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from espace.i18n import LANGS


def cmd_session_ui(args: argparse.Namespace) -> int:
    try:
        from agent.ui.session_app import cmd_session_ui as run
    except ImportError as exc:  # a host with no Tk (python3-tk) cannot show the visitor's screens
        print(f"error: the session screens need Tk (Debian: apt install python3-tk): {exc}", file=sys.stderr)
        return 2
    return run(args)


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add ``session-ui`` to ``espace-agent``'s sub-commands."""
    sp = subparsers.add_parser(
        "session-ui",
        help="run the visitor's screens (lock screen, countdown) in the desktop session",
    )
    sp.add_argument("--control", required=True, help="the agent service's control socket")
    sp.add_argument("--lang", default="fr", choices=LANGS, help="the lock screen's default language (default fr)")
    sp.add_argument("--clock", default=None, help="virtual clock spec shared with the service (tests, demo)")
    sp.set_defaults(func=cmd_session_ui)
    return sp
