"""An app per test module on a fresh database, driven in-process on one event loop."""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from server.settings import Settings
from tests.conftest import DEMO_FIRMS, DEMO_SEED, DemoTemplates
from tests.integration.dask_cluster import dask_cluster  # noqa: F401  (a fixture)


async def _no_server_errors(response: httpx.Response) -> None:
    # The suite must never provoke a 500: fail the test that does, wherever it happens.
    assert response.status_code < 500, f"{response.request.method} {response.request.url} -> {response.status_code}: {await response.aread()!r}"


@pytest.fixture(scope="module")
def settings(db_url: str, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    data_dir: Path = tmp_path_factory.mktemp("data")
    return Settings(database_url=db_url, jwt_secret="test-secret-not-for-production-0123456789",
                    data_dir=data_dir, demo=True, model_bags=4, model_regularization=0.1)


@pytest.fixture(scope="module")
async def app(settings: Settings, engine: object):
    from server.app import create_app
    from server.demo.setup import seed_reference_data

    await seed_reference_data()
    return create_app(settings)


@pytest.fixture(scope="module")
async def client(app) -> AsyncIterator[httpx.AsyncClient]:
    async with app.lifespan():
        transport = httpx.ASGITransport(app=app)
        # The tests read the server's texts in English; a request without the header gets
        # Chinese (tests/integration/test_reader_language.py reads both).
        async with httpx.AsyncClient(transport=transport, base_url="http://test",
                                     headers={"accept-language": "en"},
                                     event_hooks={"response": [_no_server_errors]}) as c:
            yield c


async def make_user(phone: str, role: str, *, firm_uscc: str | None = None, bank_code: str | None = None,
                    department: str | None = None, password: str = "secret-pass-1") -> int:
    from server.tables.financing import Bank
    from server.tables.firms import Firm
    from server.tables.ingest import Department
    from server.tables.users import User
    from server.users.services import create_user

    existing = await User.objects().where(User.phone == phone).first()
    if existing:
        return existing.id
    firm_id = bank_id = dept_id = None
    if firm_uscc:
        firm_id = (await Firm.select(Firm.id).where(Firm.uscc == firm_uscc).first())["id"]
    if bank_code:
        bank_id = (await Bank.select(Bank.id).where(Bank.code == bank_code).first())["id"]
    if department:
        dept_id = (await Department.select(Department.id).where(Department.code == department).first())["id"]
    user = await create_user(phone, password, role, role, firm_id=firm_id, bank_id=bank_id,
                             department_id=dept_id)
    return user.id


async def login(client: httpx.AsyncClient, phone: str, password: str = "secret-pass-1") -> dict[str, str]:
    r = await client.post("/api/auth/login", json={"phone": phone, "password": password})
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


@pytest.fixture(scope="module")
async def demo(settings, engine, demo_templates: DemoTemplates):
    """A small demo region on the module's database: firms, records, model, scores, accounts.

    The module's database starts as a copy of the run's demo region (see ``tests/conftest.py``);
    only a module that asks for this fixture in an unforeseen way builds its own."""
    from server.demo.setup import prepare_demo

    copied = demo_templates.copies.get(settings.database_url)
    if copied is not None:
        info, model_dir = copied
        shutil.copytree(model_dir, settings.model_dir, dirs_exist_ok=True)
        return info
    return await prepare_demo(settings, n_firms=DEMO_FIRMS, seed=DEMO_SEED)


@pytest.fixture(scope="module")
async def tokens(client: httpx.AsyncClient, demo) -> dict[str, dict[str, str]]:
    """Authorization headers of the demo accounts, by role."""
    from server.demo.setup import DEMO_ACCOUNTS, DEMO_PASSWORD

    return {role: await login(client, phone, DEMO_PASSWORD) for phone, role, _ in DEMO_ACCOUNTS}
