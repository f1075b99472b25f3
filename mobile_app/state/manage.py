"""The admin's "manage" tab: accounts, banks and their loan products, and the audit log (every
admin change and every view of a firm's evaluation)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from mobile_app.api import ApiClient
from mobile_app.api.models import AuditEntry, BankAdmin, DepartmentHealth, ProductAdmin
from mobile_app.state.base import Loadable, whole_number

__all__ = ["AUDIT_PAGE", "GRADES", "MANAGE_SECTIONS", "AuditState", "BanksState", "FeedHealthState", "ManageState"]

GRADES = ("A", "B", "C", "D")
MANAGE_SECTIONS = ("accounts", "banks", "audit", "data")
AUDIT_PAGE = 30
_BANK_CODE = re.compile(r"^[A-Z0-9_-]{2,20}$")
_SECTION_LETTERS = re.compile(r"^[A-T]$")


class _Invalid(Exception):
    """A form field the app can tell is wrong before asking the server (a catalogue key)."""

    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


@dataclass(kw_only=True)
class ManageState(Loadable):
    """Which part of the tab is showing; the parts keep their own states."""

    section: str = "accounts"
    status: str = "ready"

    def pick(self, section: str | None) -> None:
        if section in MANAGE_SECTIONS and section != self.section:
            self.section = section
            self.notify()


@dataclass(kw_only=True)
class FeedHealthState(Loadable):
    """Every department's feed health (coverage, lateness, rejected rows, disagreement with the
    other departments), for the admin."""

    client: ApiClient
    departments: list[DepartmentHealth] = field(default_factory=list)

    async def load(self) -> None:
        await self._run(self.client.feed_health, lambda h: setattr(self, "departments", h.departments))


def _rate_bp(text: str) -> int | None:
    """An annual rate typed in per cent ("3.65") as basis points (365), else None."""
    text = text.strip().rstrip("%")
    if not re.fullmatch(r"\d{1,2}(\.\d{1,2})?", text):
        return None
    return round(float(text) * 100)


@dataclass(kw_only=True)
class BanksState(Loadable):
    """Banks with their loan products; one form at a time: a new bank, a bank's name or
    suspension, a new product or a product's terms (with the reason for the change)."""

    client: ApiClient
    banks: list[BankAdmin] = field(default_factory=list)
    form: str | None = None  # "bank" (new), "bank_edit", "product" (new), "product_edit"
    bank_code: str | None = None  # the bank the form is about
    product_id: int | None = None
    draft: dict[str, str] = field(default_factory=dict)
    grades: set[str] = field(default_factory=set)
    flags: dict[str, bool] = field(default_factory=dict)  # suspended, collateral_free, fund_covered, active
    invalid: str | None = None  # catalogue key of what is wrong with the form
    saved: tuple[str, str, str | None] | None = None  # the last change: catalogue key, name, new bank's code
    busy: bool = False

    async def load(self) -> None:
        def store(banks: list[BankAdmin]) -> None:
            self.banks = banks

        await self._run(self.client.banks, store)

    def product(self, product_id: int) -> ProductAdmin | None:
        return next((p for b in self.banks for p in b.products if p.id == product_id), None)

    def _open(self, form: str, draft: dict[str, str], *, bank: str | None = None,
              product: int | None = None, grades: set[str] | None = None,
              flags: dict[str, bool] | None = None) -> None:
        self.form, self.bank_code, self.product_id = form, bank, product
        self.draft, self.grades, self.flags = draft, grades or set(), flags or {}
        self.invalid, self.saved, self.error, self.error_kind = None, None, None, None
        self.notify()

    def new_bank(self) -> None:
        self._open("bank", {"code": "", "name": ""})

    def edit_bank(self, code: str) -> None:
        bank = next((b for b in self.banks if b.code == code), None)
        if bank is not None:
            self._open("bank_edit", {"name": bank.name, "reason": ""}, bank=code,
                       flags={"suspended": bank.suspended})

    def new_product(self, code: str) -> None:
        self._open("product", {"name": "", "min_amount_yuan": "100000", "max_amount_yuan": "3000000",
                               "min_term_months": "6", "max_term_months": "36", "min_rate": "3.45",
                               "max_rate": "6.00", "industries": ""},
                   bank=code, grades={"A", "B"}, flags={"collateral_free": True, "fund_covered": False})

    def edit_product(self, product_id: int) -> None:
        p = self.product(product_id)
        if p is None:
            return
        code = next((b.code for b in self.banks if any(x.id == product_id for x in b.products)), None)
        self._open("product_edit", {
            "name": p.name, "min_amount_yuan": str(p.min_amount_yuan), "max_amount_yuan": str(p.max_amount_yuan),
            "min_term_months": str(p.min_term_months), "max_term_months": str(p.max_term_months),
            "min_rate": f"{p.min_rate_bp / 100:.2f}", "max_rate": f"{p.max_rate_bp / 100:.2f}",
            "industries": ",".join(p.industries), "reason": "",
        }, bank=code, product=product_id, grades=set(p.eligible_grades),
            flags={"collateral_free": p.collateral_free, "fund_covered": p.fund_covered, "active": p.active})

    def cancel(self) -> None:
        self.form, self.invalid, self.error, self.error_kind = None, None, None, None
        self.notify()

    def toggle_grade(self, grade: str, on: bool) -> None:
        (self.grades.add if on else self.grades.discard)(grade)

    def set_flag(self, name: str, on: bool) -> None:
        self.flags[name] = bool(on)

    def _bank_body(self) -> dict[str, object]:
        d = {k: v.strip() for k, v in self.draft.items()}
        if self.form == "bank":
            code = d.get("code", "").upper()
            if not _BANK_CODE.match(code):
                raise _Invalid("manage.bad_code")
            if not d.get("name"):
                raise _Invalid("manage.need_bank_name")
            return {"code": code, "name": d["name"]}
        if not d.get("name"):
            raise _Invalid("manage.need_bank_name")
        if not d.get("reason"):
            raise _Invalid("manage.need_reason")
        return {"name": d["name"], "suspended": self.flags.get("suspended", False), "reason": d["reason"]}

    def _product_body(self) -> dict[str, object]:
        d = {k: v.strip() for k, v in self.draft.items()}
        if not d.get("name"):
            raise _Invalid("manage.need_product_name")
        numbers: dict[str, int] = {}
        for name in ("min_amount_yuan", "max_amount_yuan", "min_term_months", "max_term_months"):
            value = whole_number(d.get(name, ""))
            if value is None or value < 1:
                raise _Invalid(f"manage.bad.{name}")
            numbers[name] = value
        for name in ("min_rate", "max_rate"):
            value = _rate_bp(d.get(name, ""))
            if value is None:
                raise _Invalid(f"manage.bad.{name}")
            numbers[f"{name}_bp"] = value
        for low, high in (("min_amount_yuan", "max_amount_yuan"), ("min_term_months", "max_term_months"),
                          ("min_rate_bp", "max_rate_bp")):
            if numbers[low] > numbers[high]:
                raise _Invalid(f"manage.order.{high}")
        if not self.grades:
            raise _Invalid("manage.need_grades")
        industries = [x.strip().upper() for x in re.split(r"[,，、\s]+", d.get("industries", "")) if x.strip()]
        if any(not _SECTION_LETTERS.match(x) for x in industries):
            raise _Invalid("manage.bad_industries")
        body: dict[str, object] = {
            "name": d["name"], **numbers, "eligible_grades": [g for g in GRADES if g in self.grades],
            "industries": sorted(set(industries)), "collateral_free": self.flags.get("collateral_free", False),
            "fund_covered": self.flags.get("fund_covered", False),
        }
        if self.form == "product":
            body["bank_code"] = self.bank_code
        else:
            if not d.get("reason"):
                raise _Invalid("manage.need_reason")
            body["active"] = self.flags.get("active", True)
            body["reason"] = d["reason"]
        return body

    async def save(self) -> None:
        if self.form is None or self.busy:
            return
        try:
            body = self._bank_body() if self.form in ("bank", "bank_edit") else self._product_body()
        except _Invalid as exc:
            self.invalid = exc.key
            self.notify()
            return
        self.invalid, self.busy = None, True
        c = self.client
        try:
            if self.form == "bank":
                done = await self._act(lambda: c.create_bank(body))
                notice = ("manage.bank_created", str(body["name"]), str(body["code"]))
            elif self.form == "bank_edit":
                done = await self._act(lambda: c.update_bank(self.bank_code or "", body))
                notice = ("manage.bank_saved", str(body["name"]), None)
            elif self.form == "product":
                done = await self._act(lambda: c.create_product(body))
                notice = ("manage.product_created", str(body["name"]), None)
            else:
                done = await self._act(lambda: c.update_product(self.product_id or 0, body))
                notice = ("manage.product_saved", str(body["name"]), None)
        finally:
            self.busy = False
        if done is not None:
            self.form = None
            await self.load()
            self.saved = notice
            self.notify()


