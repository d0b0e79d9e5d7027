"""The wire codec: every message type round-trips, and nothing else gets through.

Strategies are derived from the message classes themselves (``msgspec.inspect``),
constraints included, so a new message or field is covered without editing
this file.
"""

from __future__ import annotations

import json
import typing
from functools import cache

import msgspec
import msgspec.inspect as mi
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from espace import protocol as p

FROM_AGENT = typing.get_args(p.FromAgent)
FROM_CONTROLLER = typing.get_args(p.FromController)
ALL = [(c, p.decode_from_agent) for c in FROM_AGENT] + [(c, p.decode_from_controller) for c in FROM_CONTROLLER]


def _bounded(lo: float | None, hi: float | None, default_lo: float, default_hi: float) -> tuple[float, float]:
    return (default_lo if lo is None else lo), (default_hi if hi is None else hi)


def strategy(t: mi.Type) -> st.SearchStrategy[typing.Any]:
    if isinstance(t, mi.StrType):
        if t.pattern:
            s = st.from_regex(t.pattern, fullmatch=True)
        else:
            s = st.text()
        return s.filter(lambda x: (t.min_length or 0) <= len(x) <= (t.max_length if t.max_length is not None else 10**6))
    if isinstance(t, mi.IntType):
        lo = t.ge if t.ge is not None else (t.gt + 1 if t.gt is not None else -(2**63))
        hi = t.le if t.le is not None else (t.lt - 1 if t.lt is not None else 2**63 - 1)
        return st.integers(lo, hi)
    if isinstance(t, mi.FloatType):
        lo, hi = _bounded(t.ge, t.le, -1e300, 1e300)
        return st.floats(lo, hi, allow_nan=False, allow_infinity=False)
    if isinstance(t, mi.BoolType):
        return st.booleans()
    if isinstance(t, mi.NoneType):
        return st.none()
    if isinstance(t, mi.LiteralType):
        return st.sampled_from(t.values)
    if isinstance(t, mi.UnionType):
        return st.one_of([strategy(x) for x in t.types])
    if isinstance(t, mi.ListType):
        return st.lists(strategy(t.item_type), max_size=4)
    if isinstance(t, mi.StructType):
        return struct_strategy(t.cls)
    raise NotImplementedError(f"no strategy for {t!r}")  # a new kind of field: teach this test about it


@cache
def struct_strategy(cls: type[msgspec.Struct]) -> st.SearchStrategy[msgspec.Struct]:
    info = mi.type_info(cls)
    assert isinstance(info, mi.StructType)
    required = {f.name: strategy(f.type) for f in info.fields if f.required}
    optional = {f.name: strategy(f.type) for f in info.fields if not f.required}
    return st.fixed_dictionaries(required, optional=optional).map(lambda kw: cls(**kw))


@pytest.mark.parametrize(("cls", "decode"), ALL, ids=[c.__name__ for c, _ in ALL])
@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_every_message_round_trips(cls, decode, data) -> None:
    msg = data.draw(struct_strategy(cls))
    text = p.encode(msg)
    assert len(text) <= p.MAX_FRAME_BYTES or pytest.fail("a valid message must fit in one frame")
    assert decode(text) == msg
    assert decode(text.encode()) == msg


def test_every_message_type_is_covered() -> None:
    tags = {c.__struct_config__.tag for c, _ in ALL}
    assert len(tags) == len(ALL)
    assert {"hello", "heartbeat", "session_started", "print_job", "welcome", "grant", "event_ack", "event_reject"} <= tags
    assert set(p.EVENT_TYPES) <= set(FROM_AGENT)


@pytest.mark.parametrize("cls", FROM_CONTROLLER, ids=[c.__name__ for c in FROM_CONTROLLER])
@settings(max_examples=20, deadline=None)
@given(data=st.data())
def test_the_agent_side_refuses_controller_messages_and_back(cls, data) -> None:
    msg = data.draw(struct_strategy(cls))
    if cls.__struct_config__.tag in {c.__struct_config__.tag for c in FROM_AGENT}:
        pytest.skip("a tag both sides use")
    with pytest.raises(p.ProtocolError):
        p.decode_from_agent(p.encode(msg))


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
    lambda kids: st.lists(kids, max_size=3) | st.dictionaries(st.text(max_size=6), kids, max_size=3),
    max_leaves=10,
)


@settings(max_examples=300, deadline=None)
@given(doc=JSON, tag=st.sampled_from([c.__struct_config__.tag for c in FROM_AGENT] + ["", "nope"]))
def test_random_documents_decode_or_raise_protocol_error_only(doc, tag) -> None:
    if isinstance(doc, dict) and tag:
        doc = {**doc, "type": tag}
    text = json.dumps(doc)
    msg, reason = None, ""
    try:
        msg = p.decode_from_agent(text)
    except p.ProtocolError as exc:
        reason = str(exc)
    if msg is None:
        assert reason  # says why
    else:
        assert isinstance(msg, FROM_AGENT)
        assert p.decode_from_agent(p.encode(msg)) == msg


@settings(max_examples=200, deadline=None)
@given(raw=st.binary(max_size=300) | st.text(max_size=300))
def test_garbage_raises_protocol_error_only(raw) -> None:
    with pytest.raises(p.ProtocolError):
        p.decode_from_agent(b"\xff" + raw.encode() if isinstance(raw, str) else b"\xff" + raw)
    try:
        p.decode_from_controller(raw)
    except p.ProtocolError:
        pass


def test_frames_over_the_limit_are_refused_before_parsing() -> None:
    big = '{"type":"heartbeat","idle_s":0' + " " * p.MAX_FRAME_BYTES + "}"
    with pytest.raises(p.ProtocolError, match="limit"):
        p.decode_from_agent(big)
