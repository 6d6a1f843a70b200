"""`tickcast cost`: a monthly bill estimate from list prices kept in prices.json.

The model follows the pipeline: feeds publish raw frames, ingest republishes
one message per symbol per frame (ordering key = symbol), features turns them
into one message per closed bar, predict writes Firestore, the bridge keeps
listeners open. It is compared with the naive design of one message per tick
all the way, which Pub/Sub (at least 1000 bytes billed per publish and per
push request), Cloud Run functions (one invocation per message) and Cloud
Logging (one request log line per invocation) all charge for.

Every price lives in prices.json with its source and an `as_of` date; every
other number is an assumption listed in `Assumptions` and printed with the
estimate. Neither is a quote: check the prices before relying on a total.

What is deployed (instances kept warm, memory and CPU, the bridge's always-on
instances, the VPC connector, Redis, the feed connectors, the clock and who it
pushes to) is not assumed: `DEPLOYMENTS` holds it per environment, as
infra/terraform/envs/ENV.tfvars sets it over the variables' defaults
(tests/unit/deploy/test_cost_matches_terraform.py compares them), and the push
fan-out comes from topology.json, the file Terraform reads. `--env dev|prod`
prices that environment.
"""

from __future__ import annotations

import argparse
import json
import math
from collections import Counter
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

from tickcast.cliargs import positive_float, positive_int
from tickcast.config import Settings
from tickcast.errors import TickcastError

GIB = 2**30
TIB = 2**40


class PriceError(TickcastError):
    """prices.json is missing, malformed, or lacks the region asked for."""


@dataclass(frozen=True)
class Workload:
    symbols: int
    ticks_per_second: float
    bar_seconds: int
    region: str = "us-central1"


@dataclass(frozen=True)
class FunctionShape:
    """Per-invocation work of one function and the scaling Terraform gives it."""

    base_ms: float
    per_tick_ms: float
    concurrency: int
    vcpu: float = 1.0
    gib: float = 0.5


@dataclass(frozen=True)
class FunctionScale:
    """One function's scaling as Terraform sets it (var.function_scaling)."""

    min_instances: int
    concurrency: int
    vcpu: float = 1.0
    gib: float = 0.5


@dataclass(frozen=True)
class Deployment:
    """What infra/terraform deploys in one environment: envs/ENV.tfvars over the
    variables' defaults. Instances, sizes and counts only; prices are elsewhere."""

    functions: Mapping[str, FunctionScale]
    bridge_instances: int  # bridge_scaling.min_instances: always on, CPU always allocated
    bridge_vcpu: float
    bridge_gib: float
    connector_instances: int  # connector_instances.min (e2-micro)
    redis_gb: int  # redis_memory_size_gb
    feeds: int = 0  # entries of var.feeds: one always-on instance each
    feed_vcpu: float = 1.0
    feed_gib: float = 0.5
    clock_per_minute: float = 1.0  # the clock job's schedule, "* * * * *"


def _functions(ingest: FunctionScale, features: FunctionScale, predict: FunctionScale) -> Any:
    return {"ingest": ingest, "features": features, "predict": predict}


# The variables' defaults (variables.tf), then each environment's tfvars over them.
DEPLOYMENTS: dict[str, Deployment] = {
    "default": Deployment(
        functions=_functions(FunctionScale(0, 16), FunctionScale(0, 16), FunctionScale(0, 8)),
        bridge_instances=1,
        bridge_vcpu=1.0,
        bridge_gib=0.5,
        connector_instances=2,
        redis_gb=1,
    ),
    "dev": Deployment(
        functions=_functions(FunctionScale(0, 16), FunctionScale(0, 16), FunctionScale(0, 8)),
        bridge_instances=0,
        bridge_vcpu=1.0,
        bridge_gib=0.5,
        connector_instances=2,
        redis_gb=1,
    ),
    "prod": Deployment(
        functions=_functions(
            FunctionScale(1, 32), FunctionScale(2, 32), FunctionScale(4, 32, gib=1.0)
        ),
        bridge_instances=2,
        bridge_vcpu=1.0,
        bridge_gib=1.0,
        connector_instances=2,
        redis_gb=2,
    ),
}


