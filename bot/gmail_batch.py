"""Gmail's batch endpoint: several ``labels.get`` in one ``multipart/mixed`` POST (pure, no I/O).

Written in the format of Google's batch guide (``/batch/api_name/api_version``): one
``application/http`` part per call, each named by its ``Content-ID``, without an
``Authorization`` header of its own (parts inherit the outer request's, which carries the user's
token). The answer is a ``multipart/mixed`` of HTTP responses whose ``Content-ID`` is
``<response-`` + the part's id. The boundary comes from ``secrets``, never the module-level
``random`` generator.
"""

from __future__ import annotations

import re
import secrets
from typing import Any
from urllib.parse import quote, urlsplit

import orjson

_BOUNDARY = re.compile(r'boundary=(?:"([^"]+)"|([^;\s]+))', re.IGNORECASE)
_BLANK_LINE = re.compile(rb"\r?\n\r?\n")
_CONTENT_ID = re.compile(rb"^content-id:\s*<?([^>\r\n]*)>?\s*$", re.IGNORECASE | re.MULTILINE)


def batch_uri(api_root: str) -> str:
    """Google's batch endpoint for Gmail on the host of ``api_root``."""
    return f"{api_root.rstrip('/')}/batch/gmail/v1"


def batch_body(labels_uri: str, label_ids: list[str]) -> tuple[str, bytes]:
    """The ``Content-Type`` and body of one batch of ``labels.get`` (one part per label id)."""
    boundary = f"batch_{secrets.token_hex(16)}"
    path = urlsplit(labels_uri).path
    parts = [
        f"--{boundary}\r\nContent-Type: application/http\r\nContent-Transfer-Encoding: binary\r\n"
        f"Content-ID: <{label_id}>\r\n\r\nGET {path}/{quote(label_id, safe='')}?alt=json HTTP/1.1\r\n"
        "Accept: application/json\r\n\r\n"
        for label_id in label_ids
    ]
    return f'multipart/mixed; boundary="{boundary}"', f"{''.join(parts)}--{boundary}--\r\n".encode()


def parse_batch(content_type: str, content: bytes) -> dict[str, dict[str, Any]]:
    """The JSON answer of each part that succeeded (status 200), by the id its request was sent with."""
    found = _BOUNDARY.search(content_type)
    if found is None:
        return {}
    delimiter = b"--" + (found.group(1) or found.group(2)).encode()
    answers: dict[str, dict[str, Any]] = {}
    for chunk in content.split(delimiter)[1:]:
        if chunk.startswith(b"--"):  # the closing delimiter
            break
        part_head, inner = _split_head(chunk.lstrip(b"\r\n"))
        content_id = _CONTENT_ID.search(part_head)
        request_id = content_id.group(1).decode(errors="replace").strip() if content_id else ""
        if not request_id.startswith("response-"):
            continue
        status_head, body = _split_head(inner.lstrip(b"\r\n"))
        status = status_head.split(b"\n", 1)[0].split()
        if len(status) < 2 or status[1] != b"200":
            continue  # a part Gmail refused: no answer for that id
        try:
            answer = orjson.loads(body)
        except ValueError:
            continue
        if isinstance(answer, dict):
            answers[request_id.removeprefix("response-")] = answer
    return answers


def _split_head(data: bytes) -> tuple[bytes, bytes]:
    """Header block and the rest, at the first blank line (CRLF or bare LF)."""
    found = _BLANK_LINE.search(data)
    return (data, b"") if found is None else (data[: found.start()], data[found.end() :])
