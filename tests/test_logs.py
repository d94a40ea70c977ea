from __future__ import annotations

import logging

import pytest

from bot.logs import REDACTED, RedactSecrets


def record(msg: str, *args: object) -> logging.LogRecord:
    return logging.LogRecord("t", logging.INFO, __file__, 1, msg, args, None)


@pytest.mark.parametrize(
    "line",
    [
        "Authorization: Bearer ya29.a0AfH6SMBx-secret_value",
        "token=xoxb-1234-5678-abcdef in a request",
        "app token xapp-1-A111-222-abc",
        "headers {'authorization': 'bearer abcdefgh12345678'}",
        "configured key arc_project_key_123 leaked",
        "body: {'refresh_token': 'xoxe-1-My0xLTEyMzQ1Njc4OTAxMjM'}",  # oauth.v2.access at DEBUG
    ],
)
def test_secrets_and_token_shapes_are_redacted(line: str) -> None:
    rec = record("%s", line)
    RedactSecrets(["arc_project_key_123"]).filter(rec)
    message = rec.getMessage()
    assert REDACTED in message
    for secret in ("ya29.a0AfH6SMBx", "xoxb-1234", "xapp-1-A111", "abcdefgh12345678", "arc_project_key_123", "xoxe-1"):
        assert secret not in message


def test_ordinary_lines_are_untouched() -> None:
    rec = record("auth.prompted user=%s auth_id=%s", "slack:T1:U1", "ac_123")
    RedactSecrets(["arc_project_key_123"]).filter(rec)
    assert rec.getMessage() == "auth.prompted user=slack:T1:U1 auth_id=ac_123"


def test_tracebacks_are_redacted_too() -> None:
    try:
        raise ValueError("bad token ya29.secret-in-exception")
    except ValueError:
        import sys

        rec = logging.LogRecord("t", logging.ERROR, __file__, 1, "boom", None, sys.exc_info())
    RedactSecrets([]).filter(rec)
    assert rec.exc_text is not None
    assert "ya29.secret" not in rec.exc_text
