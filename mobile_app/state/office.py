"""The department operator's screens: send a feed and read its per-row report, the department's
batches, and the objections routed to the department (correct or reject)."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

from mobile_app.api import ApiClient
from mobile_app.api.models import (
    Batch,
    DepartmentHealth,
    FeedSource,
    IngestReport,
    Objection,
    ObjectionDetail,
    PolicyApplication,
)
from mobile_app.state.base import Loadable, whole_number

__all__ = ["BatchesState", "ObjectionQueueState", "PolicyQueueState", "UploadState", "feed_format"]

CHUNK = 1 << 20  # a feed goes to the API a mebibyte at a time, never whole in memory
FEED_EXTENSIONS = ("csv", "jsonl", "ndjson", "txt")


def feed_format(filename: str) -> str | None:
    """The feed format a file name says (None: let the API read the first bytes)."""
    ext = filename.rsplit(".", 1)[-1].lower() if "." in filename else ""
    return {"csv": "csv", "jsonl": "jsonl", "ndjson": "jsonl"}.get(ext)


@dataclass(kw_only=True)
class UploadState(Loadable):
    """One feed at a time: chosen source → file picked → sent (with progress) → the report.

    ``phase``: idle, uploading (the browser hands the file to the app), sending (the app streams
    it to the API), done (``report``) or failed (``error``)."""

    client: ApiClient
    sources: list[FeedSource] = field(default_factory=list)
    source: str | None = None
    phase: str = "idle"
    progress: float = 0.0  # of the current phase, 0..1
    filename: str = ""
    size: int = 0
    report: IngestReport | None = None
    report_source: str | None = None

    async def load(self) -> None:
        sources = await self._run(self.client.feed_sources)
        if sources is not None:
            self.sources = sources
            if self.source not in {s.code for s in sources}:
                self.source = sources[0].code if sources else None
            self.notify()

    def choose(self, code: str) -> None:
        if code in {s.code for s in self.sources}:
            self.source = code
            self.notify()

    @property
    def busy(self) -> bool:
        return self.phase in ("uploading", "sending")

    def started(self, filename: str, size: int) -> None:
        """The browser began handing the picked file over."""
        self.phase, self.progress, self.filename, self.size = "uploading", 0.0, filename, size
        self.report, self.error, self.error_kind = None, None, None
        self.notify()

    def uploading(self, fraction: float) -> None:
        self.progress = max(0.0, min(1.0, fraction))
        self.notify()

    def failed(self, message: str) -> None:
        self.phase, self.error, self.error_kind = "failed", message, "api"
        self.notify()

    async def send(self, filename: str, path: Path) -> IngestReport | None:
        """Stream the file at ``path`` to the API as the chosen source's feed."""
        if self.source is None:
            return None
        source = self.source
        self.phase, self.progress, self.filename = "sending", 0.0, filename
        self.size = path.stat().st_size
        self.notify()

        async def chunks() -> AsyncIterator[bytes]:
            sent, shown = 0, 0.0
            with path.open("rb") as f:
                while block := f.read(CHUNK):
                    sent += len(block)
                    if self.size and sent / self.size - shown >= 0.05:
                        shown = self.progress = sent / self.size
                        self.notify()
                    yield block

        report = await self._act(lambda: self.client.send_feed(
            source, chunks() if self.size > CHUNK else path.read_bytes(), filename=filename,
            fmt=feed_format(filename)))
        if report is None:
            self.phase = "failed"
        else:
            self.phase, self.progress, self.report, self.report_source = "done", 1.0, report, source
        self.notify()
        return report

    async def rejected_csv(self, report_url: str) -> bytes | None:
        """Every rejected and repeated row of the batch just sent, as the CSV the API writes."""
        return await self._act(lambda: self.client.download(report_url))

    def reset(self) -> None:
        self.phase, self.progress, self.report, self.error, self.error_kind = "idle", 0.0, None, None, None
        self.notify()


@dataclass(kw_only=True)
class BatchesState(Loadable):
    """The department's batches, newest first, and how its feeds serve the platform."""

    client: ApiClient
    items: list[Batch] = field(default_factory=list)
    health: DepartmentHealth | None = None

    async def load(self) -> None:
        items = await self._run(self.client.batches)
        if items is not None:
            self.items = items
            health = await self._run(self.client.feed_health)
            if health is not None:
                self.health = health.departments[0] if health.departments else None
            self.notify()

    async def rejected_csv(self, report_url: str) -> bytes | None:
        """Every rejected and repeated row of a batch, as the CSV the API writes."""
        return await self._act(lambda: self.client.download(report_url))


def _value(text: str) -> object:
    """A typed value as the feed would carry it: whole numbers and decimals as numbers, the rest
    (dates, categories, statuses) as text."""
    plain = text.strip().replace(",", "")
    if re.fullmatch(r"-?\d+", plain):
        return int(plain)
    if re.fullmatch(r"-?\d+\.\d+", plain):
        return float(plain)
    return text.strip()


