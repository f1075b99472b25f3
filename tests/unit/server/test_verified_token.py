"""``VerifiedToken``: a token's signature is checked once per process, its expiry every time."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest
from litestar.exceptions import NotAuthorizedException
from litestar.security.jwt import Token

from server.users.security import VerifiedToken

SECRET = "unit-secret-0123456789-0123456789-0123456789"


def _encoded(seconds: float, secret: str = SECRET) -> str:
    return Token(sub="7", exp=datetime.now(UTC) + timedelta(seconds=seconds), jti="j1",
                 extras={"typ": "access", "sid": "s1"}).encode(secret, "HS256")


def test_a_repeat_is_not_decoded_again_and_a_bad_signature_never_passes(monkeypatch):
    encoded = _encoded(600)
    calls = []
    real = Token.decode_payload.__func__

    def counted(cls, *args, **kwargs):
        calls.append(1)
        return real(cls, *args, **kwargs)

    monkeypatch.setattr(Token, "decode_payload", classmethod(counted))
    first = VerifiedToken.decode(encoded, SECRET, "HS256")
    again = VerifiedToken.decode(encoded, SECRET, "HS256")
    assert again is first and first.sub == "7" and first.extras["sid"] == "s1" and len(calls) == 1
    with pytest.raises(NotAuthorizedException):  # the same string under another secret
        VerifiedToken.decode(encoded, "another-secret-0123456789-0123456789-01", "HS256")
    forged = encoded[:-3] + ("AAA" if not encoded.endswith("AAA") else "BBB")
    for _ in range(2):
        with pytest.raises(NotAuthorizedException):
            VerifiedToken.decode(forged, SECRET, "HS256")


def test_a_token_accepted_before_is_refused_once_it_has_expired():
    encoded = _encoded(1.2)
    assert VerifiedToken.decode(encoded, SECRET, "HS256").sub == "7"
    time.sleep(1.3)
    with pytest.raises(NotAuthorizedException, match="Invalid token"):
        VerifiedToken.decode(encoded, SECRET, "HS256")