@cache
def push_subscriptions() -> dict[str, int]:
    """Push subscriptions per topic, from topology.json (what Terraform creates)."""
    text = resources.files("tickcast.deploy").joinpath("topology.json").read_text("utf-8")
    return dict(Counter(r["topic"] for r in json.loads(text)["routes"]))


@dataclass(frozen=True)
class Assumptions:
    # Feeds publish what arrived during one window as one raw frame.
    feed_window_ms: float = 100.0
    raw_tick_bytes: int = 120  # one vendor tick (Alpaca/Polygon JSON)
    tick_bytes: int = 160  # one normalised tick on tickcast-ticks
    envelope_bytes: int = 250  # attributes, ordering key, message id, trace
    features_bytes: int = 1500  # one closed bar with its features
    clock_bytes: int = 100
    ingest: FunctionShape = field(default_factory=lambda: FunctionShape(15.0, 0.05, 16))
    features: FunctionShape = field(default_factory=lambda: FunctionShape(20.0, 0.10, 16))
    predict: FunctionShape = field(default_factory=lambda: FunctionShape(40.0, 0.0, 8))
    request_log_bytes: int = 1000  # Cloud Run writes one request log entry per push
    app_log_bytes: int = 300  # tickcast's own JSON lines per invocation
    # Redis: dedupe claims for TICKCAST_DEDUPE_TTL_S, plus state per symbol. 320 B per
    # tick is the measured worst case (every trade alone in its symbol-second hash;
    # quotes are not claimed): docs/PERFORMANCE.md, `tickcast bench dedupe`.
    dedupe_key_bytes: int = 320
    state_bytes_per_symbol: int = 8192
    redis_usable_fraction: float = 0.7  # headroom under noeviction
    # Firestore per closed bar and symbol: latest + history, alerts now and then.
    writes_per_bar: float = 2.0
    alerts_per_bar: float = 0.02
    listener_reads_per_bar: float = 1.0  # per bridge instance (one listener set each)
    history_days: float = 30.0  # expire_at retention of the prediction history
    history_doc_bytes: int = 2048
    bridge_instances: int = 1
    bridge_vcpu: float = 1.0
    bridge_gib: float = 0.5
    # Without --env, one feed connector is assumed (infra/terraform/feeds.tf deploys
    # none until var.feeds names one); with --env, the environment's count.
    feeds: int = 1  # `tickcast feed` connectors (infra/terraform/feeds.tf), one instance each
    feed_vcpu: float = 1.0
    feed_gib: float = 0.5
    connector_instances: int = 2
    # The rest of what is deployed: the defaults are DEPLOYMENTS["default"];
    # for_deployment() takes an environment's.
    min_instances: Mapping[str, int] = field(
        default_factory=lambda: {"ingest": 0, "features": 0, "predict": 0}
    )
    clock_per_minute: float = 1.0
    secrets: int = 2
    scheduler_jobs: int = 1

    @classmethod
    def for_deployment(cls, d: Deployment, **overrides: Any) -> Assumptions:
        base = cls()
        shapes = {
            name: FunctionShape(
                getattr(base, name).base_ms,
                getattr(base, name).per_tick_ms,
                scale.concurrency,
                scale.vcpu,
                scale.gib,
            )
            for name, scale in d.functions.items()
        }
        values: dict[str, Any] = {
            **shapes,
            "bridge_instances": d.bridge_instances,
            "bridge_vcpu": d.bridge_vcpu,
            "bridge_gib": d.bridge_gib,
            "connector_instances": d.connector_instances,
            "min_instances": {n: f.min_instances for n, f in d.functions.items()},
            "feeds": d.feeds,
            "feed_vcpu": d.feed_vcpu,
            "feed_gib": d.feed_gib,
            "clock_per_minute": d.clock_per_minute,
        }
        return cls(**{**values, **overrides})


@dataclass(frozen=True)
class Line:
    service: str
    item: str
    quantity: float
    unit: str
    usd: float


