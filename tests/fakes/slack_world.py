"""The in-memory Slack world behind the fake: users, channels, IMs, records and the Web API rules.

Pure state and synchronous rules; ``tests.fakes.slack.FakeSlack`` serves it over HTTP and drives the
bot. Channel semantics follow slack.md §1.4/§1.5, so ``channel_not_found`` / ``not_in_channel`` /
``user_not_in_channel`` / ``messages_tab_disabled`` fall out of the world, not out of switches.
"""

from __future__ import annotations

import base64
import itertools
import json
import re
import secrets
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from tests.fakes.slack_blocks import VIEW_BLOCK_LIMIT, block_errors

Args = dict[str, Any]
Handler = Callable[[Args], Args]

EVENT_TYPE = re.compile(r"^[A-Za-z0-9_]{1,255}$")  # message metadata event_type
USER_ID = re.compile(r"^[UW][A-Z0-9]{2,}$")
CHANNEL_ID = re.compile(r"^[CGD][A-Z0-9]{8,}$")
RESPONSE_URL_TTL = 30 * 60  # seconds
RESPONSE_URL_USES = 5


@dataclass(frozen=True)
class ApiCall:
    method: str
    args: Args
    token: str | None
    at: float


@dataclass
class Ack:
    """What the bot answered to one delivery (HTTP response, or Socket Mode ack)."""

    status: int  # HTTP status; socket mode: 200 if acked, 0 if not acked in time
    body: str  # raw body; socket mode: JSON of the ack payload, or ""
    json: Args | None
    elapsed: float
    kind: str = ""  # "slash_commands" | "interactive" | "events_api" | "raw"
    user: str | None = None
    channel: str | None = None
    team_id: str | None = None

    @property
    def text(self) -> str | None:
        if self.json is not None:
            text = self.json.get("text")
            return text if isinstance(text, str) else None
        return self.body or None


@dataclass
class User:
    id: str
    team_id: str
    email: str
    messages_tab: bool = True
    is_bot: bool = False


@dataclass
class Channel:
    id: str
    team_id: str
    members: set[str]
    is_private: bool = False
    im_user: str | None = None  # the human in a bot<->user IM


@dataclass
class ResponseUrl:
    url: str
    team_id: str
    user: str
    channel: str
    issued_at: float
    ephemeral_source: bool
    uses: int = 0
    expired: bool = False


def _truthy(value: Any) -> bool:
    return value is True or value in ("true", "1", 1)  # slack_sdk sends booleans in a query as "1"


def _json_or_none(text: str) -> Args | None:
    try:
        value = json.loads(text)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def _error(code: str, **extra: Any) -> Args:
    return {"ok": False, "error": code, **extra}


def _metadata(value: Any) -> tuple[Args | None, Args | None]:
    """chat.postMessage ``metadata`` (a dict, or JSON text in a form body) -> (metadata, error answer)."""
    if value is None or value == "":
        return None, None
    if isinstance(value, str):
        value = _json_or_none(value)
    if not isinstance(value, dict):
        return None, _error("invalid_metadata_format")
    event_type, payload = value.get("event_type"), value.get("event_payload")
    if not isinstance(event_type, str) or not EVENT_TYPE.match(event_type) or not isinstance(payload, dict):
        return None, _error("invalid_metadata_schema")
    return {"event_type": event_type, "event_payload": payload}, None


