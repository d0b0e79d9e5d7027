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
