"""The one shape of an error answer, for every JSON route.

``{"error": code, "message": English text}``, with ``"reason"`` when a rule
names why (a refused booking: ``"station_booked"``), ``"params"`` for the
details a page fills into its own text (``{"station": "PC-01"}``), and any
extra field a route documents (``retry_after``, ``detail``). The staff pages
show the catalog's ``err.<error>.<reason>`` or ``err.<error>`` in the staff
member's language, filled with ``params``, and the message only for a code
they do not know (``tests/controller/test_error_texts.py`` finds every code).

:func:`json_error` answers; :func:`json_failure` is the same body as an
exception, for helpers that must stop a handler from deep inside.
"""

from __future__ import annotations

import json
from collections.abc import Mapping

from aiohttp import web


def error_body(error: str, message: str, *, reason: str | None = None, params: Mapping[str, object] | None = None,
               **extra: object) -> dict[str, object]:  # fmt: skip
    body: dict[str, object] = {"error": error, "message": message}
    if reason is not None:
        body["reason"] = reason
    if params is not None:
        body["params"] = dict(params)
    body.update(extra)
    return body


def json_error(status: int, error: str, message: str, *, reason: str | None = None,
               params: Mapping[str, object] | None = None, headers: Mapping[str, str] | None = None,
               **extra: object) -> web.Response:  # fmt: skip
    """The error answer: ``status`` with :func:`error_body`."""
    return web.json_response(error_body(error, message, reason=reason, params=params, **extra), status=status, headers=headers)


def json_failure(status: int, error: str, message: str, *, reason: str | None = None,
                 params: Mapping[str, object] | None = None) -> web.HTTPException:  # fmt: skip
    """The same answer as an exception to ``raise`` (aiohttp sends it as the response)."""
    cls = web.HTTPNotFound if status == 404 else web.HTTPBadRequest if status == 400 else None
    if cls is None:
        raise ValueError(f"json_failure: status {status} has no exception here; return json_error instead")
    text = json.dumps(error_body(error, message, reason=reason, params=params))
    return cls(text=text, content_type="application/json")
