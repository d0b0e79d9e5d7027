"""What every Tk test here shares."""

from __future__ import annotations

import gc
import os
from collections.abc import Iterator

import pytest

if os.environ.get("PYTEST_XDIST_WORKER"):  # make test runs this folder in a plain pytest
    raise RuntimeError(
        "run tests/agent/ui without -n: Tk in a pytest-xdist worker has died in Tcl "
        "(Fatal Python error: Aborted), and the whole run then hung"
    )


@pytest.fixture(autouse=True)
def collect_tk_in_the_main_thread() -> Iterator[None]:
    """Tk objects left in reference cycles (a screen holds its root, the root its widgets and
    callbacks) are collected after each test, in the main thread: collected later by whatever
    thread the garbage collector happens to run in (an executor's, say), Tcl aborts the whole run
    ("Fatal Python error: Aborted" while garbage-collecting in a new thread, as CI saw)."""
    yield
    gc.collect()
