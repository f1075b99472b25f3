"""The ``xinbao`` command's generic path: train on any CSV, then score it in input order."""

from __future__ import annotations

import numpy as np
import pandas as pd
from click.testing import CliRunner

from server.cli import main


def test_train_then_score_a_csv(tmp_path, monkeypatch):
    rng = np.random.default_rng(0)
    n = 400
    x = rng.normal(size=n)
    df = pd.DataFrame({
        "income": x * 1000 + 5000,
        "region": rng.choice(["north", "south", "east"], size=n),
        "debt_ratio": np.where(rng.random(n) < 0.1, np.nan, rng.random(n)),
        "status": np.where(rng.random(n) < 1 / (1 + np.exp(2 + 1.5 * x)), "bad", "good"),
    })
    data = tmp_path / "loans.csv"
    df.to_csv(data, index=False)
    monkeypatch.setenv("XINBAO_DEMO", "1")
    monkeypatch.setenv("XINBAO_DATA_DIR", str(tmp_path / "data"))
    runner = CliRunner()

    trained = runner.invoke(main, ["train", "--csv", str(data), "--target", "status", "--bad", "bad",
                                   "--bags", "4", "--rounds", "200"])
    assert trained.exit_code == 0, trained.output
    version = trained.output.strip().splitlines()[-1]
    assert version.startswith("csv-")

    out = tmp_path / "scored.csv"
    scored = runner.invoke(main, ["score", "--model", version, "--csv", str(data), "--out", str(out)])
    assert scored.exit_code == 0, scored.output
    result = pd.read_csv(out)
    assert len(result) == n
    assert {"pd", "score", "grade", "reason_1"} <= set(result.columns)
    assert result["score"].between(0, 1000).all()
    # input order kept: the riskiest incomes get the highest PDs on average
    low, high = result["pd"][x < -1].mean(), result["pd"][x > 1].mean()
    assert low > high


def test_train_csv_needs_a_target(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # the command's demo settings write ./data here, not in the checkout
    data = tmp_path / "a.csv"
    data.write_text("a,b\n1,2\n")
    r = CliRunner().invoke(main, ["train", "--csv", str(data)])
    assert r.exit_code != 0 and "--target" in r.output
