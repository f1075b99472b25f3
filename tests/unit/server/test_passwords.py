"""Password hashing profiles: production is argon2id at RFC 9106's low-memory cost; the suite's
cheap profile is only a cost, and hashes made under one profile verify under another."""

from __future__ import annotations

import pytest
from argon2 import Type, extract_parameters

from server.users import security


@pytest.mark.anyio
async def test_the_default_is_argon2id_at_rfc9106_low_memory_cost(password_profile) -> None:
    password_profile(None)
    params = extract_parameters(await security.hash_password("a-password-1"))
    assert params.type is Type.ID
    assert (params.memory_cost, params.time_cost, params.parallelism) == (65536, 3, 4)


@pytest.mark.anyio
async def test_hashes_verify_across_profiles_and_wrong_passwords_fail(password_profile) -> None:
    password_profile("cheapest-for-tests")
    cheap = await security.hash_password("a-password-1")
    assert extract_parameters(cheap).type is Type.ID
    password_profile(None)
    strong = await security.hash_password("a-password-1")
    for stored in (cheap, strong):
        assert await security.verify_password(stored, "a-password-1")
        assert not await security.verify_password(stored, "a-password-2")
    password_profile("cheapest-for-tests")
    assert await security.verify_password(strong, "a-password-1")
    assert not await security.verify_password(None, "a-password-1")  # an unknown account


def test_an_unknown_profile_is_refused_by_name(password_profile) -> None:
    password_profile("md5")
    with pytest.raises(ValueError, match="XINBAO_PASSWORD_PROFILE"):
        security.password_hasher()
