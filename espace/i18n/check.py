"""Checks that keep the three catalogs complete and consistent (used by the tests and CI)."""

from __future__ import annotations

import string
from pathlib import Path

from espace.i18n import LANGS, LOCALE_DIR, load_po, po_path


def placeholders(text: str) -> frozenset[str]:
    """The ``{fields}`` of a message; raises ``ValueError`` on a malformed format string."""
    return frozenset(name for _, name, _, _ in string.Formatter().parse(text) if name is not None)


def check_locale_dir(locale_dir: Path = LOCALE_DIR) -> list[str]:
    """Every problem found, one line each; ``[]`` when fr, nl and en agree.

    A problem is: a missing .po file, an id without a non-empty translation in one of the
    languages, a malformed placeholder, or placeholders that differ between languages.
    """
    problems: list[str] = []
    catalogs: dict[str, dict[str, str]] = {}
    for lang in LANGS:
        path = po_path(lang, locale_dir)
        if not path.is_file():
            problems.append(f"{lang}: no catalog at {path}")
            catalogs[lang] = {}
        else:
            catalogs[lang] = load_po(path)
    ids = sorted(set().union(*(c.keys() for c in catalogs.values())))
    for msgid in ids:
        fields: dict[str, frozenset[str]] = {}
        for lang in LANGS:
            text = catalogs[lang].get(msgid, "")
            if not text.strip():
                problems.append(f"{lang}: {msgid!r} has no translation")
                continue
            try:
                fields[lang] = placeholders(text)
            except ValueError as exc:
                problems.append(f"{lang}: {msgid!r} has a malformed placeholder ({exc})")
        if len(set(fields.values())) > 1:
            shown = ", ".join(f"{lang}={sorted(f)}" for lang, f in fields.items())
            problems.append(f"{msgid!r}: placeholders differ between languages ({shown})")
    return problems
