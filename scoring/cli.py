"""Plain functions behind ``xinbao train`` and ``xinbao score`` for any tabular CSV.

This is the generic path that holds the engine against other libraries on data it has never
seen: numeric and categorical columns, missing values, a binary target.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.model_selection import StratifiedKFold

from .explain import reason_table
from .monitoring import metrics
from .registry import ModelRegistry, data_hash
from .scorecard import Scorecard

__all__ = ["DEFAULT_REGISTRY", "cross_validated_auc", "read_target", "score_csv", "train_csv"]

DEFAULT_REGISTRY = Path(os.environ.get("XINBAO_MODEL_DIR", "var/models"))


def read_target(df: pd.DataFrame, target: str, bad: str | None = None) -> np.ndarray:
    """1 where the target equals ``bad`` (compared as text), else 0; default ``bad`` is 1."""
    col = df[target]
    if bad is None:
        num = pd.to_numeric(col, errors="coerce")
        return (num == 1).to_numpy().astype(int)
    return (col.astype(str).str.strip() == str(bad).strip()).to_numpy().astype(int)


def cross_validated_auc(X: pd.DataFrame, y: np.ndarray, folds: int = 5,
                        random_state: int = 42, **params: Any) -> list[float]:
    """Test AUC of each fold of a stratified k-fold cross-validation."""
    out = []
    skf = StratifiedKFold(n_splits=folds, shuffle=True, random_state=random_state)
    for tr, te in skf.split(X, y):
        m = Scorecard(random_state=random_state, **params).fit(X.iloc[tr], y[tr])
        out.append(metrics(y[te], m.predict_proba(X.iloc[te])[:, 1])["auc"])
    return out


def train_csv(csv_path: str | os.PathLike[str], target: str, bad: str | None = None,
              registry_dir: str | os.PathLike[str] = DEFAULT_REGISTRY, folds: int = 5,
              random_state: int = 42, **params: Any) -> str:
    """Cross-validate, fit on all rows and store a model for a CSV; returns its version.

    ``params`` are Scorecard parameters (e.g. ``n_bags``) for both the CV and the final fit.
    """
    df = pd.read_csv(csv_path)
    if target not in df.columns:
        raise ValueError(f"no column {target!r} in {csv_path}")
    y = read_target(df, target, bad)
    X = df.drop(columns=[target])
    cv = cross_validated_auc(X, y, folds, random_state, **params) if folds > 1 else []
    model = Scorecard(random_state=random_state, **params).fit(X, y)
    train = metrics(y, model.predict_proba(X)[:, 1])
    registry = ModelRegistry(registry_dir)
    return registry.save(
        model, name="csv", training_hash=data_hash(X, y),
        metrics={**{f"train_{k}": v for k, v in train.items()},
                 "cv_auc": float(np.mean(cv)) if cv else None, "cv_auc_folds": cv},
        extra={"target": target, "bad": bad, "source": str(csv_path), "rows": len(df)})


def score_csv(version: str, csv_path: str | os.PathLike[str], out_path: str | os.PathLike[str],
              registry_dir: str | os.PathLike[str] = DEFAULT_REGISTRY) -> int:
    """Write pd, score, grade and the top reasons (codes, points, zh/en texts) for every row
    of a CSV, in input order; returns the number of rows written."""
    loaded = ModelRegistry(registry_dir).load(version)
    df = pd.read_csv(csv_path)
    batch = loaded.model.rate(df)
    batch.model_version = version
    out = batch.frame().drop(columns=[c for c in batch.frame().columns if c.startswith("dim_")])
    zh = reason_table(batch, "zh").add_suffix("_zh")
    en = reason_table(batch, "en").add_suffix("_en")
    out = pd.concat([out, zh, en], axis=1)
    out.insert(0, "model_version", version)
    out.to_csv(out_path, index=False)
    return len(out)
