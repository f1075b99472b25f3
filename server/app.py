"""``create_app(settings)``: the Litestar application and its lifespan."""

from __future__ import annotations

import importlib.util
import logging
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
from asyncpg.exceptions import (
    AdminShutdownError,
    CannotConnectNowError,
    CharacterNotInRepertoireError,
    CrashShutdownError,
    DataError,
    InterfaceError,
    InternalClientError,
    PostgresConnectionError,
    UntranslatableCharacterError,
)
from litestar import Litestar, Request, Response, get
from litestar.config.response_cache import ResponseCacheConfig
from litestar.datastructures import State
from litestar.exceptions import HTTPException, ValidationException
from litestar.logging.config import LoggingConfig
from litestar.openapi.config import OpenAPIConfig
from litestar.openapi.plugins import SwaggerRenderPlugin
from litestar.serialization import encode_json
from litestar.static_files import create_static_files_router
from piccolo.engine.postgres import PostgresEngine

from server import db
from server.after_ingest import followers
from server.audit.controllers import AuditController
from server.changes import ChangeFeed
from server.cluster import ClusterUnavailable
from server.consent.controllers import AccessLogController, ConsentController
from server.deps import HealthCheck, dependencies
from server.financing.controllers import (
    ApplicationController,
    BankController,
    DecisionTimesController,
    LoanBookController,
    MatchController,
    ProductController,
)
from server.firms.controllers import FirmController
from server.firms.services import Evaluations
from server.fund.controllers import FundController, LoanLifecycleController
from server.health import HealthProbe, check_backends
from server.ingest.controllers import FeedHealthController, IngestController
from server.ingest.services import IngestError
from server.notifications import push
from server.notifications.controllers import (
    BankWebhookController,
    NotificationController,
    SubscriptionController,
)
from server.objections.controllers import ObjectionController
from server.policies.controllers import PolicyController
from server.projects.controllers import ProjectController
from server.redis_client import ping, redis_client
from server.reports.controllers import (
    AnnualReportController,
    CreditIndexController,
    FlowsController,
    ThematicController,
)
from server.responses import KeptResponse
from server.risk.controllers import RiskController
from server.scores.controllers import (
    ModelVersionController,
    OverrideRuleController,
    WeightProfileController,
)
from server.scores.training import stop_training
from server.settings import Settings, get_settings
from server.stores import build_stores
from server.texts import Lang, localise, negotiate, render, set_reader_lang, t
from server.texts.framework import framework_text
from server.users.controllers import AuthController, MeController, UserController
from server.users.security import build_jwt_auth
from server.users.throttle import LoginThrottle, namespace

__all__ = ["create_app"]

#: Where the API serves Swagger UI's files (under /schema: public, like the schema itself),
#: from the swagger-ui-py package (Swagger UI 5: the first to read OpenAPI 3.1).
DOCS_ASSETS = "/schema/assets"
_SWAGGER_FILES = Path(importlib.util.find_spec("swagger_ui").origin).parent / "static"  # type: ignore[arg-type, union-attr]


@get("/api/health", exclude_from_auth=True, tags=["system"], summary="Liveness, database and Redis check",
     description=(
         "200 `{\"status\": \"ok\"}` when all is well. While Redis is down (or the live-push "
         "listener is still re-subscribing) the API keeps serving, so the answer stays 200 with "
         "`status: degraded`, `redis: down` / `push: reconnecting`: load balancers keep routing, "
         "monitoring alerts on the body. 503 `status: down` when the database does not answer."))
async def health(request: Request[Any, Any, Any], health_probe: HealthCheck) -> Response[dict[str, str]]:
    checked = await health_probe.answer()  # shared by the requests asking at once (server.health)
    if checked["database"] == "down":
        return _health_answer(health_probe, {"status": "down", **checked}, 503)
    body = {"status": "ok", **checked}
    if "redis" in checked:
        body["push"] = push.push_status(request.app) or "live"
        if body["redis"] != "up" or body["push"] != "live":
            body["status"] = "degraded"
    return _health_answer(health_probe, body, 200)


