"""Sign-in, token refresh, logout and the current user."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, get, post
from litestar.exceptions import NotAuthorizedException, TooManyRequestsException
from litestar.params import JSONBody
from litestar.security.jwt import Token

from server.users.schemas import LoginRequest, Me, RefreshRequest, TokenPair
from server.users.security import (
    AuthUser,
    decode_refresh,
    is_revoked,
    issue_tokens,
    load_user,
    revoke,
)
from server.users.services import authenticate


class AuthController(Controller):
    path = "/api/auth"
    tags = ["auth"]

    @post("/login", exclude_from_auth=True, status_code=200,
          summary="Sign in by phone number and password")
    async def login(self, data: JSONBody[LoginRequest], request: Request[Any, Any, Any]) -> TokenPair:
        throttle = request.app.state.login_throttle
        address = request.client.host if request.client else "unknown"
        wait = await throttle.retry_after(data.phone, address)
        if wait:
            raise TooManyRequestsException(
                f"too many failed sign-ins: try again in {wait} seconds", headers={"Retry-After": str(wait)})
        user = await authenticate(data.phone, data.password)
        if user is None:
            await throttle.failed(data.phone, address)
            raise NotAuthorizedException("phone or password is wrong")
        await throttle.succeeded(data.phone)
        auth = request.app.state.jwt_auth
        return TokenPair(**issue_tokens(auth, user.id, user.role, request.app.state.settings.refresh_token_days))

    @post("/refresh", exclude_from_auth=True, status_code=200,
          summary="Trade a refresh token for a new token pair")
    async def refresh(self, data: JSONBody[RefreshRequest], request: Request[Any, Any, Any]) -> TokenPair:
        auth = request.app.state.jwt_auth
        token = decode_refresh(auth, data.refresh_token)
        if await is_revoked(token, request):
            raise NotAuthorizedException("refresh_token was revoked")
        user = await load_user(int(token.sub))
        if user is None:
            raise NotAuthorizedException("the account no longer exists or is disabled")
        await revoke(token)  # a refresh token is good for one use
        return TokenPair(**issue_tokens(auth, user.id, user.role, request.app.state.settings.refresh_token_days))

    @post("/logout", status_code=204, summary="Revoke the access token (and a refresh token if sent)")
    async def logout(self, request: Request[AuthUser, Token, Any],
                     data: JSONBody[RefreshRequest | None] = None) -> None:
        await revoke(request.auth)
        if data is not None:
            try:
                await revoke(decode_refresh(request.app.state.jwt_auth, data.refresh_token))
            except NotAuthorizedException:
                pass  # already unusable


class MeController(Controller):
    path = "/api/me"
    tags = ["auth"]

    @get("/", summary="The signed-in user, with the firm, bank or department they act for")
    async def me(self, request: Request[AuthUser, Token, Any]) -> Me:
        u = request.user
        return Me(id=u.id, phone=u.phone, role=u.role, display_name=u.display_name,
                  firm_uscc=u.firm_uscc, bank_id=u.bank_id, department=u.department_code)
