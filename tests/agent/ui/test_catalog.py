"""The one catalog: complete in fr, nl and en, consistent placeholders, and no screen text
that bypasses it."""

from __future__ import annotations

import ast
import json
import re
import shutil
from pathlib import Path

import pytest

from agent.ui.view import HELP_STATES, REFUSALS
from espace.i18n import (
    LANGS,
    LOCALE_DIR,
    catalog,
    format_day,
    format_time,
    message_ids,
    po_path,
    translator,
)
from espace.i18n.check import check_locale_dir

REPO = Path(__file__).resolve().parents[3]
# Python files that draw screens; the dashboard's join them when it exists.
SCREEN_SOURCES = sorted((REPO / "agent" / "ui").glob("*.py")) + sorted(
    (REPO / "dashboard").rglob("*.py") if (REPO / "dashboard").is_dir() else []
)
PREFIXES = (
    "lang", "app", "lock", "refuse", "a11y", "session", "prints", "warn", "idle", "help",
    "message", "common", "end", "cleaning", "closed", "out_of_order", "ticket", "floor",
)  # fmt: skip
MSGID = re.compile(rf"^(?:{'|'.join(PREFIXES)})(?:\.[a-z0-9_]+)+$")
# Keyword arguments that put text on a Tk screen.
TEXT_KEYWORDS = {"text", "title", "label", "message"}


def test_every_message_is_translated_in_every_language() -> None:
    assert check_locale_dir() == []
    assert len(message_ids()) > 60


def test_the_check_fails_on_a_missing_translation_or_different_placeholders(
    tmp_path: Path,
) -> None:
    broken = tmp_path / "locale"
    shutil.copytree(LOCALE_DIR, broken)
    nl = po_path("nl", broken)
    nl.write_text(
        nl.read_text("utf-8").replace('msgstr "Mijn sessie starten"', 'msgstr ""'), "utf-8"
    )
    en = po_path("en", broken)
    en.write_text(en.read_text("utf-8").replace('"Until {end}"', '"Until {ending}"', 1), "utf-8")
    fr = po_path("fr", broken)
    text = fr.read_text("utf-8")
    fr.write_text(text.replace('msgid "warn.ack"\nmsgstr "J\'ai compris"\n', "", 1), "utf-8")
    assert 'msgid "warn.ack"' not in fr.read_text("utf-8")

    problems = check_locale_dir(broken)

    assert "nl: 'lock.start_button' has no translation" in problems
    assert "fr: 'warn.ack' has no translation" in problems
    assert any("'lock.offer.length': placeholders differ" in p for p in problems)
    assert len(problems) == 3


def test_a_missing_catalog_file_is_a_problem(tmp_path: Path) -> None:
    broken = tmp_path / "locale"
    shutil.copytree(LOCALE_DIR, broken)
    po_path("en", broken).unlink()
    problems = check_locale_dir(broken)
    assert problems[0].startswith("en: no catalog at")
    assert len(problems) > 60  # and every id then lacks its English text


def test_translator_fills_placeholders_in_each_language() -> None:
    end = "14:55"
    assert translator("fr")("lock.offer.length", end=end) == "Jusqu'à 14:55"
    assert translator("nl")("lock.offer.length", end=end) == "Tot 14:55"
    assert translator("en")("lock.offer.length", end=end) == "Until 14:55"
    assert translator("en")("no.such.id") == "no.such.id"
    with pytest.raises(ValueError, match="unknown language"):
        translator("de")


def test_catalog_is_a_json_ready_dict_per_language() -> None:
    for lang in LANGS:
        data = json.loads(json.dumps(catalog(lang)))
        assert set(data) == set(message_ids())
    assert catalog("nl")["lock.start_button"] == "Mijn sessie starten"
    catalog("fr")["lock.start_button"] = "changed"  # a copy: the cache stays intact
    assert catalog("fr")["lock.start_button"] == "Commencer ma session"


def test_format_time_is_local_brussels_time() -> None:
    winter = 1795528500.0  # 2026-11-24 13:55 UTC
    summer = 1784811300.0  # 2026-07-23 12:55 UTC
    for lang in LANGS:
        assert format_time(winter, lang) == "14:55"
        assert format_time(summer, lang) == "14:55"
    assert format_time(winter, "en", "UTC") == "13:55"
    assert format_day(winter, "fr") == "mardi 24 novembre"
    assert format_day(winter, "nl") == "dinsdag 24 november"


# -- no text on a screen that bypasses the catalog ---------------------------------------


def literal_texts(source: str) -> list[tuple[int, str]]:
    """String literals (or f-strings) passed as ``text=`` (and the like) to any call."""
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.Call):
            continue
        for kw in node.keywords:
            if kw.arg not in TEXT_KEYWORDS:
                continue
            value = kw.value
            if isinstance(value, ast.Constant) and isinstance(value.value, str) and value.value:
                found.append((node.lineno, value.value))
            elif isinstance(value, ast.JoinedStr):
                found.append((node.lineno, ast.unparse(value)))
    return found


def test_the_scan_finds_hard_coded_texts() -> None:
    sample = (
        "import tkinter as tk\n"
        "b = tk.Button(root, text='Start my session')\n"
        "b.configure(text=f'{n} min left')\n"
        "ok = tk.Label(root, text=t('lock.welcome'))\n"
        "empty = tk.Label(root, text='')\n"
    )
    assert literal_texts(sample) == [(2, "Start my session"), (3, "f'{n} min left'")]


@pytest.mark.parametrize("path", SCREEN_SOURCES, ids=lambda p: p.name)
def test_screens_pass_no_literal_text_to_tk(path: Path) -> None:
    assert literal_texts(path.read_text("utf-8")) == []


def test_every_message_id_the_screens_use_exists() -> None:
    known = message_ids()
    used: set[str] = set()
    for path in SCREEN_SOURCES:
        for node in ast.walk(ast.parse(path.read_text("utf-8"))):
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                if MSGID.match(node.value):
                    used.add(node.value)
    # Ids the screens build from a state or a reason.
    used |= {f"help.state.{s}" for s in HELP_STATES if s != "none"}
    used |= {f"refuse.{r}" for r in REFUSALS}
    used |= {f"lang.{lang}" for lang in LANGS}
    assert len(used) > 40
    assert sorted(used - known) == []