@dataclass(frozen=True)
class Estimate:
    design: str
    lines: tuple[Line, ...]
    rates: dict[str, float]  # messages or invocations per second, by hop

    @property
    def total(self) -> float:
        return sum(line.usd for line in self.lines)

    def by_service(self) -> dict[str, float]:
        out: dict[str, float] = {}
        for line in self.lines:
            out[line.service] = out.get(line.service, 0.0) + line.usd
        return out


@dataclass(frozen=True)
class Report:
    workload: Workload
    assumptions: Assumptions
    free_tier: bool
    redis_gb: int
    redis_gb_needed: int
    batched: Estimate
    per_tick: Estimate
    notes: tuple[str, ...]
    as_of: str
    currency: str

    @property
    def savings(self) -> float:
        return self.per_tick.total - self.batched.total


class Prices:
    """prices.json, checked on load so a bad edit fails with the key's name."""

    def __init__(self, data: dict[str, Any]) -> None:
        try:
            self.as_of = str(data["as_of"])
            self.currency = str(data["currency"])
            self.hours_per_month = float(data["hours_per_month"])
            self._prices: dict[str, dict[str, Any]] = data["prices"]
            self.regions = {k: v for k, v in data["regions"].items() if not k.startswith("_")}
        except (KeyError, TypeError, ValueError) as exc:
            raise PriceError(f"prices file is missing {exc}") from None
        for key, entry in self._prices.items():
            if "source" not in entry or not ("usd" in entry or "value" in entry):
                raise PriceError(f"price {key!r} needs a source and a usd or value")

    @classmethod
    def load(cls, path: Path | None = None) -> Prices:
        try:
            if path is None:
                text = resources.files("tickcast.deploy").joinpath("prices.json").read_text("utf-8")
            else:
                text = path.read_text(encoding="utf-8")
            return cls(json.loads(text))
        except (OSError, json.JSONDecodeError) as exc:
            raise PriceError(f"cannot read prices: {exc}") from None

    def usd(self, key: str) -> Any:
        try:
            return self._prices[key]["usd"]
        except KeyError:
            raise PriceError(f"prices file has no usd price {key!r}") from None

    def value(self, key: str) -> Any:
        try:
            return self._prices[key]["value"]
        except KeyError:
            raise PriceError(f"prices file has no value {key!r}") from None

    def tier(self, region: str) -> str:
        return str(self._region(region)["run_tier"])

    def multiplier(self, region: str) -> float:
        return float(self._region(region)["multiplier"])

    def _region(self, region: str) -> dict[str, Any]:
        if region not in self.regions:
            raise PriceError(
                f"no prices for region {region!r} (known: {', '.join(sorted(self.regions))})"
            )
        region_prices: dict[str, Any] = self.regions[region]
        return region_prices

    def redis_gb_hour(self, gb: int) -> float:
        for step in self.usd("redis_standard_gb_hour"):
            if gb <= step["max_gb"]:
                return float(step["usd"])
        raise PriceError(f"no Memorystore price for {gb} GB")


def _frames_per_second(rate: float, window_s: float) -> float:
    """Windows of length window_s that hold at least one of `rate` Poisson arrivals per second."""
    return -math.expm1(-rate * window_s) / window_s


def redis_gb_needed(w: Workload, a: Assumptions, dedupe_ttl_s: int) -> int:
    need = (
        w.ticks_per_second * dedupe_ttl_s * a.dedupe_key_bytes
        + w.symbols * a.state_bytes_per_symbol
    )
    return max(1, math.ceil(need / GIB / a.redis_usable_fraction))


