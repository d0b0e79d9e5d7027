"""The visitor's screens on a PC (Tk): the lock screen, the session countdown, the dialogs."""

from agent.ui.view import HELP_STATES, REFUSALS, SessionUI

__all__ = ["HELP_STATES", "REFUSALS", "SessionUI"]
