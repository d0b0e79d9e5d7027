"""Logging set-up for both commands: plain text for people, JSON lines for log collectors."""

from __future__ import annotations

import argparse
import json
import logging
import time

# Control characters (C0, DEL, C1) and the Unicode line and paragraph separators: a station's
# hostname or name with a newline must not write a line of its own into a text log.
_ESCAPES = {c: f"\\x{c:02x}" for c in (*range(0x20), 0x7F, *range(0x80, 0xA0))} | {
    0x2028: "\\u2028", 0x2029: "\\u2029"
}


def escape_controls(text: str) -> str:
    """``text`` with every control character written as an escape (``\\x0a``), on one line."""
    return text.translate(_ESCAPES)


class TextFormatter(logging.Formatter):
    """One line per record: the message's control characters are escaped (a traceback keeps its lines)."""

    def formatMessage(self, record: logging.LogRecord) -> str:  # noqa: N802 - logging's name
        record.message = escape_controls(record.message)
        return super().formatMessage(record)


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ts (UTC ISO), level, logger, msg, and the exception if any."""

    def format(self, record: logging.LogRecord) -> str:
        out = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        return json.dumps(out, ensure_ascii=False)


def setup_logging(level: str = "INFO", fmt: str = "text") -> None:
    handler = logging.StreamHandler()
    if fmt == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(TextFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)


def add_log_options(parser: argparse.ArgumentParser) -> None:
    """``--log-level`` and ``--log-format``, as every Espace command takes them (for :func:`setup_logging`)."""
    parser.add_argument("--log-level", default="INFO", help="DEBUG, INFO, WARNING (default INFO)")
    parser.add_argument("--log-format", choices=("text", "json"), default="text", help="text, or JSON lines for a log collector")