@dataclass(kw_only=True)
class ObjectionQueueState(Loadable):
    """Objections routed to the department: open ones first; open one, correct or reject it."""

    client: ApiClient
    items: list[Objection] = field(default_factory=list)
    detail: ObjectionDetail | None = None
    reason: str = ""  # the reply as typed
    values: dict[str, str] = field(default_factory=dict)  # corrected values as typed (feed field → text)
    invalid: str | None = None
    deciding: bool = False

    @property
    def open_count(self) -> int:
        return sum(1 for o in self.items if o.status == "open")

    @staticmethod
    def _sorted(items: list[Objection]) -> list[Objection]:
        return sorted(items, key=lambda o: (o.status != "open", o.created_at))  # open first

    async def load(self) -> None:
        items = await self._run(self.client.objections)
        if items is not None:
            self.items = self._sorted(items)
            self.notify()

    async def open(self, objection_id: int) -> None:
        detail = await self._act(lambda: self.client.objection(objection_id))
        if detail is not None:
            self.detail, self.reason, self.invalid = detail, "", None
            proposed = detail.objection.proposed or {}
            self.values = {name: "" if proposed.get(name) is None else str(proposed[name])
                           for name in detail.record.correctable}
        self.notify()

    def close(self) -> None:
        self.detail, self.invalid = None, None
        self.notify()

    async def resolve(self, decision: str) -> bool:
        """Correct the record (with the owner's proposal, re-scoring the firm) or reject with a
        reason; the queue is read again after."""
        if self.detail is None or self.deciding:
            return False
        reason = self.reason.strip()
        if decision == "reject" and len(reason) < 2:
            self.invalid = "office.need_reason"
            self.notify()
            return False
        self.deciding, self.invalid = True, None
        self.notify()
        oid = self.detail.objection.id
        values = {k: _value(v) for k, v in self.values.items() if v.strip()} if decision == "correct" else None
        try:
            done = await self._act(lambda: self.client.resolve_objection(oid, decision, reason, values))
        finally:
            self.deciding = False
        if done is None:
            self.notify()
            return False
        self.detail = done
        items = await self._act(self.client.objections)
        if items is not None:
            self.items = self._sorted(items)
        self.notify()
        return True


@dataclass(kw_only=True)
class PolicyQueueState(Loadable):
    """Applications for the department's support policies: pending first, each with the
    applicant's latest score; approve, or reject with a reason."""

    client: ApiClient
    items: list[PolicyApplication] = field(default_factory=list)
    reasons: dict[int, str] = field(default_factory=dict)  # a rejection's reason as typed, per application
    invalid: dict[int, str] = field(default_factory=dict)  # catalogue key of what is missing, per application
    deciding: int | None = None
    #: an approval's project terms as typed, per application: granted yuan, months, new jobs,
    #: added tax a year, investment (blank: not promised)
    terms: dict[int, dict[str, str]] = field(default_factory=dict)

    @property
    def pending(self) -> int:
        return sum(1 for a in self.items if a.status == "pending")

    def _sorted(self, items: list[PolicyApplication]) -> list[PolicyApplication]:
        return sorted(items, key=lambda a: (a.status != "pending", a.created_at))

    async def load(self) -> None:
        await self._run(self.client.policy_applications, lambda items: setattr(self, "items", self._sorted(items)))

    def _project(self, application_id: int) -> dict | None:
        """The project terms typed for an approval (whole numbers), or None when one is not."""
        typed = {k: v.strip() for k, v in self.terms.get(application_id, {}).items() if v.strip()}
        numbers = {k: whole_number(v) for k, v in typed.items()}
        if any(v is None for v in numbers.values()):
            return None
        project: dict = {"granted_yuan": numbers.get("granted", 0), "outcomes": [
            {"metric": metric, "change": numbers[metric]} for metric in ("jobs", "tax", "investment")
            if numbers.get(metric)]}
        if numbers.get("months"):
            project["months"] = numbers["months"]
        return project

    async def decide(self, application_id: int, decision: str) -> bool:
        reason = self.reasons.get(application_id, "").strip()
        if decision == "reject" and len(reason) < 2:
            self.invalid[application_id] = "office.need_reason"
            self.notify()
            return False
        project = self._project(application_id) if decision == "approve" else None
        if decision == "approve" and project is None:
            self.invalid[application_id] = "office.bad_terms"
            self.notify()
            return False
        self.invalid.pop(application_id, None)
        self.deciding = application_id
        self.notify()
        try:
            done = await self._act(lambda: self.client.decide_policy(application_id, decision, reason, project))
        finally:
            self.deciding = None
        if done is not None:
            self.items = self._sorted([done if a.id == done.id else a for a in self.items])
        self.notify()
        return done is not None
