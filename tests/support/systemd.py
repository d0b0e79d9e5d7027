"""What the deploy folder's systemd files say, read the way systemd reads them (the parts tests use)."""

from __future__ import annotations

from pathlib import Path

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"


def cpu_affinity(path: Path) -> set[int]:
    """The cores a unit or drop-in gives in ``CPUAffinity=`` (indices and ranges, spaces or commas)."""
    cores: set[int] = set()
    for line in path.read_text("utf-8").splitlines():
        key, sep, value = line.partition("=")
        if sep and key.strip() == "CPUAffinity":
            for item in value.replace(",", " ").split():
                first, _, last = item.partition("-")
                cores |= set(range(int(first), int(last or first) + 1))
    return cores
