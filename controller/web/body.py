"""Reading a request's body without trusting it: JSON and forms.

``await request.json()`` and ``await request.post()`` raise more than the
``JSONDecodeError`` the handlers used to catch, and each became a 500:

- nesting deeper than Python's recursion limit (``[[[[...`` in a 1 MiB body): ``RecursionError``;
- a charset Python does not know (``Content-Type: application/json; charset=foo``): ``LookupError``;
- ``multipart/form-data`` without a boundary, or a broken multipart body: ``ValueError``.

And ``json.loads`` accepts ``NaN``, ``Infinity`` and ``1e999`` (infinity), which are
not JSON numbers and which the store cannot keep. Here each of these is one
:class:`BadBody`, for the handler to answer 400.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any

from aiohttp import web


class BadBody(ValueError):
    """A body that cannot be read as what the route takes; the text says why."""


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"{text} is not a finite number")
    return value


def _not_json(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def parse_json(raw: bytes, charset: str | None = None) -> Any:
    """``raw`` as JSON text in ``charset`` (default UTF-8); BadBody otherwise."""
    # UnicodeDecodeError and JSONDecodeError are ValueErrors; an unknown charset, a LookupError
    try:
        text = raw.decode(charset or "utf-8")
        return json.loads(text, parse_float=_finite, parse_constant=_not_json)
    except (ValueError, LookupError, RecursionError) as exc:
        raise BadBody(f"the body is not JSON ({type(exc).__name__})") from None


async def read_json(request: web.Request) -> Any:
    """The request's body as JSON; BadBody when it is not."""
    return parse_json(await request.read(), request.charset)


async def read_form(request: web.Request) -> Mapping[str, Any]:
    """The request's form fields (urlencoded or multipart); BadBody when they cannot be read."""
    try:
        return await request.post()  # cached by aiohttp: reading it twice is free
    except (ValueError, LookupError) as exc:
        raise BadBody(f"the form cannot be read ({type(exc).__name__})") from None
