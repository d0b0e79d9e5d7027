"""Fixtures for every test package."""

from __future__ import annotations

import os
from pathlib import Path

import pytest


@pytest.fixture
def shots(tmp_path: Path, request: pytest.FixtureRequest) -> Path:
    """Where a test saves its screenshots: ``$ESPACE_SHOTS/<test>`` when set (to look at them), else its tmp dir."""
    base = os.environ.get("ESPACE_SHOTS")
    folder = Path(base) / request.node.name if base else tmp_path / "shots"
    folder.mkdir(parents=True, exist_ok=True)
    return folder
