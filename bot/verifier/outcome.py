"""What the verifier's steps answer: a 303 (with the cookies to set) or a page, and the headers on both."""

from __future__ import annotations

from dataclasses import dataclass

from bot.verifier.pages import Page

HEADERS = {
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'; form-action 'none'; base-uri 'none'"
    ),
}


@dataclass(frozen=True, slots=True)
class Redirect:
    """303 to ``location``; ``cookie`` is the browser-binding value to set, ``start_cookie`` the start cookie's."""

    location: str
    cookie: str | None = None
    start_cookie: str | None = None


@dataclass(frozen=True, slots=True)
class Shown:
    """A page; ``clear_cookie`` once the sign-in it belonged to is spent."""

    page: Page
    clear_cookie: bool = False


Outcome = Redirect | Shown
