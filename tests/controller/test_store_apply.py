"""Committing agents' events: idempotent, ordered, and never half-applied."""

from __future__ import annotations

import sqlite3

import pytest

from controller import stations
from controller.settings import make_settings
from controller.store import Store, StoreError
from controller.store.apply import EventRejected, apply_event
from espace import protocol as p

T = 1_800_000_000.0


@pytest.fixture
async def store(tmp_path):
    s = Store(tmp_path / "espace.db")
    await s.open()
    settings = make_settings()
    await s.write(lambda db: stations.sync_stations(db, settings, T))
    yield s
    await s.close()


def started(seq: int, sid: str = "s1", eid: str | None = None) -> p.SessionStarted:
    return p.SessionStarted(id=eid or f"e{seq}", seq=seq, at=T, session_id=sid, start=T, end=T + 3600)


async def apply(store: Store, station: str, ev: p.Event, received: float | None = None, incarnation: str = "") -> str:
    """As the agent's socket does: ``received`` is the controller's clock (by default just after the event)."""
    when = max(T + 1, ev.at + 1) if received is None else received
    return await store.write(lambda db: apply_event(db, station, ev, when, incarnation))


async def count(store: Store, table: str) -> int:
    return await store.read(lambda db: db.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0])


async def test_a_replayed_event_is_a_duplicate_and_applied_once(store):
    assert await apply(store, "PC-01", started(1)) == "new"
    assert await apply(store, "PC-01", started(1)) == "duplicate"
    assert await count(store, "sessions") == 1
    assert await count(store, "events") == 1


async def test_a_sequence_from_the_past_is_rejected_and_nothing_is_stored(store):
    await apply(store, "PC-01", started(1))
    with pytest.raises(EventRejected, match="from the past"):
        await apply(store, "PC-01", started(1, sid="s2", eid="other"))
    assert await count(store, "sessions") == 1
    assert await count(store, "events") == 1


async def test_an_event_cannot_touch_another_stations_session(store):
    await apply(store, "PC-01", started(1))
    ended = p.SessionEnded(id="x", seq=1, at=T + 5, session_id="s1", reason="visitor")
    outcome = await apply(store, "PC-02", ended)
    assert outcome.startswith("rejected")
    assert "another station" in outcome
    with pytest.raises(EventRejected, match="another station"):  # an id PC-01 used
        await apply(store, "PC-02", p.SessionEnded(id="e1", seq=2, at=T, session_id="zz", reason="idle"))
    assert await count(store, "events") == 1
    ended_at = await store.read(lambda db: db.execute("SELECT end FROM sessions WHERE id = 's1'").fetchone()[0])
    assert ended_at is None


async def test_a_session_ends_once_with_its_reason_and_print_pages_add_up(store):
    await apply(store, "PC-01", started(1))
    await apply(store, "PC-01", p.PrintJob(id="e2", seq=2, at=T + 60, job="7", printer="PRN-1", pages=5, colour_pages=2, session_id="s1"))
    # the same job (the same logged instant) read again, e.g. after the agent restarted: counted once
    await apply(store, "PC-01", p.PrintJob(id="e3", seq=3, at=T + 60.3, job="7", printer="PRN-1", pages=5, colour_pages=2, session_id="s1"))
    await apply(store, "PC-01", p.SessionEnded(id="e4", seq=4, at=T + 900, session_id="s1", reason="idle"))
    await apply(store, "PC-01", p.SessionEnded(id="e5", seq=5, at=T + 999, session_id="s1", reason="visitor"))
    row = await store.read(lambda db: db.execute("SELECT end, end_reason, pages_bw, pages_colour FROM sessions").fetchone())
    assert tuple(row) == (T + 900, "idle", 3, 2)  # the same job seen twice counts once
    assert await count(store, "print_jobs") == 1


