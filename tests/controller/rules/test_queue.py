"""The ticket queue: codes, calls, claims, no-shows, the accessible rule, closing."""

import random
import re
from datetime import datetime
from zoneinfo import ZoneInfo

from controller.rules import Call, NoShow, Ticket, TicketQueue, WaitRecord, pick_station
from controller.rules.queue import CODE_SPACE
from controller.rules.stations import Station

BXL = ZoneInfo("Europe/Brussels")
T0 = datetime(2026, 11, 19, 10, tzinfo=BXL).timestamp()
CODE = re.compile(r"^[AFKRXZ][0-9]{3}$")


def at(hhmm: str) -> float:
    h, m = map(int, hhmm.split(":"))
    return datetime(2026, 11, 19, h, m, tzinfo=BXL).timestamp()


class ScriptedRng(random.Random):
    """Picks the characters of the given codes in turn."""

    def __init__(self, *codes: str) -> None:
        super().__init__(0)
        self.chars = iter("".join(codes))

    def choice(self, seq):  # type: ignore[override]
        ch = next(self.chars)
        assert ch in seq
        return ch


def test_codes_are_short_unambiguous_and_distinct():
    q = TicketQueue(rng=random.Random(7), max_live=3000)  # past the desk's cap: the codes' own space
    codes = [q.issue(T0 + i).code for i in range(3000)]
    assert all(CODE.match(c) for c in codes)
    assert not set("OILSB") & set("".join(codes))  # no letter that looks like a digit
    assert len(set(codes)) == 3000
    assert CODE_SPACE == 6 * 10**3


def test_a_code_is_not_given_twice_before_closing():
    q = TicketQueue(rng=ScriptedRng("A100", "A100", "F137", "A100"))
    first = q.issue(T0)
    assert first == Ticket("A100", T0, False)
    assert q.issue(T0 + 1).code == "F137"  # ABC2 is live: drawn again
    q.close(T0 + 9 * 3600)
    assert q.issue(T0 + 86400).code == "A100"  # forgotten at closing


def test_the_next_ticket_is_called_and_claims_on_its_station():
    q = TicketQueue(rng=ScriptedRng("K174", "R211"))
    q.issue(T0)
    q.issue(T0 + 60)
    call = q.station_freed("PC-07", T0 + 600)
    assert call == Call("K174", "PC-07", T0 + 600, T0 + 900)
    assert q.now_serving() == [("K174", "PC-07")]
    assert [t.code for t in q.waiting()] == ["R211"]
    assert q.position("R211") == 1
    assert q.position("K174") is None
    assert not q.claim("K174", "PC-08", T0 + 610)  # wrong station
    assert not q.claim("R211", "PC-07", T0 + 610)  # not called
    assert not q.claim("X248", "PC-07", T0 + 610)
    assert q.claim(" k-17 4 ", "PC-07", T0 + 700)  # typed loosely
    assert not q.claim("K174", "PC-07", T0 + 701)  # once
    assert q.now_serving() == []
    assert q.take_records() == [WaitRecord(T0, T0 + 700, "claimed")]
    assert q.take_records() == []


def test_the_hold_ends_after_five_minutes_by_default():
    q = TicketQueue(rng=ScriptedRng("K174"))
    q.issue(T0)
    q.station_freed("PC-07", T0)
    assert not q.claim("K174", "PC-07", T0 + 300)
    q2 = TicketQueue(hold_minutes=10, rng=ScriptedRng("K174"))
    q2.issue(T0)
    assert q2.station_freed("PC-07", T0).hold_until == T0 + 600
    assert q2.claim("K174", "PC-07", T0 + 599)


def test_a_no_show_moves_on_and_the_station_goes_to_the_next():
    q = TicketQueue(rng=ScriptedRng("K174", "R211"))
    q.issue(T0)
    q.issue(T0 + 1)
    q.station_freed("PC-07", T0 + 100)
    assert q.expire(T0 + 399) == []
    assert q.expire(T0 + 400) == [NoShow("K174", "PC-07", T0, T0 + 100)]
    assert q.now_serving() == []
    assert q.station_freed("PC-07", T0 + 400) == Call("R211", "PC-07", T0 + 400, T0 + 700)
    assert not q.claim("K174", "PC-07", T0 + 410)
    assert q.take_records() == [WaitRecord(T0, None, "no_show")]


