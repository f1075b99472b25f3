"""Two ``xinbao worker`` processes, one frozen past a fire time (issue 10, point 9).

Both workers run the real scheduler on the test's own PostgreSQL and Redis, with the hidden
``test_heartbeat`` job every 2 s (``XINBAO_TEST_JOB_PERIOD_SECONDS``), which appends
"<pid> <as_of>" to a file on every run it really makes. Worker A is frozen with SIGSTOP
between two runs and thawed with SIGCONT after two fire times passed: A wakes up late to the
latest fire time it slept through (normally finding it done by B, recorded in the database).
Every fire time ran exactly once, none was skipped, and the ``job_run`` table says the same.
"""

from __future__ import annotations

import os
import re
import signal
import time
from datetime import datetime
from pathlib import Path

import pytest

from tests.chaos.conftest import migrate, wait_until

pytestmark = pytest.mark.chaos

PERIOD_S = 2


def _runs(path: Path) -> list[tuple[int, float]]:
    """(pid, fire time as a timestamp) of every run the heartbeat job made."""
    if not path.exists():
        return []
    runs = []
    for line in path.read_text().splitlines():
        pid, as_of = line.split()
        runs.append((int(pid), datetime.fromisoformat(as_of).timestamp()))
    return runs


def test_a_worker_frozen_past_the_fire_time_does_not_run_the_job_again(
        pg_cluster, redis_proc, worker_process, tmp_path: Path):
    url = pg_cluster.new_database()
    database = url.rsplit("/", 1)[1]
    migrate(url, tmp_path / "data")
    heartbeat = tmp_path / "heartbeat.log"
    env = {"XINBAO_TEST_JOB_PERIOD_SECONDS": str(PERIOD_S), "XINBAO_TEST_JOB_LOG": str(heartbeat)}
    a = worker_process(url, redis_proc.url, env)
    b = worker_process(url, redis_proc.url, env)

    # both workers are up (each has logged its start), and a run has happened since
    wait_until(lambda: "worker started" in a.log() and "worker started" in b.log(), 30,
               f"both workers to start:\n{a.log()[-2000:]}\n{b.log()[-2000:]}", interval=0.1)
    seen = len(_runs(heartbeat))
    wait_until(lambda: len(_runs(heartbeat)) > seen, 10, "a heartbeat run", interval=0.02)

    # A freezes between runs: half a period after a fire time, once no run of the job is open
    # (frozen in the middle of a run, A's scheduler would skip what it slept through as
    # "maximum running instances reached" instead of waking up late to it).
    while True:
        now = time.time()
        mid = now // PERIOD_S * PERIOD_S + PERIOD_S / 2
        time.sleep(mid - now if mid > now else mid + PERIOD_S - now)
        open_runs = pg_cluster.psql("SELECT count(*) FROM job_run WHERE job = 'test_heartbeat' "
                                    "AND finished_at IS NULL", database=database)
        if open_runs == "0":
            break
    os.kill(a.process.pid, signal.SIGSTOP)
    frozen_at = time.time()
    try:
        time.sleep(2.5 * PERIOD_S)  # two fire times pass while A is frozen
    finally:
        os.kill(a.process.pid, signal.SIGCONT)
    thawed_at = time.time()
    time.sleep(2 * PERIOD_S + 1)  # A catches up, both run on
    assert a.stop() == 0 and b.stop() == 0, a.log()[-3000:] + b.log()[-3000:]

    runs = _runs(heartbeat)
    fire_times = sorted(t for _, t in runs)
    assert len(fire_times) >= 5, runs
    # each fire time ran exactly once, and none was skipped from the first to the last
    assert len(set(fire_times)) == len(fire_times), runs
    assert [round(t2 - t1) for t1, t2 in zip(fire_times, fire_times[1:], strict=False)] \
        == [PERIOD_S] * (len(fire_times) - 1), runs
    assert {pid for pid, _ in runs} <= {a.process.pid, b.process.pid}
    # A slept through fire times; all but the latest were B's (A's scheduler coalesces the
    # runs it missed into one, of the latest fire time), and A did wake up late to that one
    # and asked for it (B had normally run it: "already ran elsewhere").
    missed = [t for t in fire_times if frozen_at < t < thawed_at]
    assert len(missed) >= 2, (frozen_at, thawed_at, runs)
    assert all(pid == b.process.pid for pid, t in runs if t in missed[:-1]), runs
    asked = [datetime.fromisoformat(m).timestamp() for m in re.findall(
        r"job test_heartbeat for (\S+) (?:already ran elsewhere|starts)", a.log())]
    assert missed[-1] in asked, (missed, a.log()[-3000:])

    # the database's record of runs says the same: one row per fire time, each done
    rows = pg_cluster.psql("SELECT extract(epoch FROM scheduled_at)::bigint, status FROM job_run "
                           "WHERE job = 'test_heartbeat' ORDER BY scheduled_at", database=database)
    recorded = [line.split("|") for line in rows.splitlines()]
    assert [int(t) for t, _ in recorded] == [round(t) for t in fire_times], (recorded, runs)
    assert {status for _, status in recorded} == {"done"}, recorded