async def test_a_job_id_reused_after_a_spool_wipe_counts_again(store):
    """Re-imaged stations start CUPS job ids again at 1: job 1 this afternoon is not job 1 this morning."""
    await apply(store, "PC-01", started(1))
    await apply(store, "PC-01", p.PrintJob(id="e2", seq=2, at=T + 60, job="1", printer="PRN-1", pages=2, session_id="s1"))
    await apply(store, "PC-01", p.PrintJob(id="e3", seq=3, at=T + 1800, job="1", printer="PRN-1", pages=3, session_id="s1"))
    assert await count(store, "print_jobs") == 2
    pages = await store.read(lambda db: db.execute("SELECT pages_bw FROM sessions WHERE id = 's1'").fetchone()[0])
    assert pages == 5


async def test_a_failing_write_rolls_back_alone_in_a_group_commit(store):
    import asyncio

    def boom(db):
        db.execute("INSERT INTO staff (login, password_hash, role, created) VALUES ('a','h','steward',1)")
        raise RuntimeError("boom")

    good = store.submit(lambda db: apply_event(db, "PC-03", started(1, sid="s3"), T))
    bad = store.submit(boom)
    results = await asyncio.gather(good, bad, return_exceptions=True)
    assert results[0] == "new"
    assert isinstance(results[1], RuntimeError)
    assert await count(store, "staff") == 0
    assert await count(store, "sessions") == 1


async def test_a_commit_that_cannot_reach_the_disk_acknowledges_nothing(store):
    await store.write(lambda db: db.execute("PRAGMA max_page_count = 1"))  # the file cannot grow: SQLITE_FULL

    async def fill_the_disk() -> None:
        for n in range(1, 200):
            await apply(store, "PC-04", started(n, sid=f"s{n}", eid=f"e{n}x" * 5))

    with pytest.raises(StoreError, match="could not commit|full"):
        await fill_the_disk()


async def test_a_gap_is_refused_for_retry_and_nothing_overtakes_a_missing_event(store):
    await apply(store, "PC-06", started(1, sid="s6"))
    with pytest.raises(EventRejected, match="skips 2") as info:
        await apply(store, "PC-06", p.HelpRequested(id="h3", seq=3, at=T, help_id="h3"))
    assert info.value.retry
    assert await apply(store, "PC-06", p.HelpRequested(id="h2", seq=2, at=T, help_id="h2")) == "new"
    assert await apply(store, "PC-06", p.HelpRequested(id="h3", seq=3, at=T, help_id="h3")) == "new"


async def test_an_implausible_event_waits_in_quarantine_and_the_station_goes_on(store):
    await apply(store, "PC-07", started(1, sid="s7"))
    far = p.HelpRequested(id="far", seq=2, at=T + 400 * 86400, help_id="far")
    outcome = await apply(store, "PC-07", far, received=T + 1)
    assert outcome.startswith("quarantined")
    assert "after the controller's clock" in outcome
    bad = p.SessionStarted(id="odd", seq=3, at=T, session_id="odd", start=T, end=T - 10)
    assert (await apply(store, "PC-07", bad)).startswith("quarantined: session start and end")
    assert await apply(store, "PC-07", p.HelpRequested(id="ok", seq=4, at=T, help_id="ok")) == "new"
    assert await apply(store, "PC-07", far, received=T + 2) == "duplicate"  # a replay of a quarantined one
    kinds = await store.read(lambda db: [r[0] for r in db.execute("SELECT id FROM events WHERE station = 'PC-07' ORDER BY seq")])
    assert kinds == ["e1", "ok"]
    waiting = await store.read(lambda db: [(r[0], r[1]) for r in db.execute("SELECT id, seq FROM quarantine WHERE status = 'waiting' ORDER BY seq")])
    assert waiting == [("far", 2), ("odd", 3)]
    assert await count(store, "help_requests") == 1
    assert await count(store, "sessions") == 1


async def test_a_session_cannot_start_in_the_future_beyond_the_tolerance(store):
    from controller.store.apply import Plausible

    soon = p.SessionStarted(id="soon", seq=1, at=T, session_id="soon", start=T + 240, end=T + 3840)
    assert await store.write(lambda db: apply_event(db, "PC-08", soon, T)) == "new"  # 4 minutes: clocks differ a little
    later = p.SessionStarted(id="later", seq=2, at=T, session_id="later", start=T + 3 * 3600, end=T + 4 * 3600)
    outcome = await store.write(lambda db: apply_event(db, "PC-08", later, T))
    assert outcome == "quarantined: session starts 180 minutes in the future"
    strict = Plausible(future_s=60)  # the tolerance is a setting
    early = p.SessionStarted(id="early", seq=3, at=T, session_id="early", start=T + 120, end=T + 3720)
    assert (await store.write(lambda db: apply_event(db, "PC-08", early, T, "", strict))).startswith("quarantined")