def test_a_held_station_is_not_called_twice():
    q = TicketQueue(rng=ScriptedRng("K174", "R211"))
    q.issue(T0)
    q.issue(T0 + 1)
    assert q.station_freed("PC-07", T0 + 10) is not None
    assert q.station_freed("PC-07", T0 + 20) is None
    assert q.now_serving() == [("K174", "PC-07")]
    assert q.station_freed("PC-08", T0 + 30).code == "R211"
    assert q.now_serving() == [("K174", "PC-07"), ("R211", "PC-08")]


def test_nobody_waiting_no_call():
    assert TicketQueue().station_freed("PC-07", T0) is None


def test_accessible_ticket_waits_for_the_accessible_station():
    q = TicketQueue(rng=ScriptedRng("Z285", "A322"))
    q.issue(T0, accessible=True)
    q.issue(T0 + 1)
    assert q.station_freed("PC-07", T0 + 10).code == "A322"  # skips the accessible ticket
    assert q.station_freed("PC-08", T0 + 11) is None  # nothing for ACC2 there
    assert q.station_freed("PC-45", T0 + 12, accessible_station=True).code == "Z285"
    assert q.position("Z285") is None


def test_accessible_station_goes_to_an_ordinary_ticket_only_if_nothing_else_is_free():
    q = TicketQueue(rng=ScriptedRng("F359"))
    q.issue(T0)
    assert (
        q.station_freed("PC-45", T0 + 10, accessible_station=True, other_free_stations_exist=True)
        is None
    )
    call = q.station_freed(
        "PC-45", T0 + 10, accessible_station=True, other_free_stations_exist=False
    )
    assert call.code == "F359"


def test_served_in_issue_order_within_each_need():
    q = TicketQueue(rng=random.Random(3))
    tickets = [q.issue(T0 + i, accessible=(i % 3 == 0)) for i in range(9)]
    ordinary = [t.code for t in tickets if not t.accessible]
    accessible = [t.code for t in tickets if t.accessible]
    assert [q.position(c) for c in ordinary] == [1, 2, 3, 4, 5, 6]
    called = [q.station_freed(f"PC-{i}", T0 + 100 + i).code for i in range(6)]
    assert called == ordinary
    called = [
        q.station_freed(f"A-{i}", T0 + 200 + i, accessible_station=True).code for i in range(3)
    ]
    assert called == accessible


def test_cancel():
    q = TicketQueue(rng=ScriptedRng("K174", "R211"))
    q.issue(T0)
    q.issue(T0 + 1)
    q.station_freed("PC-07", T0 + 2)
    dropped = q.cancel("k174", T0 + 3)
    assert dropped.station == "PC-07"  # offer it again
    assert q.cancel("K174", T0 + 4) is None
    assert q.station_freed("PC-07", T0 + 5).code == "R211"
    assert q.take_records() == [WaitRecord(T0, None, "cancelled")]


def test_close_forgets_every_ticket_and_keeps_no_code():
    q = TicketQueue(rng=ScriptedRng("K174", "R211", "K396", "R433"))
    for i in range(4):
        q.issue(T0 + i)
    q.station_freed("PC-1", T0 + 10)
    q.station_freed("PC-2", T0 + 10)
    q.claim("K174", "PC-1", T0 + 20)
    q.expire(T0 + 10 + 300)  # BBB3 a no-show
    q.station_freed("PC-3", T0 + 400)  # CCC4 called, still held at closing
    records = q.close(T0 + 3600)
    assert records == [
        WaitRecord(T0, T0 + 20, "claimed"),
        WaitRecord(T0 + 1, None, "no_show"),
        WaitRecord(T0 + 2, None, "closed"),
        WaitRecord(T0 + 3, None, "closed"),
    ]
    assert records[0].wait_seconds == 20
    assert all("code" not in r.as_dict() for r in records)
    assert q.tickets() == []
    assert q.now_serving() == []
    assert q.waiting() == []


def test_restore_after_a_restart():
    q = TicketQueue(rng=ScriptedRng("K174", "R211"))
    q.issue(T0)
    q.issue(T0 + 1)
    q.station_freed("PC-07", T0 + 10)
    back = TicketQueue.from_tickets(reversed(q.tickets()), rng=ScriptedRng("K174", "K396"))
    assert back.now_serving() == [("K174", "PC-07")]
    assert [t.code for t in back.waiting()] == ["R211"]
    assert back.claim("K174", "PC-07", T0 + 100)
    assert back.issue(T0 + 200).code == "K396"  # AAA2 was used today


