"""A department file killed half-way through and sent again (issue 17, must-show 2).

``xinbao ingest`` loads a 120,000-row tax file, committed in chunks of 10,000 rows (each with
the batch's progress). The test waits until some chunks are committed, SIGKILLs the process
(no cleanup, no rollback beyond the open chunk) and checks that exactly whole chunks are
stored and that the batch says so. The same command run again finds the broken-off batch by
the file's SHA-256, skips the rows it committed and stores the rest: every row stored once,
the one batch counting each row once. On SQLite and on PostgreSQL (the test's own cluster).
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
from datetime import date
from pathlib import Path

import pytest

from server.uscc import make_uscc
from tests.chaos.conftest import _env, _xinbao, migrate, wait_until

pytestmark = pytest.mark.chaos

FIRMS = 1000  # 120 months each, 2010-2019
ROWS = 120_000
CHUNK = 10_000


def _write_files(folder: Path) -> tuple[Path, Path]:
    firms = folder / "firms.csv"
    usccs = [make_uscc(7000 + i) for i in range(FIRMS)]
    firms.write_text("uscc,name,industry_division,town,registered_capital_yuan,founded_on,size_class,status\n"
                     + "".join(f"{u},续传企业{i}号有限公司,34,城关镇,1000000,2015-01-01,small,active\n"
                               for i, u in enumerate(usccs)), encoding="utf-8")
    months = [date(2010 + m // 12, 1 + m % 12, 28).isoformat() for m in range(ROWS // FIRMS)]
    tax = folder / "tax_monthly.csv"
    tax.write_text("record_key,uscc,event_date,category,amount_yuan,arrears_yuan\n"
                   + "".join(f"K-{n},{usccs[n % FIRMS]},{months[n // FIRMS]},vat,{1000 + n % 997}.50,0\n"
                             for n in range(ROWS)), encoding="utf-8")
    return firms, tax


@pytest.fixture(params=["sqlite", "postgres"])
def database(request, tmp_path: Path) -> tuple[str, object]:
    """(database url, a function running one SQL query and giving its first column's values)."""
    if request.param == "sqlite":
        path = tmp_path / "kill.db"

        def query(sql: str) -> list:
            with sqlite3.connect(path, timeout=30) as conn:
                return [r[0] for r in conn.execute(sql)]

        return f"sqlite:///{path}", query
    cluster = request.getfixturevalue("pg_cluster")
    url = cluster.new_database()
    name = url.rsplit("/", 1)[1]

    def pg_query(sql: str) -> list:
        out = cluster.psql(sql, database=name)
        return [int(v) if v.lstrip("-").isdigit() else v for v in out.splitlines()]

    return url, pg_query


def _ingest(url: str, data: Path, file: Path, source: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen([_xinbao(), "ingest", str(file), "--source", source],
                            env=_env(url, None, data, {"XINBAO_INGEST_CHUNK_ROWS": str(CHUNK)}),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def _finish(proc: subprocess.Popen[bytes]) -> dict:
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err.decode(errors="replace")[-3000:]
    return json.loads(out.decode().strip().splitlines()[-1])


def test_a_file_killed_half_way_and_sent_again_stores_every_row_exactly_once(database, tmp_path: Path):
    url, query = database
    data = tmp_path / "data"
    migrate(url, data)
    firms, tax = _write_files(tmp_path)
    assert _finish(_ingest(url, data, firms, "firms"))["accepted"] == FIRMS

    def committed() -> int:
        found = query("SELECT COALESCE(MAX(rows), 0) FROM ingest_batch WHERE source = 'tax_monthly'")
        return int(found[0]) if found else 0

    proc = _ingest(url, data, tax, "tax_monthly")
    try:
        wait_until(lambda: committed() > 0 or proc.poll() is not None, 120, "a committed chunk", interval=0.01)
    finally:
        proc.kill()  # SIGKILL: no handler runs, the open chunk's transaction dies with the process
        proc.wait(timeout=30)
    kept = committed()
    assert 0 < kept < ROWS, f"killed after {kept} of {ROWS} rows (the file must be cut half-way)"
    assert query("SELECT state FROM ingest_batch WHERE source = 'tax_monthly'") == ["running"]
    assert query("SELECT accepted FROM ingest_batch WHERE source = 'tax_monthly'") == [kept]
    assert query("SELECT COUNT(*) FROM dept_record WHERE source = 'tax_monthly'") == [kept]
    first_batch = query("SELECT id FROM ingest_batch WHERE source = 'tax_monthly'")[0]

    again = _finish(_ingest(url, data, tax, "tax_monthly"))
    assert again["batch_id"] == first_batch and again["resumed_after"] == kept, again
    assert (again["rows"], again["accepted"], again["duplicates"], again["rejected_rows"]) == (ROWS, ROWS, 0, 0)
    assert query("SELECT COUNT(*) FROM dept_record WHERE source = 'tax_monthly'") == [ROWS]
    assert query("SELECT COUNT(DISTINCT record_key) FROM dept_record WHERE source = 'tax_monthly'") == [ROWS]
    assert query("SELECT COUNT(*) FROM dept_record WHERE source = 'tax_monthly' "
                 f"AND batch_id <> {int(first_batch)}") == [0]
    assert query("SELECT state FROM ingest_batch WHERE source = 'tax_monthly'") == ["done"]
    assert query("SELECT rows FROM ingest_batch WHERE source = 'tax_monthly'") == [ROWS]
