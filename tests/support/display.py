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
    """Start Xvfb on a free display number; yield ``":N"``; stop it afterwards."""
    if XVFB is None:
        raise RuntimeError("Xvfb is not installed (make test installs the 'xvfb' package as root)")
    for number in range(90, 140):
        if Path(f"/tmp/.X11-unix/X{number}").exists() or Path(f"/tmp/.X{number}-lock").exists():
            continue
        proc = subprocess.Popen(
            [XVFB, f":{number}", "-screen", "0", f"{width}x{height}x24", "-nolisten", "tcp"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if Path(f"/tmp/.X11-unix/X{number}").exists():
                break
            if proc.poll() is not None:
                break
            time.sleep(0.05)
        if proc.poll() is None and Path(f"/tmp/.X11-unix/X{number}").exists():
            try:
                yield f":{number}"
            finally:
                proc.terminate()
                proc.wait(5)
            return
    raise RuntimeError("could not start Xvfb on any display from :90 to :139")


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


def screenshot(display: str, path: Path) -> Path:
    """The whole screen as a PNG (imagemagick's ``import``)."""
    subprocess.run(
        ["import", "-display", display, "-window", "root", str(path)],
        check=True,
        env={**os.environ, "DISPLAY": display},
        timeout=20,
    )
    return path
