"""Arcade's custom user verifier, a small web application of its own: the flow (``flow``), Sign in
with Slack (``signin``), signed state (``state``), its pages (``pages``) and its routes (``web``).
Only the entry point imports this package."""

from bot.verifier.flow import CALLBACK_PATH, COOKIE, VERIFY_PATH, Verifier
from bot.verifier.outcome import Redirect, Shown
from bot.verifier.start import START_COOKIE, START_PATH, StartLinks
from bot.verifier.web import add_routes, build, start_links

__all__ = [
    "CALLBACK_PATH",
    "COOKIE",
    "START_COOKIE",
    "START_PATH",
    "VERIFY_PATH",
    "Redirect",
    "Shown",
    "StartLinks",
    "Verifier",
    "add_routes",
    "build",
    "start_links",
]
