"""The connector's own settings: environment variables read once, validated, named on error.

Kept apart from tickcast.config.Settings (which every stage loads) because only
`tickcast feed` reads them; the shared ones (project, topic prefix, publisher
latency, log level) still come from Settings. Vendor keys use the vendors' own
variable names (Alpaca's `APCA_API_KEY_ID` / `APCA_API_SECRET_KEY`, Polygon's
`POLYGON_API_KEY`), so a key mounted from Secret Manager or exported for the
vendor's own SDK works unchanged. They are SecretStr: never printed or logged.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator

from tickcast.errors import ConfigError

Vendor = Literal["alpaca", "polygon", "yahoo"]
VENDORS: tuple[Vendor, ...] = ("alpaca", "polygon", "yahoo")

# The Alpaca channels ingest parses (ingest/formats/alpaca.py); corrections and cancel
# errors come with `trades`. The stream has more (statuses, lulds, imbalances, crypto
# orderbooks: https://docs.alpaca.markets/docs/real-time-stock-pricing-data), which ingest
# would only dead-letter as unsupported_message, so they are refused here.
ALPACA_CHANNELS = frozenset({"trades", "quotes", "bars", "updatedBars", "dailyBars"})
# Feeds of wss://stream.data.alpaca.markets/v2/{feed}; `crypto` is the v1beta3 crypto stream.
ALPACA_STREAMS = frozenset({"iex", "sip", "delayed_sip", "boats", "overnight", "test", "crypto"})
# Polygon clusters: wss://socket.polygon.io/{cluster}.
POLYGON_STREAMS = frozenset({"stocks", "crypto", "forex", "options", "indices"})

DEFAULT_STREAM: dict[Vendor, str] = {"alpaca": "iex", "polygon": "stocks", "yahoo": "streamer"}
DEFAULT_CHANNELS: dict[tuple[Vendor, str], str] = {
    ("polygon", "crypto"): "XT",
    ("polygon", "forex"): "C",
}
DEFAULT_VENDOR_CHANNELS: dict[Vendor, str] = {"alpaca": "trades", "polygon": "T", "yahoo": ""}


def _env(name: str, default: Any, description: str) -> Any:
    return Field(default, alias=name, description=description)


def _csv(v: object) -> tuple[str, ...]:
    if isinstance(v, str):
        return tuple(s.strip() for s in v.split(",") if s.strip())
    if isinstance(v, list | tuple):
        return tuple(str(s).strip() for s in v if str(s).strip())
    raise ValueError("expected a comma-separated list")


class FeedSettings(BaseModel):
    """What `tickcast feed VENDOR` connects to and how it behaves; see docs/FEEDS.md."""

    model_config = ConfigDict(frozen=True, populate_by_name=True, extra="ignore")

    vendor: Vendor = "alpaca"
    name: str = _env(
        "TICKCAST_FEED_NAME",
        "",
        "Connector instance name: the ordering-key prefix and the `feed` attribute (default: the vendor).",
    )
    symbols: tuple[str, ...] = _env(
        "TICKCAST_FEED_SYMBOLS",
        (),
        "Comma-separated symbols in the vendor's notation (`*`: all, Alpaca and Polygon only).",
    )
    channels: tuple[str, ...] = _env(
        "TICKCAST_FEED_CHANNELS",
        (),
        "Comma-separated channels: Alpaca `trades,quotes,bars,...`, Polygon event prefixes `T,Q,AM,XT,...` (default: trades).",
    )
    stream: str = _env(
        "TICKCAST_FEED_STREAM",
        "",
        "Alpaca feed (`iex`, `sip`, `delayed_sip`, `boats`, `overnight`, `test`, `crypto`) or Polygon cluster (`stocks`, `crypto`, `forex`, `options`, `indices`).",
    )
    url: str = _env(
        "TICKCAST_FEED_URL",
        "",
        "WebSocket URL overriding the vendor's (sandbox, delayed cluster, a local test server).",
    )
    shards: Annotated[int, Field(ge=1, le=1024)] = _env(
        "TICKCAST_FEED_SHARDS",
        16,
        "Ordering keys per connector: `NAME-<crc32(symbol) % shards>`; 1 = one total order.",
    )
    queue_frames: Annotated[int, Field(ge=1, le=1_000_000)] = _env(
        "TICKCAST_FEED_QUEUE_FRAMES",
        1000,
        "Frames held between the socket reader and the publisher; when full, reading stops.",
    )
    max_in_flight: Annotated[int, Field(ge=1, le=10_000)] = _env(
        "TICKCAST_FEED_MAX_IN_FLIGHT",
        100,
        "Frames the publisher has outstanding at once (awaited, and retried, as one batch).",
    )
    stale_s: Annotated[float, Field(gt=0)] = _env(
        "TICKCAST_FEED_STALE_S",
        120.0,
        "No frame for this long during the session: the feed is stale (/readyz 503, gauge, log).",
    )
    session: str = _env(
        "TICKCAST_FEED_SESSION",
        "",
        "When staleness counts, e.g. `09:30-16:00 America/New_York mon-fri` (empty: TICKCAST_SESSION, else always).",
    )
    backoff_min_s: Annotated[float, Field(gt=0, le=3600)] = _env(
        "TICKCAST_FEED_BACKOFF_MIN_S", 1.0, "Base of the reconnect backoff (doubles per attempt)."
    )
    backoff_max_s: Annotated[float, Field(gt=0, le=3600)] = _env(
        "TICKCAST_FEED_BACKOFF_MAX_S",
        60.0,
        "Cap of the reconnect backoff; each wait is uniform in [0, min(cap, base * 2^n)] (full jitter).",
    )
    limit_backoff_s: Annotated[float, Field(ge=0, le=3600)] = _env(
        "TICKCAST_FEED_LIMIT_BACKOFF_S",
        30.0,
        "Least wait after the vendor's connection limit (Alpaca 406, Polygon max_connections): another instance holds the connection, e.g. during a rollout.",
    )
    backoff_reset_s: Annotated[float, Field(ge=0)] = _env(
        "TICKCAST_FEED_BACKOFF_RESET_S",
        30.0,
        "A connection subscribed for this long resets the backoff to its base.",
    )
    publish_backoff_max_s: Annotated[float, Field(gt=0, le=600)] = _env(
        "TICKCAST_FEED_PUBLISH_BACKOFF_MAX_S",
        10.0,
        "Cap of the backoff between publish retries (a failed frame is retried until it is published).",
    )
    handshake_timeout_s: Annotated[float, Field(gt=0, le=300)] = _env(
        "TICKCAST_FEED_HANDSHAKE_TIMEOUT_S",
        10.0,
        "Time from opening the socket to the subscription acknowledgement (Alpaca allows 10 s to authenticate).",
    )
    ping_interval_s: Annotated[float, Field(gt=0)] = _env(
        "TICKCAST_FEED_PING_INTERVAL_S", 20.0, "WebSocket ping interval towards the vendor."
    )
    ping_timeout_s: Annotated[float, Field(gt=0)] = _env(
        "TICKCAST_FEED_PING_TIMEOUT_S",
        20.0,
        "A vendor that does not answer a ping within this time is dropped and reconnected.",
    )
    drain_s: Annotated[float, Field(ge=0, le=3600)] = _env(
        "TICKCAST_FEED_DRAIN_S",
        8.0,
        "On SIGTERM: time to publish what is queued before exiting (Cloud Run allows 10 s).",
    )
    fatal_hold_s: Annotated[float, Field(ge=0, le=86_400)] = _env(
        "TICKCAST_FEED_FATAL_HOLD_S",
        0.0,
        "After a fatal vendor error (bad keys, no entitlement): wait this long before exiting non-zero, so a platform that restarts the container does not hammer the vendor.",
    )
    max_frame_bytes: Annotated[int, Field(ge=1024, le=8 * 2**20)] = _env(
        "TICKCAST_FEED_MAX_FRAME_BYTES",
        4 * 2**20,
        "Largest vendor frame accepted; at most 8 MiB so every frame fits a Pub/Sub message (10 MB).",
    )
    resubscribe_s: Annotated[float, Field(ge=0)] = _env(
        "TICKCAST_FEED_RESUBSCRIBE_S",
        15.0,
        "Yahoo only: resend the subscription this often (the streamer's heartbeat, as yfinance does); 0 = never.",
    )
    port: Annotated[int, Field(ge=0, lt=65_536)] = _env(
        "PORT",
        8080,
        "HTTP port of /healthz, /readyz and /metrics (Cloud Run sets it; 0, in-process only: any free port).",
    )
    alpaca_key_id: SecretStr | None = _env("APCA_API_KEY_ID", None, "Alpaca API key id.")
    alpaca_secret_key: SecretStr | None = _env(
        "APCA_API_SECRET_KEY", None, "Alpaca API secret key."
    )
    polygon_api_key: SecretStr | None = _env("POLYGON_API_KEY", None, "Polygon.io API key.")

    @field_validator("symbols", "channels", mode="before")
    @classmethod
    def _split(cls, v: object) -> tuple[str, ...]:
        return _csv(v)

    @field_validator("alpaca_key_id", "alpaca_secret_key", "polygon_api_key", mode="before")
    @classmethod
    def _blank_is_none(cls, v: object) -> object:
        return None if isinstance(v, str) and not v.strip() else v

    @property
    def feed_name(self) -> str:
        return self.name or self.vendor

    @property
    def stream_name(self) -> str:
        return self.stream or DEFAULT_STREAM[self.vendor]

    @property
    def channel_list(self) -> tuple[str, ...]:
        if self.channels:
            return self.channels
        default = DEFAULT_CHANNELS.get(
            (self.vendor, self.stream_name), DEFAULT_VENDOR_CHANNELS[self.vendor]
        )
        return _csv(default)

    def check(self) -> FeedSettings:
        """Cross-field rules; a ConfigError names the variable to fix."""
        problems: list[str] = []
        if not self.symbols:
            problems.append("TICKCAST_FEED_SYMBOLS: at least one symbol is needed")
        if self.vendor == "yahoo" and "*" in self.symbols:
            problems.append("TICKCAST_FEED_SYMBOLS: Yahoo has no wildcard; name the symbols")
        if self.backoff_min_s > self.backoff_max_s:
            problems.append(
                "TICKCAST_FEED_BACKOFF_MIN_S must not exceed TICKCAST_FEED_BACKOFF_MAX_S"
            )
        if self.vendor == "alpaca":
            if self.stream_name not in ALPACA_STREAMS and not self.url:
                problems.append(
                    f"TICKCAST_FEED_STREAM={self.stream_name!r}: one of {', '.join(sorted(ALPACA_STREAMS))}"
                )
            bad = [c for c in self.channel_list if c not in ALPACA_CHANNELS]
            if bad:
                problems.append(
                    f"TICKCAST_FEED_CHANNELS: unknown Alpaca channel(s) {', '.join(bad)} (known: {', '.join(sorted(ALPACA_CHANNELS))})"
                )
            if self.alpaca_key_id is None or self.alpaca_secret_key is None:
                problems.append("APCA_API_KEY_ID and APCA_API_SECRET_KEY must be set")
        elif self.vendor == "polygon":
            if self.stream_name not in POLYGON_STREAMS and not self.url:
                problems.append(
                    f"TICKCAST_FEED_STREAM={self.stream_name!r}: one of {', '.join(sorted(POLYGON_STREAMS))}"
                )
            bad = [c for c in self.channel_list if not c.isalnum() or not c.isupper()]
            if bad:
                problems.append(
                    f"TICKCAST_FEED_CHANNELS: Polygon channels are event prefixes like T, Q, AM, XT; got {', '.join(bad)}"
                )
            if self.polygon_api_key is None:
                problems.append("POLYGON_API_KEY must be set")
        if problems:
            raise ConfigError("invalid feed configuration: " + "; ".join(problems))
        return self

    @classmethod
    def from_env(cls, vendor: Vendor, environ: Mapping[str, str], **overrides: Any) -> FeedSettings:
        """Validate the environment once (flags in `overrides` win); fails with the variable's name."""
        names = {f.alias for f in cls.model_fields.values() if f.alias}
        data: dict[str, Any] = {k: v for k, v in environ.items() if k in names}
        fields = cls.model_fields
        for key, value in overrides.items():
            if value is not None:
                data[fields[key].alias or key] = value
        data["vendor"] = vendor
        try:
            made = cls.model_validate(data)
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()
            )
            raise ConfigError(f"invalid feed configuration: {problems}") from None
        return made.check()

    @classmethod
    def markdown_table(cls) -> str:
        rows = ["| Variable | Default | Meaning |", "| --- | --- | --- |"]
        for f in cls.model_fields.values():
            if f.alias:
                default = "" if f.default in ((), None) else f.default
                rows.append(f"| `{f.alias}` | `{default}` | {f.description} |")
        return "\n".join(rows)
