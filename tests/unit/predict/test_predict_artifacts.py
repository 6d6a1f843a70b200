"""Artifacts on disk, model URIs, and swapping a model without a redeploy."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

from tickcast.errors import TickcastError
from tickcast.features.vector import FEATURE_NAMES
from tickcast.predict import artifact, uri
from tickcast.predict.artifact import ArtifactError, ArtifactMeta, Normalisation
from tickcast.predict.inputs import INPUT_NAMES
from tickcast.predict.registry import Registry
from tickcast.predict.uri import ModelUri, ModelUriError, parse_uri

K = len(INPUT_NAMES)


def meta(version: str, **extra: object) -> ArtifactMeta:
    return ArtifactMeta(
        model_id="lr",
        model_version=version,
        horizon_bars=1,
        feature_schema=1,
        features=list(FEATURE_NAMES),
        inputs=list(INPUT_NAMES),
        normalisation=Normalisation(mean=[0.0] * K, std=[1.0] * K),
        l2=1.0,
        training={},
        metrics={},
        code_version={"tickcast": "test", "git": None},
        created_at="2024-01-01T00:00:00Z",
        **extra,
    )


def write(tmp: Path, name: str, version: str, coef: float) -> Path:
    return artifact.save(tmp / name, meta(version), np.full(K, coef), 0.1)


class Clock:
    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


@pytest.mark.parametrize(
    ("text", "parsed"),
    [
        ("gs://bkt/models/lr.json", ModelUri("gs", "models/lr.json", "bkt")),
        ("gs://my-bucket/a/b/c", ModelUri("gs", "a/b/c", "my-bucket")),
        ("builtin:logreg-daily", ModelUri("builtin", "logreg-daily")),
        ("file:///srv/m.json", ModelUri("file", "/srv/m.json")),
        ("models/m.json", ModelUri("file", "models/m.json")),
    ],
)
def test_model_uris_parse(text: str, parsed: ModelUri) -> None:
    assert parse_uri(text) == parsed


@pytest.mark.parametrize(
    "text", ["gs://", "gs://bucket", "gs://bucket/", "gs:///x", "s3://b/k", "", "builtin:../x"]
)
def test_bad_model_uris_are_refused_by_name(text: str) -> None:
    with pytest.raises(ModelUriError):
        parse_uri(text)


def test_pointer_targets_resolve_beside_the_pointer() -> None:
    assert uri.resolve("gs://b/models/live.json", "lr-2.json") == "gs://b/models/lr-2.json"
    assert uri.resolve("/srv/models/live.json", "lr-2.json") == "/srv/models/lr-2.json"
    assert uri.resolve("gs://b/models/live.json", "gs://c/x.json") == "gs://c/x.json"


def test_gs_without_the_storage_package_names_the_package(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "google.cloud.storage", None)  # import fails as if absent
    uri._gcs.cache_clear()
    with pytest.raises(ModelUriError, match="pip install google-cloud-storage"):
        uri.read_bytes("gs://bucket/models/lr.json")
    uri._gcs.cache_clear()


def test_a_saved_artifact_loads_from_a_local_path_and_predicts(
    tmp_path: Path, features: dict[str, float | None]
) -> None:
    path = write(tmp_path, "lr", "v1", 0.2)
    stored = json.loads(path.read_text())
    assert stored["normalisation"]["mean"] == [0.0] * K and len(stored["weights_sha256"]) == 64
    model = Registry(live_uri=str(path)).live()
    p = model.predict(features)
    assert (p.model_id, p.model_version) == ("lr", "v1")
    same = Registry(live_uri=str(tmp_path / "lr")).live()  # the .json suffix is optional
    assert same.predict(features) == p


def test_weights_that_do_not_match_the_metadata_are_refused(tmp_path: Path) -> None:
    write(tmp_path, "lr", "v1", 0.2)
    other = write(tmp_path, "other", "v2", 0.3)
    (tmp_path / "lr.npz").write_bytes(other.with_suffix(".npz").read_bytes())
    with pytest.raises(ArtifactError, match="SHA-256"):
        Registry(live_uri=str(tmp_path / "lr.json")).live()


def test_an_artifact_of_another_feature_schema_is_refused(tmp_path: Path) -> None:
    artifact.save(
        tmp_path / "old", meta("v0").model_copy(update={"feature_schema": 99}), np.zeros(K), 0
    )
    with pytest.raises(ArtifactError, match="feature schema 99"):
        Registry(live_uri=str(tmp_path / "old.json")).live()


def test_the_committed_default_model_loads_with_its_metadata(
    features: dict[str, float | None],
) -> None:
    reg = Registry(live_uri="builtin:logreg-daily")
    p = reg.live().predict(features)
    assert p.model_id == "logreg-daily" and 0 < p.p_up < 1 and len(p.factors) == 5
    d = reg.describe_live()
    assert d["training"]["sources"] == ["arch:sp500", "arch:nasdaq"]
    assert {"logreg", "base_rate", "last_return", "sma_crossover"} <= set(
        d["metrics"]["walk_forward"]
    )
    assert d["code_version"]["tickcast"] and d["inputs"] == list(INPUT_NAMES)


def test_a_new_version_behind_a_pointer_is_served_after_the_refresh_interval(
    tmp_path: Path,
) -> None:
    write(tmp_path, "lr-1", "v1", 0.2)
    write(tmp_path, "lr-2", "v2", -0.2)
    pointer = tmp_path / "live.json"
    pointer.write_text('{"pointer": "lr-1.json"}')
    clock = Clock()
    reads: list[str] = []

    def reader(u: str) -> bytes:
        reads.append(u)
        return uri.read_bytes(u)

    reg = Registry(live_uri=str(pointer), refresh_s=60, reader=reader, clock=clock)
    assert reg.live().model_version == "v1"
    pointer.write_text('{"pointer": "lr-2.json"}')
    clock.t = 59
    assert reg.live().model_version == "v1"  # cached until the interval has passed
    n = len(reads)
    clock.t = 60
    assert reg.live().model_version == "v2"
    assert reads[n:] == [str(pointer), str(tmp_path / "lr-2.json"), str(tmp_path / "lr-2.npz")]
    clock.t = 120
    reg.live()
    assert reads[-2:] == [str(pointer), str(tmp_path / "lr-2.json")]  # unchanged: no reload


def test_a_failed_refresh_keeps_the_loaded_model_and_a_cold_failure_raises(tmp_path: Path) -> None:
    path = write(tmp_path, "lr", "v1", 0.2)
    clock = Clock()
    reg = Registry(live_uri=str(path), refresh_s=1, clock=clock)
    first = reg.live()
    path.write_text("{not json")
    clock.t = 5
    assert reg.live() is first
    with pytest.raises(ArtifactError, match="not JSON"):
        Registry(live_uri=str(path)).live()
    with pytest.raises(TickcastError, match=r"(?i)no such file"):
        Registry(live_uri=str(tmp_path / "missing.json")).live()


def test_ensemble_by_name_blends_the_configured_models(tmp_path: Path) -> None:
    path = write(tmp_path, "lr", "v1", 0.2)
    reg = Registry(
        live_uri="ensemble",
        shadow_uri=str(path),
        ensemble_spec=f"builtin:baseline=1,{path}=3",
    )
    live, shadow = reg.live(), reg.shadow()
    assert live.model_id == "ensemble" and shadow is not None and shadow.model_id == "lr"
    assert live.model_version == "baseline@1:0.25+lr@v1:0.75"
    desc = reg.describe_live()
    assert [c["weight"] for c in desc["components"]] == [0.25, 0.75]
    with pytest.raises(ModelUriError, match="TICKCAST_ENSEMBLE_MODELS"):
        Registry(live_uri="ensemble", ensemble_spec="builtin:baseline")


def test_a_shadow_sharing_the_live_model_id_is_refused_and_the_live_one_served(
    tmp_path: Path,
) -> None:
    v1, v2 = write(tmp_path, "lr-1", "v1", 0.2), write(tmp_path, "lr-2", "v2", -0.2)
    reg = Registry(live_uri=str(v1), shadow_uri=str(v2))
    assert reg.live().model_version == "v1"
    assert reg.shadow() is None and reg.shadow_refused() == "shadow shares the live model_id 'lr'"
    same = Registry(live_uri=str(v1), shadow_uri=str(v1))
    assert same.shadow() is None and same.live().model_version == "v1"
    other = Registry(live_uri=str(v1), shadow_uri="builtin:baseline")
    shadow = other.shadow()
    assert shadow is not None and shadow.model_id == "baseline" and other.shadow_refused() is None
