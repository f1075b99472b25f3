"""One open consent per firm, bank and scope; one pending application per firm and product; one
fund entry of each closing kind per loan (issue 10, points 6 and 7).

Partial unique indexes, the same SQL on SQLite and PostgreSQL. Parallel requests had written
duplicates the services' read-then-write checks could not see, so each step first ends the
duplicates a database may already hold, then creates the index:

- open consents (not revoked) of one firm, bank and scope: the one lasting longest stays, the
  others are revoked now;
- pending applications of one firm and product: the oldest stays, the others are declined with
  the code ``duplicate``;
- ``cover``, ``release``, ``claim`` and ``default`` entries of one loan: the first stays, later
  copies (over-booked cover) are deleted.

Piccolo's snapshot has no partial indexes, so it is not affected.
"""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.engine.finder import engine_finder

ID = "2026-12-03T09:10:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "one open consent, one pending application, one cover per loan"

# Kinds booked at most once per loan (``recovery`` may come in several payments).
ONCE_PER_LOAN = "('cover', 'release', 'claim', 'default')"


async def _run(*statements: str) -> None:
    engine = engine_finder()  # the engine of this run (a process can migrate several databases)
    for sql in statements:
        await engine.run_ddl(sql)


async def one_open_consent() -> None:
    await _run(
        """UPDATE consent SET revoked_at = CURRENT_TIMESTAMP
           WHERE revoked_at IS NULL AND id <> (
               SELECT keep.id FROM consent AS keep
               WHERE keep.firm = consent.firm AND keep.bank = consent.bank
                 AND keep.scope = consent.scope AND keep.revoked_at IS NULL
               ORDER BY keep.expires_at DESC, keep.id DESC LIMIT 1)""",
        """CREATE UNIQUE INDEX IF NOT EXISTS consent_one_open ON consent (firm, bank, scope)
           WHERE revoked_at IS NULL""",
    )


async def one_pending_application() -> None:
    await _run(
        """UPDATE loan_application SET status = 'declined', decline_code = 'duplicate',
               decline_text = 'a second pending application for the same product',
               decided_at = CURRENT_TIMESTAMP
           WHERE status = 'pending' AND id <> (
               SELECT MIN(keep.id) FROM loan_application AS keep
               WHERE keep.firm = loan_application.firm AND keep.product = loan_application.product
                 AND keep.status = 'pending')""",
        # The application's timeline says so, like any decision.
        """INSERT INTO application_event (application, status, at, by_user, note)
           SELECT a.id, 'declined', a.decided_at, NULL, 'declined: duplicate: ' || a.decline_text
           FROM loan_application AS a
           WHERE a.decline_code = 'duplicate' AND NOT EXISTS (
               SELECT 1 FROM application_event AS e
               WHERE e.application = a.id AND e.status = 'declined')""",
        """CREATE UNIQUE INDEX IF NOT EXISTS loan_application_one_pending
           ON loan_application (firm, product) WHERE status = 'pending'""",
    )


async def once_per_loan() -> None:
    await _run(
        f"""DELETE FROM fund_ledger
            WHERE application IS NOT NULL AND kind IN {ONCE_PER_LOAN} AND id <> (
                SELECT MIN(keep.id) FROM fund_ledger AS keep
                WHERE keep.application = fund_ledger.application AND keep.kind = fund_ledger.kind)""",
        f"""CREATE UNIQUE INDEX IF NOT EXISTS fund_ledger_once ON fund_ledger (application, kind)
            WHERE kind IN {ONCE_PER_LOAN}""",
    )


async def _drop_indexes() -> None:
    await _run("DROP INDEX IF EXISTS consent_one_open",
               "DROP INDEX IF EXISTS loan_application_one_pending",
               "DROP INDEX IF EXISTS fund_ledger_once")


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="xinbao", description=DESCRIPTION)
    manager.add_raw(one_open_consent)
    manager.add_raw(one_pending_application)
    manager.add_raw(once_per_loan)
    manager.add_raw_backwards(_drop_indexes)
    return manager
