"""The real API app in-process on a fresh SQLite demo region, shared by the app's tests that
talk to a platform (the app's pure tests are in tests/unit/mobile_app/).

The app itself never imports ``server``; only these fixtures do, to give its client a real
platform to talk to (httpx ASGITransport, one event loop).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass

import httpx
import pytest

from mobile_app.api import ApiClient

DEMO_FIRMS = 150
PASSWORD = "demo1234"
PHONES = {"owner": "13800000001", "bank_manager": "13800000002", "subscriber": "13800000003",
          "dept_operator": "13800000004", "admin": "13800000005",
          "analyst": "13800000006"}


@dataclass
class Api:
    transport: httpx.AsyncBaseTransport
    firm_uscc: str
    firm_name: str

    def client(self) -> ApiClient:
        return ApiClient("http://test", transport=self.transport)

    async def signed_in(self, role: str) -> ApiClient:
        client = self.client()
        await client.login(PHONES[role], PASSWORD)
        return client


@pytest.fixture(scope="package")
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="package")
def api_db_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    from tests.conftest import fresh_database_url

    yield from fresh_database_url("sqlite", tmp_path_factory.mktemp("app_db"))


@pytest.fixture(scope="package")
async def api(api_db_url: str, tmp_path_factory: pytest.TempPathFactory, anyio_backend: str) -> AsyncIterator[Api]:
    from server import db
    from server.app import create_app
    from server.demo.setup import prepare_demo, seed_reference_data
    from server.settings import Settings

    settings = Settings(database_url=api_db_url, jwt_secret="test-secret-not-for-production-0123456789",
                        data_dir=tmp_path_factory.mktemp("app_data"), demo=True, model_bags=4, model_regularization=0.1)
    engine = await db.open_engine(api_db_url)
    await db.migrate(engine)
    try:
        await seed_reference_data()
        info = await prepare_demo(settings, n_firms=DEMO_FIRMS, seed=7)
        app = create_app(settings)
        async with app.lifespan():
            yield Api(httpx.ASGITransport(app=app), info.firm_uscc, info.firm_name)
    finally:
        await db.close(engine)
