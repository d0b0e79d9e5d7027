"""The visitor's control socket: every request checked against its type before the agent acts on it."""

from __future__ import annotations

import pytest

from agent.control import CancelHelp, Idle, Print, Start, parse_request


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        (b'{"op": "start"}', Start()),
        (b'{"op": "start", "lang": "nl", "ticket": "A12", "dry_run": true}', Start(lang="nl", ticket="A12", dry_run=True)),
        (b'{"op": "cancel_help"}', CancelHelp()),
        (b'{"op": "idle", "seconds": 12.5}', Idle(seconds=12.5)),
        (b'{"op": "print", "pages": 2}', Print(pages=2)),
    ],
)
def test_good_requests_parse(line: bytes, expected):
    assert parse_request(line) == expected


@pytest.mark.parametrize(
    "line",
    [
        b'{"op": "start", "lang": "xx"}',
        b'{"op": "start", "ticket": "AAAAAAAAAAAAAAAAAAAAAAA"}',
        b'{"op": "start", "ticket": "A\\n1"}',
        b'{"op": "start", "dry_run": "yes"}',
        b'{"op": "print", "pages": 0}',
        b'{"op": "print", "pages": -4}',
        b'{"op": "print", "pages": 1, "printer": "P\\u0000"}',
        b'{"op": "idle", "seconds": -1}',
        b'{"op": "idle"}',
        b'{"op": "help", "help_id": "mine"}',
        b'{"op": "shutdown"}',
        b'{"pages": 2}',
        b"[]",
        b"{",
    ],
)
def test_bad_requests_are_refused_with_a_reason(line: bytes):
    with pytest.raises(ValueError, match=r".+"):
        parse_request(line)
