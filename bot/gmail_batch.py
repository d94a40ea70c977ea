"""Gmail's batch endpoint: several API calls in one ``multipart/mixed`` POST (blocking; pool threads only).

google-api-python-client's ``BatchHttpRequest`` lets the standard library's ``email`` package pick
the MIME boundary from the module-level ``random`` generator, from whichever pool thread runs the
batch; the bot keeps its randomness to generators of its own, so the batch is written here, in
the format of Google's batch guide (``/batch/api_name/api_version``): one ``application/http``
part per call, each named by its ``Content-ID``, without an ``Authorization`` header of its own
(parts inherit the outer request's, which carries the user's token). The answer is a
``multipart/mixed`` of HTTP responses whose ``Content-ID`` is ``<response-`` + the part's id.
"""

from __future__ import annotations

import email.parser
import json
import secrets
from collections.abc import Mapping
from email.message import Message
from typing import Any
from urllib.parse import urlsplit

from googleapiclient.errors import HttpError

_parser = email.parser.BytesParser()


def batch_get(http: Any, batch_uri: str, requests: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """Send ``requests`` (googleapiclient ``HttpRequest`` builders, by id) as one batch through
    ``http``; the JSON answer of each part that succeeded, by id. A refused batch raises ``HttpError``."""
    boundary = f"batch_{secrets.token_hex(16)}"
    body = "".join(_part(boundary, request_id, request) for request_id, request in requests.items())
    response, content = http.request(
        batch_uri,
        "POST",
        body=f"{body}--{boundary}--\r\n",
        headers={"content-type": f'multipart/mixed; boundary="{boundary}"'},
    )
    if not 200 <= response.status < 300:
        raise HttpError(response, content, uri=batch_uri)
    return _answers(response.get("content-type", ""), content)


def _part(boundary: str, request_id: str, request: Any) -> str:
    target = urlsplit(request.uri)
    path = f"{target.path}?{target.query}" if target.query else target.path
    headers = "".join(f"{name}: {value}\r\n" for name, value in request.headers.items())
    return (
        f"--{boundary}\r\nContent-Type: application/http\r\nContent-Transfer-Encoding: binary\r\n"
        f"Content-ID: <{request_id}>\r\n\r\n{request.method} {path} HTTP/1.1\r\n{headers}\r\n"
    )


def _answers(content_type: str, content: bytes) -> dict[str, dict[str, Any]]:
    message = _parser.parsebytes(f"Content-Type: {content_type}\r\n\r\n".encode() + content)
    answers: dict[str, dict[str, Any]] = {}
    for part in message.get_payload() if message.is_multipart() else []:
        if not isinstance(part, Message):
            continue
        content_id = str(part.get("Content-ID", "")).strip().removeprefix("<").removesuffix(">")
        payload = part.get_payload()
        if not content_id.startswith("response-") or not isinstance(payload, str):
            continue
        status_line, _, rest = payload.lstrip().partition("\n")
        status = status_line.split()[1:2]
        if status != ["200"]:
            continue  # a part Gmail refused: no answer for that id
        inner = email.parser.Parser().parsestr(rest)
        try:
            answer = json.loads(str(inner.get_payload()))
        except ValueError:
            continue
        if isinstance(answer, dict):
            answers[content_id.removeprefix("response-")] = answer
    return answers
