"""Fixtures for every test package."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.cups import CupsInstance, cups_missing_reason, private_cups


@pytest.fixture
def shots(tmp_path: Path, request: pytest.FixtureRequest) -> Path:
    """Where a test saves its screenshots: ``$ESPACE_SHOTS/<test>`` when set (to look at them), else its tmp dir."""
    base = os.environ.get("ESPACE_SHOTS")
    folder = Path(base) / request.node.name if base else tmp_path / "shots"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture
def cups(tmp_path: Path) -> Iterator[CupsInstance]:
    """A private cupsd (a virtual PDF printer) for this test alone; skipped where CUPS is not installed."""
    reason = cups_missing_reason()
    if reason:
        pytest.skip(reason)
    with private_cups(tmp_path) as instance:
        yield instance
