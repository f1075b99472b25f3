"""Sign-in, token refresh, logout and the current user."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Controller, Request, get, post
from litestar.exceptions import NotAuthorizedException, TooManyRequestsException
from litestar.params import JSONBody, QueryParameter
from litestar.security.jwt import Token

from server.users import services
from server.users.schemas import (
    FirmClaim,
    FirmClaimStarted,
    FirmClaimVerify,
    LoginRequest,
    Me,
    RefreshRequest,
    Registration,
    StaffCreate,
    TokenPair,
    UserOut,
)
from server.users.security import (
    AuthUser,
    decode_refresh,
    is_revoked,
    issue_tokens,
    load_user,
    requires,
    revoke,
)
from server.users.services import authenticate

CLAIMS_STORE = "firm_claims"


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

    @post("/register", exclude_from_auth=True, status_code=201,
          summary="Register as a firm owner or a subscriber; signs the new account in",
          description="Owners then prove their firm with POST /api/me/firm-claim. Bank, department "
                      "and admin accounts are opened by an admin (POST /api/users).")
    async def register(self, data: JSONBody[Registration], request: Request[Any, Any, Any]) -> TokenPair:
        throttle = request.app.state.login_throttle
        address = request.client.host if request.client else "unknown"
        wait = await throttle.retry_after(data.phone, address)
        if wait:
            raise TooManyRequestsException(
                f"too many attempts: try again in {wait} seconds", headers={"Retry-After": str(wait)})
        user = await services.register(data)
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

    @post("/firm-claim", guards=[requires("owner")], status_code=202,
          summary="Start proving that you act for a firm: a one-time code goes to its registered contact",
          description="In the demo the code is printed to the server log. Valid 10 minutes, five tries.")
    async def start_claim(self, request: Request[AuthUser, Token, Any],
                          data: JSONBody[FirmClaim]) -> FirmClaimStarted:
        settings = request.app.state.settings
        return await services.start_firm_claim(
            request.user, data.uscc.upper(), request.app.stores.get(CLAIMS_STORE),
            secret=settings.jwt_secret, demo=settings.demo)

    @post("/firm-claim/verify", guards=[requires("owner")], status_code=200,
          summary="Link your account to the firm with the code you received")
    async def verify_claim(self, request: Request[AuthUser, Token, Any],
                           data: JSONBody[FirmClaimVerify]) -> Me:
        uscc = data.uscc.upper()
        await services.verify_firm_claim(request.user, uscc, data.code,
                                         request.app.stores.get(CLAIMS_STORE),
                                         secret=request.app.state.settings.jwt_secret)
        u = await load_user(request.user.id)
        assert u is not None
        return Me(id=u.id, phone=u.phone, role=u.role, display_name=u.display_name,
                  firm_uscc=u.firm_uscc, bank_id=u.bank_id, department=u.department_code)


class UserController(Controller):
    path = "/api/users"
    tags = ["auth"]
    guards = [requires("admin")]

    @post("/", summary="Open an account for a bank manager, department operator, admin or subscriber")
    async def create(self, data: JSONBody[StaffCreate]) -> UserOut:
        return await services.create_staff(data)

    @get("/", summary="Accounts, optionally of one role")
    async def list_all(
        self,
        role: Annotated[str | None, QueryParameter(pattern="^(owner|bank_manager|subscriber|dept_operator|admin)$")] = None,
        limit: Annotated[int, QueryParameter(ge=1, le=500)] = 100,
        offset: Annotated[int, QueryParameter(ge=0)] = 0,
    ) -> list[UserOut]:
        return await services.list_users(role=role, limit=limit, offset=offset)
