"""Banks and their loan products as admins keep them: opening a bank, renaming, suspending or
reinstating it, adding a product and revising or withdrawing it. Each change is one
transaction with its audit row (``server.audit``); a withdrawn product (``active`` false)
leaves the product list and matching at once (``services._active_products``)."""

from __future__ import annotations

import re
import sqlite3
from datetime import UTC, datetime
from typing import Any

import asyncpg
from litestar.exceptions import ClientException, NotFoundException, ValidationException
from piccolo.query.functions.aggregate import Count

from server import db
from server.audit.services import Actor, changes, record
from server.financing.schemas import (
    BankAdminOut,
    BankCreate,
    BankUpdate,
    ProductAdminOut,
    ProductCreate,
    ProductUpdate,
)
from server.financing.services import _PRODUCT_COLUMNS, _product
from server.tables.financing import Bank, LoanProduct
from server.tables.users import User
from server.texts import t

__all__ = ["create_bank", "create_product", "list_banks", "update_bank", "update_product"]

_CODE = re.compile(r"[A-Z0-9_-]{2,20}")
_DUPLICATE = (sqlite3.IntegrityError, asyncpg.UniqueViolationError)
#: A product's terms as the API names them (amounts in yuan), in the order they are shown.
_TERMS = ("name", "min_amount_yuan", "max_amount_yuan", "min_term_months", "max_term_months",
          "min_rate_bp", "max_rate_bp", "eligible_grades", "industries", "collateral_free",
          "fund_covered")


def _text(value: str, field: str) -> str:
    """A name or reason without surrounding blanks; one of nothing but blanks is refused."""
    value = value.strip()
    if not value:
        raise ValidationException(t("{field}: must not be blank", field=field))
    return value


# -- banks ------------------------------------------------------------------------------------

async def _products_of(bank_ids: list[int]) -> dict[int, list[ProductAdminOut]]:
    rows = await LoanProduct.select(*_PRODUCT_COLUMNS, LoanProduct.active).where(
        LoanProduct.bank.is_in(bank_ids or [-1])).order_by(LoanProduct.id).output(load_json=True)
    out: dict[int, list[ProductAdminOut]] = {}
    for r in rows:
        p = _product(r)
        out.setdefault(p.bank_id, []).append(ProductAdminOut(
            **{f: getattr(p, f) for f in p.__struct_fields__}, active=r["active"]))
    return out


async def _banks(code: str | None = None) -> list[BankAdminOut]:
    query = Bank.select(Bank.id, Bank.code, Bank.name, Bank.suspended_at).order_by(Bank.code)
    if code is not None:
        query = query.where(Bank.code == code)
    banks = await query
    ids = [b["id"] for b in banks]
    managers = {r["bank"]: r["n"] for r in await User.select(User.bank, Count(User.id).as_alias("n")).where(
        (User.role == "bank_manager") & (User.is_active == True) & User.bank.is_in(ids or [-1])  # noqa: E712
    ).group_by(User.bank)}
    products = await _products_of(ids)
    return [BankAdminOut(id=b["id"], code=b["code"], name=b["name"], suspended=b["suspended_at"] is not None,
                         suspended_at=b["suspended_at"], managers=int(managers.get(b["id"], 0)),
                         products=products.get(b["id"], [])) for b in banks]


async def list_banks() -> list[BankAdminOut]:
    """Every bank by code, with its active managers and every product."""
    return await _banks()


async def _bank(code: str) -> BankAdminOut:
    found = await _banks(code)
    if not found:
        raise NotFoundException(t("code: no bank with code {code}", code=code))
    return found[0]


def _checked_code(code: str, field: str) -> str:
    if not _CODE.fullmatch(code):
        raise ValidationException(t("{field}: 2 to 20 of A-Z, 0-9, _ and -", field=field))
    return code


async def create_bank(actor: Actor, data: BankCreate) -> BankAdminOut:
    """A new bank; its code is unique (the database's unique index decides between parallel
    requests: one is stored, the others are told the code is taken)."""
    code = _checked_code(data.code, "code")
    name = _text(data.name, "name")
    try:
        async with db.write_transaction():
            bank = (await Bank.insert(Bank(code=code, name=name)).returning(Bank.id))[0]
            await record(actor, "bank.create", code, {"id": bank["id"], "code": code, "name": name})
    except _DUPLICATE as exc:
        raise ClientException(t("code: a bank with code {code} already exists", code=code),
                              status_code=409) from exc
    return await _bank(code)


