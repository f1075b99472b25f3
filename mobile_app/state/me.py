"""The owner's "Me" screen: consents, who viewed the evaluation, objections, firm linking."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from mobile_app.api import ApiClient
from mobile_app.api.models import AccessEntry, Consent, Objection, ObjectionDetail, Record
from mobile_app.state.base import Loadable

__all__ = ["RECORDS_PAGE", "MeState"]

RECORDS_PAGE = 50  # records per page of "object to a record"


@dataclass(kw_only=True)
class MeState(Loadable):
    client: ApiClient
    uscc: str | None
    consents: list[Consent] = field(default_factory=list)
    access_log: list[AccessEntry] = field(default_factory=list)
    objections: list[Objection] = field(default_factory=list)
    records: list[Record] | None = None  # loaded when the owner opens "object to a record"
    records_total: int = 0
    objecting: Record | None = None  # the record being objected to
    trail: ObjectionDetail | None = None  # an objection opened: its record and every step
    invalid: str | None = None
    claim_uscc: str = ""
    claim_sent: bool = False
    notice: str | None = None  # a catalogue key shown once (e.g. "me.objection_filed")
    draft: dict[str, str] = field(default_factory=dict)  # what was typed into the forms

    async def load(self) -> None:
        if not self.uscc:
            self.status = "ready"
            self.notify()
            return
        uscc = self.uscc

        async def all_three() -> tuple[list[Consent], list[AccessEntry], list[Objection]]:
            consents, log, objections = await asyncio.gather(
                self.client.consents(), self.client.access_log(uscc), self.client.objections())
            return consents, log, objections

        loaded = await self._run(all_three)
        if loaded is not None:
            self.consents, self.access_log, self.objections = loaded
            self.notify()

    async def revoke(self, consent_id: int) -> None:
        await self._act(lambda: self.client.revoke_consent(consent_id))
        if self.error is None:
            self.consents = await self.client.consents()
        self.notify()

    async def open_records(self) -> None:
        page = await self._act(lambda: self.client.objection_records(limit=RECORDS_PAGE))
        if page is not None:
            self.records, self.records_total = page.items, page.total
        self.notify()

    @property
    def more_records(self) -> bool:
        return self.records is not None and len(self.records) < self.records_total

    async def next_records(self) -> None:
        """The next page of the firm's records, after those listed (down to the oldest)."""
        if self.records is None:
            return
        offset = len(self.records)
        page = await self._act(lambda: self.client.objection_records(limit=RECORDS_PAGE, offset=offset))
        if page is not None:
            known = {r.id for r in self.records}
            self.records = self.records + [r for r in page.items if r.id not in known]
            self.records_total = page.total
        self.notify()

    def close_records(self) -> None:
        self.records, self.objecting, self.invalid, self.trail = None, None, None, None
        self.notify()

    async def open_objection(self, objection_id: int) -> None:
        """One objection with its trail: filed, corrected or rejected, re-scored."""
        detail = await self._act(lambda: self.client.objection(objection_id))
        if detail is not None:
            self.trail = detail
            self.objections = [detail.objection if o.id == objection_id else o for o in self.objections]
        self.notify()

    def close_objection(self) -> None:
        self.trail = None
        self.notify()

    async def dispute(self, record_id: int) -> bool:
        """Open the objection form on one record (named by a warning's evidence); if it has been
        corrected since, say so."""
        self.records, self.trail, self.notice = None, None, None
        page = await self._act(lambda: self.client.objection_records(limit=1, record_id=record_id))
        if page is None:
            return False
        if not page.items:
            self.notice = "me.record_gone"
            self.notify()
            return False
        self.start_objection(page.items[0])
        return True

    def start_objection(self, record: Record) -> None:
        self.objecting, self.invalid = record, None
        self.draft.pop("reason", None)
        self.notify()

    def cancel_objection(self) -> None:
        self.objecting, self.invalid = None, None
        self.notify()

    async def file_objection(self, reason: str) -> bool:
        if self.objecting is None:
            return False
        if len(reason.strip()) < 2:
            self.invalid = "me.reason_required"
            self.notify()
            return False
        record_id = self.objecting.id
        detail = await self._act(lambda: self.client.file_objection(record_id, reason.strip()))
        if detail is None:
            return False
        self.objections = [detail.objection, *self.objections]
        self.objecting, self.records, self.notice = None, None, "me.objection_filed"
        self.notify()
        return True

    async def send_claim(self, uscc: str) -> None:
        self.claim_uscc = uscc.strip().upper()
        await self._act(lambda: self.client.firm_claim(self.claim_uscc))
        self.claim_sent = self.error is None
        self.notify()

    async def verify_claim(self, code: str) -> str | None:
        me = await self._act(lambda: self.client.firm_claim_verify(self.claim_uscc, code.strip()))
        if me is None:
            return None
        self.uscc, self.claim_sent = me.firm_uscc, False
        await self.load()
        return me.firm_uscc
