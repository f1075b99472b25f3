"""A bank's webhook: its URL (public addresses only, checked by ``alerts.netguard``) and secret."""

from __future__ import annotations

import secrets
from collections.abc import Sequence

from litestar.exceptions import (
    ClientException,
    NotFoundException,
    PermissionDeniedException,
)

from alerts.netguard import BlockedTarget, check_url
from server.notifications.schemas import (
    WebhookOut,
    WebhookUpdate,
)
from server.tables.financing import Bank
from server.texts import Text, t
from server.users.security import AuthUser

__all__ = ["set_bank_webhook"]

# Bank webhooks

def _address_kind(kind: str) -> Text | str:
    """An address class of ``alerts.netguard.blocked_reason``, for people."""
    known = {"unspecified": t("unspecified"), "loopback": t("loopback"), "link-local": t("link-local"),
             "multicast": t("multicast"), "private": t("private"), "reserved": t("reserved"),
             "non-public": t("non-public")}
    return known.get(kind, kind)


def _blocked_problem(exc: BlockedTarget) -> Text:
    """Why the webhook URL is refused, for any reader: the guard's template and fields (the URL
    parser's and resolver's own English, ``exc.detail``, is not repeated to people; a test keeps
    every template of the guard in the catalogue)."""
    fields = dict(exc.fields)
    if "kind" in fields:
        fields["kind"] = _address_kind(str(fields["kind"]))
    return Text(exc.template, fields)


async def set_bank_webhook(user: AuthUser, data: WebhookUpdate, allow: Sequence[str] = ()) -> WebhookOut:
    """Store the bank's webhook URL; a secret is generated (and shown once) if none is set.

    A URL whose host is or resolves to a non-public address (loopback, private, link-local,
    metadata ...) is refused unless ``allow`` (the operator's ``webhook_allow``) names it; a name
    that does not resolve yet is accepted, since every delivery checks again."""
    if user.bank_id is None:
        raise PermissionDeniedException(t("your account is not linked to a bank"))
    if data.url is not None:
        try:
            await check_url(data.url, allow, must_resolve=False)
        except BlockedTarget as exc:
            problem = _blocked_problem(exc)
            raise ClientException(t("url: {problem}", problem=problem),
                                  extra=[{"key": "url", "message": problem}]) from None
    bank = await Bank.select(Bank.webhook_secret).where(Bank.id == user.bank_id).first()
    if bank is None:
        raise NotFoundException(t("your bank no longer exists"))
    generated: str | None = None
    secret = data.secret or bank["webhook_secret"]
    if data.url is not None and secret is None:
        secret = generated = secrets.token_urlsafe(32)
    await Bank.update({Bank.webhook_url: data.url, Bank.webhook_secret: secret}).where(Bank.id == user.bank_id)
    return WebhookOut(bank_id=user.bank_id, url=data.url, secret=generated)
