"""Model artifacts: `<name>.json` (metadata) beside `<name>.npz` (weights).

The JSON holds what a person or a tool needs without numpy: the feature and
input names, the normalisation statistics (from the training window only),
the training window, metrics, the code version, and the SHA-256 of the .npz,
checked on load so a half-uploaded pair is never served. The .npz holds
`coef` (one per input) and `intercept`.

A URI may also name a pointer, `{"pointer": "<uri of an artifact .json>"}`:
rewriting one small object switches every instance to another artifact
(relative pointers resolve against the pointer's own location).
"""

from __future__ import annotations

import hashlib
import io
import json
import re
from pathlib import Path
from typing import Any, Final, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from tickcast.errors import TickcastError
from tickcast.features.vector import SCHEMA_VERSION as FEATURE_SCHEMA
from tickcast.predict.linear import LinearModel

FORMAT: Final = "tickcast-model/1"
MODEL_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$")  # a Firestore document id


class ArtifactError(TickcastError):
    """An artifact or pointer that cannot be served."""


class Normalisation(BaseModel):
    mean: list[float]
    std: list[float]


class ArtifactMeta(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    format: Literal["tickcast-model/1"] = FORMAT
    kind: Literal["logistic"] = "logistic"
    model_id: str
    model_version: str
    horizon_bars: int = Field(gt=0)
    feature_schema: int
    features: list[str]
    inputs: list[str]
    normalisation: Normalisation
    l2: float
    training: dict[str, Any]
    metrics: dict[str, Any]
    code_version: dict[str, str | None]
    weights_sha256: str = ""
    created_at: str

    @field_validator("model_id")
    @classmethod
    def _id_is_a_document_id(cls, v: str) -> str:
        if not MODEL_ID_RE.fullmatch(v):
            raise ValueError("must be letters, digits, '.', '_' or '-' (a Firestore document id)")
        return v


class Pointer(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    pointer: str


def parse(document: bytes, where: str) -> ArtifactMeta | Pointer:
    """An artifact's metadata or a pointer, from the JSON at `where`."""
    try:
        data = json.loads(document)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ArtifactError(f"{where}: not JSON ({exc})") from None
    try:
        if isinstance(data, dict) and "pointer" in data:
            return Pointer.model_validate(data)
        return ArtifactMeta.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = ".".join(str(p) for p in first["loc"])
        raise ArtifactError(
            f"{where}: not a model artifact or pointer ({loc}: {first['msg']})"
        ) from None


def weights_uri(meta_uri: str) -> str:
    return meta_uri[: -len(".json")] + ".npz" if meta_uri.endswith(".json") else meta_uri + ".npz"


def build(meta: ArtifactMeta, npz: bytes, where: str) -> LinearModel:
    """The serving model; refuses weights that do not match the metadata."""
    digest = hashlib.sha256(npz).hexdigest()
    if meta.weights_sha256 and digest != meta.weights_sha256:
        raise ArtifactError(f"{where}: weights SHA-256 {digest[:12]} != metadata's")
    if meta.feature_schema != FEATURE_SCHEMA:
        raise ArtifactError(
            f"{where}: trained on feature schema {meta.feature_schema}, this build computes {FEATURE_SCHEMA}"
        )
    try:
        with np.load(io.BytesIO(npz), allow_pickle=False) as arrays:
            coef = np.asarray(arrays["coef"], dtype=np.float64)
            intercept = float(arrays["intercept"])
        return LinearModel(
            model_id=meta.model_id,
            model_version=meta.model_version,
            horizon_bars=meta.horizon_bars,
            names=tuple(meta.inputs),
            coef=coef,
            intercept=intercept,
            mean=np.asarray(meta.normalisation.mean, dtype=np.float64),
            std=np.asarray(meta.normalisation.std, dtype=np.float64),
        )
    except (KeyError, ValueError, OSError) as exc:
        raise ArtifactError(f"{where}: {exc}") from None


def save(stem: Path, meta: ArtifactMeta, coef: np.ndarray, intercept: float) -> Path:
    """Write `<stem>.npz` then `<stem>.json` (the JSON last: it is what names the pair)."""
    buf = io.BytesIO()
    np.savez(buf, coef=np.asarray(coef, dtype=np.float64), intercept=np.float64(intercept))
    npz = buf.getvalue()
    meta = meta.model_copy(update={"weights_sha256": hashlib.sha256(npz).hexdigest()})
    stem.parent.mkdir(parents=True, exist_ok=True)
    stem.with_name(stem.name + ".npz").write_bytes(npz)
    path = stem.with_name(stem.name + ".json")
    path.write_text(meta.model_dump_json(indent=2) + "\n")
    return path
