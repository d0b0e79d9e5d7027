"""The one catalog of every string a visitor or a steward reads, in French, Dutch and English.

The catalogs are gettext ``.po`` files under ``locale/<lang>/LC_MESSAGES/espace.po``, read at
run time with Babel (no compile step). Message ids are stable keys (``"lock.start_button"``),
not English text, so a missing translation is visible and testable
(:func:`espace.i18n.check.check_locale_dir`). Placeholders are ``str.format`` fields
(``"Until {end}"``); the kiosk page and the dashboard receive :func:`catalog` as JSON and
fill the same fields.

Ids are grouped by prefix: ``lang.``, ``app.``, ``lock.``, ``refuse.``, ``a11y.``,
``session.``, ``prints.``, ``warn.``, ``idle.``, ``help.``, ``message.``, ``common.``,
``end.``, ``cleaning.``, ``closed.``, ``out_of_order.``, ``ticket.``; ``floor.`` is the
steward dashboard's; ``err.<error>`` (or ``err.<error>.<reason>``) says an error of the JSON
API on the staff pages, filled with the answer's ``params``.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, tzinfo
from functools import cache
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from espace.protocol import LANGS, Lang

DEFAULT_LANG: Lang = "fr"
DOMAIN = "espace"
LOCALE_DIR = Path(__file__).with_name("locale")
DEFAULT_TZ = "Europe/Brussels"

# Babel locales for screens: the Belgian variants (24-hour clock in all three).
_LOCALES: dict[str, str] = {"fr": "fr_BE", "nl": "nl_BE", "en": "en_BE"}

Translator = Callable[..., str]


def po_path(lang: str, locale_dir: Path = LOCALE_DIR) -> Path:
    return locale_dir / lang / "LC_MESSAGES" / f"{DOMAIN}.po"


def load_po(path: Path) -> dict[str, str]:
    """Message id -> translation of one .po file; empty translations are kept as ``""``."""
    # Babel loads on first use: the agent service, which never needs it, stays small
    from babel.messages.pofile import read_po

    with path.open("rb") as f:
        cat = read_po(f)
    out: dict[str, str] = {}
    for message in cat:
        if not message.id or not isinstance(message.id, str):
            continue  # the header, and plural entries (Espace phrases avoid plurals)
        out[message.id] = message.string if isinstance(message.string, str) else ""
    return out


def _check_lang(lang: str) -> str:
    if lang not in LANGS:
        raise ValueError(f"unknown language {lang!r}; expected one of {LANGS}")
    return lang


@cache
def _catalog(lang: str) -> dict[str, str]:
    return load_po(po_path(_check_lang(lang)))


def catalog(lang: str) -> dict[str, str]:
    """Every message of ``lang`` (a copy), for the kiosk page and the dashboard as JSON."""
    return dict(_catalog(lang))


def message_ids() -> frozenset[str]:
    """Every id known in any language."""
    return frozenset().union(*(_catalog(lang).keys() for lang in LANGS))


def reload() -> None:
    """Forget the loaded catalogs (after editing a .po file in a running process)."""
    _catalog.cache_clear()


def preload(tz: tzinfo | str | None = None) -> None:
    """Read every catalog and Babel's locale data now (blocking: call it in a thread).

    A server calls this at start-up so that the first message sent in a language (the
    18:45 last call to the whole floor) does not parse .po files on its event loop:
    about 0.3 s, in which nothing else on the site moves.
    """
    for lang in LANGS:
        _catalog(lang)
        format_time(0.0, lang, tz)
        format_day(0.0, lang, tz)


def translator(lang: str) -> Translator:
    """``t = translator("nl"); t("lock.offer.length", end="14:55")`` -> ``"Tot 14:55"``.

    A missing or empty translation falls back to English, then to the id itself, so a
    screen never goes blank; the catalog test keeps that from happening in practice.
    """
    own = _catalog(_check_lang(lang))
    english = _catalog("en")

    def t(msgid: str, **kwargs: Any) -> str:
        text = own.get(msgid) or english.get(msgid) or msgid
        return text.format(**kwargs) if kwargs else text

    return t


def _zone(tz: tzinfo | str | None) -> tzinfo:
    if tz is None:
        return ZoneInfo(DEFAULT_TZ)
    return ZoneInfo(tz) if isinstance(tz, str) else tz


def format_time(ts: float, lang: str, tz: tzinfo | str | None = None) -> str:
    """A UTC instant as the local wall-clock time for ``lang``, e.g. ``"14:55"``."""
    from babel.dates import format_time as babel_format_time

    moment = datetime.fromtimestamp(ts, _zone(tz))
    return babel_format_time(moment, "short", locale=_LOCALES[_check_lang(lang)])


def format_day(ts: float, lang: str, tz: tzinfo | str | None = None) -> str:
    """The local day of a UTC instant, e.g. ``"lundi 23 novembre"`` / ``"Monday 23 November"``."""
    from babel.dates import format_date

    moment = datetime.fromtimestamp(ts, _zone(tz))
    return format_date(moment, "EEEE d MMMM", locale=_LOCALES[_check_lang(lang)])


def same_local_day(a: float, b: float, tz: tzinfo | str | None = None) -> bool:
    zone = _zone(tz)
    return datetime.fromtimestamp(a, zone).date() == datetime.fromtimestamp(b, zone).date()


__all__ = [
    "DEFAULT_LANG",
    "LANGS",
    "LOCALE_DIR",
    "Lang",
    "Translator",
    "catalog",
    "format_day",
    "format_time",
    "load_po",
    "message_ids",
    "po_path",
    "reload",
    "same_local_day",
    "translator",
]