@dataclass(kw_only=True)
class AuditState(Loadable):
    """The audit log, newest first, a page at a time, filtered by kind and by firm."""

    client: ApiClient
    entries: list[AuditEntry] = field(default_factory=list)
    total: int = 0
    kind: str | None = None  # None (everything), "change" or "view"
    firm: str = ""  # a USCC typed into the filter
    more_loading: bool = False

    async def load(self) -> None:
        def store(page: object) -> None:
            self.entries, self.total = page.entries, page.total  # type: ignore[attr-defined]

        await self._run(lambda: self.client.audit(kind=self.kind, firm=self.firm.strip() or None,
                                                  limit=AUDIT_PAGE), store)

    async def filter(self, kind: str | None) -> None:
        self.kind = kind
        await self.load()

    async def search(self, firm: str) -> None:
        self.firm = firm
        await self.load()

    @property
    def has_more(self) -> bool:
        return len(self.entries) < self.total

    async def more(self) -> None:
        if self.more_loading or not self.has_more:
            return
        self.more_loading = True
        try:
            page = await self._act(lambda: self.client.audit(kind=self.kind, firm=self.firm.strip() or None,
                                                             limit=AUDIT_PAGE, offset=len(self.entries)))
        finally:
            self.more_loading = False
        if page is not None:
            seen = {(e.kind, e.at, e.action, e.target, e.actor_id) for e in self.entries}
            self.entries += [e for e in page.entries if (e.kind, e.at, e.action, e.target, e.actor_id) not in seen]
            self.total = page.total
            self.notify()
