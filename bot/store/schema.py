"""The schema, one list of versions for both engines: each entry of MIGRATIONS is one step.

The steps are written in SQLite's dialect; ``postgres_statements`` translates the two things
PostgreSQL spells differently (an auto-numbered key, and ``REAL``, which is single precision
there and would round timestamps to minutes). SQLite keeps the version in ``PRAGMA
user_version``, PostgreSQL in the one-row table ``schema_version``.
"""

from __future__ import annotations

import re

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
    # version 5: installations of the app (SLACK_INSTALL=on), one per workspace ('' for no
    # enterprise), and the install flow's single-use states. ``refreshing_until`` is the lease of
    # the one replica refreshing the bot token (token rotation).
    """
    CREATE TABLE installations (
        client_id TEXT NOT NULL,
        enterprise_id TEXT NOT NULL,
        team_id TEXT NOT NULL,
        bot_token TEXT NOT NULL,
        data TEXT NOT NULL,
        installed_at REAL NOT NULL,
        refreshing_until REAL NOT NULL DEFAULT 0,
        PRIMARY KEY (client_id, enterprise_id, team_id)
    );
    CREATE TABLE install_states (
        state TEXT PRIMARY KEY,
        expires_at REAL NOT NULL
    );
    """,
    # version 6: who opened the App Home, so that every replica refreshes it for them
    """
    CREATE TABLE home_viewers (
        team_id TEXT NOT NULL,
        user_id TEXT NOT NULL,
        opened_at REAL NOT NULL,
        PRIMARY KEY (team_id, user_id)
    );
    """,
    # version 7: providers. One pending authorization per user *and provider*; owed answers and the
    # audit trail say whose they are. Every row written before was Gmail's.
    """
    CREATE TABLE pending_by_provider (
        team_id TEXT NOT NULL,
        user_id TEXT NOT NULL,
        provider TEXT NOT NULL,
        auth_id TEXT NOT NULL,
        url TEXT NOT NULL,
        reply TEXT NOT NULL,
        created_at REAL NOT NULL,
        deadline REAL NOT NULL,
        owner TEXT,
        lease_until REAL NOT NULL DEFAULT 0,
        PRIMARY KEY (team_id, user_id, provider)
    );
    INSERT INTO pending_by_provider
        (team_id, user_id, provider, auth_id, url, reply, created_at, deadline, owner, lease_until)
        SELECT team_id, user_id, 'gmail', auth_id, url, reply, created_at, deadline, owner, lease_until FROM pending;
    DROP TABLE pending;
    ALTER TABLE pending_by_provider RENAME TO pending;
    CREATE INDEX pending_lease ON pending (lease_until);
    CREATE INDEX pending_owner ON pending (owner);
    CREATE INDEX pending_auth ON pending (auth_id);
    ALTER TABLE outbox ADD COLUMN provider TEXT NOT NULL DEFAULT 'gmail';
    ALTER TABLE audit ADD COLUMN provider TEXT NOT NULL DEFAULT 'gmail';
    """,
)

_POSTGRES_SPELLING = (
    (re.compile(r"\bINTEGER PRIMARY KEY AUTOINCREMENT\b"), "BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY"),
    (re.compile(r"\bREAL\b"), "DOUBLE PRECISION"),
)


def sqlite_statements(step: str) -> list[str]:
    """One step's statements (the steps hold no ``;`` inside a literal)."""
    return [statement.strip() for statement in step.split(";") if statement.strip()]


def postgres_statements(step: str) -> list[str]:
    statements = sqlite_statements(step)
    for pattern, spelling in _POSTGRES_SPELLING:
        statements = [pattern.sub(spelling, statement) for statement in statements]
    return statements
