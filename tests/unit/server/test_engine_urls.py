"""A Dask worker opens the database the re-score's own engine reads (``server.engines.url_of``),
never another: an SQLite file by its absolute path, whatever the worker's folder, and a
missing file refused rather than created empty (every firm would be scored on nothing)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from server.engines import engine_from_url, sqlite_path_of, url_of

# Piccolo asks a new PostgreSQL engine's server for its version when an event loop runs; these
# engines are only built and compared, never used, so that warning says nothing here.
pytestmark = pytest.mark.filterwarnings("ignore:.*Unable to (fetch server version|connect to database)")


@pytest.mark.parametrize("url", ["postgresql://postgres@127.0.0.1:5432/xinbao_a",
                                 "postgresql://user:p%40ss%2Fw@127.0.0.2:5433/xin%20bao",
                                 "postgres://reader@127.0.0.3/region"])
def test_a_postgresql_engines_url_opens_the_same_database(url: str) -> None:
    engine = engine_from_url(url)
    again = engine_from_url(url_of(engine))
    assert again.config == engine.config


def test_an_sqlite_engines_url_names_its_file_from_any_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "a b%").mkdir()
    monkeypatch.chdir(tmp_path / "a b%")
    engine = engine_from_url("sqlite:///region.db")
    url = url_of(engine)
    monkeypatch.chdir(tmp_path)  # the worker runs elsewhere
    assert sqlite_path_of(engine_from_url(url)) == str(tmp_path / "a b%" / "region.db")
    assert os.path.isabs(sqlite_path_of(engine_from_url(url)))


def test_a_worker_refuses_an_sqlite_file_it_cannot_see(tmp_path: Path) -> None:
    from server.scores.distributed import score_stored_part

    missing = tmp_path / "nowhere.db"
    import pandas as pd

    with pytest.raises(FileNotFoundError, match="nowhere.db"):
        score_stored_part(None, f"sqlite:///{missing}", pd.DataFrame({"uscc": ["91371000MA3C000001"]}),
                          pd.Timestamp("2024-06-30").date())
    assert not missing.exists()


def test_an_annual_report_worker_refuses_an_sqlite_file_it_cannot_see(tmp_path: Path) -> None:
    import pandas as pd

    from server.reports.annual.parts import part_sums

    missing = tmp_path / "nowhere.db"
    with pytest.raises(FileNotFoundError, match="nowhere.db"):
        part_sums(f"sqlite:///{missing}", ["91371000MA3C000001"], 2025, pd.Timestamp("2025-01-31"),
                  pd.Timestamp("2025-12-31"), [])
    assert not missing.exists()
