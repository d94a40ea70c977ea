"""What listeners receive: built in ``bot.__main__`` and passed down, never global."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from slack_sdk.web.async_client import AsyncWebClient

from bot.providers import SHIPPED, Registry
from bot.slack.delivery import Delivery
from bot.slack.work import AfterAck
from bot.store import Store


@dataclass(frozen=True, slots=True)
class Deps:
    client: AsyncWebClient
    delivery: Delivery
    store: Store
    clock: Callable[[], float]
    after_ack: AfterAck  # where listeners put the work a request asks for, once it is acknowledged
    providers: Registry = field(default_factory=lambda: Registry(SHIPPED))  # what /connect offers
