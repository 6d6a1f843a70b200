"""Settings: one frozen object built once per instance from the environment.

Every setting is an environment variable; the README's configuration table is
generated from this class (`tickcast config --markdown`), so the two cannot drift.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from functools import lru_cache
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from tickcast.errors import ConfigError

Topic = Literal["raw", "ticks", "features", "clock", "deadletter"]
TOPICS: tuple[Topic, ...] = ("raw", "ticks", "features", "clock", "deadletter")


def _env(name: str, default: Any, description: str) -> Any:
    return Field(default, alias=name, description=description)


class Settings(BaseModel):
    """All of tickcast's configuration. Build it with `Settings.from_env(os.environ)`."""

    model_config = ConfigDict(frozen=True, populate_by_name=True, extra="ignore")

    project_id: str = _env(
        "GOOGLE_CLOUD_PROJECT", "tickcast-local", "Google Cloud project id (emulators accept any)."
    )
    topic_prefix: str = _env("TICKCAST_TOPIC_PREFIX", "tickcast-", "Prefix of every topic name.")
    redis_url: str = _env(
        "TICKCAST_REDIS_URL",
        "redis://127.0.0.1:6379/0",
        "Redis (Memorystore) URL for feature state and dedupe keys.",
    )
    bar_seconds: Annotated[int, Field(gt=0, le=86_400)] = _env(
        "TICKCAST_BAR_SECONDS", 60, "Length of a time bar in seconds."
    )
    bar_grace_ms: Annotated[int, Field(ge=0, le=600_000)] = _env(
        "TICKCAST_BAR_GRACE_MS",
        250,
        "How long after its end a bar waits for late ticks before it closes.",
    )
    state_ttl_s: Annotated[int, Field(gt=0)] = _env(
        "TICKCAST_STATE_TTL_S",
        7 * 86_400,
        "Retention of a symbol's feature state in Redis after its last update.",
    )
    dedupe_ttl_s: Annotated[int, Field(gt=0)] = _env(
        "TICKCAST_DEDUPE_TTL_S", 86_400, "How long ingest remembers a tick id to drop resends."
    )
    max_past_s: Annotated[int, Field(gt=0)] = _env(
        "TICKCAST_MAX_PAST_S", 86_400, "Ticks older than this (relative to now) are rejected."
    )
    max_future_s: Annotated[int, Field(gt=0)] = _env(
        "TICKCAST_MAX_FUTURE_S", 60, "Ticks further than this in the future are rejected."
    )
    # --- ingest filters (all off by default; filtered ticks are counted, not dead-lettered) ---
    symbol_allowlist: str = _env(
        "TICKCAST_SYMBOL_ALLOWLIST", "", "Comma-separated symbols to keep (empty: all)."
    )
    symbol_denylist: str = _env(
        "TICKCAST_SYMBOL_DENYLIST", "", "Comma-separated symbols to drop."
    )
    min_price: Annotated[float, Field(ge=0)] = _env(
        "TICKCAST_MIN_PRICE", 0.0, "Drop ticks priced below this (0: off)."
    )
    max_price: Annotated[float, Field(ge=0)] = _env(
        "TICKCAST_MAX_PRICE", 0.0, "Drop ticks priced above this (0: off)."
    )
    min_size: Annotated[float, Field(ge=0)] = _env(
        "TICKCAST_MIN_SIZE", 0.0, "Drop trades smaller than this (quotes are not size-filtered; 0: off)."
    )
    session: str = _env(
        "TICKCAST_SESSION",
        "",
        "Trading-session window, e.g. `09:30-16:00 America/New_York mon-fri` (empty: off).",
    )
    publish_latency_ms: Annotated[float, Field(gt=0, le=100)] = _env(
        "TICKCAST_PUBLISH_LATENCY_MS",
        1.0,
        "Pub/Sub publisher batching latency (client default is 10 ms).",
    )
    model_uri: str = _env(
        "TICKCAST_MODEL_URI",
        "builtin:baseline",
        "Model the predict stage serves (`builtin:baseline` or a path).",
    )
    horizon_bars: Annotated[int, Field(gt=0)] = _env(
        "TICKCAST_HORIZON_BARS", 1, "How many bars ahead a prediction looks."
    )
    ws_allow_unauthenticated: bool = _env(
        "TICKCAST_WS_ALLOW_UNAUTHENTICATED",
        False,
        "Local development only: let WebSocket clients in without credentials.",
    )
    ws_queue_size: Annotated[int, Field(gt=0)] = _env(
        "TICKCAST_WS_QUEUE_SIZE", 256, "Per-client send queue bound before updates are conflated."
    )
    ws_max_frame_bytes: Annotated[int, Field(gt=0)] = _env(
        "TICKCAST_WS_MAX_FRAME_BYTES", 65_536, "Largest client frame the bridge accepts."
    )
    port: Annotated[int, Field(gt=0, lt=65_536)] = _env("PORT", 8080, "HTTP port of the bridge.")
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = _env(
        "TICKCAST_LOG_LEVEL", "INFO", "Minimum severity of the JSON log lines."
    )

    @field_validator("topic_prefix")
    @classmethod
    def _prefix_is_topic_safe(cls, v: str) -> str:
        if not v or not all(c.isalnum() or c in "-_." for c in v):
            raise ValueError("must be letters, digits, '-', '_' or '.'")
        return v

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper(cls, v: object) -> object:
        return v.upper() if isinstance(v, str) else v

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> Settings:
        """Validate the environment once; a bad value fails fast with the variable's name."""
        names = {f.alias for f in cls.model_fields.values()}
        try:
            return cls.model_validate({k: v for k, v in environ.items() if k in names})
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()
            )
            raise ConfigError(f"invalid configuration: {problems}") from None

    def topic(self, name: Topic) -> str:
        return f"{self.topic_prefix}{name}"

    def topic_path(self, name: Topic) -> str:
        return f"projects/{self.project_id}/topics/{self.topic(name)}"

    @property
    def bar_ms(self) -> int:
        return self.bar_seconds * 1000

    @classmethod
    def markdown_table(cls) -> str:
        rows = ["| Variable | Default | Meaning |", "| --- | --- | --- |"]
        for f in cls.model_fields.values():
            rows.append(f"| `{f.alias}` | `{f.default}` | {f.description} |")
        return "\n".join(rows)


@lru_cache(maxsize=1)
def settings() -> Settings:
    """The instance's settings, read once (functions and the bridge call this)."""
    return Settings.from_env(os.environ)
