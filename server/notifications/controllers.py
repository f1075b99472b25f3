"""Routes: watching firms, reading notifications, the live streams and the bank's webhook."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Controller, Request, delete, get, post, put, websocket
from litestar.channels import ChannelsPlugin
from litestar.connection import WebSocket
from litestar.di import NamedDependency
from litestar.exceptions import ValidationException
from litestar.openapi.spec import Example
from litestar.params import HeaderParameter, JSONBody, PathParameter, QueryParameter
from litestar.response import ServerSentEvent

from server.deps import AppSettings
from server.notifications import inbox, push, subscriptions, webhooks
from server.notifications.schemas import (
    MarkedRead,
    NotificationOut,
    StreamTicket,
    SubscriptionCreate,
    SubscriptionOut,
    UnreadCount,
    WebhookOut,
    WebhookUpdate,
)
from server.tables.users import ROLES
from server.texts import t
from server.users.security import AuthUser, requires

__all__ = ["BankWebhookController", "NotificationController", "SubscriptionController"]

MAX_ID = 2**31 - 1
Id = Annotated[int, PathParameter(ge=1, le=MAX_ID, examples=[Example(value=42)])]
AfterId = Annotated[int | None, QueryParameter(
    ge=0, le=MAX_ID, examples=[Example(value=120)],
    description="Only notifications with a larger id (oldest first): what you have not seen yet")]


class SubscriptionController(Controller):
    path = "/api/subscriptions"
    tags = ["notifications"]
    opt = {"roles": requires(*ROLES)}

    @post("/", summary="Watch a firm (again: change the filters); public signals unless your bank has consent")
    async def create(self, request: Request[AuthUser, Any, Any], data: JSONBody[SubscriptionCreate]) -> SubscriptionOut:
        return await subscriptions.subscribe(request.user, data)

    @get("/", summary="The firms you watch, with filters (automatic ones: your bank's applicants)")
    async def list_all(self, request: Request[AuthUser, Any, Any]) -> list[SubscriptionOut]:
        return await subscriptions.list_subscriptions(request.user)

    @delete("/{subscription_id:int}", summary="Stop watching a firm")
    async def remove(self, request: Request[AuthUser, Any, Any], subscription_id: Id) -> None:
        await subscriptions.unsubscribe(request.user, subscription_id)


class NotificationController(Controller):
    path = "/api/notifications"
    tags = ["notifications"]

    @get("/", roles=requires(*ROLES), summary="Your notifications, newest first (or after an id)")
    async def list_all(
        self, request: Request[AuthUser, Any, Any],
        unread: Annotated[bool | None, QueryParameter(examples=[Example(value=True)])] = None,
        after_id: AfterId = None,
        limit: Annotated[int, QueryParameter(ge=1, le=200, examples=[Example(value=50)])] = 50,
    ) -> list[NotificationOut]:
        return await inbox.list_notifications(request.user, unread, after_id, limit)

    @get("/unread-count", roles=requires(*ROLES), summary="How many of your notifications are unread")
    async def unread(self, request: Request[AuthUser, Any, Any]) -> UnreadCount:
        return await inbox.unread_count(request.user)

    @post("/{notification_id:int}/read", roles=requires(*ROLES), status_code=200,
          summary="Mark one notification read")
    async def read(self, request: Request[AuthUser, Any, Any], notification_id: Id) -> NotificationOut:
        return await inbox.mark_read(request.user, notification_id)

    @post("/read-all", roles=requires(*ROLES), status_code=200, summary="Mark all your notifications read")
    async def read_all(self, request: Request[AuthUser, Any, Any]) -> MarkedRead:
        return await inbox.mark_all_read(request.user)

    @post("/stream-ticket", roles=requires(*ROLES), status_code=201,
          summary="A one-time ticket to open a stream from a client that cannot set headers",
          description=(
              f"Valid once, for {push.TICKET_TTL_S} s: `GET /api/notifications/stream?ticket=...` "
              "(EventSource) or `/api/notifications/ws?ticket=...`. Tokens never go in URLs, which "
              "end up in access logs. The stream belongs to the sign-in of the token used here."))
    async def stream_ticket(self, request: Request[AuthUser, Any, Any]) -> StreamTicket:
        encoded = request.headers.get("authorization", "")[7:].strip()
        return StreamTicket(ticket=await push.issue_stream_ticket(request.app, encoded),
                            expires_in=push.TICKET_TTL_S)

    @get("/stream", exclude_from_auth=True, guards=[push.stream_guard], roles=requires(*ROLES),
         summary="Live notifications (Server-Sent Events); reconnect with Last-Event-ID to catch up",
         description=(
             "`event: notification`, `id:` = notification id, `data:` = the notification JSON. "
             "Sign in with `Authorization: Bearer` or `?ticket=` from `POST "
             "/api/notifications/stream-ticket` (EventSource cannot set headers; tokens in URLs are "
             "refused). With `Last-Event-ID` (sent by EventSource on reconnect) or `?after_id=` the "
             "stream first sends what you missed from the database. Delivery is at-least-once: drop "
             "a message whose id you already have with the same or a newer `updated_at`. The stream "
             "ends (after a `: signed out` comment) when its sign-in is logged out."))
    async def stream(
        self, request: Request[AuthUser, Any, Any], channels: NamedDependency[ChannelsPlugin],
        after_id: AfterId = None,
        last_event_id: Annotated[str | None, HeaderParameter(
            name="Last-Event-ID", required=False, max_length=12,
            description="Sent by EventSource on reconnect: the last notification id received")] = None,
        ticket: Annotated[str | None, QueryParameter(
            max_length=100, description="A one-time ticket from POST /api/notifications/stream-ticket")] = None,
        max_seconds: Annotated[int, QueryParameter(
            ge=0, le=3600, examples=[Example(value=1800)],
            description="End the stream after this long (the client reconnects); 0 = send what "
                        "was missed after after_id / Last-Event-ID, then end")] = 1800,
    ) -> ServerSentEvent:
        try:
            start = push.parse_after_id(last_event_id) if last_event_id else after_id
        except ValueError:
            raise ValidationException(t("Last-Event-ID: must be a notification id (an integer)")) from None
        return push.sse_response(request.app, channels, request.user, start, max_seconds,
                                 request.scope.get("stream_sign_in"))  # type: ignore[arg-type]

    @websocket("/ws", exclude_from_auth=True, guards=[push.stream_guard],
               summary="Live notifications over a WebSocket (sign in with the first message or ?ticket=)")
    async def ws(self, socket: WebSocket[Any, Any, Any], channels: NamedDependency[ChannelsPlugin]) -> None:
        await push.serve_websocket(socket, channels)


class BankWebhookController(Controller):
    path = "/api/banks/me/webhook"
    tags = ["notifications"]
    opt = {"roles": requires("bank_manager")}

    @put("/", summary="Set your bank's webhook URL (and HMAC secret) for warnings about its applicants")
    async def set_webhook(self, request: Request[AuthUser, Any, Any], data: JSONBody[WebhookUpdate],
                          settings: AppSettings) -> WebhookOut:
        return await webhooks.set_bank_webhook(request.user, data, settings.webhook_allow)
