"""``espace-sim prepare``: a site for N simulated stations, without N ``station add`` calls.

``prepare_site`` writes a site configuration with N stations and their tokens
straight into a fresh controller store, with the controller's own code
(settings, migrations, ``set_token``), in one transaction. The tokens go to
``tokens.txt`` (``station token`` per line), which ``espace-sim swarm`` reads.
"""

from __future__ import annotations

import contextlib
import sqlite3
import time
from pathlib import Path

from controller import stations
from controller.settings import brussels_stations, load_settings
from controller.store.store import connect, migrate


def station_ids(count: int) -> list[str]:
    """The Brussels floor's ids for the first 61, then SIM-00062, SIM-00063, ..."""
    ids = [s.id for s in brussels_stations()][:count]
    ids += [f"SIM-{n:05d}" for n in range(len(ids) + 1, count + 1)]
    return ids


def prepare_site(folder: str | Path, count: int) -> tuple[Path, Path, dict[str, str]]:
    """A site configuration with ``count`` stations and a fresh store holding their tokens.

    Returns (site.toml, controller.db, {station: token}); the tokens also go to
    ``tokens.txt`` (``station token`` per line) for ``espace-sim swarm``.
    Uses the controller's own code (settings, migrations, ``set_token``) on the
    store directly, in one transaction.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    config, db_path, tokens_path = folder / "site.toml", folder / "controller.db", folder / "tokens.txt"
    known = {s.id: s for s in brussels_stations()}
    lines = [f'database = "{db_path}"', ""]
    for i, sid in enumerate(station_ids(count)):
        spec = known.get(sid)
        kind = spec.kind if spec else ("tablet" if i % 4 == 3 else "pc")
        x, y = (spec.x, spec.y) if spec else (i % 80, i // 80)
        lines += ["[[stations]]", f'id = "{sid}"', f'kind = "{kind}"', f"x = {x}", f"y = {y}"]
        if spec is not None:
            lines += [f"accessible = {'true' if spec.accessible else 'false'}", f'zone = "{spec.zone}"']
        lines.append("")
    config.write_text("\n".join(lines), encoding="utf-8")
    settings = load_settings(config)
    with contextlib.suppress(FileNotFoundError):
        db_path.unlink()
    db = connect(db_path)
    try:
        migrate(db)
        now = time.time()
        tokens: dict[str, str] = {}
        db.conn.execute("BEGIN IMMEDIATE")
        for spec in settings.stations:
            tokens[spec.id] = stations.set_token(db, spec, now)
        db.conn.execute("COMMIT")
    except sqlite3.Error:
        if db.conn.in_transaction:
            db.conn.execute("ROLLBACK")
        raise
    finally:
        db.conn.close()
    tokens_path.write_text("".join(f"{s} {t}\n" for s, t in tokens.items()), encoding="utf-8")
    return config, db_path, tokens


def read_tokens(path: str | Path) -> dict[str, str]:
    """``{station: token}`` from a ``tokens.txt``; ValueError names a line that is not ``station token``."""
    out: dict[str, str] = {}
    for n, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), 1):
        if line.strip() and not line.startswith("#"):
            words = line.split()
            if len(words) != 2:
                raise ValueError(f"line {n}: expected 'station token', got {len(words)} word(s)")
            out[words[0]] = words[1]
    return out
