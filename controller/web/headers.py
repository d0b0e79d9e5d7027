"""One security-header policy for every response, HTML pages above all; applied in one place.

Every response but a WebSocket's (a page handler's, a rendered report, a file under
``/static/``, aiohttp's own error pages, the JSON API) gets:

- ``Content-Security-Policy`` (unless the page sets a stricter one of its own): scripts only from the controller's own files (no
  inline script, no ``eval``), connections only to its own origin (its
  WebSockets included), ``frame-ancestors 'none'``, no ``<base>``, no plugins;
  inline styles only those written in the pages' own files (their SHA-256
  hashes, computed from ``dashboard/static/*.html`` at start-up, so a page
  that changes its style keeps working and injected style does not);
- ``X-Frame-Options: DENY`` (for old browsers), ``Referrer-Policy: no-referrer``;
- ``Cache-Control: no-store`` on every page and API answer that needs a staff
  session (a handler's own, stricter or not, is replaced), ``no-cache`` on the
  public pages unless they say otherwise.

Every response also gets ``X-Content-Type-Options: nosniff``. It hooks
``on_response_prepare`` rather than being a middleware: a ``FileResponse`` knows
its content type only when it is prepared, after any middleware has returned;
the hook sees every response as it goes out, whoever made it.
"""

from __future__ import annotations

import base64
import hashlib
from html.parser import HTMLParser
from pathlib import Path

from aiohttp import web

from controller.web.auth import STATIC, is_public


class _InlineStyles(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=False)
        self.found: set[str] = set()
        self._in_style = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._in_style = tag == "style"
        for name, value in attrs:
            if name == "style" and value is not None:
                self.found.add(value)

    def handle_endtag(self, tag: str) -> None:
        self._in_style = False

    def handle_data(self, data: str) -> None:
        if self._in_style:
            self.found.add(data)


def style_hashes(folder: Path = STATIC) -> list[str]:
    """CSP sources for the inline styles written in ``folder``'s HTML files."""
    parser = _InlineStyles()
    for page in sorted(folder.glob("*.html")):
        parser.feed(page.read_text("utf-8"))
    return sorted(
        "'sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode() + "'" for text in parser.found
    )


def policy(folder: Path = STATIC) -> str:
    styles = " ".join(["'self'", "'unsafe-hashes'", *style_hashes(folder)])
    return (
        "default-src 'self'; script-src 'self'; "
        f"style-src {styles}; "
        "img-src 'self' data:; connect-src 'self'; object-src 'none'; "
        "frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
    )


POLICY = web.AppKey("csp", str)


async def _on_prepare(request: web.Request, response: web.StreamResponse) -> None:
    if isinstance(response, web.WebSocketResponse):
        return
    h = response.headers
    h["X-Content-Type-Options"] = "nosniff"
    # a page may only tighten the policy (the reports page runs no script at all: script-src 'none');
    # the route-walking test checks that every page still forbids inline script and framing
    h.setdefault("Content-Security-Policy", request.app[POLICY])
    h["X-Frame-Options"] = "DENY"
    h["Referrer-Policy"] = "no-referrer"
    public = is_public(request.path)
    if not public:
        h["Cache-Control"] = "no-store"
    elif response.content_type == "text/html":
        h.setdefault("Cache-Control", "no-cache")


def setup(app: web.Application) -> None:
    app[POLICY] = policy()
    app.on_response_prepare.append(_on_prepare)
