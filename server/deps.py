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

from server.after_ingest import Followers
from server.financing.rules import WEIHAI_RULES, MatchingRules
from server.financing.services import Matching
from server.firms.services import Evaluations
from server.health import HealthProbe
from server.settings import Settings
from server.users.throttle import LoginThrottle

__all__ = [
    "DEPENDENCY_NAMES", "AfterIngestFollowers", "AppSettings", "DbEngine", "EvaluationReader", "Matcher", "HashLimiter", "HealthCheck", "JwtAuth", "RedisClient", "Rules", "Throttle",
    "TrainingRuns", "dependencies",
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
AfterIngestFollowers = NamedDependency[SkipValidation[Followers]]  # followers: what follows a batch


def _rules(state: State) -> MatchingRules:
    """The region's matching rules: ``app.state.financing_rules`` when set, else Weihai's."""
    return state.get("financing_rules") or WEIHAI_RULES


#: The app's dependencies, by the parameter name a handler gives them: how each is read from the
#: app's state. No name may be a request field's (a body property, a query, path or header
#: parameter): Litestar reads a bad value of a field named like a dependency as a server error,
#: a 500 (tests/integration/test_openapi.py).
_FROM_STATE: dict[str, Any] = {
    "settings": lambda state: state.settings,
    "engine": lambda state: state.engine,
    "redis": lambda state: state.get("redis"),  # None without Redis (the embedded defaults)
    "throttle": lambda state: state.login_throttle,
    "jwt_auth": lambda state: state.jwt_auth,
    "hash_limiter": lambda state: state.hash_limiter,
    "training_runs": lambda state: state.training_runs,
    "matching_rules": _rules,
    "health_probe": lambda state: state.health_probe,
    "evaluations": lambda state: state.evaluations,
    "matching": lambda state: Matching(_rules(state), state.get("match_cache")),
    "followers": lambda state: state.followers,
}
DEPENDENCY_NAMES = frozenset(_FROM_STATE)


def dependencies(state: State) -> dict[str, Provide]:
    """The providers of one app, reading the ``State`` it is built with (and its lifespan
    fills). Each takes no parameter: Litestar parses a provider's own parameters on every
    request (a ``state: State`` parameter was built anew each time), so these read the app's
    state object directly."""

    def provider(read: Any) -> Provide:
        return Provide(lambda: read(state), sync_to_thread=False)

    return {name: provider(read) for name, read in _FROM_STATE.items()}