class SlackWorld:
    def __init__(
        self,
        *,
        team_id: str,
        bot_user_id: str,
        bot_id: str,
        app_id: str,
        bot_token: str,
        app_token: str,
    ) -> None:
        self.team_id = team_id
        self.bot_user_id = bot_user_id
        self.bot_id = bot_id
        self.app_id = app_id
        self.bot_token = bot_token
        self.app_token = app_token
        self.verification_token = "fakeverificationtoken00"
        self.base_url = ""
        self.clock: Callable[[], float] = time.time
        self.calls: list[ApiCall] = []
        self.messages: list[Args] = []
        self.ephemerals: list[Args] = []
        self.webhook_posts: list[Args] = []
        self.acks: list[Ack] = []
        self.home_views: dict[str, Args] = {}
        self.users: dict[str, User] = {}  # by id: each id's first workspace (most tests have one)
        # By (team id, user id): the same user id in two workspaces is two people.
        self.members: dict[tuple[str, str], User] = {}
        self.channels: dict[str, Channel] = {}
        self._timeline: list[tuple[str, Args]] = []  # (via, record): what became visible, in order
        # Called with (via, record) whenever something becomes visible, as it happens (the bench times
        # each user's first prompt and labels with it); via as in private_to and public_messages.
        self.on_visible: Callable[[str, Args], None] | None = None
        self._ims: dict[tuple[str, str], str] = {}
        self._opened: set[str] = set()
        self._hooks: dict[str, ResponseUrl] = {}
        self._seq = itertools.count(1)
        self._last_ts = 0
        self._methods: dict[str, Handler] = {
            "api.test": self._api_test,
            "auth.test": self._auth_test,
            "chat.postEphemeral": self._post_ephemeral,
            "chat.postMessage": self._post_message,
            "chat.update": self._chat_update,
            "conversations.history": self._conversations_history,
            "conversations.open": self._conversations_open,
            "users.info": self._users_info,
            "views.publish": self._views_publish,
        }
        self.add_user(bot_user_id, is_bot=True)

    # -- world model -----------------------------------------------------------------------------

    def add_user(
        self,
        user_id: str,
        *,
        team_id: str | None = None,
        email: str | None = None,
        messages_tab: bool = True,
        is_bot: bool = False,
    ) -> None:
        if not USER_ID.match(user_id):
            raise ValueError(f"unrealistic Slack user id {user_id!r} (want e.g. U0123456789)")
        email = email or f"{user_id.lower()}@example.com"
        person = User(user_id, team_id or self.team_id, email, messages_tab, is_bot)
        self.members[(person.team_id, user_id)] = person
        known = self.users.get(user_id)
        if known is None or known.team_id == person.team_id:
            self.users[user_id] = person

    def add_channel(
        self, channel_id: str, *, members: Iterable[str], is_private: bool = False, team_id: str | None = None
    ) -> None:
        """A channel (C…/G…) or a human-only DM (D…); the bot is a member iff its user id is in ``members``."""
        if not CHANNEL_ID.match(channel_id):
            raise ValueError(f"unrealistic Slack channel id {channel_id!r} (want e.g. C0123456789)")
        team = team_id or self.team_id
        people = set(members)
        for member in people:
            self._user(member, team)
        humans = people - {self.bot_user_id}
        if channel_id.startswith("D") and self.bot_user_id in people and len(humans) == 1:
            (human,) = humans  # an explicit id for the bot's IM with this user
            self._ims[(self.users[human].team_id, human)] = channel_id
            self.channels[channel_id] = Channel(channel_id, team, people, True, human)
        else:
            self.channels[channel_id] = Channel(channel_id, team, people, is_private)

    def dm_channel_id(self, user_id: str, team_id: str | None = None) -> str:
        """The stable D… id of the bot's IM with ``user_id`` (created on first use).

        An explicit ``team_id`` wins over the user's own: the same user id in another workspace is
        another person, with another IM.
        """
        user = self._user(user_id, team_id)
        team = team_id or user.team_id
        key = (team, user_id)
        if key not in self._ims:
            channel_id = f"D{next(self._seq):010d}"
            self._ims[key] = channel_id
            members = {user_id, self.bot_user_id}
            self.channels[channel_id] = Channel(channel_id, team, members, True, user_id)
        return self._ims[key]

    def _user(self, user_id: str, team_id: str | None = None) -> User:
        """The person ``user_id`` of ``team_id`` (of their first workspace without one); added if unknown."""
        if user_id not in self.users:
            self.add_user(user_id, team_id=team_id)
        return self.members.get((team_id, user_id), self.users[user_id]) if team_id else self.users[user_id]

    def _driver_channel(self, channel_id: str | None, user: User) -> Channel | None:
        """The channel a user acts in: their IM by default; unknown C…/G… channels appear without the bot."""
        if channel_id is None:
            return self.channels[self.dm_channel_id(user.id, user.team_id)]
        if channel_id not in self.channels and channel_id[0] in "CG":
            self.add_channel(channel_id, members=[user.id], is_private=channel_id[0] == "G", team_id=user.team_id)
        return self.channels.get(channel_id)  # an unknown D… is someone else's DM: the bot can't see it

    def _next_ts(self) -> str:
        self._last_ts = max(int(self.clock() * 1_000_000), self._last_ts + 1)
        return "%010d.%06d" % divmod(self._last_ts, 1_000_000)  # noqa: UP031 - Slack's exact format

    # -- records ---------------------------------------------------------------------------------

    def private_to(self, user_id: str, team_id: str | None = None) -> list[Args]:
        """Everything only ``user_id`` could see, in order, each with ``via``."""
        team = team_id or self._user(user_id).team_id
        return [
            {**record, "via": via}
            for via, record in self._timeline
            if record.get("team_id") == team
            and record.get("user") == user_id
            and (via in ("ephemeral", "dm") or (via in ("response_url", "ack") and not record["public"]))
        ]

    def _visible(self, via: str, record: Args) -> None:
        self._timeline.append((via, record))
        if self.on_visible is not None:
            self.on_visible(via, record)

    def public_messages(self) -> list[Args]:
        """postMessage into non-DM channels, and in_channel response_url posts and acks, in order."""
        return [
            {**record, "via": via}
            for via, record in self._timeline
            if via == "channel" or (via in ("response_url", "ack") and record["public"])
        ]

    def describe(self) -> str:
        """A short dump of what the fake has seen, for assertion messages."""
        return "\n".join(
            [
                f"  calls: {[c.method for c in self.calls[-20:]]}",
                f"  messages: {[(m['channel'], m['text'][:80]) for m in self.messages[-10:]]}",
                f"  ephemerals: {[(e['user'], e['text'][:80]) for e in self.ephemerals[-10:]]}",
                f"  webhook_posts: {[(w['user'], w['text'][:80]) for w in self.webhook_posts[-10:]]}",
                f"  acks: {[(a.kind, a.status, a.body[:80]) for a in self.acks[-10:]]}",
            ]
        )

    def expire_response_urls(self) -> None:
        for hook in self._hooks.values():
            hook.expired = True

    # -- Web API ---------------------------------------------------------------------------------

    def api(self, method: str, args: Args, token: str | None) -> Args:
        """Answer one Web API call the way Slack would (HTTP 200 body)."""
        handler = self._methods.get(method)
        if handler is None:
            return _error("unknown_method", req_method=method)
        if method != "api.test" and (auth_error := self._token_error(method, token)):
            return _error(auth_error)
        return handler(args)

    def _token_error(self, method: str, token: str | None) -> str | None:
        if not token:
            return "not_authed"
        if token not in (self.bot_token, self.app_token):
            return "invalid_auth"
        if (token == self.app_token) != (method == "apps.connections.open"):
            return "not_allowed_token_type"
        return None

    def _api_test(self, args: Args) -> Args:
        return _error(args["error"], args=args) if args.get("error") else {"ok": True, "args": args}

    def _auth_test(self, args: Args) -> Args:
        return {
            "ok": True,
            "url": "https://fake-workspace.slack.com/",
            "team": "Fake Workspace",
            "user": "gmail-labels",
            "team_id": self.team_id,
            "user_id": self.bot_user_id,
            "bot_id": self.bot_id,
            "app_id": self.app_id,
            "is_enterprise_install": False,
        }

    def _users_info(self, args: Args) -> Args:
        user_id = str(args.get("user", ""))
        if not USER_ID.match(user_id):
            return _error("user_not_found")
        team = args.get("team_id")
        user = self._user(user_id, team if isinstance(team, str) and team else None)
        profile = {"email": user.email, "real_name": user_id.lower(), "display_name": user_id.lower()}
        return {
            "ok": True,
            "user": {
                "id": user.id,
                "team_id": user.team_id,
                "name": user_id.lower(),
                "real_name": user_id.lower(),
                "deleted": False,
                "is_bot": user.is_bot,
                "is_app_user": False,
                "profile": profile,
            },
        }

    def _conversations_open(self, args: Args) -> Args:
        users = args.get("users") or []
        if isinstance(users, str):
            users = [u.strip() for u in users.split(",") if u.strip()]
        if not users:
            return _error("users_list_not_supplied")
        if len(users) > 8:
            return _error("too_many_users")
        if not all(USER_ID.match(u) for u in users):
            return _error("user_not_found")
        if len(users) > 1:  # a multi-person DM: a private channel with the bot in it
            channel_id = f"G{next(self._seq):010d}"
            self.add_channel(channel_id, members=[*users, self.bot_user_id], is_private=True)
        else:
            team = args.get("team_id")
            channel_id = self.dm_channel_id(users[0], team if isinstance(team, str) and team else None)
        already = channel_id in self._opened
        self._opened.add(channel_id)
        channel: Args = {"id": channel_id}
        if _truthy(args.get("return_im")):
            channel |= {"is_im": len(users) == 1, "user": users[0], "created": int(self.clock())}
        return {"ok": True, "no_op": already, "already_open": already, "channel": channel}

    def _postable(self, channel_id: str, team_id: object = None) -> tuple[Channel | None, str | None]:
        """The channel the bot may post into, else the error Slack gives (slack.md §1.4/§1.5)."""
        if USER_ID.match(channel_id):  # channel=U… posts into the app's DM with that user, in that workspace
            channel_id = self.dm_channel_id(channel_id, team_id if isinstance(team_id, str) and team_id else None)
        channel = self.channels.get(channel_id)
        if channel is None:
            return None, "channel_not_found"
        if self.bot_user_id not in channel.members:
            is_public = not channel.is_private and not channel.id.startswith("D")
            return None, "not_in_channel" if is_public else "channel_not_found"
        if channel.im_user is not None and not self._user(channel.im_user, channel.team_id).messages_tab:
            return None, "messages_tab_disabled"
        return channel, None

    @staticmethod
    def _content(args: Args) -> tuple[list[Any], Args | None]:
        """The message's blocks, or the error answer for missing content / bad blocks."""
        blocks = args.get("blocks")
        if isinstance(blocks, str):
            try:
                blocks = json.loads(blocks)
            except ValueError:
                return [], _error("invalid_blocks_format")
        if not any((args.get("text"), blocks, args.get("attachments"), args.get("markdown_text"))):
            return [], _error("no_text")
        if blocks is not None:
            code, messages = block_errors(blocks)
            if code is not None:
                return [], _error(code, errors=messages, response_metadata={"messages": messages})
        return blocks or [], None

    def _message(self, record: Args) -> Args:
        message = {
            "type": "message",
            "user": self.bot_user_id,
            "bot_id": self.bot_id,
            "app_id": self.app_id,
            "team": record["team_id"],
            "ts": record["ts"],
            "text": record["text"],
        }
        return message | ({"blocks": record["blocks"]} if record["blocks"] else {})

    def _post_message(self, args: Args) -> Args:
        channel, error = self._postable(str(args.get("channel", "")), args.get("team_id"))
        if channel is None:
            return _error(error or "channel_not_found")
        blocks, failure = self._content(args)
        if failure is not None:
            return failure
        metadata, failure = _metadata(args.get("metadata"))
        if failure is not None:
            return failure
        record = {**args, "channel": channel.id, "text": args.get("text") or "", "blocks": blocks}
        record |= {"ts": self._next_ts(), "team_id": channel.team_id}
        record.pop("metadata", None)
        if metadata is not None:
            record["metadata"] = metadata
        if channel.im_user is not None:
            record["user"] = channel.im_user
        self.messages.append(record)
        self._visible("dm" if channel.im_user else "channel", record)
        self.bot_posted(record, channel)
        message = self._message(record) | ({"metadata": metadata} if metadata is not None else {})
        return {"ok": True, "channel": channel.id, "ts": record["ts"], "message": message}

    def _conversations_history(self, args: Args) -> Args:
        """The bot's messages in a channel it can read, newest first (``im:history`` covers DMs only)."""
        channel_id = str(args.get("channel", ""))
        channel = self.channels.get(channel_id)
        if channel is None:
            return _error("channel_not_found")
        if channel.im_user is None:  # the app has im:history, not channels:history / groups:history
            return _error("missing_scope", needed="groups:history" if channel.is_private else "channels:history")
        if self.bot_user_id not in channel.members:
            return _error("channel_not_found")
        try:
            limit = min(max(int(args.get("limit") or 100), 1), 999)
        except (TypeError, ValueError):
            return _error("invalid_arguments")
        oldest, latest = _timestamp(args.get("oldest"), 0.0), _timestamp(args.get("latest"), float("inf"))
        if oldest is None:  # Slack's documented errors for these two (conversations.history reference)
            return _error("invalid_ts_oldest")
        if latest is None:
            return _error("invalid_ts_latest")
        try:
            cursor = str(args.get("cursor") or "")
            offset = int(base64.urlsafe_b64decode(cursor).decode().removeprefix("offset:")) if cursor else 0
        except ValueError:
            return _error("invalid_cursor")
        inclusive = _truthy(args.get("inclusive"))
        with_metadata = _truthy(args.get("include_all_metadata"))
        found = [
            m
            for m in reversed(self.messages)
            if m["channel"] == channel.id
            and (oldest < float(m["ts"]) < latest or (inclusive and float(m["ts"]) in (oldest, latest)))
        ]
        page = found[offset : offset + limit]
        has_more = len(found) > offset + limit
        messages = [
            self._message(m) | ({"metadata": m["metadata"]} if with_metadata and "metadata" in m else {}) for m in page
        ]
        cursor = base64.urlsafe_b64encode(f"offset:{offset + limit}".encode()).decode() if has_more else ""
        return {
            "ok": True,
            "messages": messages,
            "has_more": has_more,
            "pin_count": 0,
            "response_metadata": {"next_cursor": cursor},
        }

    def _post_ephemeral(self, args: Args) -> Args:
        channel_id, user_id = str(args.get("channel", "")), str(args.get("user", ""))
        if USER_ID.match(channel_id):  # a user id is not a channel for ephemerals
            return _error("channel_not_found")
        # An IM works when the bot is part of it (the bot's own DM with the user); other DMs are not found.
        channel, error = self._postable(channel_id)
        if channel is None:
            return _error(error or "channel_not_found")
        if user_id not in channel.members:
            return _error("user_not_in_channel")
        blocks, failure = self._content(args)
        if failure is not None:
            return failure
        ts = self._next_ts()
        record = {**args, "channel": channel.id, "user": user_id, "text": args.get("text") or ""}
        record |= {"blocks": blocks, "message_ts": ts, "team_id": channel.team_id}
        self.ephemerals.append(record)
        self._visible("ephemeral", record)
        return {"ok": True, "message_ts": ts}

    def _chat_update(self, args: Args) -> Args:
        channel, error = self._postable(str(args.get("channel", "")), args.get("team_id"))
        if channel is None:
            return _error(error or "channel_not_found")
        found = [m for m in self.messages if m["channel"] == channel.id and m["ts"] == args.get("ts")]
        if not found:
            return _error("message_not_found")
        blocks, failure = self._content(args)
        if failure is not None:
            return failure
        record = found[0]
        record |= {"text": args.get("text") or "", "blocks": blocks, "edited": {"user": self.bot_user_id}}
        return {"ok": True, "channel": channel.id, "ts": record["ts"], "text": record["text"]} | {
            "message": self._message(record)
        }

    def _views_publish(self, args: Args) -> Args:
        user_id = str(args.get("user_id", ""))
        if not USER_ID.match(user_id):
            return _error("user_not_found")
        view = args.get("view")
        if isinstance(view, str):
            view = _json_or_none(view)
        if not isinstance(view, dict) or view.get("type") != "home":
            return _error("invalid_arguments", response_metadata={"messages": ["[ERROR] invalid view"]})
        code, messages = block_errors(view.get("blocks"), limit=VIEW_BLOCK_LIMIT)
        if code is not None:
            return _error("invalid_arguments", response_metadata={"messages": messages})
        previous = self.home_views.get(user_id)
        if args.get("hash") and previous is not None and args["hash"] != previous["hash"]:
            return _error("hash_conflict")
        team = self._user(user_id).team_id
        stored = {**view, "id": f"V{next(self._seq):010d}", "team_id": team, "app_id": self.app_id}
        stored |= {"bot_id": self.bot_id, "hash": f"{int(self.clock())}.{secrets.token_hex(4)}"}
        self.home_views[user_id] = stored
        return {"ok": True, "view": stored}

    def bot_posted(self, record: Args, channel: Channel) -> None:
        """Called after the bot's message is accepted; the server may echo it back as an event."""

    # -- response_url sink -----------------------------------------------------------------------

    def _issue_response_url(self, kind: str, user: User, channel: str, *, ephemeral_source: bool) -> str:
        n = next(self._seq)
        path = f"/hooks/{kind}/{user.team_id}/{n:013d}/{secrets.token_urlsafe(18)}"
        url = self.base_url.rstrip("/") + path
        self._hooks[path] = ResponseUrl(url, user.team_id, user.id, channel, self.clock(), ephemeral_source)
        return url

    def respond(self, path: str, raw: str) -> tuple[int, str]:
        """Answer a POST to a response_url: ``(HTTP status, text/plain body)``; records accepted posts."""
        hook = self._hooks.get(path)
        if hook is None:
            return 404, "no_service"
        if hook.expired or self.clock() - hook.issued_at > RESPONSE_URL_TTL:
            return 404, "expired_url"
        if hook.uses >= RESPONSE_URL_USES:
            return 404, "used_url"
        body = _json_or_none(raw)
        if body is None:
            return 400, "invalid_payload"
        deleting = _truthy(body.get("delete_original"))
        if not deleting and not any((body.get("text"), body.get("blocks"), body.get("attachments"))):
            return 400, "no_text"
        if body.get("blocks") is not None and block_errors(body["blocks"])[0] is not None:
            return 400, "invalid_blocks"
        hook.uses += 1
        replacing = _truthy(body.get("replace_original"))
        record = {
            **body,
            "url": hook.url,
            "user": hook.user,
            "channel": hook.channel,
            "team_id": hook.team_id,
            "text": body.get("text") or "",
            "blocks": body.get("blocks") or [],
            "replace_original": replacing,
            "delete_original": deleting,
            "response_type": body.get("response_type"),
            # in_channel posts are public; so is replacing a public (non-ephemeral) source message
            "public": body.get("response_type") == "in_channel" or (replacing and not hook.ephemeral_source),
        }
        self.webhook_posts.append(record)
        self._visible("response_url", record)
        return 200, "ok"

    def _record_command_ack(self, ack: Ack, team: str) -> None:
        """A slash command's ack body is shown to the user (ephemeral unless in_channel); others are not."""
        if ack.status != 200:
            return
        shown = ack.json if ack.json is not None else ({"text": ack.body} if ack.body.strip() else None)
        if not shown or not (shown.get("text") or shown.get("blocks")):
            return
        response_type = shown.get("response_type") or "ephemeral"
        record = {"user": ack.user, "channel": ack.channel, "team_id": team, "text": shown.get("text") or ""}
        record |= {"blocks": shown.get("blocks") or [], "response_type": response_type}
        record["public"] = response_type == "in_channel"
        self._visible("ack", record)


def _timestamp(value: object, default: float) -> float | None:
    """A Slack ``ts`` argument (``1512085950.000216``); None when it is not one."""
    if value in (None, ""):
        return default
    try:
        number = float(str(value))
    except ValueError:
        return None
    return number if number >= 0 else None
