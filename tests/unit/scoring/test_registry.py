"""The registry stores signed artifacts and refuses anything it did not write."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from scoring.registry import ArtifactError, ModelRegistry, data_hash
from scoring.scorecard import Scorecard


@pytest.fixture(scope="module")
def small_model() -> tuple[Scorecard, pd.DataFrame]:
    rng = np.random.default_rng(0)
    X = pd.DataFrame({"a": rng.normal(size=400), "b": rng.choice(["u", "v"], size=400)})
    y = (X["a"] + rng.normal(size=400) > 0.5).astype(int)
    return Scorecard(n_bags=1, max_iter=20).fit(X, y), X


def test_round_trip_with_metadata(tmp_path: Path, small_model: tuple[Scorecard, pd.DataFrame]
                                  ) -> None:
    model, X = small_model
    reg = ModelRegistry(tmp_path, key="k1")
    v = reg.save(model, training_hash=data_hash(X), metrics={"auc": 0.8})
    loaded = reg.load(v)
    assert loaded.version == v and reg.versions() == [v] and reg.latest() == v
    meta = loaded.meta
    assert meta["features"] == ["a", "b"] and meta["training_data_hash"] == data_hash(X)
    assert meta["libraries"]["scikit-learn"] and meta["pd_bands"]["upper"]
    assert meta["score_scale"]["pdo"] > 0 and meta["metrics"]["auc"] == 0.8
    np.testing.assert_array_equal(loaded.model.rate(X).score, model.rate(X).score)


def test_refuses_a_tampered_pickle(tmp_path: Path,
                                   small_model: tuple[Scorecard, pd.DataFrame]) -> None:
    reg = ModelRegistry(tmp_path, key="k1")
    v = reg.save(small_model[0])
    blob = tmp_path / v / "model.pkl"
    data = bytearray(blob.read_bytes())
    data[-5] ^= 0xFF
    blob.write_bytes(bytes(data))
    with pytest.raises(ArtifactError):
        reg.load(v)


def test_refuses_edited_metadata(tmp_path: Path,
                                 small_model: tuple[Scorecard, pd.DataFrame]) -> None:
    reg = ModelRegistry(tmp_path, key="k1")
    v = reg.save(small_model[0])
    meta_path = tmp_path / v / "meta.json"
    meta = json.loads(meta_path.read_text())
    meta["pd_bands"]["upper"][0] = 0.5
    meta_path.write_text(json.dumps(meta))
    with pytest.raises(ArtifactError, match="signature"):
        reg.load(v)


class _Boom:
    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (pytest.fail, ("a foreign pickle was unpickled",))


def test_never_unpickles_a_foreign_artifact(tmp_path: Path,
                                            small_model: tuple[Scorecard, pd.DataFrame]) -> None:
    ours = ModelRegistry(tmp_path / "ours", key="ours")
    theirs = ModelRegistry(tmp_path / "theirs", key="theirs")
    v = theirs.save(small_model[0])
    (tmp_path / "ours" / v).mkdir()
    for f in ("meta.json", "model.pkl"):
        (tmp_path / "ours" / v / f).write_bytes((tmp_path / "theirs" / v / f).read_bytes())
    with pytest.raises(ArtifactError):
        ours.load(v)
    # A pickle that would run code is rejected before unpickling.
    (tmp_path / "ours" / v / "model.pkl").write_bytes(pickle.dumps(_Boom()))
    with pytest.raises(ArtifactError):
        ours.load(v)


def test_refuses_another_scikit_learn(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                      small_model: tuple[Scorecard, pd.DataFrame]) -> None:
    reg = ModelRegistry(tmp_path, key="k1")
    v = reg.save(small_model[0])
    import scoring.registry as registry_module

    monkeypatch.setattr(registry_module.sklearn, "__version__", "0.0.1")
    with pytest.raises(ArtifactError, match="scikit-learn"):
        reg.load(v)


def test_key_file_is_created_private(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("XINBAO_MODEL_KEY", raising=False)
    ModelRegistry(tmp_path)
    assert (tmp_path / ".key").stat().st_mode & 0o077 == 0