async def test_accepting_a_quarantined_session_counts_it_with_its_other_events(store):
    from controller import quarantine

    old = T - 40 * 86400
    events = [
        p.SessionStarted(id="o1", seq=1, at=old, session_id="so", start=old, end=old + 3600),
        p.PrintJob(id="o2", seq=2, at=old + 60, job="1", printer="PRN-1", pages=4, session_id="so"),
        p.SessionEnded(id="o3", seq=3, at=old + 1800, session_id="so", reason="visitor"),
        p.HelpRequested(id="o4", seq=4, at=T - 10, help_id="hx", session_id="so"),  # recent, but of that session
        p.HelpCancelled(id="o5", seq=5, at=T - 5, help_id="hx"),  # the cancel of a help request that waits
        p.HelpRequested(id="n6", seq=6, at=T, help_id="h6"),
    ]
    outcomes = [await apply(store, "PC-09", ev, received=T) for ev in events]
    assert [o.split(":")[0] for o in outcomes] == ["quarantined"] * 5 + ["new"]
    assert await count(store, "sessions") == 0
    assert await count(store, "print_jobs") == 0
    # accepting the session's end accepts the whole session, in sequence
    ids = await store.write(lambda db: quarantine.accept(db, "o3", "ada", T))
    assert ids == ["o1", "o2", "o3", "o4", "o5"]
    row = await store.read(lambda db: db.execute("SELECT start, end, end_reason, pages_bw FROM sessions WHERE id = 'so'").fetchone())
    assert tuple(row) == (old, old + 1800, "visitor", 4)
    seqs = await store.read(lambda db: [r[0] for r in db.execute("SELECT seq FROM events WHERE station = 'PC-09' ORDER BY seq")])
    assert seqs == [1, 2, 3, 4, 5, 6]
    cancelled = await store.read(lambda db: db.execute("SELECT cancelled FROM help_requests WHERE id = 'hx'").fetchone()[0])
    assert cancelled == T - 5  # no help request left open by a cancel decided apart
    with pytest.raises(quarantine.NotWaiting):
        await store.write(lambda db: quarantine.accept(db, "o1", "ada", T))


async def test_a_discarded_event_is_never_counted_and_stays_listed(store):
    from controller import quarantine

    old = T - 40 * 86400
    await apply(store, "PC-10", p.PrintJob(id="d1", seq=1, at=old, job="1", printer="PRN-1", pages=9), received=T)
    assert await store.write(lambda db: quarantine.discard(db, "d1", "ada", T)) == ["d1"]
    assert await count(store, "print_jobs") == 0
    listed = await store.read(lambda db: quarantine.listing(db, None))
    assert [(r["id"], r["status"], r["decided_by"]) for r in listed] == [("d1", "discarded", "ada")]
    assert await store.read(quarantine.count_waiting) == 0


async def test_a_new_token_keeps_the_stations_sequence(store):
    settings = make_settings()
    for n in range(1, 4):
        await apply(store, "PC-11", p.HelpRequested(id=f"k{n}", seq=n, at=T, help_id=f"k{n}"))
    await store.write(lambda db: stations.set_token(db, settings.station("PC-11"), T))
    assert await apply(store, "PC-11", p.HelpRequested(id="k4", seq=4, at=T, help_id="k4")) == "new"


