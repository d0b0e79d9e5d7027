"""The lock screen under a real X server and a real window manager (openbox): keys and other programs cannot get past it."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import tkinter as tk

import pytest

from agent.ui.lockdown import Lockdown
from tests.support.display import XVFB, display_set, xvfb

pytestmark = pytest.mark.skipif(
    XVFB is None or shutil.which("openbox") is None or shutil.which("xdotool") is None,
    reason="needs Xvfb, openbox and xdotool",
)

OTHER = """
import tkinter as tk, sys
r = tk.Tk(); r.title("other"); r.geometry("300x200+10+10")
e = tk.Entry(r); e.pack(); e.focus_set()
{extra}
r.after(200, lambda: (print("up", flush=True)))
r.mainloop()
"""


@pytest.fixture(scope="session")
def openbox_desktop():
    """Tk keeps its display connection after a destroy and Xlib ends the process when the server goes:
    this server (with openbox as its window manager) outlives every test of the session."""
    with xvfb() as name:
        wm = subprocess.Popen(["openbox", "--sm-disable"], env={**os.environ, "DISPLAY": name}, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        time.sleep(0.5)  # the window manager takes the root window
        try:
            yield name
        finally:
            wm.terminate()
            wm.wait(5)


@pytest.fixture
def desktop(openbox_desktop):
    with display_set(openbox_desktop):
        yield openbox_desktop


def other_program(extra: str = "") -> subprocess.Popen[str]:
    proc = subprocess.Popen([sys.executable, "-c", OTHER.format(extra=extra)], stdout=subprocess.PIPE, text=True, env=dict(os.environ))
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "up"
    proc.stdout.close()
    return proc


def xdotool(*args: str) -> str:
    return subprocess.run(["xdotool", *args], capture_output=True, text=True, timeout=10).stdout.strip()


def lock_screen() -> tuple[tk.Tk, list[str], Lockdown]:
    """A full-screen Tk lock with a text field that has the focus."""
    root = tk.Tk()
    root.title("lock")
    w, h = root.winfo_screenwidth(), root.winfo_screenheight()
    root.geometry(f"{w}x{h}+0+0")
    root.attributes("-fullscreen", True)
    entry = tk.Entry(root)
    entry.pack()
    entry.focus_set()
    root.entry = entry  # type: ignore[attr-defined]
    sent: list[str] = []
    lock = Lockdown(root, sent.append)
    return root, sent, lock


def run(root: tk.Tk, lock: Lockdown | None, seconds: float) -> None:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if lock is not None:
            lock.tick(True)
        root.update()
        time.sleep(0.05)


def focus_is_ours(root: tk.Tk) -> bool:
    """Asked of the X server by another client (xdotool), not of Tk."""
    focus = xdotool("getwindowfocus", "-f")
    wrapper = int(root.wm_frame(), 16)
    for _ in range(10):  # up the tree (xwininfo) to our wrapper, or to the root window
        if not focus or int(focus, 0) == wrapper:
            return bool(focus)
        info = subprocess.run(["xwininfo", "-children", "-id", focus], capture_output=True, text=True, timeout=10).stdout
        parent = [line.split()[3] for line in info.splitlines() if "Parent window id:" in line]
        if not parent or "(the root window)" in info.split("Parent window id:")[1].splitlines()[0]:
            return False
        focus = parent[0]
    return False


def test_keys_and_another_program_cannot_get_past_the_lock(desktop):
    other = other_program()
    try:
        root, sent, lock = lock_screen()
        run(root, lock, 1.5)
        assert lock.held
        assert root.grab_status() == "global"
        for keys in ("alt+Tab", "alt+F4", "super", "ctrl+alt+t"):
            xdotool("key", keys)
            run(root, lock, 0.5)
            assert root.winfo_exists()
            assert root.winfo_viewable(), keys
            assert focus_is_ours(root), keys
        wid = xdotool("search", "--name", "^other$").split()[0]
        xdotool("windowactivate", wid)  # another program asks for the focus
        xdotool("windowfocus", wid)
        run(root, lock, 3.0)
        assert sent == ["focus_lost"]  # noticed, and taken back
        assert focus_is_ours(root)
        assert root.grab_status() == "global"  # and the keyboard never left it
        root.destroy()
    finally:
        other.terminate()
        other.wait(5)


def test_without_the_grab_the_window_manager_closes_an_ordinary_window(desktop):
    """The contrast that shows the test above can fail: no grab, and Alt+F4 reaches openbox."""
    root, _sent, _lock = lock_screen()
    closed: list[bool] = []
    root.protocol("WM_DELETE_WINDOW", lambda: closed.append(True))
    run(root, None, 1.0)
    xdotool("key", "alt+F4")
    run(root, None, 1.0)
    assert closed == [True]
    root.destroy()


def test_a_grab_held_by_another_client_is_reported_as_grab_failed(desktop):
    other = other_program(extra="r.after(100, r.grab_set_global)")
    try:
        time.sleep(0.5)
        root, sent, lock = lock_screen()
        run(root, lock, 4.5)
        assert not lock.held
        assert sent.count("grab_failed") == 1
        other.terminate()
        other.wait(5)
        run(root, lock, 1.5)
        assert lock.held  # the other client's grab went with it: the lock takes it
        lock.release()
        assert root.grab_current() is None
        root.destroy()
    finally:
        if other.poll() is None:
            other.terminate()
            other.wait(5)
