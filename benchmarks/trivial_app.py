"""The framework's ceiling for ``benchmarks/api_load.py``: a Litestar app with one JSON route,
served by the same uvicorn options as ``xinbao serve`` (``server.cli.UVICORN_OPTIONS``)."""

from __future__ import annotations

from litestar import Litestar, get


@get("/api/health")
async def health() -> dict[str, str]:
    return {"status": "ok"}


app = Litestar([health])
