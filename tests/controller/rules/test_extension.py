"""Extensions: one, only when nobody waits and no booking or closing falls within it."""

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from controller.rules import Extension, ExtensionRefused, decide_extension

BXL = ZoneInfo("Europe/Brussels")


def at(h: int, mi: int = 0) -> float:
    return datetime(2026, 11, 19, h, mi, tzinfo=BXL).timestamp()  # a Thursday, closing 19:00


END = at(15)
NOW = at(14, 55)


def extend(**kwargs):
    args = {
        "extensions_done": 0,
        "queue_waiting": 0,
        "next_booking_start": None,
        "closing": at(19),
    }
    args.update(kwargs)
    return decide_extension(NOW, END, **args)


def test_one_extension_of_thirty_minutes():
    assert extend() == Extension(at(15, 30))
    assert not extend().overridden
    assert extend(extensions_done=1) == ExtensionRefused("limit")


def test_configurable_length_and_count():
    assert extend(extension_minutes=15) == Extension(at(15, 15))
    assert extend(extensions_done=1, max_extensions=2) == Extension(at(15, 30))
    assert extend(max_extensions=0) == ExtensionRefused("limit")


def test_refused_when_someone_waits():
    assert extend(queue_waiting=1) == ExtensionRefused("queue")


def test_refused_when_a_booking_starts_within():
    assert extend(next_booking_start=at(15, 29)) == ExtensionRefused("booking")
    assert extend(next_booking_start=at(15, 30)) == Extension(at(15, 30))  # starts right after


def test_refused_past_closing():
    assert extend(closing=at(15, 20)) == ExtensionRefused("closing")
    assert extend(closing=at(15, 30)) == Extension(at(15, 30))
    assert extend(closing=None) == ExtensionRefused("closing")


def test_refused_once_the_session_is_over():
    assert decide_extension(
        END, END, extensions_done=0, queue_waiting=0, next_booking_start=None, closing=at(19)
    ) == ExtensionRefused("ended")


def test_override_bypasses_queue_and_limit_and_says_so():
    assert extend(queue_waiting=3, override=True) == Extension(at(15, 30), ("queue",))
    assert extend(extensions_done=1, override=True) == Extension(at(15, 30), ("limit",))
    both = extend(extensions_done=1, queue_waiting=2, override=True)
    assert both.bypassed == ("limit", "queue")
    assert both.overridden
    assert extend(override=True) == Extension(at(15, 30), ())  # nothing to bypass


@pytest.mark.parametrize(
    ("kwargs", "reason"),
    [
        ({"closing": at(15, 10)}, "closing"),
        ({"next_booking_start": at(15, 10)}, "booking"),
        ({"closing": at(15, 10), "next_booking_start": at(15, 10), "queue_waiting": 4}, "closing"),
    ],
)
def test_override_never_bypasses_closing_or_a_booking(kwargs, reason):
    assert extend(override=True, extensions_done=1, **kwargs) == ExtensionRefused(reason)


def test_hard_reasons_come_first():
    assert extend(
        extensions_done=1, queue_waiting=1, next_booking_start=at(15, 10)
    ) == ExtensionRefused("booking")
    assert extend(extensions_done=1, queue_waiting=1) == ExtensionRefused("limit")
