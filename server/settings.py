"""Settings from environment variables, as small dataclasses behind a cached ``get_settings()``."""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

__all__ = ["Settings", "database_url_from_env", "get_settings"]


@dataclass(frozen=True, slots=True)
class Settings:
    """Everything the platform reads from its environment."""

    database_url: str = "sqlite:///xinbao.db"
    redis_url: str | None = None
    jwt_secret: str = ""
    data_dir: Path = field(default_factory=lambda: Path("data"))
    demo: bool = False
    access_token_minutes: int = 60
    refresh_token_days: int = 30
    scheduler_enabled: bool = False
    person_id_salt: str = "xinbao-person"
    model_bags: int = 20  # committee fits (folds) averaged by the scorecard; fewer = faster, noisier
    # Scales the scorecard's L2 penalty and leaf size (scoring.pipeline.indicator_scorecard);
    # 1.0 suits regions of thousands of firms, a few hundred need about 0.1.
    model_regularization: float = 1.0
    # A retrained model that would move more than this share of firms to another grade than
    # the active model gives them is not activated until an admin confirms it (issue 11).
    grade_change_confirm_share: float = 0.05
    # Security model (issue 10). Every statistic about other firms comes from at least this
    # many firms besides the viewer, or from a wider group.
    min_group_size: int = 5
    # Client addresses (IPs or CIDRs) of reverse proxies whose X-Forwarded-For is believed.
    trusted_proxies: tuple[str, ...] = ()
    # Webhook targets (hosts, IPs or CIDRs) allowed even though they are loopback/private.
    webhook_allow: tuple[str, ...] = ()
    # Password hashes computed at once, off the event loop (argon2 takes ~0.4 s of one core).
    hash_concurrency: int = 2
    # Open SSE/WebSocket streams re-check their sign-in this often (logout also closes them at once).
    stream_recheck_s: float = 15.0
    # /api/health: requests arriving while a check runs share it; a finished check's answer is
    # reused this long besides (server.health). 0: every check is fresh.
    health_ttl_s: float = 0.0
    # A Dask scheduler (``tcp://host:8786``): the full re-score runs as parts (by USCC hash) on
    # its workers (issue 16, ``server.scores.distributed``); None: in this process.
    dask_scheduler: str | None = None
    # Without a cluster, a full re-score from the feature store of more firms than this reads
    # and scores them part by part in this process (as the cluster's workers do), so that its
    # memory follows a part, not the region (server.scores.distributed.score_stored_in_process).
    # 0: the whole region at once, the fastest (at 120,000 firms: 7.7 GB; in parts of 20,000
    # firms 3.9 GB, and 1.6 times the time: docs/scale.md).
    score_part_firms: int = 0
    # Copies of the signed-in user and of evaluations kept by each API process on PostgreSQL,
    # dropped when the database's change log says their rows changed (server.changes).
    request_cache: bool = True

    @property
    def model_dir(self) -> Path:
        return self.data_dir / "models"

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None, *, demo: bool | None = None) -> Settings:
        """Read ``XINBAO_*`` variables; in demo mode a JWT secret is generated and kept."""
        env = dict(os.environ if env is None else env)
        data_dir = Path(env.get("XINBAO_DATA_DIR", "data"))
        is_demo = demo if demo is not None else env.get("XINBAO_DEMO", "") in ("1", "true", "yes")
        secret = env.get("XINBAO_JWT_SECRET", "")
        if not secret:
            if not is_demo:
                raise RuntimeError(
                    "XINBAO_JWT_SECRET is required outside demo mode (set XINBAO_DEMO=1 for the demo)"
                )
            secret = _demo_secret(data_dir)
        return cls(
            database_url=database_url_from_env(env),
            redis_url=env.get("XINBAO_REDIS_URL") or None,
            jwt_secret=secret,
            data_dir=data_dir,
            demo=is_demo,
            access_token_minutes=int(env.get("XINBAO_ACCESS_TOKEN_MINUTES", "60")),
            scheduler_enabled=env.get("XINBAO_SCHEDULER", "") in ("1", "true", "yes"),
            person_id_salt=env.get("XINBAO_PERSON_SALT", "xinbao-person"),
            model_bags=int(env.get("XINBAO_MODEL_BAGS", "20")),
            model_regularization=float(env.get("XINBAO_MODEL_REGULARIZATION", "1.0")),
            grade_change_confirm_share=float(env.get("XINBAO_GRADE_CHANGE_CONFIRM_SHARE", "0.05")),
            min_group_size=max(2, int(env.get("XINBAO_MIN_GROUP_SIZE", "5"))),
            trusted_proxies=_list(env.get("XINBAO_TRUSTED_PROXIES", "")),
            webhook_allow=_list(env.get("XINBAO_WEBHOOK_ALLOW", "")),
            hash_concurrency=max(1, int(env.get("XINBAO_HASH_CONCURRENCY", "2"))),
            stream_recheck_s=max(0.2, float(env.get("XINBAO_STREAM_RECHECK_S", "15"))),
            health_ttl_s=max(0.0, float(env.get("XINBAO_HEALTH_TTL_S", "0"))),
            dask_scheduler=env.get("XINBAO_DASK_SCHEDULER") or None,
            score_part_firms=max(0, int(env.get("XINBAO_SCORE_PART_FIRMS", "0"))),
            request_cache=env.get("XINBAO_REQUEST_CACHE", "1") not in ("0", "false", "no"),
        )


def database_url_from_env(env: dict[str, str] | None = None) -> str:
    """``XINBAO_DATABASE_URL``, else the embedded default (read without touching any file)."""
    env = os.environ if env is None else env
    return env.get("XINBAO_DATABASE_URL", "sqlite:///xinbao.db")


def _list(value: str) -> tuple[str, ...]:
    """A comma-separated setting as a tuple of trimmed, non-empty items."""
    return tuple(item.strip() for item in value.split(",") if item.strip())


def _demo_secret(data_dir: Path) -> str:
    """A random secret kept in the data folder, so demo tokens survive a restart."""
    path = data_dir / "jwt_secret"
    if path.exists():
        return path.read_text().strip()
    data_dir.mkdir(parents=True, exist_ok=True)
    secret = secrets.token_urlsafe(48)
    path.write_text(secret)
    path.chmod(0o600)
    return secret


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read once from the environment."""
    return Settings.from_env()
