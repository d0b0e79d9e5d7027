"""The real Tk session UI under Xvfb: what a visitor sees from the lock screen to the end.

Screenshots go to $ESPACE_SHOTS (or the test's tmp_path) for a human to look at.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
import tkinter as tk
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from agent.ui.view import SessionUI
from tests.support.display import XVFB, display_set, screenshot, xvfb

pytestmark = pytest.mark.skipif(XVFB is None, reason="Xvfb is not installed")

NOW = 1795528200.0  # Tuesday 2026-11-24 14:50 in Brussels (13:50 UTC)
W, H = 1280, 800


@pytest.fixture(scope="module")
def display() -> Iterator[str]:
    with xvfb(W, H) as name, display_set(name):
        yield name


class Recorder:
    def __init__(self) -> None:
        self.events: list[tuple[str, Any]] = []

    def __call__(self, name: str) -> Callable[..., None]:
        def record(*args: Any) -> None:
            self.events.append((name, args[0] if args else None))

        return record

    def names(self) -> list[str]:
        return [name for name, _ in self.events]


@pytest.fixture
def root(display: str) -> Iterator[tk.Tk]:
    window = tk.Tk()
    yield window
    window.destroy()


def make_ui(root: tk.Tk, rec: Recorder, lang: str = "fr") -> SessionUI:
    return SessionUI(
        root, lang,
        on_start=rec("start"), on_end=rec("end"), on_help=rec("help"),
        on_help_cancel=rec("help_cancel"), on_ack_warning=rec("ack_warning"),
        on_still_here=rec("still_here"), on_ticket=rec("ticket"), on_lang=rec("lang"),
    )  # fmt: skip


def pump(root: tk.Tk, rounds: int = 3) -> None:
    for _ in range(rounds):
        root.update_idletasks()
        root.update()


def wait_for(root: tk.Tk, condition: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met within the deadline")
        pump(root, 1)
        time.sleep(0.02)


def xdotool(display: str, *args: str) -> None:
    assert shutil.which("xdotool"), "xdotool is not installed"
    env = {**os.environ, "DISPLAY": display}
    subprocess.run(["xdotool", *args], check=True, env=env, timeout=10)


def centre(widget: tk.Misc) -> tuple[str, str]:
    x = widget.winfo_rootx() + widget.winfo_width() // 2
    y = widget.winfo_rooty() + widget.winfo_height() // 2
    return str(x), str(y)


def shoot(root: tk.Tk, display: str, folder: Path, name: str) -> Path:
    pump(root)
    return screenshot(display, folder / f"{name}.png")


def geometry(window: tk.Misc) -> tuple[int, int, int, int]:
    window.update_idletasks()
    return (window.winfo_rootx(), window.winfo_rooty(), window.winfo_width(),
            window.winfo_height())  # fmt: skip


def inside_screen(window: tk.Misc) -> bool:
    x, y, w, h = geometry(window)
    return x >= 0 and y >= 0 and x + w <= W and y + h <= H


def overlaps(a: tk.Misc, b: tk.Misc) -> bool:
    ax, ay, aw, ah = geometry(a)
    bx, by, bw, bh = geometry(b)
    return ax < bx + bw and bx < ax + aw and ay < by + bh and by < ay + ah


def text(widget: tk.Misc) -> str:
    return str(widget.cget("text"))


def test_a_visitor_from_the_lock_screen_to_the_end(root: tk.Tk, display: str, shots: Path) -> None:
    rec = Recorder()
    ui = make_ui(root, rec)
    ui.tick(NOW)
    offer = {"end_ts": NOW + 5 * 60, "at_ts": NOW + 10 * 60, "cause": "booking", "label": ""}
    ui.show_lock({**offer, "end_ts": NOW + 55 * 60, "at_ts": NOW + 70 * 60}, ticket_mode=False)
    pump(root)

    # The lock screen covers the whole screen, on top, undecorated, and will not close.
    assert ui.mode == "lock"
    assert root.winfo_ismapped()
    assert geometry(root) == (0, 0, W, H)
    assert root.attributes("-topmost") == 1
    assert root.wm_overrideredirect()
    root.tk.call(root.protocol("WM_DELETE_WINDOW"))  # what the window manager's close does
    assert root.winfo_exists()
    assert root.winfo_ismapped()
    assert text(ui.lock.charter).startswith("Gratuit et anonyme")
    assert text(ui.lock.start_button) == (
        "Commencer ma session\nJusqu'à 15:45 — un atelier commence à 16:00"
    )
    assert not ui.panel.window.winfo_ismapped()
    shoot(root, display, shots, "01-lock-fr")

    # Dutch, with a real click on the language button.
    xdotool(display, "mousemove", *centre(ui.lock.lang_buttons["nl"]), "click", "1")
    wait_for(root, lambda: ("lang", "nl") in rec.events)
    assert (
        text(ui.lock.start_button)
        == "Mijn sessie starten\nTot 15:45 — om 16:00 begint een workshop"
    )
    assert text(ui.lock.charter).startswith("Gratis en anoniem")
    assert ui.lock.lang_buttons["nl"].cget("relief") == "solid"
    shoot(root, display, shots, "02-lock-nl")

    # Start, with the keyboard: the start button has the focus; Enter presses it.
    assert root.focus_get() == ui.lock.start_button
    xdotool(display, "key", "Return")
    wait_for(root, lambda: "start" in rec.names())
    assert str(ui.lock.start_button.cget("state")) == "disabled"  # no second request
    assert text(ui.lock.status) == "Uw sessie wordt geopend…"

    end = NOW + 55 * 60
    ui.show_session(end)
    pump(root)
    panel = ui.panel.window
    assert ui.mode == "session"
    assert not root.winfo_ismapped()
    assert panel.winfo_ismapped()
    assert panel.attributes("-topmost") == 1
    assert inside_screen(panel)
    _, _, pw, ph = geometry(panel)
    assert pw * ph < W * H / 6  # small: it leaves the visitor's work visible
    assert text(ui.panel.time_left) == "Nog 55 min"
    assert text(ui.panel.until) == "Tot 15:45"
    assert text(ui.panel.end_button) == "Mijn sessie beëindigen\nUw bestanden worden gewist."
    ui.set_prints(3, 20)
    shoot(root, display, shots, "03-session-nl")

    # Five minutes left: a warning to acknowledge; the countdown turns yellow.
    ui.tick(end - 5 * 60)
    ui.warn(5)
    pump(root)
    warning = ui.dialogs["warn"]
    assert warning.window.winfo_ismapped()
    assert warning.window.attributes("-topmost") == 1
    assert text(warning.title) == "Let op"
    assert text(warning.body).startswith("Uw sessie eindigt over 5 min.")
    assert text(ui.panel.time_left) == "Nog 5 min"
    assert not overlaps(warning.window, panel)  # the time left stays in sight
    assert ui.panel.time_left.cget("bg") == "#ffd400"
    shoot(root, display, shots, "04-warning-nl")
    warning.buttons["warn.ack"].invoke()
    pump(root)
    assert rec.events[-1] == ("ack_warning", None)
    assert not warning.exists()

    # Help: ask, confirm, then a steward is coming; the visitor could cancel.
    ui.panel.help_button.invoke()
    pump(root)
    confirm = ui.dialogs["help"]
    assert text(confirm.title) == "Een begeleider roepen?"
    shoot(root, display, shots, "05-help-confirm-nl")
    assert "help" not in rec.names()  # nothing sent before the confirmation
    confirm.buttons["help.confirm_yes"].invoke()
    pump(root)
    assert rec.events[-1] == ("help", None)
    assert text(ui.panel.help_status).startswith("Uw vraag is verstuurd.")
    assert not ui.panel.help_button.winfo_ismapped()
    ui.help_state("coming")
    pump(root)
    assert text(ui.panel.help_status) == "Er komt een begeleider naar u toe."
    assert ui.panel.help_cancel.winfo_ismapped()
    assert inside_screen(panel)
    shoot(root, display, shots, "06-help-coming-nl")

    # A steward's message, shown as sent.
    ui.show_message("Ik kom over 2 minuten naar pc 12.")
    pump(root)
    message = ui.dialogs["message"]
    assert text(message.title) == "Bericht van een begeleider"
    assert text(message.body) == "Ik kom over 2 minuten naar pc 12."
    shoot(root, display, shots, "07-message-nl")
    message.buttons["common.ok"].invoke()

    # End my session: the confirmation says files will be erased; Tab then Enter confirms.
    ui.help_state("none")
    ui.panel.end_button.invoke()
    pump(root)
    ending = ui.dialogs["end"]
    assert "gewist" in text(ending.body)
    assert root.focus_get() == ending.buttons["end.confirm_no"]  # the safe choice first
    shoot(root, display, shots, "08-end-confirm-nl")
    xdotool(display, "key", "Tab")
    wait_for(root, lambda: root.focus_get() == ending.buttons["end.confirm_yes"])
    assert int(ending.buttons["end.confirm_yes"].cget("highlightthickness")) >= 3
    xdotool(display, "key", "Return")
    wait_for(root, lambda: "end" in rec.names())

    # The service resets the station: a full-screen notice, back in French for the next one.
    ui.show_cleaning()
    pump(root)
    assert ui.mode == "cleaning"
    assert root.winfo_ismapped()
    assert not panel.winfo_ismapped()
    assert text(ui.lock.notice_title) == "Merci de votre visite !"
    assert rec.events[-1] == ("lang", "fr")
    shoot(root, display, shots, "09-cleaning-fr")
    ui.show_lock({"end_ts": NOW + 60 * 60, "cause": "length", "label": ""})
    pump(root)
    assert text(ui.lock.start_button) == "Commencer ma session\nJusqu'à 15:50"


def test_a_ticket_held_station_asks_for_the_code(root: tk.Tk, display: str, shots: Path) -> None:
    rec = Recorder()
    ui = make_ui(root, rec, "en")
    ui.tick(NOW)
    ui.show_lock(None, ticket_mode=True)
    pump(root)
    assert ui.lock.ticket_entry.winfo_ismapped()
    assert not ui.lock.start_button.winfo_ismapped()
    assert text(ui.lock.ticket_intro) == (
        "This PC is held for a queue ticket.\nType the code on your ticket:"
    )
    wait_for(root, lambda: root.focus_get() == ui.lock.ticket_entry)
    xdotool(display, "type", "--delay", "20", "K7Q")
    xdotool(display, "key", "Return")
    wait_for(root, lambda: "ticket" in rec.names())
    assert rec.events[-1] == ("ticket", "K7Q")
    ui.refused("bad_ticket")
    pump(root)
    assert text(ui.lock.status).startswith("This code does not match")
    shoot(root, display, shots, "10-ticket-refused-en")


def test_without_an_offer_the_start_button_is_not_there(root: tk.Tk) -> None:
    ui = make_ui(root, Recorder(), "nl")
    ui.show_lock(None)
    pump(root)
    assert not ui.lock.start_button.winfo_ismapped()
    assert text(ui.lock.unavailable) == (
        "Deze pc is momenteel niet beschikbaar. Vraag het aan het onthaal."
    )


def test_idle_prompt_counts_down_and_answers(root: tk.Tk, display: str, shots: Path) -> None:
    rec = Recorder()
    ui = make_ui(root, rec, "fr")
    ui.tick(NOW)
    ui.show_session(NOW + 3600)
    ui.idle_prompt(120)
    pump(root)
    prompt = ui.dialogs["idle"]
    assert text(prompt.title) == "Êtes-vous toujours là ?"
    assert "dans 120 s" in text(prompt.body)
    ui.tick(NOW + 31)
    pump(root)
    assert "dans 89 s" in text(prompt.body)
    shoot(root, display, shots, "11-idle-fr")
    xdotool(display, "mousemove", *centre(prompt.buttons["idle.still_here"]), "click", "1")
    wait_for(root, lambda: "still_here" in rec.names())
    assert not prompt.exists()
    ui.idle_prompt(60)
    pump(root)
    ui.idle_prompt(None)  # the visitor moved the mouse: the service hides it
    pump(root)
    assert "idle" not in ui.dialogs


def test_the_countdown_shrinks_to_a_bar_and_moves(root: tk.Tk, display: str, shots: Path) -> None:
    ui = make_ui(root, Recorder(), "en")
    ui.tick(NOW)
    ui.show_session(NOW + 3600)
    pump(root)
    panel = ui.panel
    _, _, w_full, h_full = geometry(panel.window)
    panel.shrink_button.invoke()
    pump(root)
    x, y, w, h = geometry(panel.window)
    assert panel.bar.winfo_ismapped()
    assert not panel.full.winfo_ismapped()
    assert h < 60
    assert h < h_full / 4
    assert w <= w_full
    assert text(panel.bar_time) == "60 min left"
    assert inside_screen(panel.window)
    # Drag it by the time label to the top-left of the screen, with the real mouse.
    grab_x, grab_y = centre(panel.bar_time)
    xdotool(display, "mousemove", grab_x, grab_y, "mousedown", "1")
    xdotool(display, "mousemove", "300", "20")
    xdotool(display, "mousemove", "200", "10")
    xdotool(display, "mouseup", "1")
    wait_for(root, lambda: geometry(panel.window)[0] < 400)
    nx, ny, _, _ = geometry(panel.window)
    assert nx < x
    assert ny < y
    assert inside_screen(panel.window)
    shoot(root, display, shots, "12-bar-en")
    panel.expand_button.invoke()
    pump(root)
    assert panel.full.winfo_ismapped()
    assert inside_screen(panel.window)
    ui.tick(NOW + 3600 - 42)
    pump(root)
    assert text(panel.time_left) == "42 s left"


def test_large_text_grows_every_screen(root: tk.Tk, display: str, shots: Path) -> None:
    ui = make_ui(root, Recorder(), "en")
    ui.tick(NOW)
    ui.show_lock({"end_ts": NOW + 3600, "cause": "closing", "label": ""})
    pump(root)
    normal = ui.lock.start_button.winfo_reqheight()
    line = ui.fonts["start"].metrics("linespace")
    assert text(ui.lock.large_button) == "Larger text"
    ui.lock.large_button.invoke()
    pump(root)
    assert ui.fonts.large
    assert ui.fonts["start"].metrics("linespace") > line * 1.25
    assert ui.lock.start_button.winfo_reqheight() > normal
    assert text(ui.lock.large_button) == "Normal text"
    assert text(ui.lock.start_button) == "Start my session\nUntil 15:50, when the space closes"
    assert geometry(root) == (0, 0, W, H)
    shoot(root, display, shots, "13-lock-large-en")
    ui.show_session(NOW + 3600)
    ui.set_prints(20, 20)
    ui.warn(10)
    pump(root)
    assert inside_screen(ui.panel.window)
    assert inside_screen(ui.dialogs["warn"].window)
    assert not overlaps(ui.dialogs["warn"].window, ui.panel.window)
    assert text(ui.panel.prints).endswith("You have reached the page limit for this session.")
    shoot(root, display, shots, "14-session-large-en")


def test_a_station_waiting_for_approval_shows_its_code(root: tk.Tk, display: str, shots: Path) -> None:
    ui = make_ui(root, Recorder(), "fr")
    ui.tick(NOW)
    ui.show_setup("4A2C-5F27")
    pump(root)
    assert ui.mode == "setup"
    assert geometry(root) == (0, 0, W, H)  # full screen: nobody uses a station that is not set up
    assert text(ui.lock.notice_title) == "Ce poste est en cours d'installation"
    assert text(ui.lock.notice_extra) == "Code pour l'animateur : 4A2C-5F27"
    shoot(root, display, shots, "18-setup-fr")
    ui.set_lang("nl")
    assert text(ui.lock.notice_extra) == "Code voor de begeleider: 4A2C-5F27"


def test_closed_out_of_order_and_cleaning_screens(root: tk.Tk, display: str, shots: Path) -> None:
    ui = make_ui(root, Recorder(), "fr")
    ui.tick(NOW)
    ui.show_closed(NOW + 19 * 3600)  # tomorrow, 9:50
    pump(root)
    assert ui.mode == "closed"
    assert geometry(root) == (0, 0, W, H)
    assert text(ui.lock.notice_title) == "L'espace est fermé"
    assert text(ui.lock.notice_body) == "Réouverture le mercredi 25 novembre à 09:50."
    shoot(root, display, shots, "15-closed-fr")
    ui.show_closed(NOW + 600)
    assert text(ui.lock.notice_body) == "Réouverture aujourd'hui à 15:00."
    ui.set_lang("nl")
    assert text(ui.lock.notice_body) == "Vandaag weer open om 15:00."
    ui.show_out_of_order("Écran en panne — merci de votre patience")
    pump(root)
    assert text(ui.lock.notice_title) == "Pc buiten gebruik"
    assert text(ui.lock.notice_extra) == "Écran en panne — merci de votre patience"
    shoot(root, display, shots, "16-out-of-order-nl")
    ui.show_cleaning()
    pump(root)
    assert text(ui.lock.notice_title) == "Bedankt voor uw bezoek!"
    assert root.attributes("-topmost") == 1
