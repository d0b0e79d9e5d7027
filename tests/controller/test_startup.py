"""What the controller does once at start-up so that the day's first messages do not stall it."""

from __future__ import annotations

import threading

from controller.app import create_app
from controller.settings import make_settings
from espace import i18n
from espace.clock import ScaledClock, parse_instant
from espace.protocol import LANGS
from tests.support.served import served


async def test_the_catalogs_are_read_at_start_up_off_the_event_loop(tmp_path, monkeypatch) -> None:
    # a busy Thursday at x900 stalled 0.3 s (4.5 virtual minutes) at the 18:45 last call:
    # the first message in each language parsed its .po file on the event loop
    loads: list[tuple[str, bool]] = []
    real_load = i18n.load_po

    def recording(path):
        loads.append((path.parent.parent.name, threading.current_thread() is threading.main_thread()))
        return real_load(path)

    monkeypatch.setattr(i18n, "load_po", recording)
    i18n.reload()
    try:
        clock = ScaledClock(parse_instant("2026-11-19T18:44"), 1.0)
        async with served(create_app(make_settings(database=str(tmp_path / "c.db")), clock)):
            assert sorted(lang for lang, _ in loads) == sorted(LANGS)
            for lang in LANGS:  # what the last call does, on the loop
                assert i18n.translator(lang)("lang.fr") != "lang.fr"
        assert len(loads) == len(LANGS)
        assert not any(on_main for _, on_main in loads), loads
    finally:
        i18n.reload()
