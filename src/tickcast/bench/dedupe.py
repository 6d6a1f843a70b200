"""Ingest's dedupe memory in Redis, per tick/s of steady state: the old scheme and the new.

Usage::

    python -m tickcast.bench.dedupe                          # stated profile, private Redis
    python -m tickcast.bench.dedupe --rate 10000 --seconds 60 --symbols 1000 --quote-share 0.8
    python -m tickcast.bench.dedupe --steady 20              # also check the plateau live

A synthetic feed of ``--rate`` ticks per second of event time (``--quote-share``
of them quotes, the rest trades), over ``--symbols`` symbols whose activity
follows Zipf's law (the k-th busiest symbol gets 1/k of the top one's ticks, as
in equity markets), cut into raw messages of ``--per-message`` ticks with
Pub/Sub-like message ids, goes through two dedupe schemes on a private
redis-server on loopback (or ``--redis-url``: a database nothing else uses, it
is flushed):

* **old** (the reference, reproduced here as it was): one string key
  ``tickcast:seen:<tick id>`` = message id per tick, quotes included, for
  ``--old-ttl`` seconds (86,400, the old default), a ``done`` mark per message
  and the in-flight hash, all in one script;
* **new**: ``tickcast.ingest.dedupe.Deduper`` as ingest runs it (quotes not
  claimed; one hash per (symbol, event second); 8-byte digests), for
  ``--ttl`` seconds (default: ``TICKCAST_DEDUPE_TTL_S``'s).

``--seconds`` of event time are fed as fast as the client goes (expiry plays no
part: nothing is older than the TTL) and Redis's ``used_memory`` (INFO memory)
is read before and after, as is the key count. Every key lives for the TTL
after its second, so at a steady rate the memory held is what one second
adds times the TTL: bytes per (tick/s) of steady state = (used_memory delta /
ticks fed) x TTL. ``MEMORY USAGE`` of a sample of keys is shown beside it.

``--steady S`` also checks that claim (for the new scheme only): it feeds at
``--steady-rate`` ticks/s in real time, with a TTL of S seconds, for 3 S
seconds, sampling the key count and ``used_memory`` every second; the figures
must level off at about the projection, which is a fill of S seconds of the
same feed at the same rate (Redis removes expired keys lazily and by sampling,
so the plateau sits somewhat above it).

Exit status 0 when the benchmark ran.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import platform
import random
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from redis import RedisError

from tickcast.cliargs import positive_int
from tickcast.errors import TickcastError

NS = 1_000_000_000
STATED = {"rate": 10_000, "seconds": 60, "symbols": 1_000, "quote_share": 0.8, "per_message": 100}
"""The stated profile: 10,000 ticks/s (the issue's figure), 80 % quotes, 1,000 symbols."""

OLD_TTL_S = 86_400
"""TICKCAST_DEDUPE_TTL_S's default before this scheme."""

# The old claim script as it was (git history of ingest/dedupe.py), for the reference.
_OLD_CLAIM = """
if redis.call('EXISTS', KEYS[1]) == 1 then
  return {-1}
end
local owner, ttl, now = ARGV[1], tonumber(ARGV[2]), ARGV[3]
local out, newest = {}, {}
for i = 3, #KEYS do
  local key = KEYS[i]
  local mine = redis.call('SET', key, owner, 'NX', 'EX', ttl) or redis.call('GET', key) == owner
  out[i - 2] = mine and 1 or 0
  local sym, ms = ARGV[2 * i - 2], tonumber(ARGV[2 * i - 1])
  if mine and ms > 0 and ms > (newest[sym] or 0) then
    newest[sym] = ms
  end
end
for sym, ms in pairs(newest) do
  if ms > tonumber(redis.call('HGET', KEYS[2], sym) or '0') then
    redis.call('HSET', KEYS[2], sym, ms, sym .. '@', now)
  end
end
return out
"""


@dataclass(frozen=True)
class Tick:
    symbol: str
    id: str
    ms: int  # event ms; 0 for a quote, as ingest passes it


@dataclass(frozen=True)
class Result:
    scheme: str
    ttl_s: int
    ticks: int
    trades: int
    messages: int
    keys: int
    used_bytes: int

    @property
    def bytes_per_tick(self) -> float:
        return self.used_bytes / self.ticks

    @property
    def steady_bytes_per_tick_s(self) -> float:
        """Memory held at steady state for each tick/s of feed."""
        return self.bytes_per_tick * self.ttl_s

    @property
    def keys_per_tick_s(self) -> float:
        return self.keys / self.ticks * self.ttl_s


def feed(
    rate: int,
    seconds: int,
    symbols: int,
    quote_share: float,
    per_message: int,
    seed: int,
    uniform: bool = False,
) -> Iterator[tuple[int, str, list[Tick]]]:
    """(event second, message id, ticks) of the synthetic feed, in order."""
    rng = random.Random(seed)
    names = [f"S{k:04d}" for k in range(symbols)]
    weights = [1.0 if uniform else 1.0 / (k + 1) for k in range(symbols)]
    start_ms = (time.time_ns() // NS - seconds - 60) * 1000
    serial = [0] * symbols
    message = 10**16  # Pub/Sub message ids are 16-17 digit numbers
    for second in range(seconds):
        picks = rng.choices(range(symbols), weights, k=rate)
        ticks: list[Tick] = []
        for n, k in enumerate(picks):
            ms = start_ms + second * 1000 + n * 1000 // rate
            ts = ms * 1_000_000
            if rng.random() < quote_share:
                # Alpaca quotes carry no id: ingest hashes their content.
                ticks.append(Tick(names[k], f"alpaca:q:{names[k]}:{rng.getrandbits(64):016x}", 0))
            else:
                serial[k] += 1
                ticks.append(Tick(names[k], f"alpaca:t:{names[k]}:V:{serial[k]}@{ts}", ms))
        for i in range(0, len(ticks), per_message):
            message += rng.randrange(1, 1000)
            yield second, str(message), ticks[i : i + per_message]


class OldScheme:
    """The reference: one key per tick id, quotes included (reproduced as it was)."""

    name = "old"

    def __init__(self, redis: Any, ttl_s: int) -> None:
        self._redis = redis
        self._script = redis.register_script(_OLD_CLAIM)
        self._ttl = ttl_s

    def process(self, owner: str, ticks: Sequence[Tick]) -> None:
        self._script(
            keys=["tickcast:done:" + owner, "tickcast:inflight"]
            + ["tickcast:seen:" + t.id for t in ticks],
            args=[owner, self._ttl, time.time_ns() // 1_000_000]
            + [x for t in ticks for x in (t.symbol, t.ms)],
        )
        self._redis.set("tickcast:done:" + owner, 1, ex=self._ttl)


class NewScheme:
    """ingest's Deduper, called as ingest/stage.py calls it."""

    name = "new"

    def __init__(self, redis: Any, ttl_s: int) -> None:
        from tickcast.ingest.dedupe import Deduper

        self._deduper = Deduper(redis, ttl_s)

    def process(self, owner: str, ticks: Sequence[Tick]) -> None:
        self._deduper.claim([t.id for t in ticks], owner, [(t.symbol, t.ms) for t in ticks])
        self._deduper.done(owner)


def _used(redis: Any) -> int:
    time.sleep(0.2)  # let client buffers drain before reading
    return int(redis.info("memory")["used_memory"])


def measure(
    redis: Any, scheme: Any, ttl_s: int, workload: list[tuple[int, str, list[Tick]]]
) -> Result:
    redis.flushdb()
    scheme.process("warm-up", workload[0][2][:2])  # loads the scripts
    redis.flushdb()
    before = _used(redis)
    ticks = trades = 0
    for _, owner, batch in workload:
        scheme.process(owner, batch)
        ticks += len(batch)
        trades += sum(1 for t in batch if t.ms)
    after = _used(redis)
    return Result(
        scheme.name, ttl_s, ticks, trades, len(workload), int(redis.dbsize()), after - before
    )


def sample_usage(redis: Any, pattern: str, n: int = 200) -> tuple[int, float]:
    """(keys sampled, mean MEMORY USAGE bytes) over up to n keys matching `pattern`."""
    sizes: list[int] = []
    for key in redis.scan_iter(match=pattern, count=1000):
        sizes.append(int(redis.memory_usage(key, samples=0) or 0))
        if len(sizes) >= n:
            break
    return len(sizes), (sum(sizes) / len(sizes) if sizes else 0.0)


def steady(
    redis: Any,
    ttl_s: int,
    rate: int,
    symbols: int,
    quote_share: float,
    per_message: int,
    seed: int,
    uniform: bool = False,
) -> list[dict[str, float]]:
    """Feed the new scheme in real time for 3 TTLs; (elapsed s, keys, used bytes) each second."""
    from tickcast.ingest.dedupe import Deduper

    seconds = 3 * ttl_s
    redis.flushdb()
    deduper = Deduper(redis, ttl_s)
    deduper.claim(["warm-up"], "warm-up", [("W", 1)])
    redis.flushdb()
    base = _used(redis)
    rng = random.Random(seed)
    names = [f"S{k:04d}" for k in range(symbols)]
    weights = [1.0 if uniform else 1.0 / (k + 1) for k in range(symbols)]
    samples: list[dict[str, float]] = []
    start = time.monotonic()
    message = 10**16
    for second in range(seconds):
        now_ms = time.time_ns() // 1_000_000
        picks = rng.choices(range(symbols), weights, k=rate)
        ticks = [
            Tick(names[k], f"alpaca:q:{names[k]}:{rng.getrandbits(64):016x}", 0)
            if rng.random() < quote_share
            else Tick(names[k], f"alpaca:t:{names[k]}:V:{rng.getrandbits(48)}@{now_ms}", now_ms)
            for k in picks
        ]
        for i in range(0, len(ticks), per_message):
            message += 1
            batch = ticks[i : i + per_message]
            deduper.claim([t.id for t in batch], str(message), [(t.symbol, t.ms) for t in batch])
            deduper.done(str(message))
        late = start + second + 1 - time.monotonic()
        if late > 0:
            time.sleep(late)
        info = redis.info("memory")
        samples.append(
            {
                "elapsed_s": round(time.monotonic() - start, 1),
                "keys": int(redis.dbsize()),
                "used_bytes": int(info["used_memory"]) - base,
            }
        )
        print(f"  steady: {samples[-1]}", file=sys.stderr, flush=True)
    return samples


@contextlib.contextmanager
def redis_at(given: str | None) -> Iterator[tuple[str, str]]:
    """(url, description): the given Redis, or a private redis-server on loopback."""
    if given:
        yield given, given
        return
    from tickcast.local.stack import private_redis

    with private_redis("tickcast-bench-dedupe-") as port:
        yield f"redis://127.0.0.1:{port}/0", f"private redis-server on 127.0.0.1:{port}"


def _mb(n: float) -> str:
    for unit, size in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if n >= size:
            return f"{n / size:,.1f} {unit}"
    return f"{n:,.0f} B"


def format_results(rows: Sequence[Result], rate: int) -> str:
    lines = [
        "| scheme | TTL s | ticks fed | of which trades | messages | keys | used_memory delta "
        "| bytes/tick fed | keys per tick/s | bytes per tick/s, steady | at "
        f"{rate:,} ticks/s |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r.scheme} | {r.ttl_s:,} | {r.ticks:,} | {r.trades:,} | {r.messages:,} "
            f"| {r.keys:,} | {r.used_bytes:,} | {r.bytes_per_tick:,.1f} "
            f"| {r.keys_per_tick_s:,.1f} | {_mb(r.steady_bytes_per_tick_s)} "
            f"| {_mb(r.steady_bytes_per_tick_s * rate)} |"
        )
    if len(rows) == 2 and rows[1].steady_bytes_per_tick_s:
        ratio = rows[0].steady_bytes_per_tick_s / rows[1].steady_bytes_per_tick_s
        lines += ["", f"old / new, steady-state memory: {ratio:,.0f}x"]
    return "\n".join(lines)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m tickcast.bench.dedupe",
        description="Redis memory of ingest's dedupe per tick/s of steady state, old vs new.",
    )
    p.add_argument("--redis-url", default=None, help="default: a private redis-server")
    p.add_argument("--rate", type=positive_int, default=STATED["rate"], help="ticks/s")
    p.add_argument(
        "--seconds", type=positive_int, default=STATED["seconds"], help="event seconds fed"
    )
    p.add_argument("--symbols", type=positive_int, default=STATED["symbols"])
    p.add_argument("--uniform", action="store_true", help="symbols equally active (default: Zipf)")
    p.add_argument("--quote-share", type=float, default=STATED["quote_share"])
    p.add_argument("--per-message", type=positive_int, default=STATED["per_message"])
    p.add_argument("--ttl", type=positive_int, default=None, help="new scheme's TTL s")
    p.add_argument("--old-ttl", type=positive_int, default=OLD_TTL_S)
    p.add_argument("--seed", type=int, default=7)
    p.add_argument(
        "--steady", type=positive_int, default=0, metavar="S", help="also run live, TTL S s"
    )
    p.add_argument("--steady-rate", type=positive_int, default=2_000, help="ticks/s when live")
    p.add_argument("--json", type=Path, default=None, metavar="PATH", help="write figures here")
    return p


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not 0.0 <= args.quote_share <= 1.0:
        parser.error("--quote-share must be between 0 and 1")
    from tickcast import clients
    from tickcast.config import Settings

    ttl = args.ttl or Settings().dedupe_ttl_s
    command = " ".join(
        ["python -m tickcast.bench.dedupe", *(sys.argv[1:] if argv is None else argv)]
    )
    print(f"date: {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M UTC}")
    print(f"command: {command}")
    print(f"python: {platform.python_implementation()} {platform.python_version()}", flush=True)
    workload = list(
        feed(
            args.rate,
            args.seconds,
            args.symbols,
            args.quote_share,
            args.per_message,
            args.seed,
            args.uniform,
        )
    )
    out: dict[str, Any] = {"command": command}
    try:
        with redis_at(args.redis_url) as (url, where):
            client = clients.redis_client(url)
            version = client.info("server").get("redis_version")
            rows = [measure(client, OldScheme(client, args.old_ttl), args.old_ttl, workload)]
            old_usage = sample_usage(client, "tickcast:seen:*")
            rows.append(measure(client, NewScheme(client, ttl), ttl, workload))
            new_usage = sample_usage(client, "tickcast:seen:{*")
            done_usage = sample_usage(client, "tickcast:done:*")
            live: list[dict[str, float]] = []
            live_fill: Result | None = None
            if args.steady:
                s, rate = args.steady, args.steady_rate
                shape = (args.symbols, args.quote_share, args.per_message, args.seed, args.uniform)
                fill = feed(rate, s, *shape)
                live_fill = measure(client, NewScheme(client, s), s, list(fill))
                live = steady(client, s, rate, *shape)
            client.flushdb()
            client.connection_pool.disconnect()
    except (TickcastError, OSError, RedisError) as exc:
        print(f"dedupe benchmark failed: {exc}", file=sys.stderr)
        return 2
    print(
        f"\nredis: {where} (redis-server {version})\nfeed: {args.rate:,} ticks/s for "
        f"{args.seconds} s of event time, {args.quote_share:.0%} quotes, {args.symbols:,} "
        f"symbols ({'uniform' if args.uniform else 'Zipf'}), {args.per_message} ticks per "
        "message\n"
    )
    print(format_results(rows, args.rate))
    print(
        f"\nMEMORY USAGE, mean over sampled keys: old claim key {old_usage[1]:,.0f} B "
        f"({old_usage[0]} keys); new claim hash (symbol, second) {new_usage[1]:,.0f} B "
        f"({new_usage[0]} keys, {rows[1].trades / max(1, rows[1].keys - rows[1].messages):,.1f} "
        f"claims each on average); done mark {done_usage[1]:,.0f} B"
    )
    if live_fill is not None:
        projected = live_fill.used_bytes
        last = live[-args.steady :]
        print(
            f"\nlive, TTL {args.steady} s at {args.steady_rate:,} ticks/s for {3 * args.steady} s: "
            f"keys {min(s['keys'] for s in last):,.0f}-{max(s['keys'] for s in last):,.0f} and "
            f"used_memory {_mb(min(s['used_bytes'] for s in last))}-"
            f"{_mb(max(s['used_bytes'] for s in last))} over the last TTL "
            f"(projection, a fill of {args.steady} s at that rate: {_mb(projected)}, "
            f"{live_fill.keys:,} keys)"
        )
    out.update(
        redis=where,
        redis_version=version,
        profile={k: getattr(args, k) for k in STATED},
        rows=[
            {
                **asdict(r),
                "bytes_per_tick": r.bytes_per_tick,
                "steady_bytes_per_tick_s": r.steady_bytes_per_tick_s,
            }
            for r in rows
        ],
        memory_usage={"old_key": old_usage, "new_hash": new_usage, "done": done_usage},
        steady=live,
        steady_projection=asdict(live_fill) if live_fill else None,
    )
    if args.json is not None:
        args.json.write_text(json.dumps(out, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
