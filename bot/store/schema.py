"""The schema, versioned with ``PRAGMA user_version``: each entry of MIGRATIONS is one step."""

from __future__ import annotations

import sqlite3

MIGRATIONS: tuple[str, ...] = (
    # version 1
    """
    CREATE TABLE pending (
        team_id TEXT NOT NULL,
        user_id TEXT NOT NULL,
        auth_id TEXT NOT NULL,
        url TEXT NOT NULL,
        reply TEXT NOT NULL,
        created_at REAL NOT NULL,
        deadline REAL NOT NULL,
        PRIMARY KEY (team_id, user_id)
    );
    CREATE TABLE outbox (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        team_id TEXT NOT NULL,
        user_id TEXT NOT NULL,
        kind TEXT NOT NULL,
        reply TEXT NOT NULL,
        created_at REAL NOT NULL,
        sent_at REAL
    );
    CREATE INDEX outbox_unsent ON outbox (id) WHERE sent_at IS NULL;
    CREATE TABLE seen_events (
        event_id TEXT PRIMARY KEY,
        seen_at REAL NOT NULL
    );
    """,
    # version 2: delivery attempts (for de-duplication after a crash) and the audit trail
    """
    ALTER TABLE outbox ADD COLUMN attempts INTEGER NOT NULL DEFAULT 0;
    CREATE TABLE audit (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        team_id TEXT NOT NULL,
        user_id TEXT NOT NULL,
        event TEXT NOT NULL,
        detail TEXT NOT NULL DEFAULT '',
        at REAL NOT NULL
    );
    CREATE INDEX audit_user ON audit (team_id, user_id, at);
    """,
    # version 3: single-use tokens spent (the verifier's states), shared by every process
    """
    CREATE TABLE used_tokens (
        token_id TEXT PRIMARY KEY,
        expires_at REAL NOT NULL
    );
    """,
    # version 4: leases, so that replicas share the waits and the owed answers. A row is held by
    # ``owner`` until ``lease_until``; any replica may claim a row whose lease has run out (0: free).
    """
    ALTER TABLE pending ADD COLUMN owner TEXT;
    ALTER TABLE pending ADD COLUMN lease_until REAL NOT NULL DEFAULT 0;
    ALTER TABLE outbox ADD COLUMN owner TEXT;
    ALTER TABLE outbox ADD COLUMN lease_until REAL NOT NULL DEFAULT 0;
    CREATE INDEX pending_lease ON pending (lease_until);
    CREATE INDEX pending_owner ON pending (owner);
    CREATE INDEX pending_auth ON pending (auth_id);
    CREATE INDEX outbox_lease ON outbox (lease_until) WHERE sent_at IS NULL;
    CREATE INDEX outbox_owner ON outbox (owner) WHERE sent_at IS NULL;
    """,
)


def prepare(connection: sqlite3.Connection) -> None:
    """Connection settings, then every schema step the file has not seen yet."""
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute("PRAGMA synchronous=NORMAL")  # WAL + NORMAL: a process crash loses no commit
    connection.execute("PRAGMA busy_timeout=5000")  # another process holding the write lock is waited out
    version = int(connection.execute("PRAGMA user_version").fetchone()[0])
    for number, script in enumerate(MIGRATIONS[version:], start=version + 1):
        connection.executescript(f"BEGIN IMMEDIATE;\n{script}\nPRAGMA user_version = {number};\nCOMMIT;")
