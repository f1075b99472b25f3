"""The one Piccolo app holding every domain's tables, so there is one migration history."""

from __future__ import annotations

from pathlib import Path

from piccolo.conf.apps import AppConfig

from server.consent.tables import AccessLog, Consent
from server.financing.tables import ApplicationEvent, Bank, LoanApplication, LoanProduct
from server.firms.tables import Firm, FirmPerson, Guarantee, Person
from server.fund.tables import FundLedger, GuaranteeFund
from server.ingest.tables import Department, DeptRecord, IngestBatch
from server.jobs_tables import JobRun
from server.notifications.tables import Notification, Outbox, Subscription
from server.objections.tables import Objection
from server.policies.tables import Policy, PolicyApplication
from server.risk.tables import RiskSnapshot, Warning
from server.scores.tables import (
    ModelVersion,
    OverrideRuleSet,
    ScoreHistory,
    ScoringRun,
    WeightProfile,
)
from server.users.tables import RevokedToken, User

TABLES = [
    Firm, Person, FirmPerson, Guarantee,
    Department, IngestBatch, DeptRecord,
    Bank, LoanProduct, LoanApplication, ApplicationEvent,
    User, RevokedToken,
    Consent, AccessLog,
    Policy, PolicyApplication,
    Objection,
    Subscription, Notification, Outbox,
    Warning, RiskSnapshot,
    ModelVersion, WeightProfile, OverrideRuleSet, ScoringRun, ScoreHistory,
    GuaranteeFund, FundLedger,
    JobRun,
]  # fmt: skip

APP_CONFIG = AppConfig(
    app_name="xinbao",
    migrations_folder_path=str(Path(__file__).parent / "piccolo_migrations"),
    table_classes=TABLES,
    migration_dependencies=[],
    commands=[],
)