async def update_bank(actor: Actor, code: str, data: BankUpdate) -> BankAdminOut:
    """Rename a bank, suspend it from new fund-covered loans or lift its suspension (the fund's
    NPL rule suspends again at the next default it recomputes above the limit)."""
    reason = _text(data.reason, "reason")
    name = None if data.name is None else _text(data.name, "name")
    async with db.write_transaction():
        query = Bank.select(Bank.id, Bank.name, Bank.suspended_at).where(Bank.code == code)
        bank = await (query.lock_rows() if db.on_postgres() else query).first()
        if bank is None:
            raise NotFoundException(t("code: no bank with code {code}", code=code))
        values: dict[Any, Any] = {}
        if name is not None:
            values[Bank.name] = name
        was_suspended = bank["suspended_at"] is not None
        if data.suspended is True and not was_suspended:
            values[Bank.suspended_at] = datetime.now(UTC)
        elif data.suspended is False and was_suspended:
            values[Bank.suspended_at] = None
        if values:
            await Bank.update(values).where(Bank.id == bank["id"])
        before = {"name": bank["name"], "suspended": was_suspended}
        after = {"name": name if name is not None else bank["name"],
                 "suspended": was_suspended if data.suspended is None else data.suspended}
        await record(actor, "bank.update", code, {**changes(before, after), "reason": reason})
    return await _bank(code)


# -- products ---------------------------------------------------------------------------------

def _check_terms(terms: dict[str, Any]) -> None:
    """min <= max for amount, term and rate; grades and industries each at most once."""
    for low, high in (("min_amount_yuan", "max_amount_yuan"), ("min_term_months", "max_term_months"),
                      ("min_rate_bp", "max_rate_bp")):
        if terms[low] > terms[high]:
            raise ValidationException(t("{high}: must be at least {low} ({value})", high=high, low=low,
                                        value=terms[low]))
    for field in ("eligible_grades", "industries"):
        if len(set(terms[field])) != len(terms[field]):
            raise ValidationException(t("{field}: each at most once", field=field))
    if not terms["eligible_grades"]:
        raise ValidationException(t("{field}: must not be empty", field="eligible_grades"))


def _row_values(terms: dict[str, Any]) -> dict[Any, Any]:
    return {
        LoanProduct.name: terms["name"], LoanProduct.min_amount_fen: terms["min_amount_yuan"] * 100,
        LoanProduct.max_amount_fen: terms["max_amount_yuan"] * 100,
        LoanProduct.min_term_months: terms["min_term_months"], LoanProduct.max_term_months: terms["max_term_months"],
        LoanProduct.min_rate_bp: terms["min_rate_bp"], LoanProduct.max_rate_bp: terms["max_rate_bp"],
        LoanProduct.eligible_grades: "".join(sorted(terms["eligible_grades"])),
        LoanProduct.industries: sorted(terms["industries"]),
        LoanProduct.collateral_free: terms["collateral_free"], LoanProduct.fund_covered: terms["fund_covered"],
    }


async def _product_out(product_id: int) -> ProductAdminOut:
    row = await LoanProduct.select(*_PRODUCT_COLUMNS, LoanProduct.active).where(
        LoanProduct.id == product_id).output(load_json=True).first()
    if row is None:
        raise NotFoundException(t("id: no loan product {id}", id=product_id))
    p = _product(row)
    return ProductAdminOut(**{f: getattr(p, f) for f in p.__struct_fields__}, active=row["active"])


async def create_product(actor: Actor, data: ProductCreate) -> ProductAdminOut:
    """A new, active product of an existing bank."""
    code = _checked_code(data.bank_code, "bank_code")
    terms = {f: getattr(data, f) for f in _TERMS}
    terms["name"] = _text(data.name, "name")
    _check_terms(terms)
    async with db.write_transaction():
        bank = await Bank.select(Bank.id).where(Bank.code == code).first()
        if bank is None:
            raise ValidationException(t("bank_code: no bank with code {code}", code=code))
        product = LoanProduct(bank=bank["id"], active=True)
        for column, value in _row_values(terms).items():
            setattr(product, column._meta.name, value)
        product_id = (await LoanProduct.insert(product).returning(LoanProduct.id))[0]["id"]
        await record(actor, "product.create", product_id, {"bank_code": code, **{
            f: sorted(v) if isinstance(v, list) else v for f, v in terms.items()}})
    return await _product_out(product_id)


async def update_product(actor: Actor, product_id: int, data: ProductUpdate) -> ProductAdminOut:
    """Revise a product's terms (checked as a whole once merged) or withdraw / reinstate it."""
    reason = _text(data.reason, "reason")
    async with db.write_transaction():
        if db.on_postgres():  # two revisions of one product take turns, each seeing the other's
            await LoanProduct.select(LoanProduct.id).where(LoanProduct.id == product_id).lock_rows()
        current = await _product_out(product_id)
        before = {f: getattr(current, f) for f in _TERMS} | {"active": current.active}
        given = {f: getattr(data, f) for f in (*_TERMS, "active") if getattr(data, f) is not None}
        if "name" in given:
            given["name"] = _text(given["name"], "name")
        for field in ("eligible_grades", "industries"):
            if field in given:
                if len(set(given[field])) != len(given[field]):
                    raise ValidationException(t("{field}: each at most once", field=field))
                given[field] = sorted(given[field])
        merged = before | given
        _check_terms(merged)
        await LoanProduct.update({**_row_values(merged), LoanProduct.active: merged["active"]}).where(
            LoanProduct.id == product_id)
        await record(actor, "product.update", product_id,
                           {**changes(before, merged), "reason": reason})
    return await _product_out(product_id)
