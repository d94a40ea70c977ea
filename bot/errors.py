"""The bot's error tree. Every ``BotError`` carries a message that is safe to show in Slack.

    BotError                    root; ``user_message`` is shown to the user, never a traceback
    ├── ArcadeUnavailable       Arcade did not answer, or answered 5xx/429 after retries
    ├── ArcadeRejected          Arcade refused our request (bad API key, bad scopes): an admin must act
    │   ├── UserMismatch        confirm_user: the browser's Slack user is not the one who started the flow
    │   ├── VerificationClosed  confirm_user: the flow no longer awaits verification (done, or too late)
    │   └── NotConfirmed        confirm_user: a 4xx that says neither (another user's flow, or too late)
    ├── StoreUnavailable        the bot's database did not answer (after the engine's own reconnect attempts)
    ├── IdentityUnavailable     the user's Arcade user id could not be worked out (no Slack email readable)
    ├── TokenRefused            a provider's API refused the token (revoked, expired, scope missing)
    │   └── GmailAuthError      Gmail refused the token (401 revoked/expired, 403 missing scope)
    ├── RateLimited             a provider's API asked us to slow down (429, rate-limit 403) after retries
    │   └── GmailRateLimited    Gmail did
    └── ServiceUnavailable      a provider's API answered 5xx or could not be reached after retries
        └── GmailUnavailable    Gmail did

A provider other than Gmail raises the three generic ones with a ``user_message`` naming itself.

Anything that is not a ``BotError`` is a bug: the global error handler logs its traceback and
the user gets a short apology.
"""

from __future__ import annotations


class BotError(Exception):
    user_message = "Something went wrong on my side. Please try again in a minute."

    def __init__(self, detail: str = "", *, user_message: str | None = None) -> None:
        super().__init__(detail or self.user_message)
        if user_message is not None:
            self.user_message = user_message


class ArcadeUnavailable(BotError):
    user_message = "Arcade (the service that holds your authorizations) is unreachable. Try again in a minute."


class ArcadeRejected(BotError):
    user_message = (
        "Arcade rejected the bot's request, so I can't connect that account right now. "
        "Please tell whoever runs this bot to check its Arcade configuration."
    )


class UserMismatch(ArcadeRejected):
    user_message = "This authorization link belongs to another Slack user. Run /connect-gmail yourself."


class VerificationClosed(ArcadeRejected):
    user_message = "That authorization is no longer waiting to be verified. Run /connect-gmail again."


class NotConfirmed(ArcadeRejected):
    user_message = "Arcade did not confirm that authorization. Run /connect-gmail again."


class StoreUnavailable(BotError):
    user_message = "I can't reach my database right now, so I couldn't do that. Please try again in a minute."


class IdentityUnavailable(BotError):
    user_message = (
        "I couldn't read the email of your Slack profile, which this bot's development mode needs to "
        "connect Gmail. Please tell whoever runs this bot."
    )


class TokenRefused(BotError):
    user_message = "That service no longer accepts your authorization. Connect it again with /connect."


class RateLimited(BotError):
    user_message = "That service asked me to slow down. Try again in a minute."


class ServiceUnavailable(BotError):
    user_message = "That service is unavailable right now. Try again in a few minutes."


class GmailAuthError(TokenRefused):
    user_message = "Gmail no longer accepts your authorization. Run /connect-gmail to connect again."


class GmailRateLimited(RateLimited):
    user_message = "Gmail asked me to slow down. Try again in a minute."


class GmailUnavailable(ServiceUnavailable):
    user_message = "Gmail is unavailable right now. Try again in a few minutes."
