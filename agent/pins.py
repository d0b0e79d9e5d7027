"""The controller's certificate pin: configured, or learned from mDNS on first use and then kept.

A station that has a pin never connects with ``ws://`` and never accepts another
certificate: the pin is given up for nothing but an administrator's hand
(``[controller] tls_fingerprint`` in the configuration, or deleting the learned
file). The learned pin lives in the state folder (``controller.pin``, mode 0600),
written once, atomically, after the first TLS connection to the advertised
certificate succeeded (trust on first use).
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from espace.tls import normalise_fingerprint

log = logging.getLogger(__name__)


class PinRefused(ConnectionError):
    """This link would give up the pin (a ``ws://`` URL, another certificate); nothing was sent."""


class Pins:
    def __init__(self, path: str | os.PathLike[str] | None, configured: str | None = None) -> None:
        self.path = Path(path) if path else None
        self.configured = normalise_fingerprint(configured) if configured else None
        if configured and self.configured is None:
            raise ValueError("tls_fingerprint: a SHA-256 fingerprint is 64 hex digits (colons allowed)")
        self.learned: str | None = None
        if self.path is not None and self.path.exists():
            self.learned = normalise_fingerprint(self.path.read_text(encoding="utf-8").strip())
            if self.learned is None:
                log.error("pin file %s is not a fingerprint; it is kept as it is and no link is trusted until it is fixed", self.path)
                self.learned = "unreadable"

    def current(self) -> str | None:
        """The fingerprint this station holds to (configured first), or None before the first use."""
        return self.configured or self.learned

    def learn(self, fingerprint: str) -> None:
        """Keep the fingerprint of the first controller reached over TLS (nothing changes once one is held)."""
        fp = normalise_fingerprint(fingerprint)
        if fp is None or self.current() is not None:
            return
        self.learned = fp
        if self.path is None:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(fp + "\n")
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self.path)
        log.warning("controller certificate pinned on first use: %s (kept in %s)", fp, self.path)

    def check(self, url: str, advertised: str | None) -> str | None:
        """The pin to use for ``url`` (None: no pin held yet); PinRefused if the link would give it up."""
        held = self.current()
        if held is None:
            return None
        if not url.startswith("wss://"):
            raise PinRefused(f"this station holds the controller's pin: it does not connect in clear to {url}")
        if advertised is not None and normalise_fingerprint(advertised) != held:
            raise PinRefused(f"the controller at {url} advertises certificate {advertised[:64]}, not the pinned {held}")
        return held
