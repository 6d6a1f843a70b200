"""Which models an instance serves, loaded lazily and swapped without a redeploy.

Model URIs (TICKCAST_MODEL_URI for the live model, TICKCAST_SHADOW_MODEL_URI
for a challenger):
- `builtin:baseline`: the fixed-weight baseline (`tickcast.predict.baseline`);
- `ensemble`: the blend of TICKCAST_ENSEMBLE_MODELS (`tickcast.predict.ensemble`);
- anything else names an artifact's .json, or a pointer to one
  (`tickcast.predict.artifact`): `builtin:NAME`, a path, or `gs://bucket/path`.

Swapping: each artifact URI is re-read at most every TICKCAST_MODEL_REFRESH_S
(one small JSON GET). When the artifact it resolves to (pointer target,
version, weights hash) differs from the loaded one, the new weights are loaded
and served from the next bar on. A failed refresh keeps serving the loaded
model (logged); with no model loaded yet the error propagates, the message is
retried.

A shadow must be another model: one sharing the live `model_id` would publish
its metadata into, and add its scores to, the live model's `models/{id}`. It is
refused when it is loaded (and again after any refresh): it is not served, the
live model is, and an error is logged once per conflicting pair of versions.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any, Protocol

from google.api_core.exceptions import GoogleAPIError

from tickcast import log
from tickcast.errors import TickcastError
from tickcast.predict import artifact
from tickcast.predict.baseline import baseline
from tickcast.predict.ensemble import ENSEMBLE_ID, Ensemble, parse_spec
from tickcast.predict.model import Model
from tickcast.predict.uri import ModelUriError, read_bytes, resolve, with_json

_log = log.get("predict.registry")

Reader = Callable[[str], bytes]
Clock = Callable[[], float]  # seconds, monotonic

BASELINE_URI = "builtin:baseline"
ENSEMBLE_URIS = (ENSEMBLE_ID, f"builtin:{ENSEMBLE_ID}")


class Source(Protocol):
    def get(self) -> Model: ...

    def describe(self) -> dict[str, Any]: ...


class FixedSource:
    def __init__(self, model: Model, description: dict[str, Any]) -> None:
        self._model = model
        self._description = description

    def get(self) -> Model:
        return self._model

    def describe(self) -> dict[str, Any]:
        return self._description


class ArtifactSource:
    """One artifact URI (or pointer), re-read with a TTL."""

    def __init__(self, uri: str, refresh_s: float, reader: Reader, clock: Clock) -> None:
        self.uri = with_json(uri)
        self._refresh_s = refresh_s
        self._read = reader
        self._clock = clock
        self._model: Model | None = None
        self._meta: artifact.ArtifactMeta | None = None
        self._loaded_from = ""
        self._key: tuple[str, str, str] | None = None
        self._checked = -float("inf")
        # Concurrent requests of one instance share the source: one refresh at a time.
        self._lock = threading.Lock()

    def get(self) -> Model:
        # Every bar asks; a refresh is due once a minute. Between refreshes, no lock:
        # the model is read in one attribute load, and a bar that races a swap serves
        # the version loaded a moment before, as it would have a moment earlier.
        model = self._model
        if model is not None and self._clock() - self._checked < self._refresh_s:
            return model
        with self._lock:
            now = self._clock()
            if self._model is not None and now - self._checked < self._refresh_s:
                return self._model
            self._checked = now  # a failing store is retried after the TTL, not on every bar
            try:
                self._refresh()
            except (TickcastError, GoogleAPIError, OSError) as exc:
                if self._model is None:
                    raise
                _log.warning(
                    "model refresh failed; serving the loaded version",
                    extra={"uri": self.uri, "error": str(exc), "model_version": self._key},
                )
            assert self._model is not None
            return self._model

    def describe(self) -> dict[str, Any]:
        meta = self._meta
        if meta is None:
            return {"uri": self.uri}
        return {
            "kind": meta.kind,
            "uri": self._loaded_from,
            "configured_uri": self.uri,
            "inputs": meta.inputs,
            "horizon_bars": meta.horizon_bars,
            "training": meta.training,
            "metrics": meta.metrics,
            "code_version": meta.code_version,
            "created_at": meta.created_at,
        }

    def _resolve(self) -> tuple[str, artifact.ArtifactMeta]:
        doc = artifact.parse(self._read(self.uri), self.uri)
        if isinstance(doc, artifact.ArtifactMeta):
            return self.uri, doc
        target = with_json(resolve(self.uri, doc.pointer))
        meta = artifact.parse(self._read(target), target)
        if not isinstance(meta, artifact.ArtifactMeta):
            raise artifact.ArtifactError(
                f"{self.uri}: a pointer must name an artifact, not a pointer"
            )
        return target, meta

    def _refresh(self) -> None:
        meta_uri, meta = self._resolve()
        key = (meta_uri, meta.model_version, meta.weights_sha256)
        if key == self._key:
            return
        model = artifact.build(meta, self._read(artifact.weights_uri(meta_uri)), meta_uri)
        previous = self._key
        self._model, self._meta, self._key, self._loaded_from = model, meta, key, meta_uri
        _log.info(
            "model loaded",
            extra={
                "uri": meta_uri,
                "model_id": meta.model_id,
                "model_version": meta.model_version,
                "replaces": previous[1] if previous else None,
            },
        )


class EnsembleSource:
    def __init__(self, parts: list[tuple[Source, float]]) -> None:
        self._parts = parts
        self._sources = tuple(src for src, _ in parts)
        self._built: tuple[tuple[Model, ...], Ensemble] | None = None

    def get(self) -> Model:
        # Per bar: the components as served now; rebuilt only when one was swapped
        # (models compare by identity: dataclasses with eq=False).
        models = tuple([src.get() for src in self._sources])
        built = self._built
        if built is not None and built[0] == models:
            return built[1]
        try:
            ensemble = Ensemble.of(list(zip(models, (w for _, w in self._parts), strict=True)))
        except ValueError as exc:
            raise ModelUriError(f"ensemble: {exc}") from None
        self._built = (models, ensemble)
        return ensemble

    def describe(self) -> dict[str, Any]:
        return {
            "kind": "ensemble",
            "components": [{**src.describe(), "weight": w} for src, w in self._parts],
        }


class Registry:
    """The live and shadow models of one instance (cached: build one per instance)."""

    def __init__(
        self,
        *,
        live_uri: str,
        shadow_uri: str = "",
        ensemble_spec: str = "",
        horizon_bars: int = 1,
        refresh_s: float = 60.0,
        reader: Reader = read_bytes,
        clock: Clock = time.monotonic,
    ) -> None:
        self._spec = ensemble_spec
        self._horizon = horizon_bars
        self._refresh_s = refresh_s
        self._read = reader
        self._clock = clock
        self._sources: dict[str, Source] = {}
        self._live = self.source(live_uri)
        self._shadow = self.source(shadow_uri) if shadow_uri.strip() else None
        self._refused: tuple[str, str, str] | None = None

    def source(self, uri: str, nested: bool = False) -> Source:
        """One source per URI, shared, so a model that is live and a component loads once."""
        uri = uri.strip()
        if uri in self._sources:
            return self._sources[uri]
        src: Source
        if uri == BASELINE_URI:
            src = FixedSource(baseline(self._horizon), {"kind": "fixed", "uri": BASELINE_URI})
        elif uri in ENSEMBLE_URIS:
            if nested:
                raise ModelUriError("an ensemble cannot contain an ensemble")
            try:
                spec = parse_spec(self._spec)
            except ValueError as exc:
                raise ModelUriError(f"TICKCAST_ENSEMBLE_MODELS: {exc}") from None
            src = EnsembleSource([(self.source(u, nested=True), w) for u, w in spec])
        else:
            src = ArtifactSource(uri, self._refresh_s, self._read, self._clock)
        self._sources[uri] = src
        return src

    def live(self) -> Model:
        return self._live.get()

    def shadow(self) -> Model | None:
        if self._shadow is None:
            return None
        shadow, live = self._shadow.get(), self._live.get()
        if shadow.model_id != live.model_id:
            self._refused = None
            return shadow
        key = (shadow.model_id, shadow.model_version, live.model_version)
        if key != self._refused:
            self._refused = key
            _log.error(
                "shadow model refused: it shares the live model_id",
                extra={
                    "model_id": shadow.model_id,
                    "shadow_version": shadow.model_version,
                    "live_version": live.model_version,
                },
            )
        return None

    def shadow_refused(self) -> str | None:
        """Why the configured shadow is not served, if it is not."""
        if self._refused is None:
            return None
        return f"shadow shares the live model_id {self._refused[0]!r}"

    def describe_live(self) -> dict[str, Any]:
        return self._live.describe()

    def describe_shadow(self) -> dict[str, Any]:
        return self._shadow.describe() if self._shadow is not None else {}
