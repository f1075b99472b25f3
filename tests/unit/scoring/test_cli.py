"""The generic CSV path: train_csv and score_csv."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from scoring.cli import read_target, score_csv, train_csv
from scoring.registry import ModelRegistry


def test_train_and_score_a_csv(tmp_path: Path) -> None:
    rng = np.random.default_rng(4)
    n = 600
    df = pd.DataFrame({"income": rng.lognormal(3, 1, n), "region": rng.choice(["n", "s", "e"], n),
                       "age": rng.integers(18, 80, n).astype(float)})
    df.loc[::9, "income"] = np.nan
    risk = (df["region"] == "s") * 1.5 - np.log(df["income"].fillna(20)) * 0.5
    df["outcome"] = np.where(rng.random(n) < 1 / (1 + np.exp(-risk)), "bad", "good")
    csv = tmp_path / "data.csv"
    df.to_csv(csv, index=False)
    reg = tmp_path / "models"
    version = train_csv(csv, "outcome", bad="bad", registry_dir=reg, folds=3, n_bags=2,
                        max_iter=60)
    meta = ModelRegistry(reg).meta(version)
    assert meta["target"] == "outcome" and len(meta["metrics"]["cv_auc_folds"]) == 3
    assert meta["metrics"]["cv_auc"] > 0.6
    out = tmp_path / "scores.csv"
    new = df.drop(columns=["outcome"]).iloc[::-1]  # any order; output follows input
    new.to_csv(tmp_path / "new.csv", index=False)
    assert score_csv(version, tmp_path / "new.csv", out, registry_dir=reg) == n
    res = pd.read_csv(out)
    assert len(res) == n and {"pd", "score", "grade", "reason_1", "reason_1_text_en"} <= set(res)
    direct = ModelRegistry(reg).load(version).model.rate(pd.read_csv(tmp_path / "new.csv"))
    np.testing.assert_array_equal(res["score"].to_numpy(), direct.score)


def test_read_target_defaults_to_one() -> None:
    df = pd.DataFrame({"t": [1, 0, 2, 1]})
    assert read_target(df, "t").tolist() == [1, 0, 0, 1]
    assert read_target(pd.DataFrame({"t": ["Y", "N"]}), "t", "Y").tolist() == [1, 0]