async def test_a_reinstalled_agent_numbers_from_one_under_its_own_incarnation(store):
    for n in range(1, 4):
        await apply(store, "PC-12", p.HelpRequested(id=f"a{n}", seq=n, at=T, help_id=f"a{n}"))
    link = await store.write(lambda db: stations.begin_link(db, "PC-12", "fresh", 1, T))
    assert (link.last_seq, link.switched_from, link.gap) == (0, "", None)
    with pytest.raises(EventRejected, match="incarnation"):  # the old install's link is on its way out
        await apply(store, "PC-12", p.HelpRequested(id="a4", seq=4, at=T, help_id="a4"))
    assert await apply(store, "PC-12", p.HelpRequested(id="b1", seq=1, at=T, help_id="b1"), incarnation="fresh") == "new"
    # the old disk comes back: its sequence stands where it stood
    link = await store.write(lambda db: stations.begin_link(db, "PC-12", "", 4, T))
    assert link.last_seq == 3
    rows = await store.read(lambda db: [tuple(r) for r in db.execute("SELECT incarnation, seq FROM events WHERE station = 'PC-12' AND seq IS NOT NULL ORDER BY id")])
    assert sorted(rows) == [("", 1), ("", 2), ("", 3), ("fresh", 1)]


async def test_what_a_station_no_longer_holds_is_recorded_as_a_gap_once(store):
    await apply(store, "PC-13", p.HelpRequested(id="g1", seq=1, at=T, help_id="g1"))
    link = await store.write(lambda db: stations.begin_link(db, "PC-13", "", 6, T + 5))  # it holds 6 on; 2-5 are gone
    assert (link.last_seq, link.gap) == (5, (2, 5))
    assert await apply(store, "PC-13", p.HelpRequested(id="g6", seq=6, at=T, help_id="g6")) == "new"
    again = await store.read(lambda db: stations.link_state(db, "PC-13", "", 6))
    assert again is not None
    assert again.last_seq == 6  # reconnecting records nothing more
    gaps = await store.read(lambda db: stations.gaps(db, "PC-13"))
    assert [(g["first"], g["last"], g["count"], g["at"]) for g in gaps] == [(2, 5, 4, T + 5)]


def store_at_version(path, version: int):
    """A store as an older controller left it: its first ``version`` migrations only."""
    from controller.store.schema import MIGRATIONS
    from controller.store.store import connect

    db = connect(path)
    for number, script in enumerate(MIGRATIONS[:version], start=1):
        db.conn.executescript(script)
        db.conn.execute(f"PRAGMA user_version={number}")
    return db


def test_migration_8_keeps_an_old_stores_sequences_under_the_unnamed_incarnation(tmp_path):
    from controller.store.schema import MIGRATIONS
    from controller.store.store import migrate

    db = store_at_version(tmp_path / "old.db", 6)
    try:
        db.conn.execute("INSERT INTO stations (id, kind, created, last_seq) VALUES ('PC-01', 'pc', 1, 2)")
        for n in (1, 2):
            db.conn.execute("INSERT INTO events (id, station, seq, type, at, received, body) VALUES (?, 'PC-01', ?, 'help_requested', 1, 1, '{}')", (f"e{n}", n))
        assert migrate(db) == len(MIGRATIONS)
        assert db.execute("SELECT incarnation, last_seq FROM stations").fetchone() == ("", 2)
        assert db.execute("SELECT incarnation, last_seq FROM station_incarnations").fetchone() == ("", 2)
        assert apply_event(db, "PC-01", p.HelpRequested(id="e3", seq=3, at=T, help_id="h3"), T) == "new"
        with pytest.raises(sqlite3.IntegrityError):  # the unique index now counts per incarnation
            db.conn.execute("INSERT INTO events (id, station, incarnation, seq, type, at, received, body) VALUES ('d', 'PC-01', '', 3, 'x', 1, 1, '{}')")
        db.conn.execute("INSERT INTO events (id, station, incarnation, seq, type, at, received, body) VALUES ('d', 'PC-01', 'other', 3, 'x', 1, 1, '{}')")
    finally:
        db.conn.close()


