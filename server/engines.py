"""Database engines from URLs: a Piccolo engine for ``sqlite:///...`` or ``postgresql://...``.
Nothing here opens or creates anything; :mod:`server.db` opens, binds and migrates."""

from __future__ import annotations

from urllib.parse import unquote, urlparse

from piccolo.engine.base import Engine
from piccolo.engine.postgres import PostgresEngine
from piccolo.engine.sqlite import SQLiteEngine

__all__ = ["engine_from_url", "sqlite_path", "sqlite_path_of"]


def sqlite_path(url: str) -> str:
    """The file of an ``sqlite:///relative.db`` or ``sqlite:////abs/path.db`` URL."""
    path = url.split(":///", 1)[1] if ":///" in url else "xinbao.db"
    return unquote(path) or "xinbao.db"


def engine_from_url(url: str) -> Engine:
    """A Piccolo engine for an ``sqlite:///...`` or ``postgresql://...`` URL. Nothing is opened
    or created until the engine is used (``open_engine`` prepares an SQLite file)."""
    if url.startswith("sqlite"):
        return SQLiteEngine(path=sqlite_path(url), timeout=30)
    if url.startswith(("postgres://", "postgresql://")):
        parts = urlparse(url)
        config = {
            "host": parts.hostname or "127.0.0.1",
            "port": parts.port or 5432,
            "user": unquote(parts.username or "postgres"),
            "database": (parts.path or "/xinbao").lstrip("/") or "xinbao",
        }
        if parts.password:
            config["password"] = unquote(parts.password)
        return PostgresEngine(config=config)
    raise ValueError(f"XINBAO_DATABASE_URL must start with sqlite:/// or postgresql://, got {url!r}")


def sqlite_path_of(engine: Engine) -> str:
    """The database file of an SQLite engine."""
    return str(engine.connection_kwargs["database"])  # type: ignore[attr-defined]
