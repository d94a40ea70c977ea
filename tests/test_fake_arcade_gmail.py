"""The Arcade and Gmail fakes driven by the real clients; blocking googleapiclient calls run in threads."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import googleapiclient.http
import httplib2
import httpx
import pytest
from arcadepy import APIConnectionError, APIStatusError, AsyncArcade, BadRequestError, NotFoundError
from arcadepy.types import AuthorizationResponse
from google.auth.exceptions import RefreshError
from google.oauth2.credentials import Credentials
from google_auth_httplib2 import AuthorizedHttp
from googleapiclient.discovery import build
from googleapiclient.errors import HttpError
from googleapiclient.http import BatchHttpRequest

from tests.fakes.arcade import FakeArcade
from tests.fakes.gmail import COUNT_FIELDS, LIST_FIELDS, FakeGmail, GmailCall, user_mark

USER = "slack:T0123:U0456"
OTHER = "slack:T0123:U0999"
SCOPE = "https://www.googleapis.com/auth/gmail.labels"
SCOPE2 = "https://www.googleapis.com/auth/gmail.readonly"


@pytest.fixture
async def arcade() -> AsyncIterator[FakeArcade]:
    async with FakeArcade() as fake:
        yield fake


@pytest.fixture
async def client(arcade: FakeArcade) -> AsyncIterator[AsyncArcade]:
    # Strict validation catches a fake whose shapes drift from arcadepy's models (arcade.md §2.3).
    async with AsyncArcade(
        api_key=arcade.api_key, base_url=arcade.base_url, max_retries=0, _strict_response_validation=True
    ) as sdk:
        yield sdk


@pytest.fixture
async def gmail(arcade: FakeArcade) -> AsyncIterator[FakeGmail]:
    async with FakeGmail(token_owner=arcade.owner_of) as fake:
        yield fake


@pytest.fixture
async def mailbox() -> AsyncIterator[FakeGmail]:
    """A Gmail fake with two fixed tokens: tok-alice, tok-bob."""
    async with FakeGmail(token_owner={"tok-alice": "alice", "tok-bob": "bob"}.get) as fake:
        yield fake


# -- googleapiclient helpers (blocking; always called through asyncio.to_thread) -------------------


def _labels(base_url: str) -> Any:
    opts = {"api_endpoint": base_url}
    http = httplib2.Http(timeout=5)  # a placeholder: every execute() gets its own http
    service = build("gmail", "v1", http=http, static_discovery=True, cache_discovery=False, client_options=opts)
    return service.users().labels()


def _authorized_http(token: str) -> Any:
    """A bare token, no refresh: a 401 surfaces as HttpError 401 (gmail.md §2.4)."""
    credentials = Credentials(token)
    return AuthorizedHttp(credentials, http=httplib2.Http(timeout=5), refresh_status_codes=())


def _execute(request: Any, token: str | None, num_retries: int = 0) -> Any:
    """Run a request or a batch in this (worker) thread with a fresh per-call http."""
    http = httplib2.Http(timeout=5) if token is None else _authorized_http(token)
    try:
        if isinstance(request, BatchHttpRequest):
            return request.execute(http=http)  # a batch has no num_retries
        return request.execute(http=http, num_retries=num_retries)
    finally:
        http.close()


async def list_labels(base_url: str, token: str | None, num_retries: int = 0) -> list[dict[str, Any]]:
    body = await asyncio.to_thread(_execute, _labels(base_url).list(userId="me"), token, num_retries)
    return list(body["labels"])


async def get_label(base_url: str, token: str, label_id: str) -> dict[str, Any]:
    return dict(await asyncio.to_thread(_execute, _labels(base_url).get(userId="me", id=label_id), token))


async def batch_get(base_url: str, token: str, ids: list[str], path: str = "batch/gmail/v1") -> dict[str, Any]:
    """labels.get for each id in one batch (explicit batch_uri: the service's ignores api_endpoint)."""
    results: dict[str, Any] = {}

    def collect(request_id: str, response: Any, exception: HttpError | None) -> None:
        results[request_id] = exception if exception is not None else response

    batch = BatchHttpRequest(callback=collect, batch_uri=base_url + path)
    labels = _labels(base_url)
    for label_id in ids:
        batch.add(labels.get(userId="me", id=label_id), request_id=label_id)
    await asyncio.to_thread(_execute, batch, token)
    return results


def _reasons(exc: HttpError) -> list[str]:
    return [d.get("reason") for d in exc.error_details]


async def _start(client: AsyncArcade) -> AuthorizationResponse:
    return await client.auth.start(USER, "google", scopes=[SCOPE])


def _id(result: AuthorizationResponse) -> str:
    assert result.id is not None
    return result.id


def _token(result: AuthorizationResponse) -> str:
    token = result.context.token if result.context else None
    assert token is not None
    return token


# -- Arcade -----------------------------------------------------------------------------------------


async def test_authorize_pending_flow_is_reused(arcade: FakeArcade, client: AsyncArcade) -> None:
    first = await _start(client)
    second = await _start(client)

    assert first.status == "pending"
    assert _id(first).startswith("ac_")
    assert (second.id, second.url) == (first.id, first.url)
    assert first.url == f"{arcade.base_url}/_fake/oauth/consent?state={arcade.flows[_id(first)].flow_id}"
    assert [f.auth_id for f in arcade.pending_for(USER)] == [first.id]
    arcade.connect(OTHER, [SCOPE])  # more scopes than granted: a new flow asks for the union
    wider = await client.auth.start(OTHER, "google", scopes=[SCOPE2])
    assert wider.status == "pending"
    assert set(wider.scopes or []) == {SCOPE, SCOPE2}
    sent = arcade.calls[1]
    assert sent.headers["authorization"] == arcade.api_key  # arcadepy sends the raw key
    assert sent.body == {
        "auth_requirement": {"provider_id": "google", "provider_type": "oauth2", "oauth2": {"scopes": [SCOPE]}},
        "user_id": USER,
    }


async def test_status_long_poll_returns_when_approved(arcade: FakeArcade, client: AsyncArcade) -> None:
    pending = await _start(client)

    async def consent_soon() -> None:
        await asyncio.sleep(0.2)
        await arcade.approve(USER, email="alice@corp.example")

    consent = asyncio.create_task(consent_soon())
    started = time.monotonic()
    done = await client.auth.status(id=_id(pending), wait=20)
    elapsed = time.monotonic() - started
    await consent

    assert done.status == "completed"
    assert 0.15 < elapsed < 2.0
    assert arcade.owner_of(_token(done)) == USER
    assert done.context is not None
    assert done.context.user_info == {"email": "alice@corp.example"}
    assert _token(await client.auth.status(id=_id(pending))) != _token(done)
    assert arcade.connections[(USER, "google")].scopes == {SCOPE}


async def test_status_after_deny_is_failed(arcade: FakeArcade, client: AsyncArcade) -> None:
    pending = await _start(client)
    assert await arcade.deny(USER) == pending.id
    failed = await client.auth.status(id=_id(pending), wait=5)
    assert failed.status == "failed"
    assert failed.context is None
    assert (USER, "google") not in arcade.connections
    assert (await _start(client)).id != pending.id


async def test_status_long_poll_timeout_modes(arcade: FakeArcade, client: AsyncArcade) -> None:
    async def expire_408() -> APIStatusError:
        async with (
            FakeArcade(timeout_mode="408") as fake,
            AsyncArcade(api_key=fake.api_key, base_url=fake.base_url, max_retries=0) as sdk,
        ):
            pending = await _start(sdk)
            with pytest.raises(APIStatusError) as caught:
                await sdk.auth.status(id=_id(pending), wait=1)
            return caught.value

    pending = await _start(client)
    started = time.monotonic()
    still, error = await asyncio.gather(client.auth.status(id=_id(pending), wait=1), expire_408())
    assert 0.9 < time.monotonic() - started < 3
    assert still.status == "pending"
    assert still.url == pending.url
    assert error.status_code == 408


async def test_stop_releases_long_polls(arcade: FakeArcade, client: AsyncArcade) -> None:
    pending = await _start(client)
    poll = asyncio.create_task(client.auth.status(id=_id(pending), wait=30))
    await asyncio.sleep(0.05)
    started = time.monotonic()
    await arcade.stop()
    assert (await poll).status == "pending"
    assert time.monotonic() - started < 1


async def test_connected_user_gets_completed_token_gmail_accepts(
    arcade: FakeArcade, client: AsyncArcade, gmail: FakeGmail
) -> None:
    arcade.connect(USER, [SCOPE, SCOPE2], email="alice@corp.example")
    first = await _start(client)
    second = await _start(client)

    assert first.status == second.status == "completed"
    token = _token(first)
    assert token.startswith("ya29.fake-")
    assert _token(second) != token
    assert first.context is not None
    assert first.context.user_info == {"email": "alice@corp.example"}
    assert arcade.pending_for(USER) == []

    assert "INBOX" in {label["id"] for label in await list_labels(gmail.base_url, token)}
    assert gmail.calls[-1].user_id == USER
    assert gmail.calls[-1].authorization == f"Bearer {token}"


async def test_list_and_delete_connection(arcade: FakeArcade, client: AsyncArcade, gmail: FakeGmail) -> None:
    arcade.connect(USER, [SCOPE])
    arcade.connect(OTHER, [SCOPE])
    token = _token(await _start(client))
    filters = {"user_id": USER, "provider_id": "google"}

    admin = client.admin.user_connections
    items = [i async for i in admin.list(user={"id": USER}, provider={"id": "google"}, extra_query=filters)]
    assert [(i.user_id, i.provider_id, i.provider_user_info) for i in items] == [
        (USER, "google", {"email": "slack-t0123-u0456@example.com"})
    ]
    assert {"user[id]", "provider[id]", "user_id", "provider_id"} <= set(arcade.calls[-1].query)

    assert items[0].id is not None
    await admin.delete(items[0].id)
    assert (USER, "google") not in arcade.connections
    assert arcade.owner_of(token) is None
    with pytest.raises(HttpError) as caught:
        await list_labels(gmail.base_url, token)
    assert caught.value.status_code == 401
    assert (await _start(client)).status == "pending"
    with pytest.raises(NotFoundError):
        await admin.delete(items[0].id)


async def test_connection_list_paginates_and_filters_can_be_ignored(arcade: FakeArcade, client: AsyncArcade) -> None:
    for n in range(3):
        arcade.connect(f"user-{n}", [SCOPE])
    users = [item.user_id async for item in client.admin.user_connections.list(limit=2)]
    assert users == ["user-0", "user-1", "user-2"]
    assert [c.query.get("offset") for c in arcade.calls] == [None, "2"]

    arcade.ignore_connection_filters = True  # a server that drops the filters lists everyone
    page = await client.admin.user_connections.list(user={"id": "user-0"}, extra_query={"user_id": "user-0"})
    assert {item.user_id for item in page.items} == {"user-0", "user-1", "user-2"}


async def test_request_validation(arcade: FakeArcade, client: AsyncArcade) -> None:
    with pytest.raises(BadRequestError) as missing:  # the spec declares 400/401/415/500 for auth.status
        await client.auth.status(id="ac_nope")
    assert missing.value.body == {"name": "bad_request", "message": "authorization ac_nope not found"}
    with pytest.raises(BadRequestError):
        await client.auth.status(id=_id(await _start(client)), wait=60)

    async with AsyncArcade(api_key="wrong", base_url=arcade.base_url, max_retries=0) as bad:
        with pytest.raises(APIStatusError) as caught:
            await bad.auth.start(USER, "google", scopes=[SCOPE])
        assert (await bad.health.check()).healthy is True  # health needs no key
    assert caught.value.status_code == 401
    assert caught.value.body == {"name": "unauthorized", "message": "missing or invalid API key"}
    with pytest.raises(BadRequestError):
        await client.auth.authorize(auth_requirement={"oauth2": {"scopes": [SCOPE]}}, user_id=USER)

    async with httpx.AsyncClient(base_url=arcade.base_url) as raw:
        bearer = {"Authorization": f"Bearer {arcade.api_key}"}
        listed = await raw.get("/v1/admin/user_connections", headers=bearer)
        not_json = await raw.post("/v1/auth/authorize", content=b"x", headers={**bearer, "Content-Type": "text/plain"})
    assert listed.status_code == 200
    assert listed.json() == {"items": [], "limit": 25, "offset": 0, "page_count": 0, "total_count": 0}
    assert not_json.status_code == 415


async def test_consent_page_redirects_to_next_uri(arcade: FakeArcade, client: AsyncArcade) -> None:
    pending = await client.auth.authorize(
        auth_requirement={"provider_id": "google", "oauth2": {"scopes": [SCOPE]}},
        user_id=USER,
        next_uri="https://bot.example.com/connected",
    )
    assert pending.url is not None
    async with httpx.AsyncClient() as browser:
        landed = await browser.get(pending.url + "&decision=allow&email=a%40b.example")
    assert landed.status_code == 303
    assert landed.headers["location"] == "https://bot.example.com/connected"
    assert arcade.connections[(USER, "google")].email == "a@b.example"
    assert arcade.flows[_id(pending)].status == "completed"


async def test_faults_retry_drop_and_latency(arcade: FakeArcade, client: AsyncArcade) -> None:
    arcade.fail_next("authorize", 429, headers={"retry-after-ms": "10"})
    result = await _start(client.with_options(max_retries=1))
    assert result.status == "pending"
    assert [c.headers["x-stainless-retry-count"] for c in arcade.calls] == ["0", "1"]

    arcade.fail_next("health", 503, body={"healthy": False, "reason": "maintenance"})
    with pytest.raises(APIStatusError) as caught:
        await client.health.check()
    assert caught.value.status_code == 503
    assert caught.value.body == {"healthy": False, "reason": "maintenance"}

    arcade.drop_next("status")
    with pytest.raises(APIConnectionError):
        await client.auth.status(id=_id(result))

    arcade.set_latency("health", 0.2)
    started = time.monotonic()
    await client.health.check()
    assert time.monotonic() - started >= 0.2


# -- Gmail ------------------------------------------------------------------------------------------


async def test_labels_list_default_mailbox(mailbox: FakeGmail) -> None:
    labels = await list_labels(mailbox.base_url, "tok-alice")

    assert labels[0]["id"] == "CHAT"
    assert {"UNREAD", "CATEGORY_SOCIAL", "CATEGORY_PERSONAL"} <= {label["id"] for label in labels}
    assert {"work", "work/clients", "work/clients/Acme"} <= {label["name"] for label in labels}
    assert all(set(label) <= set(LIST_FIELDS) for label in labels)
    assert not [label for label in labels if "color" in label]  # documented: labels.get has it, list does not
    assert {label["type"] for label in labels} == {"system", "user"}
    [call] = mailbox.calls
    assert call == GmailCall("GET", "/gmail/v1/users/me/labels", "alice", "Bearer tok-alice", call.at)

    mailbox.set_labels("bob", [{"id": "INBOX", "name": "INBOX", "type": "system", "messagesTotal": 3}])
    assert await list_labels(mailbox.base_url, "tok-bob") == [{"id": "INBOX", "name": "INBOX", "type": "system"}]


async def test_labels_get_has_counts(mailbox: FakeGmail) -> None:
    inbox = await get_label(mailbox.base_url, "tok-alice", "INBOX")
    assert set(COUNT_FIELDS) <= set(inbox)
    mailbox.set_unread("alice", "INBOX", 3, 50)
    inbox = await get_label(mailbox.base_url, "tok-alice", "INBOX")
    assert (inbox["messagesUnread"], inbox["messagesTotal"], inbox["threadsUnread"]) == (
        3,
        50,
        2,
    )  # threads: fewer than messages
    with pytest.raises(HttpError) as caught:
        await get_label(mailbox.base_url, "tok-alice", "Label_404")
    assert caught.value.status_code == 404


async def test_unknown_revoked_and_missing_credentials_are_401(mailbox: FakeGmail) -> None:
    with pytest.raises(HttpError) as unknown:
        await list_labels(mailbox.base_url, "tok-nobody")
    assert unknown.value.status_code == 401
    assert _reasons(unknown.value) == ["authError"]

    await list_labels(mailbox.base_url, "tok-alice")
    mailbox.revoke("alice")
    with pytest.raises(HttpError) as revoked:
        await list_labels(mailbox.base_url, "tok-alice")
    assert revoked.value.status_code == 401
    assert revoked.value.resp["content-type"] == "application/json; charset=UTF-8"
    assert revoked.value.reason.startswith("Request had invalid authentication credentials.")
    assert await list_labels(mailbox.base_url, "tok-bob")  # other users unaffected

    with pytest.raises(HttpError) as missing:
        await list_labels(mailbox.base_url, None)
    assert missing.value.status_code == 401
    assert _reasons(missing.value) == ["CREDENTIALS_MISSING"]  # error_details prefers `details`


async def test_missing_scope_is_403(mailbox: FakeGmail) -> None:
    mailbox.remove_scope("alice")
    with pytest.raises(HttpError) as caught:
        await list_labels(mailbox.base_url, "tok-alice", num_retries=2)
    assert caught.value.status_code == 403
    assert _reasons(caught.value) == ["ACCESS_TOKEN_SCOPE_INSUFFICIENT"]
    assert 'error="insufficient_scope"' in caught.value.resp["www-authenticate"]
    assert len(mailbox.calls) == 1  # not retried
    mailbox.restore("alice")
    assert await list_labels(mailbox.base_url, "tok-alice")


async def test_rate_limits_and_backend_errors_retry(mailbox: FakeGmail, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(googleapiclient.http.time, "sleep", lambda _seconds: None)
    mailbox.fail_next(429)
    assert await list_labels(mailbox.base_url, "tok-alice", num_retries=2)
    assert len(mailbox.calls) == 2

    mailbox.fail_next(403, user_id="alice")  # userRateLimitExceeded: retried by the client
    mailbox.fail_next(429, user_id="bob")
    assert await list_labels(mailbox.base_url, "tok-alice", num_retries=2)
    assert len(mailbox.calls) == 4

    mailbox.fail_next(429, user_id="bob")
    with pytest.raises(HttpError) as limited:
        await list_labels(mailbox.base_url, "tok-bob")
    assert limited.value.status_code == 429
    assert limited.value.reason == "Too many concurrent requests for user."

    mailbox.fail_next(500)
    mailbox.fail_next(503, times=2)
    with pytest.raises(HttpError) as unavailable:
        await list_labels(mailbox.base_url, "tok-alice", num_retries=2)
    assert unavailable.value.status_code == 503
    assert _reasons(unavailable.value) == ["backendError"]
    assert unavailable.value.reason == "The service is currently unavailable."


@pytest.mark.parametrize("path", ["batch/gmail/v1", "batch"])
async def test_batch_labels_get_returns_counts(mailbox: FakeGmail, path: str) -> None:
    mailbox.set_unread("alice", "Label_1", 5, 60)
    results = await batch_get(mailbox.base_url, "tok-alice", ["INBOX", "Label_1", "Label_404"], path)

    assert results["INBOX"]["messagesUnread"] == 12 + user_mark("alice")
    assert (results["Label_1"]["messagesUnread"], results["Label_1"]["messagesTotal"]) == (5, 60)
    assert results["Label_1"]["name"] == "Receipts"
    assert isinstance(results["Label_404"], HttpError)
    assert results["Label_404"].status_code == 404
    [call] = mailbox.calls
    assert (call.method, call.path, call.batch_parts, call.user_id) == ("POST", f"/{path}", 3, "alice")
    assert [(c.path, c.user_id, c.authorization) for c in mailbox.batch_part_calls] == [
        (f"/gmail/v1/users/me/labels/{label_id}", "alice", None) for label_id in ("INBOX", "Label_1", "Label_404")
    ]


async def test_a_batch_part_with_its_own_token_is_answered_from_that_users_mailbox(mailbox: FakeGmail) -> None:
    mailbox.set_unread("bob", "INBOX", 77, 80)
    results: dict[str, Any] = {}

    def collect(request_id: str, response: Any, exception: HttpError | None) -> None:
        results[request_id] = exception if exception is not None else response

    batch = BatchHttpRequest(callback=collect, batch_uri=mailbox.base_url + "batch/gmail/v1")
    labels = _labels(mailbox.base_url)
    batch.add(labels.get(userId="me", id="INBOX"), request_id="inherited")
    own = labels.get(userId="me", id="INBOX")
    own.headers["authorization"] = "Bearer tok-bob"
    batch.add(own, request_id="own")
    await asyncio.to_thread(_execute, batch, "tok-alice")

    assert results["inherited"]["threadsUnread"] == mailbox.unread("alice", "INBOX")
    assert results["inherited"]["messagesUnread"] != 77
    assert results["own"]["messagesUnread"] == 77
    assert [(p.user_id, p.authorization) for p in mailbox.batch_part_calls] == [
        ("alice", None),
        ("bob", "Bearer tok-bob"),
    ]


async def test_batch_part_errors(mailbox: FakeGmail) -> None:
    mailbox.fail_next(429)
    results = await batch_get(mailbox.base_url, "tok-alice", ["INBOX", "SENT"])
    assert isinstance(results["INBOX"], HttpError)
    assert results["INBOX"].status_code == 429
    assert results["SENT"]["id"] == "SENT"

    mailbox.revoke("alice")  # a 401 part makes the batch try to refresh a bare token
    with pytest.raises(RefreshError):
        await batch_get(mailbox.base_url, "tok-alice", ["INBOX"])
