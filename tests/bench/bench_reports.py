"""Benchmark: the back office's figures and exports at the 2019 volume, for 1 and 10 years.

Run from the repository root: ``python tests/bench/bench_reports.py``.
Generates one year (2019: 27,848 PC sessions, ~10,000 tablet sessions,
~40,000 print jobs, help requests, queue tickets) and ten years (2010-2019)
into temporary SQLite files (not timed), then times the annual figures, the
whole reports page and the annual + daily exports. Prints one line per
figure, ``bench <name>: <value> <unit>``. Targets: under 1 s for one year,
under 5 s for ten; nothing is asserted.
"""

from __future__ import annotations

import io
import random
import sqlite3
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from controller.reports import annual, export, report  # noqa: E402
from controller.store.schema import MIGRATIONS  # noqa: E402

TZ = ZoneInfo("Europe/Brussels")
PC_SESSIONS_PER_YEAR = 27_848
TABLET_SESSIONS_PER_YEAR = 10_000
PRINT_JOBS_PER_YEAR = 40_000
HELP_PER_YEAR = 6_000
QUEUE_PER_YEAR = 3_000
PCS = [f"PC-{i:02d}" for i in range(1, 46)]
TABLETS = [f"TAB-{i:02d}" for i in range(1, 17)]
PRINTERS = ["hall-bw", "hall-colour", "office"]
REASONS = (["time"] * 60 + ["visitor"] * 20 + ["idle"] * 8 + ["closing"] * 6
           + ["steward"] * 3 + ["booking"] * 2 + ["station_restart"])  # fmt: skip


def open_days(year: int) -> list[tuple[float, float]]:
    """(opening, closing) instants of each weekday: 9:00-17:00, Thursday until 19:00."""
    out = []
    day = date(year, 1, 1)
    while day.year == year:
        if day.weekday() < 5 and not (day.month == 12 and day.day > 24):
            close = 19 if day.weekday() == 3 else 17
            out.append((
                datetime(day.year, day.month, day.day, 9, tzinfo=TZ).timestamp(),
                datetime(day.year, day.month, day.day, close, tzinfo=TZ).timestamp(),
            ))  # fmt: skip
        day += timedelta(days=1)
    return out


def sessions_for(rng: random.Random, year: int) -> Iterator[tuple[object, ...]]:
    days = open_days(year)
    for kind, stations, count in (
        ("pc", PCS, PC_SESSIONS_PER_YEAR),
        ("tablet", TABLETS, TABLET_SESSIONS_PER_YEAR),
    ):
        for n in range(count):
            opening, closing = rng.choice(days)
            start = rng.uniform(opening, closing - 600)
            reason = rng.choice(REASONS)
            length = 3600 if reason == "time" else rng.uniform(300, 3600)
            end = min(start + length, closing)
            if end == closing:
                reason = "closing"
            yield (
                f"{year}-{kind}-{n}", rng.choice(stations), kind, start, start + 3600, end,
                reason, rng.choice(("walkup",) * 8 + ("ticket", "booking")),
                rng.choice(("fr", "fr", "nl", "en")),
            )  # fmt: skip


