"""The providers a user can connect. Adding one is a module beside these and an entry in ``SHIPPED``
(README, "Adding a provider")."""

from bot.providers.base import AnyProvider, Grant, Provider, Registry
from bot.providers.calendar import CALENDAR
from bot.providers.github import GITHUB
from bot.providers.gmail import GMAIL

SHIPPED: tuple[AnyProvider, ...] = (GMAIL, CALENDAR, GITHUB)

__all__ = ["SHIPPED", "AnyProvider", "Grant", "Provider", "Registry"]
