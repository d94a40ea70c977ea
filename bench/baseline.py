"""The baseline: what a developer writes from Arcade's guide ("Get a token for a user") plus Bolt's
quickstart. Run it like the bot, with the same environment variables::

    python -m bench.baseline

It is deliberately plain, and deliberately not sabotaged:

* a synchronous Bolt ``App`` (default settings: five listener worker threads);
* HTTP mode: Bolt's WSGI adapter on the standard library's *threading* WSGI server with the
  same listen backlog as the bot's aiohttp server (128). ``App.start()``'s development server is
  single-threaded and blocks ~10 ms per request polling for the ack, which would be a straw man;
* Socket Mode: ``SocketModeHandler`` (slack_sdk's built-in client, default concurrency);
* one ``Arcade()`` client for the process, as in the guide, ``client.auth.start`` then, in a
  thread per waiting user, ``client.auth.wait_for_completion``;
* ``build("gmail", "v1", credentials=Credentials(token), ...)`` on every request, and the
  labels posted with ``respond`` (the command's ``response_url``).
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Iterable
from socketserver import ThreadingMixIn
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from arcadepy import Arcade
from arcadepy.types import AuthorizationResponse
from google.oauth2.credentials import Credentials
from googleapiclient.discovery import build
from slack_bolt import Ack, App, Respond
from slack_bolt.adapter.socket_mode import SocketModeHandler
from slack_bolt.adapter.wsgi import SlackRequestHandler
from slack_sdk import WebClient

SCOPES = ["https://www.googleapis.com/auth/gmail.readonly"]
GMAIL_API_URL = os.environ.get("GMAIL_API_URL", "https://gmail.googleapis.com/")

logging.basicConfig(level=os.environ.get("LOG_LEVEL", "INFO"))
client = Arcade()  # reads ARCADE_API_KEY (and ARCADE_BASE_URL)
app = App(
    client=WebClient(
        token=os.environ["SLACK_BOT_TOKEN"],
        base_url=os.environ.get("SLACK_API_URL", "https://slack.com/api/"),
    ),
    signing_secret=os.environ.get("SLACK_SIGNING_SECRET"),
)


def send_labels(auth_response: AuthorizationResponse, respond: Respond) -> None:
    assert auth_response.context is not None
    creds = Credentials(auth_response.context.token)
    service = build("gmail", "v1", credentials=creds, client_options={"api_endpoint": GMAIL_API_URL})
    results = service.users().labels().list(userId="me").execute()
    labels = results.get("labels", [])
    respond("Your Gmail labels: " + ", ".join(label["name"] for label in labels))


def wait_then_send_labels(auth_response: AuthorizationResponse, respond: Respond) -> None:
    auth_response = client.auth.wait_for_completion(auth_response)
    send_labels(auth_response, respond)


@app.command("/connect-gmail")
def connect_gmail(ack: Ack, command: dict[str, Any], respond: Respond) -> None:
    ack()
    auth_response = client.auth.start(user_id=command["user_id"], provider="google", scopes=SCOPES)
    if auth_response.status != "completed":
        respond(f"Please authorize Gmail: {auth_response.url}")
        threading.Thread(target=wait_then_send_labels, args=(auth_response, respond), daemon=True).start()
    else:
        send_labels(auth_response, respond)


class ThreadingWSGIServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True
    request_queue_size = 128  # aiohttp's default backlog, so both servers queue the same


class QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass  # the bot has no access log either


def serve_http(host: str, port: int) -> None:
    bolt = SlackRequestHandler(app)

    def wsgi(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if environ.get("PATH_INFO") == "/healthz":
            start_response("200 OK", [("Content-Type", "application/json")])
            return [b'{"ok": true}']
        return bolt(environ, start_response)

    server = make_server(host, port, wsgi, server_class=ThreadingWSGIServer, handler_class=QuietHandler)
    print(f"baseline.ready web={host}:{server.server_port}", flush=True)  # PORT=0: the port it bound
    server.serve_forever()


if __name__ == "__main__":
    if os.environ.get("SLACK_APP_TOKEN"):
        # No web server in Socket Mode: port 0 says so; the bench waits for the socket to connect.
        print("baseline.ready web=socket:0", flush=True)
        SocketModeHandler(app, os.environ["SLACK_APP_TOKEN"]).start()
    else:
        serve_http(os.environ.get("HOST", "0.0.0.0"), int(os.environ.get("PORT", "3000")))
