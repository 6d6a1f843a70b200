"""Settings: one frozen object built once per instance from the environment.

Every setting is an environment variable; the README's configuration table is
generated from this class (`tickcast config --markdown`), so the two cannot drift.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from functools import lru_cache
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
)

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
    clock_lag_ms: Annotated[int, Field(ge=0, le=3_600_000)] = _env(
        "TICKCAST_CLOCK_LAG_MS",
        2000,
        "The clock closes a symbol's bars only when no ticks arrived for this long, and only bars that ended this long before it (plus grace): ticks in flight or in a backlog are not made late.",
    )
    state_ttl_s: Annotated[int, Field(gt=0)] = _env(
        "TICKCAST_STATE_TTL_S",
        7 * 86_400,
        "Retention of a symbol's feature state in Redis after its last update.",
    )
    dedupe_ttl_s: Annotated[int, Field(gt=0)] = _env(
        "TICKCAST_DEDUPE_TTL_S",
        900,
        "How long ingest remembers a trade or bar id to drop resends: vendor resends and Pub/Sub retries come within minutes (ingest/dedupe.py); memory grows with it.",
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
    symbol_denylist: str = _env("TICKCAST_SYMBOL_DENYLIST", "", "Comma-separated symbols to drop.")
    min_price: Annotated[float, Field(ge=0)] = _env(
        "TICKCAST_MIN_PRICE", 0.0, "Drop ticks priced below this (0: off)."
    )
    max_price: Annotated[float, Field(ge=0)] = _env(
        "TICKCAST_MAX_PRICE", 0.0, "Drop ticks priced above this (0: off)."
    )
    min_size: Annotated[float, Field(ge=0)] = _env(
        "TICKCAST_MIN_SIZE",
        0.0,
        "Drop trades smaller than this (quotes are not size-filtered; 0: off).",
    )
    session: str = _env(
        "TICKCAST_SESSION",
        "",
        "Trading-session window, e.g. `09:30-16:00 America/New_York mon-fri` (empty: off).",
    )
    vwap_anchor: str = _env(
        "TICKCAST_VWAP_ANCHOR",
        "auto",
        "Where the session VWAP starts over, in the session's own time zone: `HH:MM Zone/Name [days]` for every symbol, e.g. `09:30 America/New_York mon-fri`; `bar`: each bar is a session (daily bars, day-per-bar replays). `auto`: the start of `TICKCAST_SESSION` if set, else by symbol: crypto pairs (`BTC-USD`, `ETH-USDT`) `00:00 UTC`, fiat pairs (`EUR-USD`) `17:00 America/New_York sun-thu`, anything else `09:30 America/New_York mon-fri` (features/vector.py).",
    )
    publish_latency_ms: Annotated[float, Field(gt=0, le=100)] = _env(
        "TICKCAST_PUBLISH_LATENCY_MS",
        1.0,
        "Pub/Sub publisher batching latency (client default is 10 ms).",
    )
    model_uri: str = _env(
        "TICKCAST_MODEL_URI",
        "builtin:logreg-daily",
        'Live model: `builtin:NAME` (`logreg-daily`, `baseline`), `ensemble`, a path, `gs://…`, or a pointer JSON `{"pointer": uri}`.',
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

    # --- predict ---
    model_refresh_s: Annotated[float, Field(ge=0)] = _env(
        "TICKCAST_MODEL_REFRESH_S",
        60.0,
        "How often predict re-reads the model URI (or the pointer it names) to pick up a new version without a redeploy; 0 = every bar.",
    )
    shadow_model_uri: str = _env(
        "TICKCAST_SHADOW_MODEL_URI",
        "",
        "Challenger model run beside the live one: stored and scored in history, never broadcast. Empty = none.",
    )
    ensemble_models: str = _env(
        "TICKCAST_ENSEMBLE_MODELS",
        "builtin:baseline=1,builtin:logreg-daily=3",
        "Components of the `ensemble` model: comma-separated `uri=weight` (weights are normalised).",
    )
    prediction_retention_days: Annotated[int, Field(gt=0)] = _env(
        "TICKCAST_PREDICTION_RETENTION_DAYS",
        30,
        "Prediction history lifetime: `expire_at` = bar end + this (Firestore TTL deletes it).",
    )
    latest_min_interval_ms: Annotated[int, Field(ge=0)] = _env(
        "TICKCAST_LATEST_MIN_INTERVAL_MS",
        1000,
        "Minimum time between two writes of symbols/{SYM} (Firestore sustains ~1 write/s per document).",
    )
    alert_confidence: Annotated[float, Field(gt=0.5, le=1)] = _env(
        "TICKCAST_ALERT_CONFIDENCE",
        0.6,
        "Confidence at or above which a high_confidence alert fires.",
    )
    alert_rsi_overbought: Annotated[float, Field(gt=50, le=100)] = _env(
        "TICKCAST_ALERT_RSI_OVERBOUGHT", 70.0, "RSI(14) at or above which rsi_overbought fires."
    )
    alert_rsi_oversold: Annotated[float, Field(ge=0, lt=50)] = _env(
        "TICKCAST_ALERT_RSI_OVERSOLD", 30.0, "RSI(14) at or below which rsi_oversold fires."
    )
    alert_cooldown_s: Annotated[int, Field(ge=0)] = _env(
        "TICKCAST_ALERT_COOLDOWN_S",
        300,
        "Per symbol and alert kind: minimum bar time between two alerts (state in Firestore).",
    )
    stale_feed_bars: Annotated[int, Field(gt=0)] = _env(
        "TICKCAST_STALE_FEED_BARS", 5, "Bar intervals without a bar before a stale_feed alert."
    )

    # --- bridge ---
    # Excluded from dumps and repr: `tickcast config` and logs never show it.
    ws_jwt_secret: Annotated[str | None, Field(min_length=32, exclude=True, repr=False)] = _env(
        "TICKCAST_WS_JWT_SECRET",
        None,
        "HS256 key of client JWTs (its UTF-8 bytes, at least 32); unset = HS256 tokens refused.",
    )
    ws_jwt_audience: Annotated[str, Field(min_length=1)] = _env(
        "TICKCAST_WS_JWT_AUDIENCE",
        "tickcast-ws",
        "The `aud` every HS256 client JWT must carry when `TICKCAST_WS_JWT_SECRET` is set: tokens without it, or minted for another audience, are refused.",
    )
    ws_jwt_default_symbols: tuple[str, ...] = _env(
        "TICKCAST_WS_JWT_DEFAULT_SYMBOLS",
        (),
        "What an HS256 JWT without a `symbols` claim may read: comma-separated symbols, `*` = every symbol; empty = nothing.",
    )
    ws_google_audience: str | None = _env(
        "TICKCAST_WS_GOOGLE_AUDIENCE",
        None,
        "Accept Google-signed ID tokens minted for this audience; unset = refused.",
    )
    ws_google_principals: tuple[str, ...] = _env(
        "TICKCAST_WS_GOOGLE_PRINCIPALS",
        (),
        "Comma-separated emails (or `*@domain`) whose Google ID tokens are accepted.",
    )
    ws_allowed_origins: tuple[str, ...] = _env(
        "TICKCAST_WS_ALLOWED_ORIGINS",
        (),
        "Comma-separated browser origins allowed besides the bridge's own; `*` = any.",
    )
    ws_auth_deadline_s: Annotated[float, Field(gt=0, le=60)] = _env(
        "TICKCAST_WS_AUTH_DEADLINE_S",
        5.0,
        "Time a client without `?token=` has to send its `auth` message.",
    )
    ws_default_max_connections: Annotated[int, Field(gt=0)] = _env(
        "TICKCAST_WS_DEFAULT_MAX_CONNECTIONS",
        10,
        "Open connections per credential (per instance) when the key or JWT sets none.",
    )
    ws_default_max_subscriptions: Annotated[int, Field(gt=0)] = _env(
        "TICKCAST_WS_DEFAULT_MAX_SUBSCRIPTIONS",
        500,
        "(channel, symbol) subscriptions per credential (per instance) when it sets none.",
    )
    ws_default_messages_per_second: Annotated[float, Field(gt=0)] = _env(
        "TICKCAST_WS_DEFAULT_MESSAGES_PER_SECOND",
        20.0,
        "Client messages per second per connection (token bucket) when the credential sets none.",
    )
    ws_max_lag_s: Annotated[float, Field(gt=0)] = _env(
        "TICKCAST_WS_MAX_LAG_S",
        30.0,
        "A client whose oldest undelivered frame is older than this is disconnected (1013).",
    )
    ws_max_lag_frames: Annotated[int, Field(gt=0)] = _env(
        "TICKCAST_WS_MAX_LAG_FRAMES",
        5000,
        "A client more than this many frames behind (conflated ones count) is disconnected (1013).",
    )
    ws_heartbeat_s: Annotated[float, Field(gt=0)] = _env(
        "TICKCAST_WS_HEARTBEAT_S", 15.0, "Idle time after which the server sends a heartbeat frame."
    )
    ws_ping_interval_s: Annotated[float, Field(gt=0)] = _env(
        "TICKCAST_WS_PING_INTERVAL_S",
        20.0,
        "WebSocket ping interval (`python -m tickcast.bridge.serve`); dead peers are dropped.",
    )
    ws_ping_timeout_s: Annotated[float, Field(gt=0)] = _env(
        "TICKCAST_WS_PING_TIMEOUT_S", 20.0, "Time a client has to answer a WebSocket ping."
    )
    ws_per_message_deflate: bool = _env(
        "TICKCAST_WS_PER_MESSAGE_DEFLATE",
        False,
        "Offer permessage-deflate to clients. Off: it compresses each frame once per client "
        "(undoing the one serialisation per update) and holds zlib state per connection.",
    )
    ws_drain_s: Annotated[float, Field(gt=0, le=9)] = _env(
        "TICKCAST_WS_DRAIN_S",
        5.0,
        "On SIGTERM: time to flush queued frames before closing with 1012 (Cloud Run allows 10 s).",
    )
    ws_max_connection_s: Annotated[float, Field(gt=0, le=3600)] = _env(
        "TICKCAST_WS_MAX_CONNECTION_S",
        3300.0,
        "Connections are closed (1001, reconnect with `since`) before Cloud Run's 3600 s timeout.",
    )
    ws_replay_max: Annotated[int, Field(gt=0)] = _env(
        "TICKCAST_WS_REPLAY_MAX",
        10_000,
        "Most history documents one `since` replays per symbol (older ones: REST paging).",
    )
    ws_watchdog_interval_s: Annotated[float, Field(gt=0)] = _env(
        "TICKCAST_WS_WATCHDOG_INTERVAL_S",
        5.0,
        "How often the watchdog checks the Firestore listeners.",
    )
    ws_listener_silence_s: Annotated[float, Field(ge=0)] = _env(
        "TICKCAST_WS_LISTENER_SILENCE_S",
        900.0,
        "Restart the symbols listener after this long without a change (0 = never).",
    )
    ws_key_recheck_s: Annotated[float, Field(ge=1, le=3600)] = _env(
        "TICKCAST_WS_KEY_RECHECK_S",
        30.0,
        "Every this long the api_keys documents of open connections are read again: a revoked key's sockets close within it even when the api_keys listener is stuck. 1 to 3600.",
    )
    ws_unknown_key_ttl_s: Annotated[float, Field(gt=0, le=3600)] = _env(
        "TICKCAST_WS_UNKNOWN_KEY_TTL_S",
        60.0,
        "How long an API key id Firestore does not know is remembered as unknown: retrying it meanwhile costs no read (a key created meanwhile is found by the api_keys listener). Over 0, at most 3600.",
    )
    ws_unknown_key_max: Annotated[int, Field(gt=0, le=1_000_000)] = _env(
        "TICKCAST_WS_UNKNOWN_KEY_MAX",
        10_000,
        "How many unknown API key ids are remembered at most (the oldest is forgotten first). 1 to 1,000,000.",
    )
    ws_trades: bool | None = _env(
        "TICKCAST_WS_TRADES",
        None,
        "The `trades` channel (last trade and best quote from tickcast-ticks, one subscription per bridge instance): true or false; unset = on where Pub/Sub is reachable without probing for credentials (the emulator, or Cloud Run).",
    )
    ws_trades_rate: Annotated[float, Field(gt=0, le=1000)] = _env(
        "TICKCAST_WS_TRADES_RATE",
        4.0,
        "Most `trades` frames per second per client and symbol (conflated: the newest state). Above 0, at most 1000.",
    )
    ws_alerts_window_s: Annotated[float, Field(ge=60, le=86_400)] = _env(
        "TICKCAST_WS_ALERTS_WINDOW_S",
        900.0,
        "Alerts are live only: the bridge listens to the alerts created in the last this long, and moves the window forward once it is this old. 60 to 86400.",
    )
    ws_replay_connection_burst: Annotated[int, Field(gt=0, le=10_000_000)] = _env(
        "TICKCAST_WS_REPLAY_CONNECTION_BURST",
        20_000,
        "History documents one connection may replay (`since`) at once: 1 to `TICKCAST_WS_REPLAY_CREDENTIAL_BURST`.",
    )
    ws_replay_connection_rate: Annotated[float, Field(gt=0, le=1_000_000)] = _env(
        "TICKCAST_WS_REPLAY_CONNECTION_RATE",
        200.0,
        "Documents per second that refill a connection's replay budget: over 0, at most 1,000,000.",
    )
    ws_replay_credential_burst: Annotated[
        int, Field(gt=0, le=10_000_000, validate_default=True)
    ] = _env(
        "TICKCAST_WS_REPLAY_CREDENTIAL_BURST",
        100_000,
        "History documents one credential may read at once on an instance (all its `since` replays and REST history pages); at most 10,000,000.",
    )
    ws_replay_credential_rate: Annotated[float, Field(gt=0, le=1_000_000)] = _env(
        "TICKCAST_WS_REPLAY_CREDENTIAL_RATE",
        1000.0,
        "Documents per second that refill a credential's replay budget: over 0, at most 1,000,000.",
    )
    ws_replay_workers: Annotated[int, Field(ge=1, le=64)] = _env(
        "TICKCAST_WS_REPLAY_WORKERS",
        4,
        "Threads reading history for `since` replays and REST history pages (their own pool). 1 to 64.",
    )
    ws_replay_reads_per_connection: Annotated[int, Field(ge=1, le=64, validate_default=True)] = (
        _env(
            "TICKCAST_WS_REPLAY_READS_PER_CONNECTION",
            2,
            "History pages one connection may have in flight at once: 1 to `TICKCAST_WS_REPLAY_WORKERS`.",
        )
    )
    ws_lookup_workers: Annotated[int, Field(ge=1, le=64)] = _env(
        "TICKCAST_WS_LOOKUP_WORKERS",
        4,
        "Threads for filling holes in live updates, API key reads and Google certificates: never behind replays. 1 to 64.",
    )

    @field_validator(
        "ws_google_principals", "ws_allowed_origins", "ws_jwt_default_symbols", mode="before"
    )
    @classmethod
    def _comma_list(cls, v: object) -> object:
        if isinstance(v, str):
            return tuple(p.strip() for p in v.split(",") if p.strip())
        return v

    @field_validator("ws_jwt_default_symbols")
    @classmethod
    def _symbols_or_star(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        from tickcast.schema import SYMBOL_RE, normalise_symbol

        if "*" in v:
            return ("*",)
        out = tuple(dict.fromkeys(normalise_symbol(s) for s in v))
        bad = [s for s in out if not SYMBOL_RE.fullmatch(s)]
        if bad:
            raise ValueError(f"not symbols: {', '.join(bad)} (list symbols, or `*` for all)")
        return out

    # Cross-field bounds, checked on the later field (the earlier one is validated by
    # then) with validate_default, so a set value is checked against a default too.
    @field_validator("ws_replay_credential_burst")
    @classmethod
    def _credential_covers_connection(cls, v: int, info: ValidationInfo) -> int:
        connection = info.data.get("ws_replay_connection_burst")
        if connection is not None and connection > v:
            raise ValueError(
                f"TICKCAST_WS_REPLAY_CREDENTIAL_BURST ({v}) is smaller than "
                f"TICKCAST_WS_REPLAY_CONNECTION_BURST ({connection}): a connection's "
                "replays spend its credential's budget too"
            )
        return v

    @field_validator("ws_replay_reads_per_connection")
    @classmethod
    def _reads_fit_the_pool(cls, v: int, info: ValidationInfo) -> int:
        workers = info.data.get("ws_replay_workers")
        if workers is not None and v > workers:
            raise ValueError(
                f"TICKCAST_WS_REPLAY_READS_PER_CONNECTION ({v}) is more than "
                f"TICKCAST_WS_REPLAY_WORKERS ({workers})"
            )
        return v

    @field_validator("topic_prefix")
    @classmethod
    def _prefix_is_topic_safe(cls, v: str) -> str:
        if not v or not all(c.isalnum() or c in "-_." for c in v):
            raise ValueError("must be letters, digits, '-', '_' or '.'")
        return v

    @field_validator("vwap_anchor")
    @classmethod
    def _anchor_parses(cls, v: str) -> str:
        if v.strip().lower() == "auto":
            return "auto"
        # Imported here: the parser (zoneinfo) is needed only when an anchor is set.
        from tickcast.features.vector import SessionAnchor

        return SessionAnchor.parse(v).spec

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