def test_pick_station_for_the_desk():
    free = [
        Station("PC-10"),
        Station("PC-45", accessible=True),
        Station("PC-9"),
        Station("TAB-1", "tablet"),
    ]
    assert pick_station(free).id == "PC-9"
    assert pick_station(free, wants_accessible=True).id == "PC-45"
    assert pick_station(free, kind="tablet").id == "TAB-1"
    only_accessible = [Station("PC-45", accessible=True)]
    assert pick_station(only_accessible).id == "PC-45"
    assert pick_station([Station("PC-9")], wants_accessible=True) is None
    assert pick_station([]) is None


def test_a_code_typed_with_look_alike_letters_reads_as_its_digits():
    from controller.rules.queue import normalise_code

    assert normalise_code(" x-2o1 ") == "X201"  # the letter O for a zero: codes have no O
    assert normalise_code("ki7l") == "K171"
    assert normalise_code("o12") == "O12"  # the first character is the letter: left as typed (no such code)


# ---------------------------------------------------------------- the kind of station a ticket wants


def test_a_ticket_for_a_pc_is_never_called_to_a_tablet() -> None:
    q = TicketQueue(rng=random.Random(3))
    pc = q.issue(at("10:00"), kind="pc")
    tablet = q.issue(at("10:01"), kind="tablet")
    # the PCs are full; a tablet frees: the PC visitor keeps waiting, the tablet visitor is called
    call = q.station_freed("TAB-03", at("10:05"), station_kind="tablet", other_free_kinds=set())
    assert call is not None
    assert call.code == tablet.code
    assert q.station_freed("TAB-04", at("10:05"), station_kind="tablet", other_free_kinds=set()) is None
    assert q.position(pc.code) == 1
    call = q.station_freed("PC-07", at("10:09"), station_kind="pc", other_free_kinds=set())
    assert call is not None
    assert call.code == pc.code


def test_an_accessible_ticket_gets_the_accessible_station_of_its_kind() -> None:
    # seen on the floor: an accessible ticket went to TAB-16 while PC-45 served an ordinary walk-up
    q = TicketQueue(rng=random.Random(4))
    ordinary = q.issue(at("10:00"), kind="pc")
    needs = q.issue(at("10:01"), accessible=True, kind="pc")
    assert q.station_freed("TAB-16", at("10:02"), accessible_station=True, station_kind="tablet",
                           other_free_kinds={"tablet"}) is None  # fmt: skip
    call = q.station_freed("PC-45", at("10:03"), accessible_station=True, station_kind="pc",
                           other_free_kinds={"tablet"})  # fmt: skip
    assert call is not None
    assert call.code == needs.code
    assert q.position(ordinary.code) == 1


def test_an_ordinary_ticket_takes_the_accessible_station_only_when_none_of_its_kind_is_free() -> None:
    q = TicketQueue(rng=random.Random(5))
    ordinary = q.issue(at("10:00"), kind="pc")
    # a tablet is free, but the visitor needs a PC: PC-45, the only free PC, may serve them
    call = q.station_freed("PC-45", at("10:02"), accessible_station=True, station_kind="pc",
                           other_free_kinds={"tablet"})  # fmt: skip
    assert call is not None
    assert call.code == ordinary.code
    q2 = TicketQueue(rng=random.Random(5))
    q2.issue(at("10:00"), kind="pc")
    # an ordinary PC is free as well: the accessible one is kept
    assert q2.station_freed("PC-45", at("10:02"), accessible_station=True, station_kind="pc",
                            other_free_kinds={"pc"}) is None  # fmt: skip


def test_a_ticket_without_a_kind_may_have_any_station_and_positions_count_per_need() -> None:
    q = TicketQueue(rng=random.Random(6))
    anyone = q.issue(at("10:00"))  # written before kinds, or a site with one kind
    first_pc = q.issue(at("10:01"), kind="pc")
    second_pc = q.issue(at("10:02"), kind="pc")
    tab = q.issue(at("10:03"), kind="tablet")
    assert [q.position(t.code) for t in (anyone, first_pc, second_pc, tab)] == [1, 1, 2, 1]
    call = q.station_freed("TAB-01", at("10:04"), station_kind="tablet")
    assert call is not None
    assert call.code == anyone.code
    restored = TicketQueue.from_tickets(q.tickets())
    assert [t.kind for t in restored.tickets()] == [None, "pc", "pc", "tablet"]
