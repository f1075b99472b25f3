"""Structs of the account routes."""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec

__all__ = [
    "FirmClaim", "FirmClaimStarted", "FirmClaimVerify", "LoginRequest", "LogoutRequest", "Me",
    "MeUpdate",
    "RefreshRequest", "Registration", "RegistrationStarted", "RegistrationVerify", "Role",
    "StaffCreate", "StaffRole", "TokenPair", "UserOut",
]

# msgspec checks ``pattern`` with ``re.search``, where ``$`` also matches before a final "\n":
# every pattern here is paired with an exact length (or is a Literal), so nothing can trail it.
MobilePhone = Annotated[str, msgspec.Meta(min_length=11, max_length=11, pattern=r"^1[3-9][0-9]{9}$",
                                          examples=["13912345678"],
                                          description="mainland mobile number, 11 digits")]
Role = Literal["owner", "bank_manager", "subscriber", "dept_operator", "admin"]
SelfServiceRole = Literal["owner", "subscriber"]
StaffRole = Literal["bank_manager", "dept_operator", "admin", "subscriber"]


class LoginRequest(msgspec.Struct):
    phone: MobilePhone
    password: Annotated[str, msgspec.Meta(min_length=1, max_length=200, examples=["demo1234"])]


RefreshToken = Annotated[str, msgspec.Meta(min_length=10, max_length=4000,
                                           examples=["eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxIn0.sig"])]


class RefreshRequest(msgspec.Struct):
    refresh_token: RefreshToken


class LogoutRequest(msgspec.Struct):
    """The refresh token ends the sign-in even when the access token has expired."""

    refresh_token: RefreshToken | None = None


class TokenPair(msgspec.Struct):
    access_token: str
    refresh_token: str
    token_type: str = "Bearer"
    expires_in: int = 3600


class Me(msgspec.Struct):
    id: int
    phone: str
    role: str
    display_name: str
    firm_uscc: str | None = None
    bank_id: int | None = None
    department: str | None = None
    language: str | None = None  # "zh" / "en"; None: the request's Accept-Language, else Chinese


class MeUpdate(msgspec.Struct):
    """What the signed-in user may change about their account."""

    # The language the platform's texts are written in for this account: "zh" or "en", or
    # null to follow each request's Accept-Language (else Chinese). Anything else is a 422.
    language: Annotated[str, msgspec.Meta(max_length=20, examples=["en"])] | None


NewPassword = Annotated[str, msgspec.Meta(min_length=8, max_length=128, examples=["a-long-passphrase"])]
DisplayName = Annotated[str, msgspec.Meta(max_length=50, examples=["张先生"])]
Uscc = Annotated[str, msgspec.Meta(min_length=18, max_length=18, examples=["9133100431QF722BL3"])]


Code = Annotated[str, msgspec.Meta(min_length=6, max_length=6, pattern=r"^[0-9]{6}$", examples=["123456"])]


class Registration(msgspec.Struct):
    """Self-service sign-up, step 1: firm owners (who then claim their firm) and subscribers."""

    phone: MobilePhone
    password: NewPassword
    role: SelfServiceRole = "owner"
    display_name: DisplayName = ""


class RegistrationStarted(msgspec.Struct):
    """The same answer whether or not the number already has an account."""

    phone: str
    expires_in: int  # seconds the code stays valid
    delivery: str  # "log" in the demo (the code is printed to the server log), "sms" otherwise


class RegistrationVerify(msgspec.Struct):
    """Step 2: the code sent to the phone opens the account and signs it in."""

    phone: MobilePhone
    code: Code


class StaffCreate(msgspec.Struct):
    """An account an admin opens for a bank manager, a department operator or another admin."""

    phone: MobilePhone
    password: NewPassword
    role: StaffRole
    display_name: DisplayName = ""
    bank_id: Annotated[int, msgspec.Meta(ge=1, examples=[1])] | None = None
    department: Annotated[str, msgspec.Meta(max_length=30, examples=["tax"])] | None = None


class UserOut(msgspec.Struct):
    id: int
    phone: str
    role: str
    display_name: str
    firm_uscc: str | None
    bank_id: int | None
    department: str | None
    is_active: bool


class FirmClaim(msgspec.Struct):
    uscc: Uscc


class FirmClaimStarted(msgspec.Struct):
    uscc: str
    firm_name: str
    expires_in: int  # seconds the code stays valid
    delivery: str  # "log" in the demo (the code is printed to the server log), "sms" otherwise


class FirmClaimVerify(msgspec.Struct):
    uscc: Uscc
    code: Code
