"""Who a Slack user is at Arcade: the strategy behind every Arcade ``user_id`` the bot sends.

The composition root picks one, by ``ARCADE_USER_VERIFIER``:

* ``custom`` -> :func:`slack_ids`: ``slack:<team_id>:<user_id>``. Namespaced (a Slack user id is
  unique only inside its workspace), stable, and no personal data. The bot's own verifier proves
  the browser belongs to that Slack user (``bot.verifier``).
* ``arcade`` -> ``bot.slack.emails.SlackEmails``: the user's Slack profile email (``users.info``, which needs
  the ``users:read`` and ``users:read.email`` scopes). Arcade's default verifier binds the grant
  to the Arcade account signed in to the browser and requires ``user_id`` to be that account's
  email, so this mode only works for people who are members of the Arcade project.
"""

from __future__ import annotations

from typing import Protocol

from bot.models import SlackUser


class ArcadeIdentity(Protocol):
    async def __call__(self, user: SlackUser, /) -> str:
        """The Arcade ``user_id`` for ``user``."""
        ...


async def slack_ids(user: SlackUser) -> str:
    """``slack:<team_id>:<user_id>`` (``SlackUser.arcade_id``)."""
    return user.arcade_id
