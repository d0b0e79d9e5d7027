"""Text logs keep one record to one line, whatever a station calls itself."""

from __future__ import annotations

import io
import json
import logging

from espace.logs import JsonFormatter, TextFormatter, escape_controls


def _line(formatter: logging.Formatter, msg: str, *args: object, exc: bool = False) -> str:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(formatter)
    log = logging.Logger("t")
    log.addHandler(handler)
    if exc:
        try:
            raise ValueError("boom")
        except ValueError:
            log.exception(msg, *args)
    else:
        log.warning(msg, *args)
    return stream.getvalue()


def test_a_newline_or_escape_sequence_in_a_hostname_stays_on_its_record_line():
    forged = "2026-11-19 10:00:00,000 INFO controller.web.auth: admin approved PC-06"
    out = _line(TextFormatter("%(levelname)s %(name)s: %(message)s"), "%s: enrolment pending (%s)", "PC-06", f"pc\n{forged}\r\x1b[2K\u2028")
    assert out.count("\n") == 1  # one record, one line
    assert "pc\\x0a2026-11-19" in out
    assert "\\x0d\\x1b[2K\\u2028" in out


def test_a_traceback_keeps_its_lines_and_json_logs_stay_one_object_per_line():
    out = _line(TextFormatter("%(message)s"), "failed for %s", "a\nb", exc=True)
    assert out.splitlines()[0] == "failed for a\\x0ab"
    assert "Traceback" in out.splitlines()[1]
    record = json.loads(_line(JsonFormatter(), "host %s", "a\nb"))
    assert record["msg"] == "host a\nb"  # JSON escapes it already


def test_escape_controls_leaves_ordinary_text_alone():
    assert escape_controls("Cité des métiers — PC-07 ♿") == "Cité des métiers — PC-07 ♿"
    assert escape_controls("\x00\x7f\x85") == "\\x00\\x7f\\x85"