def _estimate(
    design: str, w: Workload, a: Assumptions, p: Prices, redis_gb: int, free_tier: bool
) -> Estimate:
    month_s = p.hours_per_month * 3600
    tier = p.tier(w.region)
    mult = p.multiplier(w.region)
    t = w.ticks_per_second
    window = a.feed_window_ms / 1000
    bars_per_s = w.symbols / w.bar_seconds

    # Messages per second on each hop, and ticks carried by each message.
    if design == "batched":
        raw_rate = _frames_per_second(t, window)
        ticks_rate = w.symbols * _frames_per_second(t / w.symbols, window)
    else:
        raw_rate = ticks_rate = t
    raw_ticks, batch_ticks = t / raw_rate, t / ticks_rate
    clock_rate = a.clock_per_minute / 60
    hops = {  # topic -> (messages/s, bytes per message)
        "raw": (raw_rate, a.envelope_bytes + raw_ticks * a.raw_tick_bytes),
        "ticks": (ticks_rate, a.envelope_bytes + batch_ticks * a.tick_bytes),
        "clock": (clock_rate, a.clock_bytes),
        "features": (bars_per_s, a.envelope_bytes + a.features_bytes),
    }
    min_bytes = float(p.value("pubsub_min_request_bytes"))
    # One publish request per message, and one push request per message and push
    # subscription (push delivers one at a time): the clock feeds two functions.
    pushes = push_subscriptions()
    billed = (
        sum(
            (1 + pushes.get(topic, 0)) * rate * max(min_bytes, size)
            for topic, (rate, size) in hops.items()
        )
        * month_s
    )
    if free_tier:
        billed = max(0.0, billed - float(p.value("pubsub_free_gib")) * GIB)
    lines = [
        Line(
            "Pub/Sub",
            "throughput (publish + push, 1000 B minimum per request)",
            billed / GIB,
            "GiB",
            billed / TIB * float(p.usd("pubsub_throughput_tib")),
        ),
    ]

    # Cloud Run functions: busy instance time under request-based billing.
    # Features and predict are each pushed every clock tick (topology.json).
    invocations = {
        "ingest": (raw_rate, a.ingest, raw_ticks),
        "features": (ticks_rate + clock_rate, a.features, batch_ticks),
        "predict": (bars_per_s + clock_rate, a.predict, 1.0),
    }
    vcpu_s = gib_s = requests = 0.0
    for rate, shape, ticks in invocations.values():
        seconds = (shape.base_ms + shape.per_tick_ms * ticks) / 1000
        billed_s = math.ceil(seconds * 10) / 10  # an isolated request bills at least 100 ms
        busy = max(-math.expm1(-rate * billed_s), rate * seconds / shape.concurrency)
        vcpu_s += busy * shape.vcpu * month_s
        gib_s += busy * shape.gib * month_s
        requests += rate * month_s
    if free_tier:
        free = p.value("run_request_free")
        vcpu_s = max(0.0, vcpu_s - free["vcpu_seconds"])
        gib_s = max(0.0, gib_s - free["gib_seconds"])
        requests = max(0.0, requests - free["requests"])
    lines += [
        Line(
            "Functions",
            "vCPU time (ingest, features, predict)",
            vcpu_s,
            "vCPU-s",
            vcpu_s * float(p.usd("run_request_vcpu_second")[tier]),
        ),
        Line(
            "Functions",
            "memory time",
            gib_s,
            "GiB-s",
            gib_s * float(p.usd("run_request_gib_second")[tier]),
        ),
        Line(
            "Functions",
            "invocations",
            requests,
            "requests",
            requests / 1e6 * float(p.usd("run_requests_million")),
        ),
    ]

    # Instances kept warm (min_instances) are billed between requests at the idle rate.
    warm = {name: n for name, n in a.min_instances.items() if n}
    if warm:
        warm_vcpu = sum(n * getattr(a, name).vcpu for name, n in warm.items()) * month_s
        warm_gib = sum(n * getattr(a, name).gib for name, n in warm.items()) * month_s
        lines.append(
            Line(
                "Functions",
                f"min instances kept warm ({sum(warm.values())}, idle rate)",
                sum(warm.values()) * month_s,
                "instance-s",
                warm_vcpu * float(p.usd("run_idle_vcpu_second")[tier])
                + warm_gib * float(p.usd("run_request_gib_second")[tier]),
            )
        )

    log_bytes = (
        sum(rate for rate, _, _ in invocations.values())
        * month_s
        * (a.request_log_bytes + a.app_log_bytes)
    )
    log_gib = log_bytes / GIB
    if free_tier:
        log_gib = max(0.0, log_gib - float(p.value("logging_free_gib")))
    lines.append(
        Line(
            "Logging",
            "request and application logs",
            log_gib,
            "GiB",
            log_gib * float(p.usd("logging_ingestion_gib")),
        )
    )

    # Shared by both designs: state, storage and the always-on parts.
    hours = p.hours_per_month
    lines.append(
        Line(
            "Memorystore",
            f"Redis Standard (HA), {redis_gb} GB",
            redis_gb * hours,
            "GB-h",
            redis_gb * hours * p.redis_gb_hour(redis_gb) * mult,
        )
    )
    lines.append(
        Line(
            "Memorystore",
            "VPC connector (e2-micro)",
            a.connector_instances * hours,
            "instance-h",
            a.connector_instances * hours * float(p.usd("vpc_connector_e2_micro_hour")) * mult,
        )
    )

    bars = bars_per_s * month_s
    writes = bars * (a.writes_per_bar + a.alerts_per_bar)
    reads = bars * a.listener_reads_per_bar * a.bridge_instances
    deletes = bars  # each history document expires once (TTL deletes have no free quota)
    stored_gib = w.symbols * 86_400 / w.bar_seconds * a.history_days * a.history_doc_bytes / GIB
    if free_tier:
        daily = p.value("firestore_free_daily")
        days = hours / 24
        writes = max(0.0, writes - daily["writes"] * days)
        reads = max(0.0, reads - daily["reads"] * days)
        stored_gib = max(0.0, stored_gib - daily["storage_gib"])
    lines += [
        Line(
            "Firestore",
            "document writes (latest, history, alerts)",
            writes,
            "writes",
            writes / 1e5 * float(p.usd("firestore_writes_100k")),
        ),
        Line(
            "Firestore",
            "listener reads (bridge)",
            reads,
            "reads",
            reads / 1e5 * float(p.usd("firestore_reads_100k")),
        ),
        Line(
            "Firestore",
            "TTL deletes of history",
            deletes,
            "deletes",
            deletes / 1e5 * float(p.usd("firestore_deletes_100k")),
        ),
        Line(
            "Firestore",
            f"storage ({a.history_days:g} days of history)",
            stored_gib,
            "GiB-month",
            stored_gib * float(p.usd("firestore_storage_gib_month")),
        ),
    ]

    bridge_s = a.bridge_instances * month_s
    b_vcpu, b_gib = bridge_s * a.bridge_vcpu, bridge_s * a.bridge_gib
    if free_tier:
        free = p.value("run_instance_free")
        b_vcpu = max(0.0, b_vcpu - free["vcpu_seconds"])
        b_gib = max(0.0, b_gib - free["gib_seconds"])
    lines.append(
        Line(
            "Cloud Run",
            f"ws_bridge, {a.bridge_instances} always-on instance(s)",
            bridge_s,
            "instance-s",
            b_vcpu * float(p.usd("run_instance_vcpu_second")[tier])
            + b_gib * float(p.usd("run_instance_gib_second")[tier]),
        )
    )
    # Feed connectors run always on, like the bridge; the free tier goes to the bridge first.
    feed_s = a.feeds * month_s
    f_vcpu, f_gib = feed_s * a.feed_vcpu, feed_s * a.feed_gib
    if free_tier:
        free = p.value("run_instance_free")
        f_vcpu = max(0.0, f_vcpu - max(0.0, free["vcpu_seconds"] - bridge_s * a.bridge_vcpu))
        f_gib = max(0.0, f_gib - max(0.0, free["gib_seconds"] - bridge_s * a.bridge_gib))
    lines.append(
        Line(
            "Cloud Run",
            f"feed connectors, {a.feeds} always-on instance(s)",
            feed_s,
            "instance-s",
            f_vcpu * float(p.usd("run_instance_vcpu_second")[tier])
            + f_gib * float(p.usd("run_instance_gib_second")[tier]),
        )
    )
    lines.append(
        Line(
            "Other",
            "Scheduler job, Secret Manager versions",
            a.scheduler_jobs + a.secrets,
            "items",
            a.scheduler_jobs * float(p.usd("scheduler_job_month"))
            + a.secrets * float(p.usd("secret_version_month")),
        )
    )
    rates = {
        "raw messages/s": raw_rate,
        "ticks messages/s": ticks_rate,
        "features messages/s": bars_per_s,
        "function invocations/s": sum(rate for rate, _, _ in invocations.values()),
    }
    return Estimate(design, tuple(lines), rates)


