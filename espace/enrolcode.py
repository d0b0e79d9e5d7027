"""The enrolment code: what a new station shows and the admin compares before approving it.

It is derived from the station's own enrolment key, in one place, by both sides:
the agent from the key it made (it shows its own code, whatever a controller
says), the controller from the key's SHA-256 that it keeps.

80 bits of the key's SHA-256, written as 16 Crockford base-32 characters in four
groups (``K7QM-2P9X-D4TB-8WZE``): easy to read aloud and compare group by group;
no I, L, O or U to misread. Forging a key whose code matches the one a real
station shows is a second preimage on 80 bits: at 10^8 SHA-256 a second on a
machine's two cores (a generous figure for Python, fair for C), 2^80 / 10^8 s
is about 380 million years; even 64 bits would be about 5,800 years. The old
code (8 hex digits, 32 bits) fell in under a minute of C.
"""

from __future__ import annotations

import hashlib

ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"  # Crockford's base 32
BITS = 80
GROUPS = 4
GROUP = 4  # 4 x 4 characters x 5 bits = 80 bits
_READ_AS = str.maketrans({"O": "0", "I": "1", "L": "1", " ": None, "-": None, "_": None, ".": None})


def key_digest(key: str) -> str:
    """The SHA-256 of an enrolment key, 64 hex digits (what the controller keeps)."""
    return hashlib.sha256(key.encode()).hexdigest()


def code_from_digest(digest: str) -> str:
    """The grouped code for a key's SHA-256 (hex)."""
    n = int(digest[: BITS // 4], 16)
    chars = [ALPHABET[(n >> (5 * i)) & 31] for i in reversed(range(BITS // 5))]
    return "-".join("".join(chars[i : i + GROUP]) for i in range(0, len(chars), GROUP))


def code_for_key(key: str) -> str:
    return code_from_digest(key_digest(key))


def normalise(text: str) -> str | None:
    """A code as typed (any case, with or without dashes or spaces; O for 0, I or L for 1), grouped; None if it is not one."""
    clean = text.upper().translate(_READ_AS)
    if len(clean) != GROUPS * GROUP or any(c not in ALPHABET for c in clean):
        return None
    return "-".join(clean[i : i + GROUP] for i in range(0, len(clean), GROUP))
