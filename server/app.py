"""``create_app(settings)``: the Litestar application and its lifespan."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from asyncpg.exceptions import DataError
from litestar import Litestar, Request, Response, get
from litestar.config.response_cache import ResponseCacheConfig
from litestar.exceptions import ValidationException
from litestar.openapi.config import OpenAPIConfig
from litestar.openapi.plugins import RedocRenderPlugin, SwaggerRenderPlugin
from litestar.stores.memory import MemoryStore
from litestar.stores.registry import StoreRegistry

from server import db
from server.consent.controllers import AccessLogController, ConsentController
from server.financing.controllers import (
    ApplicationController,
    DecisionTimesController,
    MatchController,
    ProductController,
)
from server.firms.controllers import FirmController
from server.fund.controllers import FundController, LoanLifecycleController
from server.ingest.controllers import IngestController
from server.ingest.services import IngestError
from server.notifications import push
from server.notifications.controllers import (
    BankWebhookController,
    NotificationController,
    SubscriptionController,
)
from server.objections.controllers import ObjectionController
from server.policies.controllers import PolicyController
from server.risk.controllers import RiskController
from server.scores.controllers import WeightProfileController
from server.settings import Settings, get_settings
from server.users.controllers import AuthController, MeController, UserController
from server.users.security import build_jwt_auth
from server.users.throttle import LoginThrottle

__all__ = ["create_app"]


@get("/api/health", exclude_from_auth=True, tags=["system"], summary="Liveness and database check")
async def health(request: Request[Any, Any, Any]) -> dict[str, str]:
    from server.firms.tables import Firm

    await Firm.count()
    return {"status": "ok", "database": request.app.state.engine.engine_type}


def _ingest_error(_: Request[Any, Any, Any], exc: IngestError) -> Response[dict[str, Any]]:
    return Response(
        {"status_code": exc.status_code, "detail": f"{exc.field}: {exc.message}",
         "field": exc.field, "message": exc.message},
        status_code=exc.status_code,
    )


def _validation_error(_: Request[Any, Any, Any], exc: ValidationException) -> Response[dict[str, Any]]:
    """Litestar's own request checks say "Validation failed for POST /x" and hide the field in
    ``extra``; name the fields in ``detail`` so every 4xx tells the caller what to fix."""
    detail = exc.detail
    extra = exc.extra
    if isinstance(extra, list) and extra and all(isinstance(e, dict) and "key" in e for e in extra):
        detail = "; ".join(f"{e['key']}: {e.get('message', 'is invalid')}" for e in extra)
    body: dict[str, Any] = {"status_code": exc.status_code, "detail": detail}
    if extra:
        body["extra"] = extra
    return Response(body, status_code=exc.status_code)


def _out_of_range(_: Request[Any, Any, Any], exc: Exception) -> Response[dict[str, Any]]:
    """A number too big for its database column (the schemas bound most; this is the net)."""
    return Response({"status_code": 400, "detail": f"a number in the request is out of range ({exc})"[:300]},
                    status_code=400)


def _stores(settings: Settings) -> StoreRegistry:
    if settings.redis_url:
        from litestar.stores.redis import RedisStore

        root = RedisStore.with_client(url=settings.redis_url, namespace="xinbao")
        return StoreRegistry(default_factory=root.with_namespace)
    return StoreRegistry(default_factory=lambda _name: MemoryStore())


def create_app(settings: Settings | None = None) -> Litestar:
    """The API; the lifespan opens the database (and Redis when configured) for its life."""
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        engine = await db.open_engine(settings.database_url)
        app.state.engine = engine
        redis = None
        if settings.redis_url:
            from redis.asyncio import Redis

            redis = Redis.from_url(settings.redis_url)
            await redis.ping()
        app.state.redis = redis
        app.state.login_throttle = LoginThrottle(redis)
        scheduler = None
        if settings.scheduler_enabled:
            from alerts.scheduler import build_scheduler
            from server.jobs import period_lock, platform_jobs

            scheduler = build_scheduler(platform_jobs(settings), period_lock(redis))
            scheduler.start()
        try:
            yield
        finally:
            if scheduler is not None:
                scheduler.shutdown(wait=False)
            if redis is not None:
                await redis.aclose()
            await db.close(engine)

    jwt_auth = build_jwt_auth(
        settings.jwt_secret, settings.access_token_minutes,
        exclude=["^/schema", "^/api/health", "^/api/auth/login", "^/api/auth/refresh",
                 "^/api/auth/register"],
    )
    app = Litestar(
        route_handlers=[health, AuthController, MeController, UserController, FirmController, IngestController,
                        ConsentController, AccessLogController, WeightProfileController,
                        FundController, LoanLifecycleController,
                        ProductController, MatchController, ApplicationController,
                        DecisionTimesController, PolicyController, ObjectionController,
                        RiskController,
                        SubscriptionController, NotificationController, BankWebhookController],
        lifespan=[lifespan],
        plugins=push.build_plugins(settings),
        on_app_init=[jwt_auth.on_app_init],
        exception_handlers={IngestError: _ingest_error, ValidationException: _validation_error,
                            OverflowError: _out_of_range, DataError: _out_of_range},
        stores=_stores(settings),
        response_cache_config=ResponseCacheConfig(default_expiration=30),
        openapi_config=OpenAPIConfig(
            title="Xinbao 信宝 API",
            version="0.1.0",
            description="Enterprise credit information: evaluations, consent, financing, alerts.",
            path="/schema",
            render_plugins=[RedocRenderPlugin(), SwaggerRenderPlugin()],
        ),
        debug=False,
    )
    app.state.settings = settings
    app.state.jwt_auth = jwt_auth
    return app
