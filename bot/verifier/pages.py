"""The verifier's HTML pages: small, self-contained (no scripts, no external assets), phone-sized.

Pure functions. Every page names the app and the Slack workspace it belongs to, says what happened
and what to do next. Every interpolated value is HTML-escaped.

Status codes are all 4xx, as the verifier's contract asks (429: an address asked too often). A
problem with the browser's request (bad, expired or replayed sign-in, missing code, Slack refusing,
another user's link, a flow no longer waiting, a browser that did not start from its own button) is
400/403/410; a failure of Slack or Arcade themselves (unreachable, or refusing
the bot's own credentials) is 424 Failed Dependency, so monitoring can still tell the two apart.
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from typing import Literal

APP_NAME = "Gmail Connect"  # manifest.yml display_information.name
_AGAIN = "Run /connect-gmail in Slack and click Authorize Gmail again."
_CHECK_SLACK = "Check Slack: if your Gmail labels arrived, you are done. Otherwise run /connect-gmail again."
_LATER = "Try again in a few minutes: run /connect-gmail in Slack. If it keeps happening, tell whoever runs this bot."

Kind = Literal[
    "verified",
    "missing_flow",
    "identity_in_link",
    "state_invalid",
    "state_expired",
    "state_replayed",
    "other_browser",
    "slack_refused",
    "missing_code",
    "sign_in_failed",
    "slack_unavailable",
    "mismatch",
    "closed",
    "arcade_unavailable",
    "start_invalid",
    "not_started_here",
    "other_workspace",
    "unexpected_authorization",
    "too_many",
    "not_confirmed",
]


@dataclass(frozen=True, slots=True)
class Branding:
    app: str = APP_NAME
    workspace: str | None = None
    team_id: str | None = None  # the bot's workspace, as a hint for Sign in with Slack
    installed: bool = True  # False: the app is not installed in the flow's workspace (SLACK_INSTALL=on)


@dataclass(frozen=True, slots=True)
class Page:
    status: int
    title: str
    html: str


@dataclass(frozen=True, slots=True)
class _Spec:
    status: int
    title: str
    what: str
    todo: str


PAGES: dict[Kind, _Spec] = {
    "verified": _Spec(
        200,
        "You're verified",
        "Slack confirmed who you are. Your Gmail labels will arrive in Slack in a moment.",
        "You can close this tab and go back to Slack.",
    ),
    "missing_flow": _Spec(
        400,
        "This link is incomplete",
        "The link that brought you here lacks the part Arcade adds after Google's consent screen.",
        _AGAIN,
    ),
    "identity_in_link": _Spec(
        400,
        "This link was changed",
        "This page learns who you are from Slack, never from the link, and this link carried extra details.",
        _AGAIN,
    ),
    "state_invalid": _Spec(
        400,
        "This sign-in link is not valid",
        "The sign-in came back without this bot's valid signature: it was altered or copied incompletely.",
        _AGAIN,
    ),
    "state_expired": _Spec(
        400,
        "This sign-in took too long",
        "For your safety, the step between Google and Slack has to be finished within 10 minutes.",
        _AGAIN,
    ),
    "state_replayed": _Spec(
        400,
        "This sign-in was already used",
        "Each sign-in works once, and this one was used already (perhaps by going back or reloading).",
        _CHECK_SLACK,
    ),
    "other_browser": _Spec(
        400,
        "Finish in the browser you started in",
        "This sign-in was started in another browser, or this browser blocked the page's cookie.",
        "Open the Authorize Gmail link from Slack in this browser, with cookies allowed, and go through it again.",
    ),
    "slack_refused": _Spec(
        403,
        "Sign in with Slack was cancelled",
        "Slack did not confirm who you are, so your Gmail was not connected.",
        "Run /connect-gmail in Slack again and allow the sign-in when Slack asks.",
    ),
    "missing_code": _Spec(
        400,
        "Slack's answer is incomplete",
        "Slack sent you back without the sign-in code this page needs.",
        _AGAIN,
    ),
    "sign_in_failed": _Spec(
        400,
        "Slack could not confirm who you are",
        "Slack did not accept this sign-in: it may have expired or been used already.",
        _AGAIN,
    ),
    "slack_unavailable": _Spec(
        424,
        "Sign in with Slack is not working right now",
        "The bot could not check your identity with Slack, so your Gmail was not connected.",
        _LATER,
    ),
    "mismatch": _Spec(
        403,
        "This link belongs to another Slack user",
        "You are signed in to Slack as someone other than the person who asked to connect Gmail. "
        "Nothing was connected, and their request is untouched.",
        "Run /connect-gmail in Slack yourself to connect your own Gmail.",
    ),
    "closed": _Spec(
        410,
        "This authorization is no longer waiting",
        "Arcade no longer waits for this authorization: it was finished already, or it took too long.",
        _CHECK_SLACK,
    ),
    "arcade_unavailable": _Spec(
        424,
        "Arcade could not finish the connection",
        "Arcade, which keeps your Gmail authorization, did not accept the bot's request, so nothing was connected.",
        _LATER,
    ),
    "start_invalid": _Spec(
        400,
        "This Authorize link is not valid",
        "The link was altered, copied incompletely, or is too old.",
        _AGAIN,
    ),
    "not_started_here": _Spec(
        403,
        "Start from your own Authorize button",
        "This browser did not open the Authorize Gmail button that Slack showed you, so the bot cannot tell "
        "whose Gmail this is. Nothing was connected. If someone sent you this link, do not use it.",
        "Run /connect-gmail in Slack yourself and click Authorize Gmail in this browser, with cookies allowed.",
    ),
    "other_workspace": _Spec(
        403,
        "This bot does not serve that workspace",
        "You signed in to a Slack workspace this bot is not installed in. Nothing was connected.",
        "Sign in to the workspace where you ran /connect-gmail, or run it there again.",
    ),
    "unexpected_authorization": _Spec(
        403,
        "This is not the authorization you started",
        "Arcade answered for a Gmail authorization other than the one your Authorize button started: the link "
        "you followed may have come from someone else. Nothing was connected.",
        "Run /connect-gmail in Slack yourself and click Authorize Gmail again. If someone sent you a link, tell "
        "whoever runs this bot.",
    ),
    "not_confirmed": _Spec(
        403,
        "Arcade did not confirm this authorization",
        "Either it was started by another Slack user, or it is no longer waiting (finished already, or it took "
        "too long). Nothing new was connected.",
        _CHECK_SLACK,
    ),
    "too_many": _Spec(
        429,
        "Too many attempts",
        "This address opened these pages too often in the last minute.",
        "Wait a minute, then run /connect-gmail in Slack again.",
    ),
}

_STYLE = (
    "body{margin:0;font:16px/1.5 system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;color:#1d1c1d;"
    "background:#f8f8f8}main{max-width:32rem;margin:0 auto;padding:1.5rem 1.25rem}"
    ".brand{color:#616061;font-size:.875rem;margin:0 0 1rem}h1{font-size:1.375rem;line-height:1.3;margin:0 0 .75rem}"
    ".todo{background:#fff;border-left:4px solid #4a154b;padding:.75rem 1rem}"
    "code{background:#eee;padding:0 .25rem;border-radius:3px}footer{color:#616061;font-size:.8125rem;margin-top:2rem}"
)


def page(kind: Kind, branding: Branding) -> Page:
    """The page for ``kind``, branded with the app and workspace."""
    spec = PAGES[kind]
    app = _text(branding.app)
    workspace = _text(branding.workspace or "your Slack workspace")
    where = f"the {workspace} workspace" if branding.workspace else workspace
    document = (
        "<!doctype html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        '<meta name="robots" content="noindex">'
        f"<title>{html.escape(f'{spec.title} · {branding.app}')}</title><style>{_STYLE}</style></head>\n"
        f'<body><main><p class="brand">{app} · {workspace}</p>\n'
        f"<h1>{_text(spec.title)}</h1>\n"
        f"<p>{_text(spec.what)}</p>\n"
        f'<p class="todo">{_text(spec.todo)}</p>\n'
        f"<footer>This page belongs to the Slack app {app} in {where}. "
        "It connects Gmail through Arcade.</footer></main></body></html>\n"
    )
    return Page(spec.status, spec.title, document)


def _text(value: str) -> str:
    """HTML-escaped; the command name is then set as code (a fixed string, so this stays safe)."""
    return html.escape(value, quote=True).replace("/connect-gmail", "<code>/connect-gmail</code>")
