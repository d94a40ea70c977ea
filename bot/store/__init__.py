"""The only package with SQL: SQLite in WAL mode, owner-only, schema versioned, group commit.

``database`` runs one connection on one thread and batches writes; ``schema`` holds the
migrations; ``queries`` is the ``Store`` the rest of the bot talks to.
"""

from bot.store.queries import Store
from bot.store.schema import MIGRATIONS

__all__ = ["MIGRATIONS", "Store"]
