"""The controller's own TLS certificate, and its fingerprint for the agents to pin.

A site has no public CA for its controller: ``espace-controller tls init``
makes a self-signed certificate; agents pin its SHA-256 fingerprint (from the
zeroconf TXT record ``tls=`` or their configuration), so a machine on the
public LAN cannot pose as the controller even though no CA vouches for it.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import ipaddress
import os
import secrets
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from espace.tls import pin

__all__ = ["fingerprint", "make_self_signed", "pin"]


def make_self_signed(cert_path: str | Path, key_path: str | Path, names: list[str], days: int = 3650) -> str:
    """Write a new key (mode 0600) and certificate; returns the certificate's fingerprint."""
    key = ec.generate_private_key(ec.SECP256R1())
    alt: list[x509.GeneralName] = []
    for n in names:
        try:
            alt.append(x509.IPAddress(ipaddress.ip_address(n)))
        except ValueError:
            alt.append(x509.DNSName(n))
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0] if names else "espace-controller")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=days))
        .add_extension(x509.SubjectAlternativeName(alt), critical=False)
        .sign(key, hashes.SHA256())
    )
    key_bytes = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    write_new(key_path, key_bytes, 0o600)
    write_new(cert_path, cert.public_bytes(serialization.Encoding.PEM), 0o644)
    return fingerprint(cert_path)


def write_new(path: str | Path, data: bytes, mode: int) -> None:
    """Write ``data`` to a new file beside ``path`` (``O_EXCL``, ``O_NOFOLLOW``), give it ``mode``, move it over ``path``.

    Whatever was at ``path`` (a file with a looser mode, a symbolic link to somewhere else) is
    replaced, never written through: the rename replaces the link itself, and the new file's
    mode does not depend on the umask or on the old file's.
    """
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), mode)
    try:
        with os.fdopen(fd, "wb") as f:
            os.fchmod(f.fileno(), mode)  # the umask may have taken bits away from a 0644
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def fingerprint(cert_path: str | Path) -> str:
    """SHA-256 of the certificate's DER bytes, lower-case hex (what aiohttp.Fingerprint pins)."""
    cert = x509.load_pem_x509_certificate(Path(cert_path).read_bytes())
    return hashlib.sha256(cert.public_bytes(serialization.Encoding.DER)).hexdigest()