def _health_answer(probe: HealthProbe, body: dict[str, str], status_code: int) -> KeptResponse:
    """The answer for this status and body, made once and sent again (its few variants are
    kept on the probe): encoding it and making Litestar's response of it cost more than the
    rest of a health request but the shared check."""
    key = (status_code, *body.items())
    kept = probe.answers.get(key)
    if kept is None:
        if len(probe.answers) >= _HEALTH_ANSWERS:  # never reached by the states there are
            probe.answers.clear()
        kept = probe.answers[key] = KeptResponse(encode_json(body), status_code=status_code)
    return kept


_HEALTH_ANSWERS = 64


def reader_of(request: Request[Any, Any, Any]) -> Lang:
    """The language the request's reader reads: ``Accept-Language``, else the account's."""
    user = request.scope.get("user")
    # from the raw ASGI headers: every request asks, and Request.headers builds a mapping of all
    accept = next((v for k, v in request.scope.get("headers", ()) if k == b"accept-language"), None)
    return negotiate(accept.decode("latin-1") if accept is not None else None, getattr(user, "language", None))


async def _set_reader(request: Request[Any, Any, Any]) -> None:
    set_reader_lang(reader_of(request))


def _framework_extra(extra: Any, lang: Lang) -> Any:
    """``extra`` with the framework's messages (``[{"key": ..., "message": ...}]``) in ``lang``."""
    if isinstance(extra, list):
        return [{**e, "message": framework_text(e["message"], lang)}
                if isinstance(e, dict) and isinstance(e.get("message"), str) else e for e in extra]
    return extra


def _http_error(request: Request[Any, Any, Any], exc: HTTPException) -> Response[dict[str, Any]]:
    """Every 4xx (and explicit 5xx) the platform raises, its detail in the reader's language:
    the platform's texts from the catalogue, the framework's own (Litestar, msgspec, the JWT
    middleware, plain HTTP phrases) from :mod:`server.texts.framework`."""
    lang = reader_of(request)
    body: dict[str, Any] = {"status_code": exc.status_code,
                            "detail": framework_text(render(exc.detail, lang), lang)}
    if exc.extra:
        body["extra"] = _framework_extra(localise(exc.extra, lang), lang)
    return Response(body, status_code=exc.status_code, headers=exc.headers)


def _ingest_error(request: Request[Any, Any, Any], exc: IngestError) -> Response[dict[str, Any]]:
    lang = reader_of(request)
    return Response(
        {"status_code": exc.status_code,
         "detail": t("{field}: {problem}", field=exc.field, problem=exc.message).render(lang),
         "field": exc.field, "message": render(exc.message, lang)},
        status_code=exc.status_code,
    )


def _validation_error(request: Request[Any, Any, Any], exc: ValidationException) -> Response[dict[str, Any]]:
    """Litestar's own request checks say "Validation failed for POST /x" and hide the field in
    ``extra``; name the fields in ``detail`` so every 4xx tells the caller what to fix."""
    lang = reader_of(request)
    detail = framework_text(render(exc.detail, lang), lang)
    extra = _framework_extra(localise(exc.extra, lang), lang)
    if isinstance(extra, list) and extra and all(isinstance(e, dict) and "key" in e for e in extra):
        detail = t("; ").render(lang).join(
            t("{field}: {problem}", field=e["key"], problem=e.get("message") or t("is invalid")).render(lang)
            for e in extra)
    body: dict[str, Any] = {"status_code": exc.status_code, "detail": detail}
    if extra:
        body["extra"] = extra
    return Response(body, status_code=exc.status_code)


def _out_of_range(request: Request[Any, Any, Any], exc: Exception) -> Response[dict[str, Any]]:
    """A value the database cannot store: a number too big for its column, or text with a NUL
    or invalid Unicode (PostgreSQL refuses both; the schemas bound most, this is the net)."""
    if isinstance(exc, CharacterNotInRepertoireError | UntranslatableCharacterError):
        detail = t("text: a text field in the request holds a NUL character or invalid Unicode")
    else:
        logging.getLogger("xinbao.app").info("a value out of range: %s", exc)
        detail = t("number: a number in the request is out of range")
    return Response({"status_code": 400, "detail": detail.render(reader_of(request))}, status_code=400)


