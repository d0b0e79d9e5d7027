"""Exports in the reader's language, and CSV as Excel set up for Belgium opens it.

:func:`localize` turns a :class:`~controller.reports.export.Table` (English column names and
codes: ``weekday``, ``end_reason``, ``time``, ``pc``) into the same table with the catalog's
words for a language: column headers (``export.col.<name>``), weekday names
(``reports.weekday.<id>``), end reasons (``reports.end.<reason>``), station kinds
(``reports.kind.<kind>``), session origins (``export.origin.<origin>``) and the annual block's
figure names (``reports.annual.<key>``). Numbers, dates and station ids are left as they are.
Without a language (``lang=None``) nothing changes: the English codes stay for scripts.

CSV dialects (:data:`DIALECTS`): ``comma`` (``,`` and a decimal point, the default, for
scripts and most tools) and ``be`` (``;`` and a decimal comma: what Excel set up for Belgium,
French or Dutch, opens as columns). Both are UTF-8 with a byte-order mark.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from typing import Any

from controller.reports.aggregate import WEEKDAYS
from espace.i18n import LANGS, translator

DIALECTS: dict[str, tuple[str, str]] = {"comma": (",", "."), "be": (";", ",")}
WEEKDAY_IDS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_CODED = {"end_reason": "reports.end.", "kind": "reports.kind.", "origin": "export.origin."}


def check_lang(lang: str | None) -> str | None:
    if lang is not None and lang not in LANGS:
        raise ValueError(f"lang must be one of {', '.join(LANGS)}, not {lang!r}")
    return lang


def check_dialect(dialect: str) -> tuple[str, str]:
    if dialect not in DIALECTS:
        raise ValueError(f"dialect must be one of {', '.join(DIALECTS)}, not {dialect!r}")
    return DIALECTS[dialect]


def annual_keys() -> dict[str, str]:
    """The annual block's English figure names -> their keys (``"Help requests"`` -> ``help_requests``)."""
    from controller.reports.figures import AnnualFigures

    blank = AnnualFigures(date(2000, 1, 1), date(2000, 1, 1), *([0] * 8))
    return {label: key for key, label, _ in blank.lines()}


def localize(table: Any, lang: str | None) -> Any:
    """The table with its headers and coded values in ``lang`` (unchanged for ``None``)."""
    if check_lang(lang) is None:
        return table
    t = translator(lang)  # type: ignore[arg-type]

    def said(msg: str, fallback: str) -> str:
        text = t(msg)
        return fallback if text == msg else text  # an unknown code stays as it is, never an id

    names = [c.name for c in table.columns]
    columns = tuple(replace(c, name=said(f"export.col.{c.name}", c.name)) for c in table.columns)
    fixes: dict[int, Any] = {}
    for i, name in enumerate(names):
        if name == "weekday":
            english = {en: t(f"reports.weekday.{WEEKDAY_IDS[n]}") for n, en in enumerate(WEEKDAYS)}
            fixes[i] = lambda v, m=english: m.get(v, v)
        elif name in _CODED:
            fixes[i] = lambda v, p=_CODED[name]: v if v is None else said(p + str(v), str(v))
    if table.sheet == "annual":
        keys = annual_keys()
        fixes[0] = lambda v: said(f"reports.annual.{keys[v]}", v) if v in keys else v
    sheet = said(f"export.sheet.{table.sheet}", table.sheet)
    if not fixes:
        return replace(table, columns=columns, sheet=sheet)
    rows = [tuple(fixes[i](v) if i in fixes else v for i, v in enumerate(row)) for row in table.rows]
    return replace(table, columns=columns, rows=rows, sheet=sheet)


def csv_number(value: Any, decimal: str) -> Any:
    """A float with the dialect's decimal mark (``12,5`` for Belgium); other values unchanged."""
    if decimal != "." and isinstance(value, float):
        return repr(value).replace(".", decimal)
    return value
