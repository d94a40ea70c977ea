"""An arcadepy client on aiohttp, with the constant headers shared: the one module that reaches into
arcadepy, httpx and httpx-aiohttp beyond their documented options.

arcadepy runs on its aiohttp transport (``DefaultAioHttpClient``, the ``arcadepy[aiohttp]`` extra:
httpx's API over an aiohttp connector). httpx's own pools (httpcore) scan every connection on each
request and response, so a long-poll cost more CPU the more were open; aiohttp's does not.

What is relied on (bounded in pyproject.toml to the versions tested, and checked on the wire by
tests/test_arcade_headers.py): ``AsyncArcade.default_headers``, ``with_options(default_headers=...)``
dropping ``omit`` values, ``DefaultAioHttpClient`` taking ``transport``, and httpx-aiohttp's
``AiohttpTransport(client=...)`` building its aiohttp session lazily from a factory.
"""

from __future__ import annotations

import functools
import ssl
from typing import cast

import aiohttp
import httpx
from arcadepy import AsyncArcade, DefaultAioHttpClient, omit
from httpx_aiohttp import AiohttpTransport
from multidict import CIMultiDict, istr

KEEPALIVE = 5.0  # s an idle connection is kept (httpx's default, which httpx-aiohttp passes to aiohttp)
PER_REQUEST = ("Authorization", "Content-Type")  # headers arcadepy keeps setting on each request


def new_client(
    *,
    api_key: str,
    base_url: str,
    max_retries: int,
    timeout: httpx.Timeout,
    connections: int,
    tls: ssl.SSLContext,
) -> AsyncArcade:
    """An arcadepy client on the aiohttp transport, with at most ``connections`` open at once.

    httpx-aiohttp maps each request's timeout onto aiohttp (read -> sock_read, connect -> sock_connect,
    pool -> connect, i.e. a free connection plus connecting; write has none) and aiohttp's connection
    errors to httpx.ConnectTimeout: arcadepy raises APITimeoutError for a refused or dropped connection.
    Constant headers (11 of a poll's 15) are the aiohttp session's defaults, shared by all requests, not
    rebuilt by arcadepy, httpx and aiohttp for each: 5.2 KB less per open long-poll (bench.pollmem, 5,000
    polls: 30.8 -> 25.6 KB), the same headers on the wire. Authorization stays per request (httpx drops
    it on a redirect to another origin).
    """
    shared: CIMultiDict[str] = CIMultiDict()  # filled below, before a first request opens the session
    connector = functools.partial(aiohttp.TCPConnector, limit=connections, keepalive_timeout=KEEPALIVE, ssl=tls)
    transport = AiohttpTransport(client=lambda: aiohttp.ClientSession(connector=connector(), headers=shared))
    limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)  # proxies only
    http = DefaultAioHttpClient(verify=tls, limits=limits, transport=transport)
    client = AsyncArcade(api_key=api_key, base_url=base_url, max_retries=max_retries, timeout=timeout, http_client=http)
    constant = {k: v for k, v in client.default_headers.items() if isinstance(v, str) and k not in PER_REQUEST}
    # istr names: aiohttp copies them into each request without lower-casing them again (1.7 KB of 5.2)
    shared.extend((istr(k), v) for k, v in http.headers.items())  # httpx's: Accept-Encoding, Connection..
    shared.update({istr(k): v for k, v in constant.items()})  # then arcadepy's, replacing Accept, User-Agent
    http.headers.clear()
    # arcadepy drops Omit values from default headers (its default_headers is dict[str, str | Omit])
    return client.with_options(default_headers=cast(dict[str, str], dict.fromkeys(constant, omit)))
