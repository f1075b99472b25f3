"""Sign-in, token refresh, logout and the current user."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Controller, Request, get, patch, post
from litestar.exceptions import NotAuthorizedException, TooManyRequestsException
from litestar.params import JSONBody, QueryParameter
from litestar.security.jwt import Token

from server.deps import AppSettings, HashLimiter, JwtAuth, Throttle
from server.notifications import push
from server.texts import t
from server.users import services
from server.users.schemas import (
    FirmClaim,
    FirmClaimStarted,
    FirmClaimVerify,
    LoginRequest,
    LogoutRequest,
    Me,
    MeUpdate,
    RefreshRequest,
    Registration,
    RegistrationStarted,
    RegistrationVerify,
    Role,
    StaffCreate,
    TokenPair,
    UserOut,
)
from server.users.security import (
    AuthUser,
    decode_access,
    decode_refresh,
    is_revoked,
    issue_tokens,
    load_user,
    requires,
    revoke,
    revoke_session,
    session_id,
    spend_refresh_token,
)
from server.users.services import authenticate
from server.users.throttle import client_address

CLAIMS_STORE = "firm_claims"
REGISTRATIONS_STORE = "registrations"


def _tokens(jwt_auth: JwtAuth, settings: AppSettings, user_id: int, role: str, sid: str | None = None) -> TokenPair:
    return TokenPair(**issue_tokens(jwt_auth, user_id, role, settings.refresh_token_days, sid))


class AuthController(Controller):
    path = "/api/auth"
    tags = ["auth"]

    @post("/login", exclude_from_auth=True, status_code=200,
          summary="Sign in by phone number and password",
          description="Throttled before the password is checked: 5 tries per phone in 15 minutes, "
                      "and per address 30 phones with failed tries (phones already signed in from "
                      "that address are not held back by it). 429 with Retry-After past a limit.")
    async def login(self, data: JSONBody[LoginRequest], request: Request[Any, Any, Any], settings: AppSettings,
                    jwt_auth: JwtAuth, throttle: Throttle, hash_limiter: HashLimiter) -> TokenPair:
        address = client_address(request, settings.trusted_proxies)
        wait = await throttle.begin_login(data.phone, address)
        if wait:
            raise TooManyRequestsException(
                t("too many failed sign-ins: try again in {wait} seconds", wait=wait),
                headers={"Retry-After": str(wait)})
        user = await authenticate(data.phone, data.password, hash_limiter)
        if user is None:
            raise NotAuthorizedException(t("phone or password is wrong"))
        await throttle.login_succeeded(data.phone, address)
        return _tokens(jwt_auth, settings, user.id, user.role)

    @post("/register", exclude_from_auth=True, status_code=202,
          summary="Register as a firm owner or a subscriber, step 1: a code is sent to the phone",
          description="The answer is the same whether or not the number already has an account "
                      "(its owner is told instead of getting a code). In the demo the code is "
                      "printed to the server log. Then POST /api/auth/register/verify. Owners then "
                      "prove their firm with POST /api/me/firm-claim; bank, department and admin "
                      "accounts are opened by an admin (POST /api/users).")
    async def register(self, data: JSONBody[Registration], request: Request[Any, Any, Any], settings: AppSettings,
                       throttle: Throttle, hash_limiter: HashLimiter) -> RegistrationStarted:
        return await services.start_registration(
            data, client_address(request, settings.trusted_proxies),
            store=request.app.stores.get(REGISTRATIONS_STORE),
            throttle=throttle, secret=settings.jwt_secret, demo=settings.demo, limiter=hash_limiter)

    @post("/register/verify", exclude_from_auth=True, status_code=201,
          summary="Register, step 2: the code from the phone opens the account and signs it in")
    async def register_verify(self, data: JSONBody[RegistrationVerify], request: Request[Any, Any, Any],
                              settings: AppSettings, jwt_auth: JwtAuth, throttle: Throttle) -> TokenPair:
        user = await services.finish_registration(
            data.phone, data.code, store=request.app.stores.get(REGISTRATIONS_STORE),
            throttle=throttle, secret=settings.jwt_secret)
        return _tokens(jwt_auth, settings, user.id, user.role)

    @post("/refresh", exclude_from_auth=True, status_code=200,
          summary="Trade a refresh token for a new token pair (each refresh token works once)")
    async def refresh(self, data: JSONBody[RefreshRequest], settings: AppSettings, jwt_auth: JwtAuth) -> TokenPair:
        token = decode_refresh(jwt_auth, data.refresh_token)
        if await is_revoked(token):
            raise NotAuthorizedException(t("refresh_token: was used or revoked"))
        user = await load_user(int(token.sub))
        if user is None:
            raise NotAuthorizedException(t("the account no longer exists or is disabled"))
        # Spending is one INSERT on a unique index: of parallel refreshes, one wins.
        if not await spend_refresh_token(token):
            raise NotAuthorizedException(t("refresh_token: was used or revoked"))
        return _tokens(jwt_auth, settings, user.id, user.role, session_id(token))

    @post("/logout", exclude_from_auth=True, status_code=204,
          summary="End the sign-in: its refresh token, access tokens and live streams",
          description="Send the refresh token in the body; it works even when the access token "
                      "has expired. A valid access token alone also ends its sign-in.")
    async def logout(self, request: Request[Any, Any, Any], settings: AppSettings, jwt_auth: JwtAuth,
                     data: JSONBody[LogoutRequest | None] = None) -> None:
        auth = jwt_auth
        tokens: list[Token] = []
        if data is not None and data.refresh_token:
            try:
                tokens.append(decode_refresh(auth, data.refresh_token))
            except NotAuthorizedException:
                pass  # an expired refresh token is already unusable; the access token may still count
        header = request.headers.get("authorization", "")
        if header.lower().startswith("bearer "):
            access = decode_access(auth, header[7:].strip())
            if access is not None:
                tokens.append(access)
        if not tokens:
            raise NotAuthorizedException(t("refresh_token: send a valid refresh token (or access token)"))
        sids = {sid for sid in map(session_id, tokens) if sid}
        for token in tokens:
            if session_id(token) is None:
                await revoke(token)  # issued before sign-in ids: refuse the token itself
        for sid in sids:
            await revoke_session(sid, settings.refresh_token_days)
            await push.close_session_streams(request.app, sid)


def _me(u: AuthUser) -> Me:
    return Me(id=u.id, phone=u.phone, role=u.role, display_name=u.display_name, firm_uscc=u.firm_uscc,
              bank_id=u.bank_id, department=u.department_code, language=u.language)


class MeController(Controller):
    path = "/api/me"
    tags = ["auth"]

    @get("/", summary="The signed-in user, with the firm, bank or department they act for")
    async def me(self, request: Request[AuthUser, Token, Any]) -> Me:
        return _me(request.user)

    @patch("/", status_code=200, summary="Change your account's settings: the language you read",
           description="`language`: \"zh\" or \"en\", the language of the platform's texts for "
                       "this account when a request's Accept-Language names neither; null follows "
                       "each request's Accept-Language (else Chinese). 422 for anything else.")
    async def update_me(self, request: Request[AuthUser, Token, Any], data: JSONBody[MeUpdate]) -> Me:
        await services.set_language(request.user.id, data.language)
        u = await load_user(request.user.id)
        if u is None:
            raise NotAuthorizedException(t("the account no longer exists or is disabled"))
        return _me(u)

    @post("/firm-claim", roles=requires("owner"), status_code=202,
          summary="Start proving that you act for a firm: a one-time code goes to its registered contact",
          description="In the demo the code is printed to the server log. Valid 10 minutes, five tries.")
    async def start_claim(self, request: Request[AuthUser, Token, Any], data: JSONBody[FirmClaim],
                          settings: AppSettings, throttle: Throttle) -> FirmClaimStarted:
        return await services.start_firm_claim(
            request.user, data.uscc.upper(), request.app.stores.get(CLAIMS_STORE),
            throttle=throttle, secret=settings.jwt_secret, demo=settings.demo)

    @post("/firm-claim/verify", roles=requires("owner"), status_code=200,
          summary="Link your account to the firm with the code you received")
    async def verify_claim(self, request: Request[AuthUser, Token, Any], data: JSONBody[FirmClaimVerify],
                           settings: AppSettings, throttle: Throttle) -> Me:
        uscc = data.uscc.upper()
        await services.verify_firm_claim(request.user, uscc, data.code,
                                         request.app.stores.get(CLAIMS_STORE),
                                         throttle=throttle, secret=settings.jwt_secret)
        u = await load_user(request.user.id)
        assert u is not None
        return _me(u)


class UserController(Controller):
    path = "/api/users"
    tags = ["auth"]
    opt = {"roles": requires("admin")}

    @post("/", summary="Open an account for a bank manager, department operator, admin or subscriber")
    async def create(self, request: Request[AuthUser, Token, Any], data: JSONBody[StaffCreate],
                     hash_limiter: HashLimiter) -> UserOut:
        return await services.create_staff(data, hash_limiter, request.user)

    @get("/", summary="Accounts, optionally of one role")
    async def list_all(
        self,
        role: Annotated[Role | None, QueryParameter()] = None,
        limit: Annotated[int, QueryParameter(ge=1, le=500)] = 100,
        offset: Annotated[int, QueryParameter(ge=0, le=2**31 - 1)] = 0,
    ) -> list[UserOut]:
        return await services.list_users(role=role, limit=limit, offset=offset)