def _database_unavailable(request: Request[Any, Any, Any], exc: Exception) -> Response[dict[str, Any]]:
    """The database is restarting or unreachable: a 503 the client may retry, not a 500.
    Nothing half-written stays behind: every write runs in one transaction."""
    logging.getLogger("xinbao.app").warning("database unavailable: %s", exc)
    detail = t("database: temporarily unavailable, retry shortly").render(reader_of(request))
    return Response({"status_code": 503, "detail": detail}, status_code=503, headers={"Retry-After": "5"})


def _cluster_unavailable(request: Request[Any, Any, Any], exc: ClusterUnavailable) -> Response[dict[str, Any]]:
    """The Dask cluster that batch work runs on (``XINBAO_DASK_SCHEDULER``) cannot take it now:
    a 503 the client may retry, not a 500. The work wrote nothing."""
    logging.getLogger("xinbao.app").warning("batch cluster unavailable: %s", exc)
    detail = t("cluster: the batch cluster is temporarily unavailable, retry later").render(reader_of(request))
    return Response({"status_code": 503, "detail": detail}, status_code=503, headers={"Retry-After": "30"})


def _too_deep(request: Request[Any, Any, Any], exc: RecursionError) -> Response[dict[str, Any]]:
    """JSON (or MessagePack) nested deeper than the decoder's recursion limit: the client's fault,
    on every route, since Litestar only turns ``msgspec.DecodeError`` into a 400. Any other
    RecursionError is a bug of ours and stays a 500."""
    lang = reader_of(request)
    if "deserializing" not in str(exc):  # msgspec: "... exceeded while deserializing an object"
        logging.getLogger("xinbao.app").error("unexpected RecursionError", exc_info=exc)
        return Response({"status_code": 500, "detail": t("Internal Server Error").render(lang)}, status_code=500)
    return Response({"status_code": 400, "detail": t("body: JSON is nested too deeply").render(lang)},
                    status_code=400)


