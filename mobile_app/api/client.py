"""One async client for the Xinbao API: typed results, clear errors, a token refreshed once on 401."""

from __future__ import annotations

import asyncio
import inspect
import os
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, TypeVar
from urllib.parse import quote

import httpx

from mobile_app.api.decode import DecodeError, decode
from mobile_app.api.models import (
    AccessEntry,
    Account,
    Application,
    ApplicationsCreated,
    AuditPage,
    BankAdmin,
    Batch,
    Consent,
    Evaluation,
    FeedHealth,
    FeedSource,
    FirmProfile,
    FirmTies,
    FirmWarnings,
    FundOverview,
    IngestReport,
    LedgerPage,
    LoanBook,
    MatchResult,
    Me,
    ModelVersionInfo,
    Notification,
    Objection,
    ObjectionDetail,
    PolicyApplication,
    PolicyMatches,
    Product,
    ProductAdmin,
    ProfilePreview,
    Project,
    ProjectPortfolio,
    RecordPage,
    Subscription,
    TokenPair,
    TrainingStatus,
    Warning,
    WeightProfile,
)
from mobile_app.api.region import (
    AnnualReportInfo,
    Chains,
    Clusters,
    CreditIndex,
    FundFlows,
    Groups,
    Resources,
)

__all__ = [
    "ApiClient", "ApiError", "AuthError", "ConnectionLost", "DEFAULT_API_URL", "api_url_from_env",
]

DEFAULT_API_URL = "http://127.0.0.1:8000"
T = TypeVar("T")
TokenListener = Callable[[TokenPair | None], Awaitable[None] | None]


def api_url_from_env() -> str:
    """The API base URL: ``XINBAO_API_URL`` or the local default."""
    return os.environ.get("XINBAO_API_URL", DEFAULT_API_URL).rstrip("/")


_FIELD = re.compile(r"\s*([A-Za-z_][\w.\[\]]*)\s*[:：]")


