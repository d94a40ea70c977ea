"""Logging set-up: one format, and a filter that keeps secrets out of every line.

The code never logs tokens, but SDKs at DEBUG may log request details. The filter replaces the
configured secrets and anything shaped like a Slack or Google token before a line is written.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable

_TOKEN_SHAPES = re.compile(
    r"xox[abposre]-[A-Za-z0-9-]+"  # Slack tokens (xoxe-: a rotating token's refresh token)
    r"|xapp-[A-Za-z0-9-]+"  # Slack app-level tokens
    r"|ya29\.[A-Za-z0-9._-]+"  # Google OAuth access tokens
    r"|(?i:bearer)\s+[A-Za-z0-9._~+/=-]{8,}"  # any bearer credential
)
REDACTED = "[redacted]"


class RedactSecrets(logging.Filter):
    def __init__(self, secrets: Iterable[str] = ()) -> None:
        super().__init__()
        self._secrets = sorted({s for s in secrets if len(s) >= 6}, key=len, reverse=True)

    def redact(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, REDACTED)
        return _TOKEN_SHAPES.sub(REDACTED, text)

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = self.redact(message)
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self.redact(record.exc_text)
        if cleaned != message or record.args:
            record.msg, record.args = cleaned, None
        return True


def configure(level: int, secrets: Iterable[str]) -> None:
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    handler.addFilter(RedactSecrets(secrets))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