def generate(path: Path, years: range, seed: int = 2019) -> None:
    rng = random.Random(seed)
    conn = sqlite3.connect(path)
    for sql in MIGRATIONS:
        conn.executescript(sql)
    conn.executemany(
        "INSERT INTO stations (id, kind, created) VALUES (?, ?, 0)",
        [(s, "pc") for s in PCS] + [(s, "tablet") for s in TABLETS],
    )
    conn.executemany("INSERT INTO printers (id) VALUES (?)", [(p,) for p in PRINTERS])
    for year in years:
        # the store inserts sessions as they start: keep the table in time order
        sessions = sorted(sessions_for(rng, year), key=lambda row: row[3])  # type: ignore[arg-type,return-value]
        conn.executemany(
            'INSERT INTO sessions (id, station, station_kind, start, planned_end, "end",'
            " end_reason, origin, lang) VALUES (?,?,?,?,?,?,?,?,?)",
            sessions,
        )
        jobs = []
        for n in range(PRINT_JOBS_PER_YEAR):
            sid, station, _, start, _, end, *_ = rng.choice(sessions)
            pages = rng.choice((1, 1, 2, 3, 5, 10))
            printer = rng.choice(PRINTERS)
            colour = pages if printer == "hall-colour" else 0
            jobs.append((f"{year}-j{n}", f"{printer}:{year}-{n}", station, sid, printer, pages,
                         colour, rng.uniform(start, end), "fake"))  # fmt: skip
        jobs.sort(key=lambda row: row[7])  # type: ignore[arg-type,return-value]
        conn.executemany("INSERT INTO print_jobs VALUES (?,?,?,?,?,?,?,?,?)", jobs)
        helps = []
        for n in range(HELP_PER_YEAR):
            sid, station, _, start, _, end, *_ = rng.choice(sessions)
            asked = rng.uniform(start, end)
            helps.append((f"{year}-h{n}", station, sid, asked, asked + rng.expovariate(1 / 120)))
        helps.sort(key=lambda row: row[3])  # type: ignore[arg-type,return-value]
        conn.executemany(
            "INSERT INTO help_requests (id, station, session_id, requested, taken)"
            " VALUES (?,?,?,?,?)",
            helps,
        )
        waits = []
        days = open_days(year)
        for _ in range(QUEUE_PER_YEAR):
            opening, closing = rng.choice(days)
            issued = rng.uniform(opening, closing)
            outcome = rng.choice(("claimed",) * 8 + ("no_show", "closed"))
            served = issued + rng.uniform(60, 1800) if outcome == "claimed" else None
            waits.append((issued, served, outcome))
        waits.sort(key=lambda row: row[0])  # type: ignore[arg-type,return-value]
        conn.executemany("INSERT INTO queue_waits (issued, served, outcome) VALUES (?,?,?)", waits)
    conn.commit()
    conn.close()


def timed(name: str, fn: Callable[[], object]) -> object:
    t0 = time.perf_counter()
    result = fn()
    print(f"bench {name}: {time.perf_counter() - t0:.3f} s", flush=True)
    return result


def exports(conn: sqlite3.Connection, first: str, last: str, fmt: str) -> int:
    size = 0
    for what in ("annual", "daily"):
        out = io.BytesIO()
        export(conn, what, first, last, fmt, out)
        size += len(out.getvalue())
    return size


def bench_store(label: str, path: Path, first_year: int, last_year: int = 2019) -> None:
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    first, last = f"{first_year}-01-01", f"{last_year}-12-31"
    years = range(first_year, last_year + 1)
    try:
        blocks = timed(f"reports_annual_{label}", lambda: [annual(conn, y) for y in years])
        timed(f"reports_page_{label}", lambda: report(conn, first, last))
        timed(f"export_xlsx_{label}", lambda: exports(conn, first, last, "xlsx"))
        timed(f"export_csv_{label}", lambda: exports(conn, first, last, "csv"))
        if label == "1y":
            timed(
                "export_sessions_xlsx_1y",
                lambda: export(conn, "sessions", first, last, "xlsx", io.BytesIO()),
            )
        assert isinstance(blocks, list)
        print(f"# {label}, {last_year}: {blocks[-1].as_dict()}", flush=True)
    finally:
        conn.close()


def run() -> None:
    with tempfile.TemporaryDirectory(prefix="espace-bench-") as tmp:
        one, ten = Path(tmp) / "1y.sqlite", Path(tmp) / "10y.sqlite"
        generate(one, range(2019, 2020))
        generate(ten, range(2010, 2020))
        bench_store("1y", one, 2019)
        bench_store("10y", ten, 2010)


if __name__ == "__main__":
    run()
