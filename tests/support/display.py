"""A real X server (Xvfb) for the tests that need a screen."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

XVFB = shutil.which("Xvfb")


@contextmanager
def xvfb(width: int = 1280, height: int = 800) -> Iterator[str]:
    """Start Xvfb on a display number it picks itself; yield ``":N"``; stop it afterwards.

    ``-displayfd``: the server takes the first free number from 90 up and writes it to a
    pipe once it listens, so two test processes starting servers at once never share one
    (a number chosen by looking at /tmp/.X11-unix first could be taken in between).
    """
    if XVFB is None:
        raise RuntimeError("Xvfb is not installed (make test installs the 'xvfb' package as root)")
    read_fd, write_fd = os.pipe()
    try:
        proc = subprocess.Popen(
            [XVFB, "-displayfd", str(write_fd), "-screen", "0", f"{width}x{height}x24", "-nolisten", "tcp"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            pass_fds=(write_fd,),
        )
    finally:
        os.close(write_fd)
    number = b""
    with os.fdopen(read_fd, "rb") as pipe:
        while not number.endswith(b"\n"):
            chunk = pipe.read(1)  # EOF (b"") if the server died before it listened
            if not chunk:
                break
            number += chunk
    if not number.strip().isdigit():
        proc.kill()
        proc.wait(5)
        raise RuntimeError(f"Xvfb did not start (exit {proc.poll()})")
    display = f":{int(number)}"
    try:
        yield display
    finally:
        proc.terminate()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


@contextmanager
def display_set(name: str) -> Iterator[str]:
    """``DISPLAY`` is ``name`` for the block (Tk and xdotool read it); the old value comes back after."""
    old = os.environ.get("DISPLAY")
    os.environ["DISPLAY"] = name
    try:
        yield name
    finally:
        if old is None:
            os.environ.pop("DISPLAY", None)
        else:
            os.environ["DISPLAY"] = old


def screenshot(display: str, path: Path, attempts: int = 3) -> Path:
    """The whole screen as a PNG (imagemagick's ``import``).

    ``import`` once failed with "unable to open X server" on a server that went on serving the
    next test in the same module: a failed attempt is tried again after a second, and only the
    last one's failure (with what ``import`` said) fails the test.
    """
    for attempt in range(1, attempts + 1):
        done = subprocess.run(
            ["import", "-display", display, "-window", "root", str(path)],
            env={**os.environ, "DISPLAY": display},
            capture_output=True,
            text=True,
            timeout=20,
            check=False,
        )
        if done.returncode == 0:
            return path
        if attempt == attempts:
            raise RuntimeError(f"import -display {display} failed {attempts} times (exit {done.returncode}): {done.stderr.strip()}")
        time.sleep(1.0)
    return path
