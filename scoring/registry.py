"""Versioned model artifacts that only this registry can load.

Each version is a directory ``<root>/<version>/`` with ``model.pkl`` (a pickled
:class:`~scoring.scorecard.Scorecard`) and ``meta.json`` (version, training-data hash, features,
library versions, metrics, PD bands, score scale, date). ``meta.json`` carries the SHA-256 of
the pickle and an HMAC-SHA256 over both made with the registry's secret key. Loading checks the
HMAC and the hash *before* unpickling (pickle runs code, so a file the registry did not write is
never unpickled) and refuses an artifact made under another scikit-learn version.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import pickle
import platform
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import sklearn

from .scorecard import Scorecard

__all__ = ["ArtifactError", "ModelRegistry", "RegisteredModel", "data_hash"]

_KEY_ENV = "XINBAO_MODEL_KEY"


class ArtifactError(RuntimeError):
    """The artifact is missing, tampered with, foreign or made by other library versions."""


@dataclass(frozen=True, slots=True)
class RegisteredModel:
    """A loaded model with its metadata."""

    version: str
    model: Scorecard
    meta: dict[str, Any]


def data_hash(X: pd.DataFrame, y: Any = None) -> str:
    """SHA-256 of the training data (values, index and column names)."""
    h = hashlib.sha256()
    h.update(pd.util.hash_pandas_object(X, index=True).to_numpy().tobytes())
    h.update("\x1f".join(map(str, X.columns)).encode())
    if y is not None:
        h.update(np.asarray(y).astype(np.int64).tobytes())
    return h.hexdigest()


def library_versions() -> dict[str, str]:
    return {"python": platform.python_version(), "scikit-learn": sklearn.__version__,
            "numpy": np.__version__, "pandas": pd.__version__}


class ModelRegistry:
    """A directory of signed model versions.

    The key comes from ``key``, else the environment variable ``XINBAO_MODEL_KEY``, else a
    ``.key`` file created (mode 600) in the registry directory on first use.
    """

    def __init__(self, root: str | os.PathLike[str], key: bytes | str | None = None) -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self._key = self._resolve_key(key)

    def _resolve_key(self, key: bytes | str | None) -> bytes:
        if key is None:
            key = os.environ.get(_KEY_ENV)
        if key is None:
            path = self.root / ".key"
            if not path.exists():
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                with os.fdopen(fd, "w") as fh:
                    fh.write(secrets.token_hex(32))
            key = path.read_text().strip()
        return key.encode() if isinstance(key, str) else key

    def _sign(self, meta_body: bytes, blob_digest: str) -> str:
        return hmac.new(self._key, meta_body + b"\n" + blob_digest.encode(),
                        hashlib.sha256).hexdigest()

    @staticmethod
    def _canonical(meta: dict[str, Any]) -> bytes:
        body = {k: v for k, v in meta.items() if k != "signature"}
        return json.dumps(body, sort_keys=True, ensure_ascii=False, default=str).encode()

    def save(self, model: Scorecard, *, name: str = "xinbao", training_hash: str = "",
             metrics: dict[str, Any] | None = None, extra: dict[str, Any] | None = None,
             now: datetime | None = None) -> str:
        """Store a fitted model; returns its new version string."""
        now = now or datetime.now(UTC)
        blob = pickle.dumps(model, protocol=pickle.HIGHEST_PROTOCOL)
        digest = hashlib.sha256(blob).hexdigest()
        version = f"{name}-{now:%Y%m%d%H%M%S}-{digest[:8]}"
        meta: dict[str, Any] = {
            "version": version, "created_at": now.isoformat(), "training_data_hash": training_hash,
            "features": [str(c) for c in model.feature_names_in_],
            "libraries": library_versions(), "metrics": metrics or {},
            "pd_bands": model.bands_.to_dict(), "score_scale": model.scale_.to_dict(),
            "model": {k: (v if isinstance(v, int | float | str | bool | type(None)) else repr(v))
                      for k, v in model.get_params().items()},
            "artifact_sha256": digest, **(extra or {}),
        }
        meta["signature"] = self._sign(self._canonical(meta), digest)
        path = self.root / version
        path.mkdir(parents=True, exist_ok=False)
        (path / "model.pkl").write_bytes(blob)
        (path / "meta.json").write_text(json.dumps(meta, ensure_ascii=False, indent=2,
                                                   default=str))
        return version

    def versions(self) -> list[str]:
        """Stored versions, oldest first."""
        return sorted(p.name for p in self.root.iterdir() if (p / "meta.json").exists())

    def meta(self, version: str) -> dict[str, Any]:
        path = self.root / version / "meta.json"
        if not path.exists():
            raise ArtifactError(f"no model version {version!r}")
        return json.loads(path.read_text())

    def load(self, version: str) -> RegisteredModel:
        """Verify signature, hash and library versions, then unpickle."""
        if "/" in version or version.startswith("."):
            raise ArtifactError("bad version name")
        meta = self.meta(version)
        blob_path = self.root / version / "model.pkl"
        if not blob_path.exists():
            raise ArtifactError("model file missing")
        blob = blob_path.read_bytes()
        digest = hashlib.sha256(blob).hexdigest()
        expected = self._sign(self._canonical(meta), digest)
        if not hmac.compare_digest(str(meta.get("signature", "")), expected):
            raise ArtifactError("signature mismatch: artifact tampered with or not written by "
                                "this registry")
        if digest != meta.get("artifact_sha256"):
            raise ArtifactError("artifact hash mismatch")
        theirs = meta.get("libraries", {}).get("scikit-learn")
        if theirs != sklearn.__version__:
            raise ArtifactError(f"model made with scikit-learn {theirs}, running "
                                f"{sklearn.__version__}: retrain instead of loading")
        model = pickle.loads(blob)  # noqa: S301 - verified above
        if not isinstance(model, Scorecard):
            raise ArtifactError("artifact is not a Scorecard")
        return RegisteredModel(version, model, meta)

    def latest(self) -> str | None:
        v = self.versions()
        return v[-1] if v else None
