"""What route handlers are given (Litestar's dependency injection).

The app's lifespan (``server.app``) builds the process's resources once: the database engine,
the one Redis client, the sign-in throttle, the bound on password hashing, the set of running
trainings. It keeps them in ``app.state``; a handler names what it needs as a parameter typed
with one of the aliases below (``settings: AppSettings``, ``engine: DbEngine`` ...) and is
handed it by these providers, so no handler reads ``app.state`` and a test builds its own app
with its own resources (``create_app(settings)``).
"""

from __future__ import annotations

from typing import Any

import anyio
from litestar.datastructures import State
from litestar.di import NamedDependency, Provide
from litestar.params import SkipValidation
from litestar.security.jwt import JWTAuth
from piccolo.engine.base import Engine

from server.financing.rules import WEIHAI_RULES, MatchingRules
from server.financing.services import Matching
from server.firms.services import Evaluations
from server.health import HealthProbe
from server.settings import Settings
from server.users.throttle import LoginThrottle

__all__ = [
    "DEPENDENCIES", "AppSettings", "DbEngine", "EvaluationReader", "Matcher", "HashLimiter", "HealthCheck", "JwtAuth", "RedisClient", "Rules", "Throttle",
    "TrainingRuns",
]

# A handler's parameter of one of these types is handed the dependency of the same name; the
# values are the lifespan's own objects, not request data, so they are not validated.
AppSettings = NamedDependency[SkipValidation[Settings]]  # settings
DbEngine = NamedDependency[SkipValidation[Engine]]  # engine
RedisClient = NamedDependency[SkipValidation[Any]]  # redis: a redis.asyncio.Redis, None without Redis
Throttle = NamedDependency[SkipValidation[LoginThrottle]]  # throttle
JwtAuth = NamedDependency[SkipValidation[JWTAuth]]  # jwt_auth
HashLimiter = NamedDependency[SkipValidation[anyio.CapacityLimiter]]  # hash_limiter
TrainingRuns = NamedDependency[SkipValidation[set]]  # training_runs
Rules = NamedDependency[SkipValidation[MatchingRules]]  # matching_rules
HealthCheck = NamedDependency[SkipValidation[HealthProbe]]  # health_probe
EvaluationReader = NamedDependency[SkipValidation[Evaluations]]  # evaluations
Matcher = NamedDependency[SkipValidation[Matching]]  # matching: the rules and the match cache


def _settings(state: State) -> Settings:
    return state.settings


def _engine(state: State) -> Engine:
    return state.engine


def _redis(state: State) -> Any:
    """The app's Redis client; None without Redis (the embedded defaults)."""
    return state.get("redis")


def _throttle(state: State) -> LoginThrottle:
    return state.login_throttle


def _jwt_auth(state: State) -> JWTAuth:
    return state.jwt_auth


def _hash_limiter(state: State) -> anyio.CapacityLimiter:
    return state.hash_limiter


def _training_runs(state: State) -> set:
    return state.training_runs


def _health_probe(state: State) -> HealthProbe:
    return state.health_probe


def _evaluations(state: State) -> Evaluations:
    return state.evaluations


def _matching(state: State) -> Matching:
    return Matching(_rules(state), state.get("match_cache"))


def _rules(state: State) -> MatchingRules:
    """The region's matching rules: ``app.state.financing_rules`` when set, else Weihai's."""
    return state.get("financing_rules") or WEIHAI_RULES


#: The app's dependencies, by the parameter name a handler gives them. No name may be a request
#: field's (a body property, a query, path or header parameter): Litestar reads a bad value of
#: a field named like a dependency as a server error, a 500 (tests/integration/test_openapi.py).
DEPENDENCIES: dict[str, Provide] = {
    "settings": Provide(_settings, sync_to_thread=False),
    "engine": Provide(_engine, sync_to_thread=False),
    "redis": Provide(_redis, sync_to_thread=False),
    "throttle": Provide(_throttle, sync_to_thread=False),
    "jwt_auth": Provide(_jwt_auth, sync_to_thread=False),
    "hash_limiter": Provide(_hash_limiter, sync_to_thread=False),
    "training_runs": Provide(_training_runs, sync_to_thread=False),
    "matching_rules": Provide(_rules, sync_to_thread=False),
    "health_probe": Provide(_health_probe, sync_to_thread=False),
    "evaluations": Provide(_evaluations, sync_to_thread=False),
    "matching": Provide(_matching, sync_to_thread=False),
}
