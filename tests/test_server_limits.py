"""Holding the server (issue #12, item 2): slow heads and bodies, idle and kept-alive connections,
connections per address, unsigned and deeply nested bodies, and acks while 500 connections are held.

Raw sockets from other loopback addresses (127.0.0.2 …) play the attacker; the fake Slack, from
127.0.0.1, plays Slack. Deadlines are shortened with ``monkeypatch`` so the tests stay fast.
"""

from __future__ import annotations

import asyncio
import logging
import time

import pytest

from bot import server
from tests.support import prompts
from tests.test_bad_input import FORM, JSON, command_form, nothing_ran, signed
from tests.world import CHANNEL, TEAM, World


async def _connect(world: World, source: str = "127.0.0.2") -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    port = world.bots[-1].ready.result()
    return await asyncio.open_connection("127.0.0.1", port, local_addr=(source, 0))


async def _closed_within(reader: asyncio.StreamReader, seconds: float) -> bool:
    """True if the server closes the connection (EOF or reset) within ``seconds``."""
    try:
        async with asyncio.timeout(seconds):
            while await reader.read(65536):
                pass
    except TimeoutError:
        return False
    except ConnectionError:
        return True
    return True


async def test_a_slow_request_head_is_cut_off(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(server, "HEAD_SECONDS", 0.5)
    await world.start_bot("http")
    reader, writer = await _connect(world)
    writer.write(b"POST /slack/events HTTP/1.1\r\nHost: x\r\n")  # … and never the blank line
    assert await _closed_within(reader, 3)
    idle_reader, idle_writer = await _connect(world)  # a connection that sends nothing at all
    assert await _closed_within(idle_reader, 3)
    writer.close()
    idle_writer.close()


async def test_a_slow_body_gets_408(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(server, "BODY_SECONDS", 0.5)
    await world.start_bot("http")
    reader, writer = await _connect(world)
    writer.write(b"POST /slack/events HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\ncommand=")
    async with asyncio.timeout(3):
        status = await reader.readline()
    assert status.startswith(b"HTTP/1.1 408")
    writer.close()
    assert nothing_ran(world)


async def test_an_idle_kept_alive_connection_is_closed(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(server.RUNNER_OPTIONS, "keepalive_timeout", 0.5)
    await world.start_bot("http")
    reader, writer = await _connect(world)
    writer.write(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
    async with asyncio.timeout(3):
        assert (await reader.readline()).startswith(b"HTTP/1.1 200")
    assert await _closed_within(reader, 3)
    writer.close()


def test_keep_alive_is_bounded_by_default() -> None:
    assert server.RUNNER_OPTIONS["keepalive_timeout"] <= 75
    assert server.HEAD_SECONDS <= 10
    assert server.BODY_SECONDS <= 10
    assert server.MAX_BODY <= 256 * 1024


async def test_one_address_cannot_take_every_connection(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(server, "CONNECTIONS_PER_ADDRESS", 5)
    await world.start_bot("http")
    held = [await _connect(world, "127.0.0.3") for _ in range(5)]
    reader, writer = await _connect(world, "127.0.0.3")
    assert await _closed_within(reader, 2)  # the sixth from that address is refused …
    ack = await world.slack.slash_command("U0OTHER0001", channel_id=CHANNEL, team_id=TEAM)
    assert ack.status == 200  # … while Slack's own connections are served
    for _, w in [*held, (reader, writer)]:
        w.close()


async def test_unsigned_bodies_are_refused_before_anything_parses_them(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    await world.start_bot("http")
    nested = b'{"a":' + b"[" * 200_000
    headers = {**JSON, "X-Slack-Request-Timestamp": str(int(time.time())), "X-Slack-Signature": "v0=" + "0" * 64}
    ack = await world.slack.post_raw(nested, headers)
    assert ack.status == 401  # a parse first would have hit RecursionError
    assert "Traceback" not in caplog.text
    assert nothing_ran(world)


@pytest.mark.parametrize(
    ("body", "headers"),
    [
        (b'{"a":' + b"[" * 50_000 + b"]" * 50_000 + b"}", JSON),
        (b"payload=" + b"%5B" * 30_000 + b"%5D" * 30_000, FORM),
    ],
    ids=["json", "form payload"],
)
async def test_deeply_nested_signed_bodies_get_400_without_a_traceback(
    world: World, caplog: pytest.LogCaptureFixture, body: bytes, headers: dict[str, str]
) -> None:
    caplog.set_level(logging.INFO)
    await world.start_bot("http")
    ack = await signed(world, body, headers)
    assert ack.status == 400
    assert "Traceback" not in caplog.text
    assert not [r for r in caplog.records if r.exc_info]


async def test_commands_are_acked_in_time_while_500_connections_are_held(world: World) -> None:
    """500 slow or idle connections from five attacker addresses, then 100 signed /connect-gmail."""
    await world.start_bot("http")
    held = []
    for n in range(500):
        reader, writer = await _connect(world, f"127.0.0.{2 + n % 5}")
        if n % 2:  # half dribble a request head, half send a body that never ends
            writer.write(b"POST /slack/events HTTP/1.1\r\nHost: x\r\n")
        else:
            writer.write(b"POST /slack/events HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\nx=")
        held.append((reader, writer))
    await asyncio.sleep(0.2)
    users = [f"U0LOAD{n:04d}" for n in range(100)]
    acks = await asyncio.gather(*(world.slack.slash_command(u, team_id=TEAM) for u in users))
    assert [a.status for a in acks] == [200] * 100
    assert max(a.elapsed for a in acks) < 3.0
    assert sum(1 for _, w in held if not w.is_closing()) == 500  # they really were held meanwhile
    await world.slack.wait_for(lambda: all(prompts(world, u) for u in users[:5]), timeout=20)
    for _, writer in held:
        writer.close()


async def test_a_big_body_is_capped_well_below_a_megabyte(world: World) -> None:
    await world.start_bot("http")
    body = command_form(text="x" * (300 * 1024))
    ack = await signed(world, body, FORM)
    assert ack.status == 413
    assert nothing_ran(world)
