"""The visitor's screens on a PC (Tk): the lock screen, the session countdown, the dialogs.

Nothing is imported here: ``espace-agent`` declares the ``session-ui`` command
through :mod:`agent.ui.session_cli`, and the service process must not load Tk.
Import the screens from :mod:`agent.ui.view`.
"""