def create_app(settings: Settings | None = None) -> Litestar:
    """The API; the lifespan opens the database (and Redis when configured) for its life."""
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        """The process's resources, built once and handed to handlers by ``server.deps``: the
        engine, the one Redis client (None without Redis), the throttle, the hashing bound."""
        engine = await db.open_engine(settings.database_url)
        app.state.engine = engine
        redis = redis_client(settings.redis_url) if settings.redis_url else None
        if redis is not None:
            await ping(redis, settings.redis_url or "")
        app.state.redis = redis
        # On PostgreSQL each process keeps copies of the hottest reads, dropped when the
        # database's change log says so (server.changes); SQLite has no log: no copies.
        changes = (ChangeFeed(engine) if settings.request_cache and isinstance(engine, PostgresEngine)
                   else None)
        app.state.changes = changes
        app.state.auth_cache = changes.cache(("user", "token", "firm", "department")) if changes else None
        app.state.evaluations = Evaluations(
            changes.cache(("firm", "score", "objection")) if changes else None, settings.min_group_size)
        app.state.match_cache = changes.cache(("firm", "score", "listing", "financing")) if changes else None
        app.state.health_probe = HealthProbe(lambda: check_backends(engine, redis), settings.health_ttl_s)
        # Counters per database: deployments (and test runs) sharing a Redis never mix.
        app.state.login_throttle = LoginThrottle(
            redis, prefix=f"xinbao:login:{namespace(settings.database_url)}")
        # argon2 takes a core for ~0.2-0.4 s: more at once than this only queues them in threads.
        app.state.hash_limiter = anyio.CapacityLimiter(settings.hash_concurrency)
        if os.environ.get("XINBAO_PASSWORD_PROFILE") == "cheapest-for-tests":
            logging.getLogger("xinbao.app").warning(
                "XINBAO_PASSWORD_PROFILE=cheapest-for-tests: password hashes are cheap to break")
        app.state.training_runs = set()  # model training started from the API (server.scores.training)
        app.state.followers = followers(engine, settings)  # what follows each stored batch, one run at a time
        scheduler = None
        if settings.scheduler_enabled:
            from alerts.scheduler import build_scheduler, stop_scheduler
            from server.jobs import period_lock, platform_jobs

            scheduler = build_scheduler(platform_jobs(settings, engine, redis), period_lock())
            scheduler.start()
        try:
            yield
        finally:
            if scheduler is not None:
                await stop_scheduler(scheduler, timeout_s=10)
            await stop_training(app.state.training_runs)  # recorded as failed while the pool is open
            if redis is not None:
                await redis.aclose()
            if changes is not None:
                await changes.close()
            await db.close(engine)

    jwt_auth = build_jwt_auth(
        settings.jwt_secret, settings.access_token_minutes,
        exclude=["^/schema", "^/api/health", "^/api/auth/login", "^/api/auth/refresh",
                 "^/api/auth/register"],
    )
    # The app's own state (the lifespan fills it, the dependencies read it). Not empty: Litestar
    # takes an empty State for none and makes another.
    state = State({"settings": settings, "jwt_auth": jwt_auth})
    app = Litestar(
        route_handlers=[health, AuthController, MeController, UserController, FirmController, IngestController,
                        FeedHealthController,
                        ConsentController, AccessLogController, WeightProfileController,
                        OverrideRuleController, ModelVersionController,
                        FundController, LoanLifecycleController, LoanBookController,
                        ProductController, MatchController, ApplicationController,
                        DecisionTimesController, CreditIndexController, ThematicController, AnnualReportController, FlowsController, PolicyController,
                        ProjectController,
                        ObjectionController,
                        RiskController,
                        SubscriptionController, NotificationController, BankWebhookController,
                        BankController, AuditController,
                        create_static_files_router(DOCS_ASSETS, directories=[_SWAGGER_FILES],
                                                   include_in_schema=False, name="docs-assets")],
        lifespan=[lifespan],
        plugins=push.build_plugins(settings),
        on_app_init=[jwt_auth.on_app_init],
        before_request=_set_reader,
        exception_handlers={HTTPException: _http_error, IngestError: _ingest_error,
                            ValidationException: _validation_error,
                            OverflowError: _out_of_range, DataError: _out_of_range,
                            RecursionError: _too_deep, ClusterUnavailable: _cluster_unavailable,
                            OSError: _database_unavailable, PostgresConnectionError: _database_unavailable,
                            CannotConnectNowError: _database_unavailable,
                            AdminShutdownError: _database_unavailable,
                            CrashShutdownError: _database_unavailable,
                            # asyncpg's client-side errors of a connection that died under the
                            # request ("connection is closed", "released back to the pool"; a
                            # protocol left mid-operation by the server ending the connection:
                            # "cannot switch to state ...; another operation is in progress")
                            InterfaceError: _database_unavailable,
                            InternalClientError: _database_unavailable},
        stores=build_stores(settings, lambda: app.state.get("redis")),
        state=state,
        dependencies=dependencies(state),
        # A 500 is always a bug of ours: log its traceback in production too (not the 4xx/503s).
        # APScheduler's "Running job" lines come every 5 s with the in-process scheduler: the
        # platform logs its own job lines (alerts.scheduler), so keep only its warnings.
        # Exceptions answered as 4xx by a handler above are named too: Litestar reads a status
        # code from the exception's class only (an IngestError has its own per instance).
        logging_config=LoggingConfig(log_exceptions="always", disable_stack_trace={
            400, 401, 403, 404, 405, 409, 410, 413, 415, 422, 429, 503,
            IngestError, OverflowError, DataError},
            loggers={"apscheduler": {"level": "WARNING", "propagate": True}}),
        response_cache_config=ResponseCacheConfig(default_expiration=30),
        openapi_config=OpenAPIConfig(
            title="Xinbao 信宝 API",
            version="0.1.0",
            description="Enterprise credit information: evaluations, consent, financing, alerts.",
            path="/schema",
            # Swagger UI from the API's own files (not a CDN), so the docs open offline;
            # at /schema and /schema/swagger.
            render_plugins=[SwaggerRenderPlugin(
                js_url=f"{DOCS_ASSETS}/swagger-ui-bundle.js", css_url=f"{DOCS_ASSETS}/swagger-ui.css",
                standalone_preset_js_url=f"{DOCS_ASSETS}/swagger-ui-standalone-preset.js",
                favicon=f"<link rel='icon' type='image/png' href='{DOCS_ASSETS}/favicon-32x32.png'>",
                path=["/", "/swagger"])],
        ),
        debug=False,
    )
    if app.state is not state:  # the providers read ``state``: it must be the app's
        raise RuntimeError("Litestar did not keep the app's State")
    return app
