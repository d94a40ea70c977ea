"""Where to answer a user privately, saved with a pending flow so that it survives restarts."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass


@dataclass(frozen=True, slots=True)
class Reply:
    """The channel a request came from and its ``response_url``, with when it was issued."""

    channel_id: str | None = None
    response_url: str | None = None
    issued_at: float = 0.0

    def dumps(self) -> str:
        return json.dumps(asdict(self), separators=(",", ":"))

    @classmethod
    def loads(cls, text: str) -> Reply:
        try:
            data = json.loads(text)
            return cls(
                channel_id=data.get("channel_id"),
                response_url=data.get("response_url"),
                issued_at=float(data.get("issued_at", 0.0)),
            )
        except (ValueError, TypeError, AttributeError):
            return cls()
