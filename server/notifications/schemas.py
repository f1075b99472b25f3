"""Structs of the subscription, notification and bank-webhook routes."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

import msgspec

from scoring.risk.rules import KINDS

__all__ = [
    "Level",
    "MarkedRead",
    "NotificationOut",
    "SubscriptionCreate",
    "SubscriptionOut",
    "UnreadCount",
    "WebhookOut",
    "WebhookUpdate",
]

Level = Literal["red", "yellow", "blue"]
# The warning kinds of the rule catalogue (a Literal: msgspec patterns use re.search, where
# "$" also matches before a trailing newline, so "tax\n" would have passed a pattern).
Kind = Annotated[Literal[tuple(KINDS)], msgspec.Meta(examples=["credit"])]  # type: ignore[valid-type]


def _all_levels() -> list[Level]:
    return ["red", "yellow", "blue"]


class SubscriptionCreate(msgspec.Struct):
    """Watch a firm (or change how you watch it: one subscription per firm)."""

    uscc: Annotated[str, msgspec.Meta(min_length=18, max_length=18, examples=["9133100431QF722BL3"],
                                      description="The firm's unified social credit code")]
    levels: Annotated[list[Level], msgspec.Meta(min_length=1, max_length=3, examples=[["red", "yellow"]],
                                                description="Warning levels to hear about")] = (
        msgspec.field(default_factory=_all_levels))
    kinds: Annotated[list[Kind], msgspec.Meta(max_length=60, examples=[["credit", "contagion"]],
                                              description="Warning kinds; empty = every kind")] = (
        msgspec.field(default_factory=list))
    quiet_start: Annotated[int, msgspec.Meta(
        ge=0, le=23, examples=[22],
        description="Start hour (Asia/Shanghai) of the nightly quiet time: nothing is pushed")] | None = None
    quiet_end: Annotated[int, msgspec.Meta(
        ge=0, le=23, examples=[7],
        description="Hour (Asia/Shanghai) the quiet time ends; held pushes go out then")] | None = None
    daily_digest: Annotated[bool, msgspec.Meta(
        examples=[False], description="One digest a day instead of a push per warning")] = False


class SubscriptionOut(msgspec.Struct):
    id: int
    uscc: str
    firm_name: str
    levels: list[str]
    kinds: list[str]
    quiet_start: int | None
    quiet_end: int | None
    daily_digest: bool
    automatic: bool  # made because the firm applied to / borrows from your bank
    detail: bool  # you get the evidence (firm's consent to your bank); otherwise public signals
    created_at: datetime


class NotificationOut(msgspec.Struct):
    """One notification; the live streams send exactly this JSON.

    At-least-once delivery: the same ``id`` can arrive twice; keep the one with the newest
    ``updated_at`` (an escalation updates the same notification) and drop exact repeats."""

    id: int
    kind: str  # risk / digest / policy / application ...
    level: str
    title_zh: str
    title_en: str
    body: dict[str, Any]
    firm_uscc: str | None
    created_at: datetime
    updated_at: datetime
    delivered_at: datetime | None
    read_at: datetime | None


class UnreadCount(msgspec.Struct):
    unread: int


class MarkedRead(msgspec.Struct):
    marked: int


class WebhookUpdate(msgspec.Struct):
    url: Annotated[str, msgspec.Meta(
        max_length=300, pattern=r"^https?://[^\s]+$", examples=["https://bank.example.com/xinbao/hook"],
        description="Where warnings about your applicants and borrowers are POSTed; null turns it off",
    )] | None
    secret: Annotated[str, msgspec.Meta(
        min_length=16, max_length=100, examples=["a-long-random-shared-secret"],
        description="HMAC-SHA256 key for X-Xinbao-Signature; omitted = keep the current one or "
                    "generate one")] | None = None


class WebhookOut(msgspec.Struct):
    bank_id: int
    url: str | None
    secret: str | None  # only when it was just generated; otherwise null (you chose it)
    signature_header: str = "X-Xinbao-Signature"
    delivery_header: str = "X-Xinbao-Delivery"


class StreamTicket(msgspec.Struct):
    """A one-time pass for opening one stream (``?ticket=``) instead of a token in the URL."""

    ticket: str
    expires_in: int  # seconds
