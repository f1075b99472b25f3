"""Structs of the objection routes."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Literal

import msgspec

__all__ = [
    "DisputedRecord",
    "ObjectionCreate",
    "ObjectionDetail",
    "ObjectionOut",
    "RecordOut",
    "RecordPage",
    "Resolution",
    "TrailEvent",
]

#: A value of a feed field: yuan amounts as numbers or strings ("1234.56"), dates as
#: "YYYY-MM-DD", categories and statuses as text; null clears an optional field.
FieldValue = str | int | float | None

_PROPOSED_EXAMPLE = {"amount_yuan": 913852.6}


class RecordOut(msgspec.Struct):
    """A department record as stored; money in fen (分) as the field names say."""

    id: int
    source: str
    source_name_zh: str
    source_name_en: str
    department: str
    department_name_zh: str
    department_name_en: str
    record_key: str
    event_date: date
    end_date: date | None
    category: str | None
    amount_fen: int | None
    arrears_fen: int | None
    quantity: float | None
    days: int | None
    status: str | None
    attrs: dict[str, Any] | None
    batch_id: int
    received_at: datetime
    superseded_at: datetime | None
    correctable: list[str]  # the feed fields an objection may propose and a correction change
    has_open_objection: bool
    open_objection_id: int | None


class RecordPage(msgspec.Struct):
    total: int
    limit: int
    offset: int
    items: list[RecordOut]


class ObjectionCreate(msgspec.Struct):
    record_id: Annotated[int, msgspec.Meta(ge=1, le=2**63 - 1, examples=[30724],
                                           description="id of a current record of your firm")]
    reason: Annotated[str, msgspec.Meta(min_length=2, max_length=1000,
                                        examples=["2026年10月增值税应为913,852.60元，少录一位"])]
    proposed: Annotated[
        dict[str, FieldValue] | None,
        msgspec.Meta(examples=[_PROPOSED_EXAMPLE],
                     description="corrected values by feed field name (see the record's `correctable`)"),
    ] = None


class Resolution(msgspec.Struct):
    decision: Annotated[Literal["correct", "reject"], msgspec.Meta(examples=["correct"])]
    reason: Annotated[str, msgspec.Meta(max_length=1000,
                                        examples=["核对申报表后更正 / corrected after checking the return"])] = ""
    values: Annotated[
        dict[str, FieldValue] | None,
        msgspec.Meta(examples=[_PROPOSED_EXAMPLE],
                     description="for correct: the corrected values (default: the owner's proposal)"),
    ] = None


class TrailEvent(msgspec.Struct):
    """One step of an objection: filed, corrected or rejected, re-scored."""

    event: Literal["filed", "corrected", "rejected", "rescored"]
    text_zh: str
    text_en: str
    at: datetime
    by_role: str | None = None
    by_name: str | None = None
    reason: str = ""
    old_values: dict[str, Any] | None = None
    new_values: dict[str, Any] | None = None
    model_version: str | None = None
    as_of: date | None = None
    score: int | None = None  # shown to the firm's owner and admins only
    grade: str | None = None


class ObjectionOut(msgspec.Struct):
    id: int
    firm_uscc: str
    firm_name: str
    record_id: int
    source: str
    department: str
    reason: str
    proposed: dict[str, FieldValue] | None
    status: Literal["open", "corrected", "rejected"]
    resolution: str
    corrected_record_id: int | None
    created_at: datetime
    resolved_at: datetime | None
    source_name_zh: str = ""  # the record kind as people name it: 失信被执行人, Dishonest-debtor listing
    source_name_en: str = ""


class ObjectionDetail(msgspec.Struct):
    objection: ObjectionOut
    record: RecordOut
    corrected_record: RecordOut | None
    trail: list[TrailEvent]


class DisputedRecord(msgspec.Struct):
    """A record with an open objection, for marking it in the evaluation."""

    record_id: int
    source: str
    objection_id: int
    filed_at: datetime