class ApiError(Exception):
    """The API refused a request; ``detail`` is its message, ``field`` the input it names."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(f"{status}: {detail}")
        self.status = status
        self.detail = detail
        # "amount_yuan: must be ..." in English, "amount_yuan：..." in Chinese
        named = _FIELD.match(detail)
        self.field = named.group(1) if named else None


class AuthError(ApiError):
    """Not signed in, or the session ended and could not be renewed."""


class ConnectionLost(Exception):
    """The API could not be reached (network down, server stopped, timeout)."""


def _detail(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text[:200] or response.reason_phrase
    if isinstance(body, dict):
        detail = body.get("detail") or body.get("message") or ""
        extra = body.get("extra")
        if isinstance(extra, list) and extra and isinstance(extra[0], dict):
            first = extra[0]
            key = first.get("key") or ""
            msg = first.get("message") or ""
            if key or msg:
                # the server wrote msg in the language the request asked for: join it alike
                zh = response.request.headers.get("accept-language", "zh").startswith("zh")
                detail = f"{key}{'：' if zh else ': '}{msg}" if key else msg
        return str(detail) or response.reason_phrase
    return str(body)


class ApiClient:
    """Talks to the API for one signed-in person; holds their tokens in memory only.

    ``on_tokens`` is told of every new token pair (and ``None`` on sign-out) so the app can
    remember the session; tests pass an ``httpx`` transport to run against the app in-process.
    """

    def __init__(self, base_url: str | None = None, *, transport: httpx.AsyncBaseTransport | None = None,
                 on_tokens: TokenListener | None = None, timeout: float = 15.0, lang: str = "zh") -> None:
        self.base_url = (base_url or api_url_from_env()).rstrip("/")
        # Every request (the push stream's too) says the app's language: the server writes its
        # texts (errors, timelines, notices) in it.
        self._http = httpx.AsyncClient(base_url=self.base_url, transport=transport, timeout=timeout,
                                       headers={"accept-language": lang})
        self.tokens: TokenPair | None = None
        self.on_tokens = on_tokens
        self._refresh_lock = asyncio.Lock()

    @property
    def http(self) -> httpx.AsyncClient:
        """The underlying httpx client (the push stream shares its transport)."""
        return self._http

    async def aclose(self) -> None:
        await self._http.aclose()

    @property
    def lang(self) -> str:
        """The language the server is asked to write in (``Accept-Language``)."""
        return self._http.headers.get("accept-language", "zh")

    def set_lang(self, lang: str) -> None:
        """Ask for the server's texts in ``lang`` ("zh" / "en") from the next request on."""
        self._http.headers["accept-language"] = lang

    # -- plumbing ---------------------------------------------------------------------------

    def auth_headers(self) -> dict[str, str]:
        return {"authorization": f"Bearer {self.tokens.access_token}"} if self.tokens else {}

    async def _set_tokens(self, tokens: TokenPair | None) -> None:
        self.tokens = tokens
        if self.on_tokens is not None:
            result = self.on_tokens(tokens)
            if inspect.isawaitable(result):
                await result

    async def _send(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            headers = {**self.auth_headers(), **kwargs.pop("headers", {})}
            return await self._http.request(method, path, headers=headers, **kwargs)
        except httpx.TransportError as exc:
            raise ConnectionLost(f"{self.base_url} unreachable: {exc.__class__.__name__}") from exc

    async def request(self, method: str, path: str, *, auth: bool = True, **kwargs: Any) -> Any:
        """Send a request and return the parsed JSON body (``None`` for 204).

        On a 401 with a refresh token the tokens are renewed once and the request repeated.
        """
        sent_with = self.tokens.access_token if self.tokens else None
        response = await self._send(method, path, **kwargs)
        if response.status_code == 401 and auth and self.tokens is not None:
            await self._refresh_after_401(sent_with)
            response = await self._send(method, path, **kwargs)
        if response.status_code == 401:
            raise AuthError(401, _detail(response))
        if response.status_code >= 400:
            raise ApiError(response.status_code, _detail(response))
        if response.status_code == 204 or not response.content:
            return None
        return response.json()

    async def _refresh_after_401(self, sent_with: str | None) -> None:
        async with self._refresh_lock:
            if self.tokens is None:
                raise AuthError(401, "signed out")
            if self.tokens.access_token != sent_with:
                return  # another request already renewed the tokens
            try:
                await self.refresh()
            except ApiError as exc:
                await self._set_tokens(None)
                raise AuthError(401, exc.detail) from exc

    async def _get(self, cls: type[T], path: str, **kwargs: Any) -> T:
        return self._decode(cls, await self.request("GET", path, **kwargs))

    async def _list(self, cls: type[T], path: str, **kwargs: Any) -> list[T]:
        data = await self.request("GET", path, **kwargs)
        if not isinstance(data, list):
            raise ApiError(502, f"{path}: expected a list")
        return [self._decode(cls, item) for item in data]

    @staticmethod
    def _decode(cls: type[T], data: Any) -> T:
        try:
            return decode(cls, data)
        except DecodeError as exc:
            raise ApiError(502, f"unreadable answer: {exc}") from exc

    # -- accounts ---------------------------------------------------------------------------

    async def login(self, phone: str, password: str) -> TokenPair:
        data = await self.request("POST", "/api/auth/login", auth=False,
                                  json={"phone": phone, "password": password})
        tokens = self._decode(TokenPair, data)
        await self._set_tokens(tokens)
        return tokens

    async def register(self, phone: str, password: str, role: str = "owner",
                       display_name: str = "") -> dict[str, Any]:
        """Registration, step 1: the API sends a code to the phone (in the demo, to its log).
        The answer is the same whether or not the number already has an account."""
        body = {"phone": phone, "password": password, "role": role, "display_name": display_name}
        return await self.request("POST", "/api/auth/register", auth=False, json=body)

    async def verify_registration(self, phone: str, code: str) -> TokenPair:
        """Registration, step 2: the code opens the account and signs it in."""
        data = await self.request("POST", "/api/auth/register/verify", auth=False,
                                  json={"phone": phone, "code": code})
        tokens = self._decode(TokenPair, data)
        await self._set_tokens(tokens)
        return tokens

    async def refresh(self) -> TokenPair:
        if self.tokens is None:
            raise AuthError(401, "signed out")
        data = await self.request("POST", "/api/auth/refresh", auth=False,
                                  json={"refresh_token": self.tokens.refresh_token})
        tokens = self._decode(TokenPair, data)
        await self._set_tokens(tokens)
        return tokens

    async def resume(self, tokens: TokenPair) -> Me:
        """Continue a remembered session (renewing it if the access token expired)."""
        self.tokens = tokens
        return await self.me()

    async def logout(self) -> None:
        """End the sign-in on the server, then forget the tokens here.

        The refresh token goes in the body, so an expired access token does not stop it. The
        tokens are forgotten whatever happens; if the server did not confirm (refused, or
        unreachable) the error is raised, because the sign-in may still be alive there.
        """
        tokens = self.tokens
        if tokens is None:
            return
        try:
            response = await self._http.post(
                "/api/auth/logout", json={"refresh_token": tokens.refresh_token},
                headers={"authorization": f"Bearer {tokens.access_token}"})
        except httpx.TransportError as exc:
            raise ConnectionLost(f"{self.base_url} unreachable: {exc.__class__.__name__}") from exc
        finally:
            await self._set_tokens(None)
        if response.status_code == 401:
            raise AuthError(401, _detail(response))
        if response.status_code >= 400:
            raise ApiError(response.status_code, _detail(response))

    async def me(self) -> Me:
        return await self._get(Me, "/api/me")

    async def firm_claim(self, uscc: str) -> dict[str, Any]:
        return await self.request("POST", "/api/me/firm-claim", json={"uscc": uscc})

    async def firm_claim_verify(self, uscc: str, code: str) -> Me:
        data = await self.request("POST", "/api/me/firm-claim/verify", json={"uscc": uscc, "code": code})
        return self._decode(Me, data)

    # -- firms and evaluations --------------------------------------------------------------

    async def search_firms(self, q: str | None, limit: int = 20, *, grade: str | None = None,
                           industry: str | None = None, town: str | None = None, sort: str = "name",
                           offset: int = 0) -> list[FirmProfile]:
        """Firms by name fragment or code (None: every firm), screened on the server, a page."""
        params: dict[str, Any] = {"limit": limit, "offset": offset, "sort": sort}
        for k, v in (("q", q), ("grade", grade), ("industry", industry), ("town", town)):
            if v:
                params[k] = v
        return await self._list(FirmProfile, "/api/firms", params=params)

    async def firm(self, uscc: str) -> FirmProfile:
        return await self._get(FirmProfile, f"/api/firms/{uscc}")

    async def evaluation(self, uscc: str) -> Evaluation:
        return await self._get(Evaluation, f"/api/firms/{uscc}/evaluation")

    async def ties(self, uscc: str) -> FirmTies:
        """The firm's guarantee circle: tied firms and people, amounts, the contagion path."""
        return await self._get(FirmTies, f"/api/firms/{uscc}/ties")

    async def access_log(self, uscc: str) -> list[AccessEntry]:
        return await self._list(AccessEntry, f"/api/firms/{uscc}/access-log")

    # -- consents ---------------------------------------------------------------------------

    async def consents(self) -> list[Consent]:
        return await self._list(Consent, "/api/consents")

    async def grant_consent(self, bank_id: int, days: int = 90) -> dict[str, Any]:
        return await self.request("POST", "/api/consents", json={"bank_id": bank_id, "days": days})

    async def revoke_consent(self, consent_id: int) -> None:
        await self.request("DELETE", f"/api/consents/{consent_id}")

    # -- financing --------------------------------------------------------------------------

    async def products(self) -> list[Product]:
        return await self._list(Product, "/api/products")

    async def match(self, amount_yuan: int, term_months: int, purpose: str) -> MatchResult:
        body = {"amount_yuan": amount_yuan, "term_months": term_months, "purpose": purpose}
        return self._decode(MatchResult, await self.request("POST", "/api/financing/match", json=body))

    async def apply(self, product_ids: list[int], amount_yuan: int, term_months: int, purpose: str,
                    *, confirm_consent: bool) -> ApplicationsCreated:
        body = {"product_ids": product_ids, "amount_yuan": amount_yuan, "term_months": term_months,
                "purpose": purpose, "confirm_consent": confirm_consent}
        return self._decode(ApplicationsCreated, await self.request("POST", "/api/applications", json=body))

    async def applications(self, status: str | None = None, limit: int = 100) -> list[Application]:
        params: dict[str, Any] = {"limit": limit}
        if status:
            params["status"] = status
        return await self._list(Application, "/api/applications", params=params)

    async def application(self, application_id: int) -> Application:
        return await self._get(Application, f"/api/applications/{application_id}")

    async def decide(self, application_id: int, decision: str, *, amount_yuan: int | None = None,
                     rate_bp: int | None = None, term_months: int | None = None,
                     reason_code: str | None = None, reason_text: str | None = None) -> Application:
        body = {"decision": decision, "amount_yuan": amount_yuan, "rate_bp": rate_bp,
                "term_months": term_months, "reason_code": reason_code, "reason_text": reason_text}
        body = {k: v for k, v in body.items() if v is not None}
        data = await self.request("POST", f"/api/applications/{application_id}/decision", json=body)
        return self._decode(Application, data)

    # -- policies ---------------------------------------------------------------------------

    async def policy_matches(self) -> PolicyMatches:
        return await self._get(PolicyMatches, "/api/policies/matches")

    async def apply_policy(self, policy_id: int) -> PolicyApplication:
        data = await self.request("POST", f"/api/policies/{policy_id}/applications")
        return self._decode(PolicyApplication, data)

    async def policy_applications(self, status: str | None = None) -> list[PolicyApplication]:
        """The owner's firm's applications, or (an operator) the department's queue, evaluated."""
        params = {"status": status} if status else None
        return await self._list(PolicyApplication, "/api/policies/applications", params=params)

    async def decide_policy(self, application_id: int, decision: str, reason: str = "",
                            project: dict[str, Any] | None = None) -> PolicyApplication:
        """Approve (opening the supported project on ``project``'s terms) or reject."""
        body: dict[str, Any] = {"decision": decision, "reason": reason}
        if project is not None:
            body["project"] = project
        data = await self.request("POST", f"/api/policies/applications/{application_id}/decision", json=body)
        return self._decode(PolicyApplication, data)

    async def loan_book(self) -> LoanBook:
        """The bank's live loans followed since each was granted (a bank manager)."""
        return await self._get(LoanBook, "/api/loans/book")

    # -- supported projects ---------------------------------------------------------------------

    async def projects(self, status: str | None = None) -> list[Project]:
        """The owner's firm's projects, or (an operator) the department's."""
        params = {"status": status} if status else None
        return await self._list(Project, "/api/projects", params=params)

    async def project(self, project_id: int) -> Project:
        return await self._get(Project, f"/api/projects/{project_id}")

    async def project_portfolio(self) -> ProjectPortfolio:
        return await self._get(ProjectPortfolio, "/api/projects/portfolio")

    async def self_evaluate(self, project_id: int, milestone: int, text: str, score: int,
                            investment_yuan: int | None = None) -> Project:
        body: dict[str, Any] = {"milestone": milestone, "text": text, "score": score}
        if investment_yuan is not None:
            body["investment_yuan"] = investment_yuan
        data = await self.request("POST", f"/api/projects/{project_id}/self-evaluations", json=body)
        return self._decode(Project, data)

    async def assess_project(self, project_id: int, milestone: int, text: str, score: int,
                             assessor: str = "", investment_yuan: int | None = None) -> Project:
        body: dict[str, Any] = {"milestone": milestone, "text": text, "score": score, "assessor": assessor}
        if investment_yuan is not None:
            body["investment_yuan"] = investment_yuan
        data = await self.request("POST", f"/api/projects/{project_id}/assessments", json=body)
        return self._decode(Project, data)

    async def close_project(self, project_id: int, text: str = "") -> Project:
        data = await self.request("POST", f"/api/projects/{project_id}/close", json={"text": text})
        return self._decode(Project, data)

    # -- objections -------------------------------------------------------------------------

    async def objection_records(self, limit: int = 50, offset: int = 0,
                                record_id: int | None = None) -> RecordPage:
        params: dict[str, Any] = {"limit": limit, "offset": offset}
        if record_id is not None:
            params["record_id"] = record_id
        return await self._get(RecordPage, "/api/objections/records", params=params)

    async def objections(self) -> list[Objection]:
        return await self._list(Objection, "/api/objections")

    async def objection(self, objection_id: int) -> ObjectionDetail:
        return await self._get(ObjectionDetail, f"/api/objections/{objection_id}")

    async def file_objection(self, record_id: int, reason: str) -> ObjectionDetail:
        data = await self.request("POST", "/api/objections", json={"record_id": record_id, "reason": reason})
        return self._decode(ObjectionDetail, data)

    # -- notifications, watchlist and warnings (issue 5) ------------------------------------

    async def notifications(self, limit: int = 50, after_id: int | None = None) -> list[Notification]:
        params: dict[str, Any] = {"limit": limit}
        if after_id is not None:
            params["after_id"] = after_id
        return await self._list(Notification, "/api/notifications", params=params)

    async def mark_read(self, notification_id: int) -> Notification:
        return self._decode(Notification, await self.request("POST", f"/api/notifications/{notification_id}/read"))

    async def subscriptions(self) -> list[Subscription]:
        return await self._list(Subscription, "/api/subscriptions")

    async def subscribe(self, uscc: str, levels: list[str] | None = None) -> Subscription:
        body: dict[str, Any] = {"uscc": uscc}
        if levels:
            body["levels"] = levels
        return self._decode(Subscription, await self.request("POST", "/api/subscriptions", json=body))

    async def unsubscribe(self, subscription_id: int) -> None:
        await self.request("DELETE", f"/api/subscriptions/{subscription_id}")

    async def firm_warnings(self, uscc: str, status: str = "open") -> FirmWarnings:
        return await self._get(FirmWarnings, f"/api/firms/{uscc}/warnings", params={"status": status})

    async def warnings(self, level: str | None = None, limit: int = 100) -> list[Warning]:
        params: dict[str, Any] = {"limit": limit}
        if level:
            params["level"] = level
        return await self._list(Warning, "/api/warnings", params=params)

    # -- the back office: department operators (issue 13) ----------------------------------

    async def feed_sources(self) -> list[FeedSource]:
        return await self._list(FeedSource, "/api/ingest/sources")

    async def send_feed(self, source: str, body: AsyncIterator[bytes] | bytes, *, filename: str,
                        fmt: str | None = None) -> IngestReport:
        """Send a feed file (CSV or JSON Lines) as it is read: ``body`` may be a stream of chunks,
        so a large file never sits in memory; the answer is the per-row report."""
        params = {"format": fmt} if fmt else None
        headers = {**self.auth_headers(), "x-filename": filename.encode("ascii", "replace").decode()}
        if isinstance(body, bytes):
            data = await self.request("POST", f"/api/ingest/{source}", content=body, params=params,
                                      headers={"x-filename": headers["x-filename"]}, timeout=600)
            return self._decode(IngestReport, data)
        # A stream cannot be sent twice, so no retry after a 401: renew the tokens first.
        try:
            response = await self._http.post(f"/api/ingest/{source}", content=body, params=params,
                                             headers=headers, timeout=600)
        except httpx.TransportError as exc:
            raise ConnectionLost(f"{self.base_url} unreachable: {exc.__class__.__name__}") from exc
        if response.status_code == 401:
            raise AuthError(401, _detail(response))
        if response.status_code >= 400:
            raise ApiError(response.status_code, _detail(response))
        return self._decode(IngestReport, response.json())

    async def feed_health(self) -> FeedHealth:
        """Coverage, lateness, rejected rows and disagreement of the department's feeds (an
        operator's own; analysts and admins get every department)."""
        return await self._get(FeedHealth, "/api/ingest/feed-health")

    async def batches(self, limit: int = 50, before_id: int | None = None) -> list[Batch]:
        params: dict[str, Any] = {"limit": limit}
        if before_id is not None:
            params["before_id"] = before_id
        return await self._list(Batch, "/api/ingest/batches", params=params)

    async def download(self, path: str, *, timeout: float | None = None) -> bytes:
        """A file the API serves (a batch's rejected rows as CSV, a report as PDF), as bytes;
        ``timeout`` for a file the API may have to make first."""
        extra: dict[str, Any] = {} if timeout is None else {"timeout": timeout}
        response = await self._send("GET", path, **extra)
        if response.status_code == 401 and self.tokens is not None:
            await self._refresh_after_401(self.tokens.access_token)
            response = await self._send("GET", path, **extra)
        if response.status_code >= 400:
            raise ApiError(response.status_code, _detail(response))
        return response.content

    async def resolve_objection(self, objection_id: int, decision: str, reason: str = "",
                                values: dict[str, Any] | None = None) -> ObjectionDetail:
        body: dict[str, Any] = {"decision": decision, "reason": reason}
        if values:
            body["values"] = values
        data = await self.request("POST", f"/api/objections/{objection_id}/resolution", json=body)
        return self._decode(ObjectionDetail, data)

    # -- the back office: admins (issue 13) ------------------------------------------------

    async def weight_profiles(self) -> list[WeightProfile]:
        return await self._list(WeightProfile, "/api/weight-profiles")

    async def preview_profile(self, body: dict[str, Any]) -> ProfilePreview:
        return self._decode(ProfilePreview, await self.request("POST", "/api/weight-profiles/preview", json=body))

    async def save_profile(self, body: dict[str, Any]) -> WeightProfile:
        return self._decode(WeightProfile, await self.request("POST", "/api/weight-profiles", json=body))

    async def models(self) -> list[ModelVersionInfo]:
        return await self._list(ModelVersionInfo, "/api/models")

    async def training(self) -> TrainingStatus:
        return await self._get(TrainingStatus, "/api/models/training")

    async def train(self, review: bool = True) -> TrainingStatus:
        return self._decode(TrainingStatus, await self.request("POST", "/api/models/train", json={"review": review}))

    async def promote(self, version: str, confirm: bool = False) -> ModelVersionInfo:
        data = await self.request("POST", f"/api/models/{version}/promote", json={"confirm": confirm})
        return self._decode(ModelVersionInfo, data)

    async def fund(self) -> FundOverview:
        return await self._get(FundOverview, "/api/fund")

    async def fund_ledger(self, limit: int = 20, offset: int = 0) -> LedgerPage:
        return await self._get(LedgerPage, "/api/fund/ledger", params={"limit": limit, "offset": offset})

    async def accounts(self, role: str | None = None, limit: int = 100) -> list[Account]:
        params: dict[str, Any] = {"limit": limit}
        if role:
            params["role"] = role
        return await self._list(Account, "/api/users", params=params)

    async def open_account(self, body: dict[str, Any]) -> Account:
        return self._decode(Account, await self.request("POST", "/api/users", json=body))

    async def update_fund(self, body: dict[str, Any]) -> FundOverview:
        return self._decode(FundOverview, await self.request("PATCH", "/api/fund", json=body))

    async def banks(self) -> list[BankAdmin]:
        return await self._list(BankAdmin, "/api/banks")

    async def create_bank(self, body: dict[str, Any]) -> BankAdmin:
        return self._decode(BankAdmin, await self.request("POST", "/api/banks", json=body))

    async def update_bank(self, code: str, body: dict[str, Any]) -> BankAdmin:
        return self._decode(BankAdmin, await self.request("PATCH", f"/api/banks/{quote(code, safe='')}", json=body))

    async def create_product(self, body: dict[str, Any]) -> ProductAdmin:
        return self._decode(ProductAdmin, await self.request("POST", "/api/products", json=body))

    async def update_product(self, product_id: int, body: dict[str, Any]) -> ProductAdmin:
        return self._decode(ProductAdmin, await self.request("PATCH", f"/api/products/{product_id}", json=body))

    # -- the region (analysts) ---------------------------------------------------------------

    async def credit_index(self, by: str = "region", group: str | None = None, *,
                           start: str | None = None, end: str | None = None) -> CreditIndex:
        params: dict[str, Any] = {"by": by}
        for name, value in (("group", group), ("from", start), ("to", end)):
            if value:
                params[name] = value
        return await self._get(CreditIndex, "/api/reports/credit-index", params=params)

    async def region_groups(self, by: str = "section", section: str | None = None) -> Groups:
        params: dict[str, Any] = {"by": by}
        if section:
            params["section"] = section
        return await self._get(Groups, "/api/reports/groups", params=params)

    async def clusters(self, *, min_lq: float = 1.5, section: str | None = None, town: str | None = None) -> Clusters:
        params: dict[str, Any] = {"min_lq": min_lq}
        for name, value in (("section", section), ("town", town)):
            if value:
                params[name] = value
        return await self._get(Clusters, "/api/reports/clusters", params=params)

    async def resources(self, by: str = "section") -> Resources:
        return await self._get(Resources, "/api/reports/resources", params={"by": by})

    async def fund_flows(self, by: str = "grade") -> FundFlows:
        return await self._get(FundFlows, "/api/reports/fund-flows", params={"by": by})

    async def guarantee_chains(self, by: str = "town") -> Chains:
        return await self._get(Chains, "/api/reports/guarantee-chains", params={"by": by})

    async def annual_reports(self) -> list[AnnualReportInfo]:
        return await self._list(AnnualReportInfo, "/api/reports/annual")

    async def annual_report_pdf(self, year: int, lang: str = "zh") -> bytes:
        """The year's report as PDF; the API makes it first when the data changed (up to a minute)."""
        return await self.download(f"/api/reports/annual/{int(year)}?lang={quote(lang)}", timeout=180)

    async def audit(self, *, kind: str | None = None, firm: str | None = None, actor: int | None = None,
                    limit: int = 50, offset: int = 0) -> AuditPage:
        params: dict[str, Any] = {"limit": limit, "offset": offset}
        if kind:
            params["kind"] = kind
        if firm:
            params["firm"] = firm
        if actor is not None:
            params["actor"] = actor
        return await self._get(AuditPage, "/api/audit", params=params)
