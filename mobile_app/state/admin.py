"""The admin's screens: weight profiles (revise with a preview of who changes grade), model
versions (train a candidate, compare it with the active one, promote or roll back), the
guarantee fund, and accounts."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import date

from mobile_app.api import ApiClient, ApiError, ConnectionLost
from mobile_app.api.models import (
    Account,
    FundOverview,
    LedgerEntry,
    ModelVersionInfo,
    ProfilePreview,
    TrainingStatus,
    WeightProfile,
)
from mobile_app.state.base import Loadable, whole_number

__all__ = ["AccountsState", "DIMENSION_TARGETS", "FundState", "ModelsState", "STAFF_ROLES", "WeightsState"]

DIMENSION_TARGETS = tuple(f"dimension:{d}" for d in
                          ("capital", "operation", "profitability", "solvency", "development", "integrity"))
STAFF_ROLES = ("bank_manager", "dept_operator", "analyst", "admin", "subscriber")
FUND_GRADES = ("A", "B", "C")  # the grades the guarantee fund covers a share of
POLL_S = 2.0  # how often a running training is asked about


@dataclass(kw_only=True)
class WeightsState(Loadable):
    """Weight profiles: the latest version of each, and one draft being written or revised.

    The draft is previewed (how many firms would change grade, who moves most) before it is
    saved; a saved profile in force today re-scores the region."""

    client: ApiClient
    profiles: list[WeightProfile] = field(default_factory=list)  # latest version of each name
    editing: bool = False
    draft: dict[str, str] = field(default_factory=dict)  # name, reason, valid_from
    rows: list[list[str]] = field(default_factory=list)  # [target, factor] as typed
    preview: ProfilePreview | None = None
    previewed: tuple[object, ...] | None = None  # the draft the preview is of
    saved: WeightProfile | None = None
    invalid: str | None = None
    busy: bool = False

    async def load(self) -> None:
        items = await self._run(self.client.weight_profiles)
        if items is not None:
            latest: dict[str, WeightProfile] = {}
            for p in items:  # oldest first: the last of each name wins
                latest[p.name] = p
            self.profiles = sorted(latest.values(), key=lambda p: p.created_at, reverse=True)
            self.notify()

    def new(self) -> None:
        self._edit({"name": "", "reason": "", "valid_from": date.today().isoformat()},
                   [[DIMENSION_TARGETS[0], "1.0"]])

    def revise(self, name: str) -> None:
        p = next((p for p in self.profiles if p.name == name), None)
        if p is None:
            return
        self._edit({"name": p.name, "reason": "", "valid_from": date.today().isoformat()},
                   [[a.target, f"{a.factor:g}"] for a in p.adjustments])

    def _edit(self, draft: dict[str, str], rows: list[list[str]]) -> None:
        self.editing, self.draft, self.rows = True, draft, rows
        self.preview, self.previewed, self.saved, self.invalid = None, None, None, None
        self.error, self.error_kind = None, None
        self.notify()

    def cancel(self) -> None:
        self.editing, self.preview, self.previewed, self.invalid = False, None, None, None
        self.notify()

    def add_row(self, target: str) -> None:
        if target and all(r[0] != target for r in self.rows):
            self.rows.append([target, "1.0"])
            self.notify()

    def remove_row(self, index: int) -> None:
        if 0 <= index < len(self.rows) and len(self.rows) > 1:
            del self.rows[index]
            self.notify()

    def _body(self) -> dict[str, object] | None:
        d = self.draft
        if not d.get("name", "").strip():
            self.invalid = "admin.need_name"
        elif not d.get("reason", "").strip():
            self.invalid = "admin.need_reason"
        else:
            adjustments = []
            for target, factor in self.rows:
                try:
                    value = float(factor.strip())
                except ValueError:
                    value = -1.0
                if not 0.0 <= value <= 3.0:
                    self.invalid = "admin.bad_factor"
                    break
                adjustments.append({"target": target, "factor": value})
            else:
                self.invalid = None
                return {"name": d["name"].strip(), "reason": d["reason"].strip(),
                        "valid_from": d.get("valid_from") or date.today().isoformat(),
                        "adjustments": adjustments}
        self.notify()
        return None

    @property
    def preview_current(self) -> bool:
        """Whether the shown preview is of the draft as it is now (saving needs one)."""
        body = self._snapshot()
        return self.preview is not None and body == self.previewed

    def _snapshot(self) -> tuple[object, ...]:
        return (self.draft.get("name", "").strip(), self.draft.get("valid_from", ""),
                tuple((t, f.strip()) for t, f in self.rows))

    async def run_preview(self) -> None:
        body = self._body()
        if body is None or self.busy:
            return
        self.busy = True
        try:
            found = await self._act(lambda: self.client.preview_profile(body))
        finally:
            self.busy = False
        if found is not None:
            self.preview, self.previewed = found, self._snapshot()
        self.notify()

    async def save(self) -> None:
        """Store the draft (a new version when the name exists); only after a preview of it."""
        if not self.preview_current:
            self.invalid = "admin.preview_first"
            self.notify()
            return
        body = self._body()
        if body is None or self.busy:
            return
        self.busy = True
        try:
            saved = await self._act(lambda: self.client.save_profile(body))
        finally:
            self.busy = False
        if saved is not None:
            self.saved, self.editing, self.preview, self.previewed = saved, False, None, None
            await self.load()
        self.notify()


@dataclass(kw_only=True)
class ModelsState(Loadable):
    """Model versions with their figures, and the training run (one at a time, on the server)."""

    client: ApiClient
    versions: list[ModelVersionInfo] = field(default_factory=list)
    training: TrainingStatus = field(default_factory=TrainingStatus)
    confirm: str | None = None  # a version whose promotion needs a second "yes"
    notice: str | None = None  # catalogue key of what just happened
    busy: bool = False
    _polling: bool = False

    @property
    def active(self) -> ModelVersionInfo | None:
        return next((v for v in self.versions if v.active), None)

    async def load(self) -> None:
        async def both() -> tuple[list[ModelVersionInfo], TrainingStatus]:
            versions, training = await asyncio.gather(self.client.models(), self.client.training())
            return versions, training

        def store(found: tuple[list[ModelVersionInfo], TrainingStatus]) -> None:
            self.versions, self.training = found

        found = await self._run(both, store)
        if found is not None:
            if self.training.status == "running":
                await self._poll()

    async def train(self) -> None:
        """Train a candidate on the platform's history; it waits for review (never activates
        by itself), and the list refreshes when it is done."""
        if self.training.status == "running" or self.busy:
            return
        self.busy, self.notice = True, None
        try:
            started = await self._act(lambda: self.client.train(review=True))
        finally:
            self.busy = False
        if started is not None:
            self.training = started
            self.notify()
            await self._poll()

    async def _poll(self) -> None:
        if self._polling:
            return
        self._polling = True
        try:
            for _ in range(900):  # at most half an hour
                await asyncio.sleep(POLL_S)
                try:
                    self.training = await self.client.training()
                except (ApiError, ConnectionLost):
                    continue  # a blip: ask again
                if self.training.status != "running":
                    break
                self.notify()
            versions = await self._act(self.client.models)
            if versions is not None:
                self.versions = versions
            self.notice = "admin.model.trained" if self.training.status == "done" else None
            self.notify()
        finally:
            self._polling = False

    async def promote(self, version: str, *, confirm: bool = False) -> None:
        if self.busy:
            return
        self.busy, self.notice = True, None
        self.notify()
        try:
            done = await self.client.promote(version, confirm=confirm)
        except ApiError as exc:
            if exc.status == 409 and exc.field == "confirm" and not confirm:
                self.confirm = version  # moves many grades: ask again before promoting
            else:
                self.error, self.error_kind = exc.detail, "api"
            done = None
        except ConnectionLost as exc:
            self.error, self.error_kind, done = str(exc), "offline", None
        finally:
            self.busy = False
        if done is not None:
            self.confirm, self.notice = None, "admin.model.promoted"
            versions = await self._act(self.client.models)
            if versions is not None:
                self.versions = versions
        self.notify()

    def cancel_confirm(self) -> None:
        self.confirm = None
        self.notify()


@dataclass(kw_only=True)
class FundState(Loadable):
    """The guarantee fund: capital, exposure, limits, banks, and the latest ledger entries."""

    client: ApiClient
    overview: FundOverview | None = None
    ledger: list[LedgerEntry] = field(default_factory=list)
    ledger_total: int = 0
    editing: bool = False  # the limits form is open
    draft: dict[str, str] = field(default_factory=dict)
    invalid: str | None = None  # catalogue key of what is wrong with the form
    saved: bool = False
    busy: bool = False

    async def load(self) -> None:
        async def both() -> tuple[FundOverview, object]:
            return await asyncio.gather(self.client.fund(), self.client.fund_ledger())  # type: ignore[return-value]

        def store(found: tuple[FundOverview, object]) -> None:
            self.overview, page = found
            self.ledger, self.ledger_total = page.entries, page.total  # type: ignore[attr-defined]

        await self._run(both, store)

    def edit(self) -> None:
        f = self.overview
        if f is None:
            return
        self.draft = {"limit_total_yuan": str(f.limit_total_fen // 100),
                      "limit_per_firm_yuan": str(f.limit_per_firm_fen // 100),
                      "npl_limit_pct": f"{f.npl_limit_bp / 100:.2f}",
                      **{f"share_{g}": str(f.share_pct.get(g, 0)) for g in FUND_GRADES}, "reason": ""}
        self.editing, self.invalid, self.saved, self.error, self.error_kind = True, None, False, None, None
        self.notify()

    def cancel(self) -> None:
        self.editing, self.invalid, self.error, self.error_kind = False, None, None, None
        self.notify()

    def _limits_body(self) -> dict[str, object] | str:
        """The PATCH body, or the catalogue key of the first field that is wrong."""
        d = {k: v.strip() for k, v in self.draft.items()}
        limits: dict[str, int] = {}
        for name in ("limit_total_yuan", "limit_per_firm_yuan"):
            value = whole_number(d.get(name, ""))
            if value is None or value < 1:
                return f"admin.fund.bad.{name}"
            limits[name] = value
        if limits["limit_per_firm_yuan"] > limits["limit_total_yuan"]:
            return "admin.fund.bad.per_firm_over_total"
        body: dict[str, object] = dict(limits)
        try:
            npl = round(float(d.get("npl_limit_pct", "").rstrip("%")) * 100)
        except ValueError:
            return "admin.fund.bad.npl_limit_pct"
        if not 0 <= npl <= 10_000:
            return "admin.fund.bad.npl_limit_pct"
        body["npl_limit_bp"] = npl
        shares: dict[str, int] = {}
        for g in FUND_GRADES:
            text = d.get(f"share_{g}", "")
            if not text.isdigit() or int(text) > 100:
                return "admin.fund.bad.share"
            shares[g] = int(text)
        if not shares["A"] >= shares["B"] >= shares["C"]:
            return "admin.fund.bad.share_order"
        body["share_pct"] = shares
        if not d.get("reason"):
            return "admin.fund.bad.reason"
        body["reason"] = self.draft["reason"].strip()
        return body

    async def save_limits(self) -> None:
        if self.busy:
            return
        body = self._limits_body()
        if isinstance(body, str):
            self.invalid = body
            self.notify()
            return
        self.invalid, self.busy = None, True
        try:
            done = await self._act(lambda: self.client.update_fund(body))
        finally:
            self.busy = False
        if done is not None:
            self.editing, self.saved = False, True
            await self.load()


@dataclass(kw_only=True)
class AccountsState(Loadable):
    """Accounts by role, and opening one for a bank manager, operator, admin or subscriber."""

    client: ApiClient
    items: list[Account] = field(default_factory=list)
    role: str | None = None  # the filter
    draft: dict[str, str] = field(default_factory=lambda: {"role": "bank_manager"})
    opening: bool = False
    created: Account | None = None
    invalid: str | None = None

    async def load(self) -> None:
        items = await self._run(lambda: self.client.accounts(self.role))
        if items is not None:
            self.items = items
            self.notify()

    async def filter(self, role: str | None) -> None:
        self.role = role
        await self.load()

    def start(self) -> None:
        self.opening, self.created, self.invalid = True, None, None
        self.draft = {"role": "bank_manager"}
        self.notify()

    def cancel(self) -> None:
        self.opening, self.invalid = False, None
        self.notify()

    async def open_account(self) -> None:
        d = {k: v.strip() for k, v in self.draft.items()}
        if not d.get("phone") or not d.get("password"):
            self.invalid = "admin.need_phone"
            self.notify()
            return
        body: dict[str, object] = {"phone": d["phone"], "password": d["password"], "role": d.get("role"),
                                   "display_name": d.get("display_name", "")}
        if d.get("role") == "bank_manager":
            if not d.get("bank_id", "").isdigit():
                self.invalid = "admin.need_bank"
                self.notify()
                return
            body["bank_id"] = int(d["bank_id"])
        if d.get("role") == "dept_operator":
            if not d.get("department"):
                self.invalid = "admin.need_department"
                self.notify()
                return
            body["department"] = d["department"]
        self.invalid = None
        created = await self._act(lambda: self.client.open_account(body))
        if created is not None:
            self.created, self.opening = created, False
            await self.load()
        self.notify()
