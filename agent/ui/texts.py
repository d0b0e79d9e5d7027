"""Widgets bound to catalog messages, so that a language change re-renders every text.

Nothing in ``agent/ui`` passes a literal to ``text=``: texts come from :class:`Texts`, which
reads :mod:`espace.i18n`. Times are given as :class:`At` / :class:`Day` and are formatted in
the language of the moment.
"""

from __future__ import annotations

import tkinter as tk
from dataclasses import dataclass
from datetime import tzinfo
from typing import Any

from espace.i18n import format_day, format_time, translator


@dataclass(frozen=True, slots=True)
class At:
    """A UTC instant shown as a local time ("14:55")."""

    ts: float


@dataclass(frozen=True, slots=True)
class Day:
    """A UTC instant shown as a local day ("lundi 23 novembre")."""

    ts: float


@dataclass(frozen=True, slots=True)
class Raw:
    """Text that does not come from the catalog: a steward's message, a lock reason."""

    text: str


Part = str | tuple[str, dict[str, Any]] | Raw


class Texts:
    def __init__(self, lang: str, tz: tzinfo | str | None) -> None:
        self.tz = tz
        self.lang = lang
        self._t = translator(lang)
        self._bound: dict[str, tuple[tk.Misc, tuple[Part, ...]]] = {}

    def __call__(self, msgid: str, **kwargs: Any) -> str:
        values = {key: self._value(v) for key, v in kwargs.items()}
        return self._t(msgid, **values)

    def _value(self, value: Any) -> Any:
        if isinstance(value, At):
            return format_time(value.ts, self.lang, self.tz)
        if isinstance(value, Day):
            return format_day(value.ts, self.lang, self.tz)
        return value

    def render(self, *parts: Part) -> str:
        lines = []
        for part in parts:
            if isinstance(part, Raw):
                lines.append(part.text)
            elif isinstance(part, str):
                lines.append(self(part))
            else:
                lines.append(self(part[0], **part[1]))
        return "\n".join(lines)

    def bind(self, widget: tk.Misc, *parts: Part) -> None:
        """Show ``parts`` (one line each) on ``widget`` now and after every language change."""
        self._bound[str(widget)] = (widget, parts)
        widget.configure(text=self.render(*parts))  # type: ignore[call-arg]

    def set_lang(self, lang: str) -> None:
        self.lang = lang
        self._t = translator(lang)
        for key, (widget, parts) in list(self._bound.items()):
            if not widget.winfo_exists():
                del self._bound[key]
                continue
            widget.configure(text=self.render(*parts))  # type: ignore[call-arg]

    def forget(self, widget: tk.Misc) -> None:
        self._bound.pop(str(widget), None)
