"""Pinning the controller's certificate by its SHA-256 fingerprint (no CA involved).

Kept apart from ``controller/tls.py`` so that stations do not load the
``cryptography`` package just to compare a fingerprint.
"""

from __future__ import annotations

import re

import aiohttp

_FINGERPRINT = re.compile(r"^[0-9A-Fa-f]{64}$")


def normalise_fingerprint(text: str | None) -> str | None:
    """``"AB:CD:…"`` or ``"abcd…"`` → 64 lower-case hex digits; anything else → None."""
    if not text:
        return None
    digits = text.replace(":", "").strip()
    return digits.lower() if _FINGERPRINT.match(digits) else None


def pin(fp: str) -> aiohttp.Fingerprint:
    """An aiohttp ``ssl=`` value that accepts exactly the certificate with this fingerprint."""
    clean = fp.replace(":", "").strip().lower()
    if len(clean) != 64:
        raise ValueError("a TLS fingerprint is 64 hex digits (SHA-256)")
    return aiohttp.Fingerprint(bytes.fromhex(clean))
