"""The one Piccolo app holding every domain's tables, so there is one migration history."""

from __future__ import annotations

from pathlib import Path

from piccolo.conf.apps import AppConfig

from server.tables.audit import AuditEvent
from server.tables.consent import AccessLog, Consent
from server.tables.financing import ApplicationEvent, Bank, LoanApplication, LoanProduct
from server.tables.firms import Firm, FirmPerson, Guarantee, Person
from server.tables.fund import FundLedger, GuaranteeFund
from server.tables.ingest import Department, DeptRecord, FeedArrival, FirmMonth, IngestBatch
from server.tables.jobs import JobRun
from server.tables.notifications import Notification, Outbox, Subscription
from server.tables.objections import Objection
from server.tables.policies import Policy, PolicyApplication
from server.tables.projects import Project, ProjectCheck, ProjectMilestone, ProjectReport
from server.tables.reports import AnnualReport
from server.tables.risk import RiskSnapshot, Warning
from server.tables.scores import (
    ModelVersion,
    OverrideRuleSet,
    ScoreHistory,
    ScoringRun,
    WeightProfile,
)
from server.tables.users import RevokedToken, User

TABLES = [
    Firm, Person, FirmPerson, Guarantee,
    Department, IngestBatch, DeptRecord, FirmMonth, FeedArrival,
    Bank, LoanProduct, LoanApplication, ApplicationEvent,
    User, RevokedToken,
    Consent, AccessLog,
    Policy, PolicyApplication,
    Project, ProjectMilestone, ProjectReport, ProjectCheck,
    Objection,
    Subscription, Notification, Outbox,
    Warning, RiskSnapshot,
    ModelVersion, WeightProfile, OverrideRuleSet, ScoringRun, ScoreHistory,
    GuaranteeFund, FundLedger,
    JobRun,
    AuditEvent,
    AnnualReport,
]  # fmt: skip

APP_CONFIG = AppConfig(
    app_name="xinbao",
    migrations_folder_path=str(Path(__file__).parent / "piccolo_migrations"),
    table_classes=TABLES,
    migration_dependencies=[],
    commands=[],
)