def test_migration_6_gives_old_print_job_keys_their_instant(tmp_path):
    """A store from before keys held the instant: a server log read again after the upgrade still matches."""
    from controller.printers import job_key
    from controller.store.schema import MIGRATIONS
    from controller.store.store import connect, migrate

    db = connect(tmp_path / "old.db")
    try:
        for number, script in enumerate(MIGRATIONS[:5], start=1):
            db.conn.executescript(script)
            db.conn.execute(f"PRAGMA user_version={number}")
        db.conn.execute(
            "INSERT INTO print_jobs (id, job_key, station, session_id, printer, pages, colour_pages, at, source)"
            " VALUES ('j1', 'server/hp_hall#42', 'PC-01', NULL, 'PRN-1', 2, 0, 1763550000.7, 'server')"
        )
        assert migrate(db) == len(MIGRATIONS)
        key = db.execute("SELECT job_key FROM print_jobs").fetchone()[0]
    finally:
        db.conn.close()
    assert key == job_key("HP_Hall", 42, "server", at=1763550000.7)


async def test_one_open_help_request_per_station_repeats_fold_into_it_and_a_cancel_of_a_repeat_closes_it(store):
    await apply(store, "PC-01", started(1))
    for seq in range(2, 52):  # fifty help requests without a cancel (a stolen token's flood)
        await apply(store, "PC-01", p.HelpRequested(id=f"e{seq}", seq=seq, at=T + seq, help_id=f"h{seq}", session_id="s1"))
    rows = await store.read(lambda db: list(db.query("SELECT id, requested FROM help_requests WHERE cancelled IS NULL")))
    assert rows == [{"id": "h2", "requested": T + 2}]  # one item, waiting since the first
    await apply(store, "PC-01", p.HelpCancelled(id="e52", seq=52, at=T + 60, help_id="h51"))
    assert await store.read(lambda db: db.execute("SELECT COUNT(*) FROM help_requests WHERE cancelled IS NULL").fetchone()[0]) == 0
    await apply(store, "PC-01", p.HelpRequested(id="e53", seq=53, at=T + 70, help_id="h53", session_id="s1"))
    assert await count(store, "help_requests") == 2  # a new request after the cancel is a new item


async def test_an_escape_is_kept_once_anonymously_and_outlives_the_pruned_trail(store):
    from controller.reports.retention import prune_events

    ev = p.EscapeAttempt(id="x1", seq=1, at=T + 10, what="screen_closed_in_session", action="session_ended", session_id="s9")
    assert await apply(store, "PC-01", ev) == "new"
    assert await apply(store, "PC-01", ev) == "duplicate"  # the agent replays it after a lost ack
    rows = await store.read(lambda db: db.execute("SELECT * FROM escapes").fetchall())
    assert [tuple(r) for r in rows] == [("x1", "PC-01", "pc", T + 10, "screen_closed_in_session", "session_ended")]
    pruned = await store.read(lambda db: prune_events(db.conn, 1, T + 10 * 86400))  # as the web route runs it
    assert pruned == 1
    assert await count(store, "events") == 0
    assert await count(store, "escapes") == 1  # the reports still count it


async def test_a_rejected_escape_is_not_counted(store):
    await apply(store, "PC-01", started(1))
    # PC-02 names PC-01's session: refused, nothing of it counted
    outcome = await apply(store, "PC-02", p.EscapeAttempt(id="x2", seq=1, at=T, what="focus_lost", session_id="s1"))
    assert outcome.startswith("rejected")
    assert await count(store, "escapes") == 0


def test_migration_9_counts_the_escapes_already_in_the_trail(tmp_path):
    from controller.store.schema import MIGRATIONS
    from controller.store.store import migrate

    db = store_at_version(tmp_path / "old.db", 8)
    try:
        db.conn.execute("INSERT INTO stations (id, kind, created, last_seq) VALUES ('KB-01', 'kiosk', 1, 1)")
        body = p.encode(p.EscapeAttempt(id="old", seq=1, at=T, what="grab_failed", action="logged_off"))
        db.conn.execute("INSERT INTO events (id, station, seq, type, at, received, body) VALUES ('old', 'KB-01', 1, 'escape_attempt', ?, ?, ?)", (T, T, body))
        assert migrate(db) == len(MIGRATIONS)
        assert db.execute("SELECT id, station, station_kind, at, what, action FROM escapes").fetchall() == [("old", "KB-01", "kiosk", T, "grab_failed", "logged_off")]
    finally:
        db.conn.close()