def estimate(
    w: Workload,
    a: Assumptions | None = None,
    prices: Prices | None = None,
    *,
    redis_gb: int | None = None,
    free_tier: bool = False,
) -> Report:
    if w.symbols < 1 or w.ticks_per_second <= 0 or not 1 <= w.bar_seconds <= 86_400:
        raise TickcastError("need symbols >= 1, ticks_per_second > 0 and 1 <= bar_seconds <= 86400")
    a = a or Assumptions()
    p = prices or Prices.load()
    p.tier(w.region)  # unknown region fails before any arithmetic
    dedupe_ttl_s = Settings().dedupe_ttl_s
    needed = redis_gb_needed(w, a, dedupe_ttl_s)
    gb = redis_gb or needed
    notes = []
    if gb < needed:
        notes.append(
            f"{gb} GB of Redis is less than the ~{needed} GB that {w.ticks_per_second:g} ticks/s of dedupe keys "
            f"(TICKCAST_DEDUPE_TTL_S={dedupe_ttl_s}) need; lower the TTL or grow redis_memory_size_gb."
        )
    if w.bar_seconds < 2:
        notes.append(
            "Bars under 2 s approach Firestore's ~1 write/s per document on symbols/{SYMBOL}."
        )
    notes.append(
        "Not included: network egress to clients, Cloud Build minutes, Artifact Registry storage, "
        "Pub/Sub retained-message storage, the bridge's tickcast-ticks subscription, taxes."
    )
    return Report(
        workload=w,
        assumptions=a,
        free_tier=free_tier,
        redis_gb=gb,
        redis_gb_needed=needed,
        batched=_estimate("batched", w, a, p, gb, free_tier),
        per_tick=_estimate("per_tick", w, a, p, gb, free_tier),
        notes=tuple(notes),
        as_of=p.as_of,
        currency=p.currency,
    )


