"""Accounts: sign-in and creation."""

from __future__ import annotations

from server.users.security import hash_password, utcnow, verify_password
from server.users.tables import ROLES, User

__all__ = ["authenticate", "create_user"]


async def authenticate(phone: str, password: str) -> User | None:
    """The active user with this phone and password, or None (same cost either way)."""
    user = await User.objects().where(User.phone == phone).first()
    ok = verify_password(user.password_hash if user else None, password)
    if user is None or not ok or not user.is_active:
        return None
    return user


async def create_user(phone: str, password: str, role: str, display_name: str = "", *,
                      firm_id: int | None = None, bank_id: int | None = None,
                      department_id: int | None = None) -> User:
    if role not in ROLES:
        raise ValueError(f"unknown role {role!r}")
    user = User(phone=phone, password_hash=hash_password(password), role=role,
                display_name=display_name, firm=firm_id, bank=bank_id,
                department=department_id, created_at=utcnow())
    await user.save()
    return user
