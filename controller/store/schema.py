"""The controller's tables, as numbered migrations.

Instants are UTC epoch seconds (REAL). No column holds a name, an e-mail, a
card number or any text typed by a visitor: a session is a station, a start,
an end, a reason, a language and pages printed.

Each migration runs once, in order, inside one transaction; the number of the
last one applied is SQLite's ``user_version``.
"""

from __future__ import annotations

MIGRATIONS: list[str] = [
    # 1: the backbone
    """
    CREATE TABLE stations (
        id TEXT PRIMARY KEY,            -- PC-01, TAB-16
        kind TEXT NOT NULL,             -- pc | tablet
        accessible INTEGER NOT NULL DEFAULT 0,
        zone TEXT NOT NULL DEFAULT '',
        status TEXT NOT NULL DEFAULT 'approved',   -- pending | approved | revoked
        token_hash TEXT,                -- argon2 hash of the station's token
        hostname TEXT NOT NULL DEFAULT '',
        platform TEXT NOT NULL DEFAULT '',
        mac TEXT NOT NULL DEFAULT '',
        last_seq INTEGER NOT NULL DEFAULT 0,       -- highest event seq committed
        locked_reason TEXT,             -- out of order / maintenance, set by a steward
        created REAL NOT NULL,
        last_seen REAL
    );
    CREATE TABLE sessions (
        id TEXT PRIMARY KEY,
        station TEXT NOT NULL REFERENCES stations(id),
        station_kind TEXT NOT NULL,     -- pc | tablet, copied so reports survive station changes
        start REAL NOT NULL,
        planned_end REAL NOT NULL,      -- the grant's end (after extensions)
        end REAL,                       -- NULL while running
        end_reason TEXT,                -- time | closing | booking | visitor | idle | steward | station_restart
        cause TEXT NOT NULL DEFAULT 'length',      -- why the grant ends when it does
        origin TEXT NOT NULL DEFAULT 'walkup',     -- walkup | ticket | booking | steward
        lang TEXT NOT NULL DEFAULT 'fr',
        offline INTEGER NOT NULL DEFAULT 0,        -- granted by the agent while the controller was away
        extensions INTEGER NOT NULL DEFAULT 0,
        warnings INTEGER NOT NULL DEFAULT 0,
        pages_bw INTEGER NOT NULL DEFAULT 0,
        pages_colour INTEGER NOT NULL DEFAULT 0
    );
    CREATE INDEX sessions_start ON sessions(start);
    CREATE INDEX sessions_station ON sessions(station, start);
    CREATE TABLE events (               -- append only: the audit trail
        id TEXT PRIMARY KEY,            -- the agent's event id, or a controller-made one
        station TEXT,                   -- NULL for site-wide staff actions
        seq INTEGER,                    -- per-station sequence for agent events, NULL otherwise
        type TEXT NOT NULL,             -- session_started, ..., or staff.extend, staff.lock, ...
        at REAL NOT NULL,               -- when it happened (the emitter's clock)
        received REAL NOT NULL,         -- when the controller committed it
        session_id TEXT,
        actor TEXT,                     -- staff login for staff actions, NULL for agents
        body TEXT NOT NULL              -- the message as JSON
    );
    CREATE UNIQUE INDEX events_station_seq ON events(station, seq) WHERE seq IS NOT NULL;
    CREATE INDEX events_at ON events(at);
    CREATE TABLE print_jobs (
        id TEXT PRIMARY KEY,
        job_key TEXT NOT NULL UNIQUE,   -- printer + print-system job id: the same job seen twice counts once
        station TEXT,
        session_id TEXT,
        printer TEXT NOT NULL,
        pages INTEGER NOT NULL,         -- all pages (pages x copies)
        colour_pages INTEGER NOT NULL DEFAULT 0,
        at REAL NOT NULL,
        source TEXT NOT NULL            -- cups | windows | server | fake
    );
    CREATE INDEX print_jobs_at ON print_jobs(at);
    CREATE TABLE help_requests (
        id TEXT PRIMARY KEY,
        station TEXT NOT NULL,
        session_id TEXT,
        kind TEXT NOT NULL DEFAULT 'visitor',      -- visitor | printer
        requested REAL NOT NULL,
        taken REAL,
        taken_by TEXT,
        done REAL,
        cancelled REAL
    );
    CREATE INDEX help_requested ON help_requests(requested);
    """,
    # 2: bookings, queue, printers, staff
    """
    CREATE TABLE bookings (
        id TEXT PRIMARY KEY,
        label TEXT NOT NULL DEFAULT '',
        start REAL NOT NULL,
        end REAL NOT NULL,
        stations TEXT NOT NULL DEFAULT '[]',       -- JSON list of named stations
        kind TEXT,                      -- or: N stations of this kind ...
        zone TEXT,                      -- ... in this zone
        count INTEGER NOT NULL DEFAULT 0,
        recurrence TEXT,                -- e.g. monthly:1:tue (first Tuesday)
        created_by TEXT,
        cancelled REAL
    );
    CREATE TABLE queue_tickets (        -- forgotten at closing time
        code TEXT PRIMARY KEY,
        issued REAL NOT NULL,
        accessible INTEGER NOT NULL DEFAULT 0,
        called REAL,
        station TEXT,
        claimed REAL,
        expired REAL
    );
    CREATE TABLE queue_waits (          -- what is kept of a ticket for the reports: no code
        id INTEGER PRIMARY KEY,
        issued REAL NOT NULL,
        served REAL,
        outcome TEXT NOT NULL           -- claimed | no_show | closed
    );
    CREATE TABLE printers (
        id TEXT PRIMARY KEY,
        uri TEXT NOT NULL DEFAULT '',
        state TEXT NOT NULL DEFAULT 'offline',     -- ok | low | empty | jam | offline
        reasons TEXT NOT NULL DEFAULT '[]',
        markers TEXT NOT NULL DEFAULT '[]',
        updated REAL
    );
    CREATE TABLE staff (
        login TEXT PRIMARY KEY,
        password_hash TEXT NOT NULL,    -- argon2
        role TEXT NOT NULL,             -- steward | backoffice | admin
        lang TEXT NOT NULL DEFAULT 'fr',
        created REAL NOT NULL,
        disabled INTEGER NOT NULL DEFAULT 0
    );
    """,
    # 3: enrolment requests (a station with no token asks to join; an admin approves)
    """
    CREATE TABLE enrolments (
        station TEXT PRIMARY KEY,
        key_hash TEXT NOT NULL,         -- SHA-256 of the agent's one-time enrolment key
        hostname TEXT NOT NULL DEFAULT '',
        platform TEXT NOT NULL DEFAULT '',
        mac TEXT NOT NULL DEFAULT '',
        peer TEXT NOT NULL DEFAULT '',
        requested REAL NOT NULL,
        status TEXT NOT NULL DEFAULT 'pending',    -- pending | approved | rejected
        decided REAL,
        decided_by TEXT
    );
    """,
    # 4: bookings that recur until a date; what the site did with each occurrence
    """
    ALTER TABLE bookings ADD COLUMN until REAL;    -- recurring: no occurrence starts after this
    CREATE TABLE booking_holds (
        occurrence TEXT NOT NULL,       -- booking id @ start (epoch, rounded)
        station TEXT NOT NULL,
        state TEXT NOT NULL,            -- assigned | claimed | released
        at REAL NOT NULL,
        PRIMARY KEY (occurrence, station, state)
    );
    """,
    # 5: staff login sessions (the cookie's token is kept only as its SHA-256)
    """
    CREATE TABLE IF NOT EXISTS staff_sessions (
        token_hash TEXT PRIMARY KEY,
        login TEXT NOT NULL,
        csrf TEXT NOT NULL,
        created REAL NOT NULL,
        expires REAL NOT NULL
    );
    """,
    # 6: a print job's key ends with its instant (whole seconds): CUPS job ids restart after a spool wipe
    """
    UPDATE print_jobs SET job_key = job_key || '@' || CAST(at AS INTEGER);
    """,
    # 7: several enrolment requests per station, one per key: a request never replaces another,
    # and an approval is of one key (controller/enrolment.py)
    """
    CREATE TABLE enrolment_requests (
        id INTEGER PRIMARY KEY,
        station TEXT NOT NULL,
        key_hash TEXT NOT NULL,         -- SHA-256 of the agent's one-time enrolment key
        hostname TEXT NOT NULL DEFAULT '',
        platform TEXT NOT NULL DEFAULT '',
        mac TEXT NOT NULL DEFAULT '',
        peer TEXT NOT NULL DEFAULT '',  -- the address the request came from
        requested REAL NOT NULL,
        last_seen REAL,                 -- the same key asked again
        status TEXT NOT NULL DEFAULT 'pending',    -- pending | approved | rejected
        decided REAL,
        decided_by TEXT,
        UNIQUE (station, key_hash)
    );
    INSERT INTO enrolment_requests (station, key_hash, hostname, platform, mac, peer, requested, last_seen, status, decided, decided_by)
        SELECT station, key_hash, hostname, platform, mac, peer, requested, requested, status, decided, decided_by FROM enrolments;
    DROP TABLE enrolments;
    ALTER TABLE enrolment_requests RENAME TO enrolments;
    """,
    # 8: a station's sequence belongs to an incarnation of its agent (chosen at install), not to its token;
    # events whose instant is implausible wait in quarantine for an admin instead of being dropped
    """
    ALTER TABLE stations ADD COLUMN incarnation TEXT NOT NULL DEFAULT '';   -- the one last_seq counts for
    ALTER TABLE events ADD COLUMN incarnation TEXT NOT NULL DEFAULT '';
    DROP INDEX events_station_seq;
    CREATE UNIQUE INDEX events_station_seq ON events(station, incarnation, seq) WHERE seq IS NOT NULL;
    CREATE TABLE station_incarnations (  -- every incarnation a station had, with its last committed seq
        station TEXT NOT NULL,
        incarnation TEXT NOT NULL,
        last_seq INTEGER NOT NULL DEFAULT 0,
        first_seen REAL NOT NULL,
        last_seen REAL NOT NULL,
        PRIMARY KEY (station, incarnation)
    );
    INSERT INTO station_incarnations (station, incarnation, last_seq, first_seen, last_seen)
        SELECT id, '', last_seq, created, COALESCE(last_seen, created) FROM stations WHERE last_seq > 0;
    CREATE TABLE quarantine (           -- agents' events not counted until an admin accepts them
        id TEXT PRIMARY KEY,            -- the agent's event id
        station TEXT NOT NULL,
        incarnation TEXT NOT NULL DEFAULT '',
        seq INTEGER NOT NULL,           -- consumed: the station's later events go on
        type TEXT NOT NULL,
        at REAL NOT NULL,
        received REAL NOT NULL,
        session_id TEXT,
        reason TEXT NOT NULL,           -- why it is not counted (an instant far from the controller's clock...)
        body TEXT NOT NULL,             -- the message as JSON
        status TEXT NOT NULL DEFAULT 'waiting',    -- waiting | accepted | discarded
        decided REAL,
        decided_by TEXT
    );
    CREATE INDEX quarantine_status ON quarantine(status, station, seq);
    """,
    # 9: lock-screen escapes, counted by the reports: the events trail is pruned (retention), these stay;
    # anonymous (no session, no visitor): what, when, the station and its kind, what the station did
    """
    CREATE TABLE escapes (
        id TEXT PRIMARY KEY,            -- the agent's event id: an escape is counted once
        station TEXT NOT NULL,
        station_kind TEXT NOT NULL,
        at REAL NOT NULL,
        what TEXT NOT NULL,             -- espace.protocol.ESCAPES
        action TEXT NOT NULL            -- logged_off | session_ended | refocused | none
    );
    CREATE INDEX escapes_at ON escapes(at);
    INSERT OR IGNORE INTO escapes (id, station, station_kind, at, what, action)
        SELECT e.id, e.station, COALESCE(s.kind, ''), e.at, json_extract(e.body, '$.what'), COALESCE(json_extract(e.body, '$.action'), 'none')
        FROM events e LEFT JOIN stations s ON s.id = e.station WHERE e.type = 'escape_attempt';
    """,
    # 10: a ticket wants a kind of station (pc, tablet); NULL: any kind (tickets from before)
    """
    ALTER TABLE queue_tickets ADD COLUMN kind TEXT;
    """,
]