def to_json(r: Report) -> dict[str, Any]:
    def est(e: Estimate) -> dict[str, Any]:
        return {
            "lines": [asdict(x) for x in e.lines],
            "by_service": e.by_service(),
            "rates": e.rates,
            "total_usd": e.total,
        }

    return {
        "workload": asdict(r.workload),
        "prices_as_of": r.as_of,
        "currency": r.currency,
        "free_tier_applied": r.free_tier,
        "redis_gb": r.redis_gb,
        "redis_gb_needed": r.redis_gb_needed,
        "batched": est(r.batched),
        "per_tick": est(r.per_tick),
        "batching_saves_usd": r.savings,
        "assumptions": asdict(r.assumptions),
        "notes": list(r.notes),
    }


def _qty(x: float) -> str:
    for div, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(x) >= div:
            return f"{x / div:,.1f}{suffix}"
    return f"{x:,.1f}"


def render(r: Report) -> str:
    w = r.workload
    out = [
        f"tickcast monthly estimate: {w.symbols} symbols, {w.ticks_per_second:g} ticks/s, "
        f"{w.bar_seconds} s bars, {w.region}",
        f"list prices as of {r.as_of} in {r.currency} (check them; free tiers "
        f"{'applied' if r.free_tier else 'not applied'})",
        "",
        f"{'service':<12} {'item':<58} {'quantity':>16} {'USD':>10}",
    ]
    for line in r.batched.lines:
        qty = f"{_qty(line.quantity)} {line.unit}"
        out.append(f"{line.service:<12} {line.item:<58} {qty:>16} {line.usd:>10,.2f}")
    out += [f"{'total':<12} {'':<58} {'':>16} {r.batched.total:>10,.2f}", ""]
    out.append("Per-symbol batching vs one message per tick:")
    out.append(f"{'service':<12} {'batched':>12} {'per tick':>12} {'saved':>12}")
    b, n = r.batched.by_service(), r.per_tick.by_service()
    for service in b:
        if abs(n[service] - b[service]) > 0.005:
            out.append(
                f"{service:<12} {b[service]:>12,.2f} {n[service]:>12,.2f} {n[service] - b[service]:>12,.2f}"
            )
    out.append(
        f"{'total':<12} {r.batched.total:>12,.2f} {r.per_tick.total:>12,.2f} {r.savings:>12,.2f}"
    )
    out += ["", f"{'traffic':<24} {'batched':>12} {'per tick':>12}"]
    for key, rate in r.batched.rates.items():
        out.append(f"{key:<24} {rate:>12,.1f} {r.per_tick.rates[key]:>12,.1f}")
    out += ["", *(f"note: {n}" for n in r.notes)]
    return "\n".join(out)


