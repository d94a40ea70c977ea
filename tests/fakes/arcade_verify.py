"""The fake Arcade's custom-verifier stage (shared/contracts/arcade.md §3.3, §5.2, §8.3).

With ``FakeArcade.verifier_url`` set, consenting on the fake consent page no longer completes a flow:

1. the browser is 303'd to ``<verifier_url>?flow_id=<flow id>`` (the only parameter) and the flow
   awaits verification for ``window`` seconds, remembering the Google account that consented;
2. ``POST /v1/auth/confirm_user`` (also ``/api/v1/oauth/confirm_user``) ``{flow_id, user_id}``:
   unknown flow -> 404; not awaiting verification (already confirmed, too late, never consented)
   -> 400 ``{"code":400,"msg":"Bad request","data":null}``; another user -> 400
   ``{"name":"bad_request","message":"An error occurred during verification"}`` on the SDK's path
   (``{"code":400,"msg":"An error occurred during verification"}``, no ``error`` field, on the
   coordinator's) and the consent is discarded, so the flow's owner can
   still complete their own link; the owner -> 200 ``{auth_id, next_uri}``. (A 200 that carries
   ``user_mismatch`` can be injected with ``FakeArcade.fail_next("confirm_user", 200, body=…)``.)
3. ``GET /_fake/oauth/callback_success?flow_id=F``: the first landing finalises the grant (the
   flow completes, waiting long-polls return); a second landing is a replayed code: the flow
   fails and the grant is revoked.

``FakeArcade.approve`` / ``deny`` still complete or fail a flow directly, bypassing all of this.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from aiohttp import web

if TYPE_CHECKING:
    from tests.fakes.arcade import FakeArcade, Flow

BAD_REQUEST = {"code": 400, "msg": "Bad request", "data": None}
# A mismatch as three of the four docs versions show it (no "error" field), on the coordinator's path …
USER_MISMATCH = {"code": 400, "msg": "An error occurred during verification"}
# … the one docs version that adds an "error" field …
USER_MISMATCH_WITH_ERROR = {"code": 400, "error": "user_mismatch", "msg": "An error occurred during verification"}
# … and the Engine's own error shape on the SDK's path (OpenAPI: {"name", "message"}).
USER_MISMATCH_ENGINE = {"name": "bad_request", "message": "An error occurred during verification"}


@dataclass
class Stage:
    """Where a flow is between consent and completion."""

    name: str  # "awaiting_verification" | "awaiting_finalise" | "finalised"
    email: str | None
    since: float


@dataclass(frozen=True)
class Confirmation:
    """One confirm_user call and how it was answered."""

    flow_id: str
    user_id: str
    outcome: str  # "confirmed" | "user_mismatch" | "bad_request" | "not_found"


class Verification:
    def __init__(self, fake: FakeArcade) -> None:
        self.fake = fake
        self.window = 300.0  # seconds a flow awaits verification after consent
        self.stages: dict[str, Stage] = {}  # flow_id -> stage
        self.confirmations: list[Confirmation] = []
        self.landings: list[str] = []  # flow ids, one per callback_success hit

    def add_routes(self, router: web.UrlDispatcher) -> None:
        router.add_post("/v1/auth/confirm_user", self._confirm_user, name="confirm_user")
        router.add_post("/api/v1/oauth/confirm_user", self._confirm_user, name="confirm_user_cloud")
        router.add_get("/_fake/oauth/callback_success", self._callback_success, name="callback_success")

    def await_verification(self, flow: Flow, email: str | None) -> str:
        """Consent given: park the flow and return the verifier URL to send the browser to."""
        self.stages[flow.flow_id] = Stage("awaiting_verification", email, time.time())
        return f"{self.fake.verifier_url}?{urlencode({'flow_id': flow.flow_id})}"

    async def _confirm_user(self, request: web.Request) -> web.Response:
        body: Any = await request.json()
        flow_id, user_id = (body.get(k) if isinstance(body, dict) else None for k in ("flow_id", "user_id"))
        if not isinstance(flow_id, str) or not isinstance(user_id, str) or not flow_id or not user_id:
            return web.json_response({"name": "bad_request", "message": "flow_id and user_id are required"}, status=400)
        flow = next((f for f in self.fake.flows.values() if f.flow_id == flow_id), None)
        if flow is None:
            self.confirmations.append(Confirmation(flow_id, user_id, "not_found"))
            return web.json_response({"name": "not_found", "message": f"flow {flow_id} not found"}, status=404)
        stage = self.stages.get(flow_id)
        awaiting = stage is not None and stage.name == "awaiting_verification" and flow.status == "pending"
        if stage is None or not awaiting or time.time() - stage.since > self.window:
            self.confirmations.append(Confirmation(flow_id, user_id, "bad_request"))
            return web.json_response(BAD_REQUEST, status=400)
        if user_id != flow.user_id:
            del self.stages[flow_id]  # the other person's consent is discarded; the owner can start over
            self.confirmations.append(Confirmation(flow_id, user_id, "user_mismatch"))
            engine = request.path.startswith("/v1/")
            return web.json_response(USER_MISMATCH_ENGINE if engine else USER_MISMATCH, status=400)
        stage.name = "awaiting_finalise"
        self.confirmations.append(Confirmation(flow_id, user_id, "confirmed"))
        next_uri = f"{self.fake.base_url}/_fake/oauth/callback_success?{urlencode({'flow_id': flow_id})}"
        return web.json_response({"auth_id": flow.auth_id, "next_uri": next_uri})

    async def _callback_success(self, request: web.Request) -> web.Response:
        flow_id = request.query.get("flow_id", "")
        self.landings.append(flow_id)
        flow = next((f for f in self.fake.flows.values() if f.flow_id == flow_id), None)
        stage = self.stages.get(flow_id)
        if flow is None or stage is None:
            return web.Response(status=404, text="unknown authorization")
        if stage.name == "finalised":  # the provider code is replayed: the grant is revoked
            await self.fake.revoke(flow)
            return web.Response(status=400, text="<p>This authorization was already completed.</p>")
        if stage.name != "awaiting_finalise" or flow.status != "pending":
            return web.Response(status=400, text=f"<p>Authorization is {flow.status}, not verified.</p>")
        stage.name = "finalised"
        target = await self.fake.finalise(flow, email=stage.email)
        if target:
            raise web.HTTPSeeOther(target)
        return web.Response(text="<p>Authorization complete. You can close this tab.</p>", content_type="text/html")
