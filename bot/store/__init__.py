"""The only package with SQL: two engines behind one set of queries.

``DATABASE_URL=sqlite:///bot.db`` (the default) runs on aiosqlite: WAL, owner-only file, a
writer connection with group commit and a reader (``sqlite``). ``postgresql://…`` runs on
asyncpg (``postgres``). ``schema`` holds the versions both follow; ``queries`` is the ``Store``
the rest of the bot talks to, over what ``engine`` says an engine offers.
"""

from bot.store.queries import Store
from bot.store.schema import MIGRATIONS

__all__ = ["MIGRATIONS", "Store"]