def _bar_seconds(text: str) -> int:
    v = positive_int(text)
    if v > 86_400:
        raise argparse.ArgumentTypeError(f"must be at most 86400, got {v}")
    return v


def _redis_gb(text: str) -> int:
    v = positive_int(text)
    if v > 300:
        raise argparse.ArgumentTypeError(f"Memorystore for Redis tops out at 300 GB, got {v}")
    return v


def _non_negative_int(text: str) -> int:
    return 0 if text.strip() == "0" else positive_int(text)


def run(args: argparse.Namespace) -> int:
    prices = Prices.load(Path(args.prices) if args.prices else None)
    d = DEPLOYMENTS[args.env]
    overrides: dict[str, Any] = {"feed_window_ms": args.feed_window_ms}
    if args.env == "default":
        overrides["feeds"] = Assumptions.feeds  # assumed, see Assumptions.feeds
    for key in ("bridge_instances", "feeds"):
        if getattr(args, key) is not None:
            overrides[key] = getattr(args, key)
    a = Assumptions.for_deployment(d, **overrides)
    w = Workload(args.symbols, args.ticks_per_second, args.bar_seconds, args.region)
    # An environment prices the Redis it deploys; without one, Redis is sized for the load.
    redis_gb = args.redis_gb or (d.redis_gb if args.env != "default" else None)
    report = estimate(w, a, prices, redis_gb=redis_gb, free_tier=args.free_tier)
    print(json.dumps(to_json(report), indent=2) if args.json else render(report))
    return 0


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser(
        "cost",
        help="estimate the monthly bill, and what per-symbol batching saves",
        description="Monthly estimate from the list prices in tickcast/deploy/prices.json (dated; check them).",
    )
    p.add_argument("--symbols", type=positive_int, required=True, help="symbols streamed")
    p.add_argument(
        "--ticks-per-second",
        type=positive_float,
        required=True,
        help="ticks per second, all symbols, monthly average",
    )
    p.add_argument(
        "--bar-seconds",
        type=_bar_seconds,
        default=60,
        help="bar length (TICKCAST_BAR_SECONDS, default 60)",
    )
    p.add_argument(
        "--region", default="us-central1", help="deployment region (default us-central1)"
    )
    p.add_argument(
        "--feed-window-ms",
        type=positive_float,
        default=Assumptions.feed_window_ms,
        help="how much the feed batches into one raw message (default 100 ms)",
    )
    p.add_argument(
        "--env",
        choices=sorted(DEPLOYMENTS),
        default="default",
        help="price what infra/terraform deploys in this environment (min instances, memory, "
        "bridge instances, connector, Redis, feeds); default: the variables' defaults",
    )
    p.add_argument(
        "--bridge-instances",
        type=_non_negative_int,
        default=None,
        help="always-on ws_bridge instances (default: the environment's bridge min instances)",
    )
    p.add_argument(
        "--feeds",
        type=_non_negative_int,
        default=None,
        help="feed connectors, one always-on instance each (default: the environment's, "
        f"or {Assumptions.feeds} without --env)",
    )
    p.add_argument(
        "--redis-gb",
        type=_redis_gb,
        help="provisioned Redis GB (default: sized for the dedupe keys)",
    )
    p.add_argument(
        "--free-tier",
        action="store_true",
        help="subtract the monthly free tiers (shared per billing account)",
    )
    p.add_argument("--prices", help="another prices file (same format as the packaged prices.json)")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=run)
