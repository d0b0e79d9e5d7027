from __future__ import annotations

from agent.outbox import Outbox
from espace import protocol as p


def ev(seq: int) -> p.Event:
    return p.HelpRequested(id=f"e{seq}", seq=seq, at=1.0, help_id=f"h{seq}")


async def test_events_get_consecutive_sequences_and_survive_a_reopen(tmp_path):
    box = Outbox(tmp_path / "o.db")
    for _ in range(3):
        await box.add(lambda seq: ev(seq))
    await box.remove("e1")
    box.close()
    box = Outbox(tmp_path / "o.db")
    assert [row[0] for row in await box.pending()] == [2, 3]
    new = await box.add(lambda seq: ev(seq))
    assert new.seq == 4  # a sequence is never reused, even after its event left
    box.close()


async def test_committed_up_to_drops_acknowledged_events_and_moves_the_counter(tmp_path):
    box = Outbox(tmp_path / "o.db")
    for _ in range(3):
        await box.add(lambda seq: ev(seq))
    assert await box.committed_up_to(2) == 2
    assert [row[0] for row in await box.pending()] == [3]
    await box.committed_up_to(10)  # the controller knows more than this outbox: never reuse its numbers
    assert (await box.add(lambda seq: ev(seq))).seq == 11
    box.close()


async def test_an_acknowledged_event_is_kept_and_sent_again_when_the_controller_lost_it(tmp_path):
    from espace.clock import ManualClock

    clock = ManualClock(1_800_000_000.0)
    box = Outbox(tmp_path / "o.db", clock=clock)
    for _ in range(5):
        await box.add(lambda seq: ev(seq))
    for n in range(1, 5):
        await box.remove(f"e{n}")  # acknowledged: not sent again ...
    assert [row[0] for row in await box.pending()] == [5]
    assert await box.count() == 1
    assert await box.held_from() == 1  # ... but still held, as the hello says
    # the controller's store came back from a backup that ends at seq 2: 3 and 4 go again, in order
    await box.committed_up_to(2)
    assert [row[0] for row in await box.pending()] == [3, 4, 5]
    assert (await box.add(lambda seq: ev(seq))).seq == 6  # the numbering goes on
    box.close()


async def test_kept_events_go_after_the_retention_window_and_beyond_the_size_bound(tmp_path):
    from espace.clock import ManualClock

    clock = ManualClock(1_800_000_000.0)
    box = Outbox(tmp_path / "o.db", clock=clock, keep_acked_s=7 * 86400, keep_acked_max=3)
    for _ in range(6):
        await box.add(lambda seq: ev(seq))
    for n in range(1, 6):
        await box.remove(f"e{n}")
    await box.prune()
    assert await box.held_from() == 3  # at most three acknowledged kept: 3, 4, 5 (and 6 pending)
    await clock.advance(8 * 86400)
    await box.prune()
    assert await box.held_from() == 6  # past the window: only the pending one is left
    await box.remove("e6")
    await box.prune()
    assert await box.held_from() == 6  # acknowledged now: kept
    await clock.advance(8 * 86400)
    await box.prune()
    assert await box.held_from() == 7  # nothing held: the next seq
    box.close()


async def test_what_is_held_below_a_hole_does_not_count_as_held(tmp_path):
    box = Outbox(tmp_path / "o.db")
    for _ in range(6):
        await box.add(lambda seq: ev(seq))
    await box._run(lambda: box._conn.execute("DELETE FROM outbox WHERE seq = 3"))  # an event set aside
    assert await box.held_from() == 4  # 1 and 2 cannot be sent in order any more: they are lost to a restore
    box.close()


async def test_an_outbox_has_one_incarnation_made_at_install_and_an_old_one_keeps_the_unnamed(tmp_path):
    import sqlite3

    box = Outbox(tmp_path / "new.db")
    made = box.incarnation
    assert len(made) == 16
    box.close()
    assert Outbox(tmp_path / "new.db").incarnation == made
    assert Outbox(tmp_path / "other.db").incarnation != made  # a re-install starts a new one
    old = sqlite3.connect(tmp_path / "old.db")  # an outbox written before incarnations and kept events
    old.executescript(
        "CREATE TABLE outbox (seq INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE, body TEXT NOT NULL);"
        "CREATE TABLE kv (key TEXT PRIMARY KEY, value TEXT NOT NULL);"
        "INSERT INTO kv VALUES ('last_seq', '41');"
    )
    old.execute("INSERT INTO outbox VALUES (41, 'e41', ?)", (p.encode(ev(41)),))
    old.commit()
    old.close()
    box = Outbox(tmp_path / "old.db")
    assert box.incarnation == ""
    assert [row[0] for row in await box.pending()] == [41]
    assert (await box.add(lambda seq: ev(seq))).seq == 42
    box.close()


async def test_a_new_incarnation_numbers_what_waits_from_one(tmp_path):
    box = Outbox(tmp_path / "o.db")
    for _ in range(4):
        await box.add(lambda seq: ev(seq))
    await box.remove("e1")
    before = box.incarnation
    after = await box.new_incarnation()
    assert after != before
    rows = await box.pending()
    assert [(seq, eid) for seq, eid, _ in rows] == [(1, "e2"), (2, "e3"), (3, "e4")]
    assert [p.decode_from_agent(body).seq for _, _, body in rows] == [1, 2, 3]
    assert (await box.add(lambda seq: p.HelpRequested(id="after", seq=seq, at=1.0, help_id="x"))).seq == 4
    box.close()
