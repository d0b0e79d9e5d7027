"""``espace-controller quarantine list|accept|discard`` on a store with events that wait."""

from __future__ import annotations

import asyncio
from pathlib import Path

from controller import stations
from controller.cli import build_parser
from controller.settings import make_settings
from controller.store import Store
from controller.store.apply import apply_event
from espace import protocol as p
from tests.support.procs import rows

NOW = 1_800_000_000.0
OLD = NOW - 45 * 86400


async def _store(db: Path) -> None:
    store = Store(db)
    await store.open()
    try:
        await store.write(lambda d: stations.sync_stations(d, make_settings(), NOW))
        for station, n, pages in (("PC-01", 1, 2), ("PC-01", 2, 5), ("PC-02", 1, 7)):
            ev = p.PrintJob(id=f"{station}-{n}", seq=n, at=OLD + n, job=str(n), printer="PRN-1", pages=pages)
            assert (await store.write(lambda d, ev=ev, s=station: apply_event(d, s, ev, NOW))).startswith("quarantined")
    finally:
        await store.close()


def _cli(db: Path, capsys, *argv: str) -> tuple[int, str, str]:  # type: ignore[no-untyped-def]
    args = build_parser().parse_args(["quarantine", *argv, "--database", str(db)])
    rc = args.func(args)
    out = capsys.readouterr()
    return rc, out.out, out.err


def test_list_accept_and_discard_from_the_command_line(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    db = tmp_path / "espace.db"
    asyncio.run(_store(db))  # the commands run their own event loop, as from a shell
    rc, out, _ = _cli(db, capsys, "list")
    assert rc == 0
    assert [line.split()[0] for line in out.splitlines()] == ["PC-01-1", "PC-01-2", "PC-02-1"]
    assert "45 days before the controller's clock" in out

    assert _cli(db, capsys, "accept", "PC-01-2")[:2] == (0, "1 event(s) accepted: counted from now on\n")
    assert _cli(db, capsys, "discard", "--station", "PC-02")[:2] == (0, "1 event(s) discarded\n")
    rc, _, err = _cli(db, capsys, "accept", "PC-02-1")  # decided already
    assert rc == 1
    assert "no event PC-02-1 waits in quarantine" in err
    assert _cli(db, capsys, "accept")[0] == 2  # an id, --station or --all
    assert _cli(db, capsys, "accept", "--all")[:2] == (0, "1 event(s) accepted: counted from now on\n")
    assert _cli(db, capsys, "list")[1] == "no events in quarantine\n"
    statuses = [tuple(r) for r in rows(db, "SELECT id, status FROM quarantine ORDER BY id")]
    assert statuses == [("PC-01-1", "accepted"), ("PC-01-2", "accepted"), ("PC-02-1", "discarded")]
    assert [r["pages"] for r in rows(db, "SELECT pages FROM print_jobs ORDER BY pages")] == [2, 5]
