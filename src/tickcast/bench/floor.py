"""`tickcast bench floor`: what the emulators alone cost, with no tickcast code.

The local pipeline is three Pub/Sub push hops (raw -> ingest -> features ->
predict), a Firestore write and a Firestore listener (the bridge). This measures
each kind of hop on its own, on the same emulators `make demo` and `bench e2e`
use:

- push: messages published at a steady rate (each carrying its publish time)
  to a push subscription whose endpoint is a loopback HTTP server that only
  sleeps `--work-ms` (a function doing almost nothing), ordered over 20 keys and
  unordered; latency publish -> endpoint, and the most requests ever in flight;
- Firestore: a two-document batch commit (what predict writes), sequentially;
  and a write -> `on_snapshot` callback (what the bridge waits on).

Any end-to-end figure on this stack is at least the sum of its hops' floors.
Everything targets 127.0.0.1 and stops by itself.
"""

from __future__ import annotations

import argparse
import base64
import os
import statistics
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from functools import partial
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import orjson

from tickcast.bench.e2e import private_backends
from tickcast.local.processes import free_port

KEYS = 20


class _Endpoint:
    """A push endpoint that records latency and concurrency, then sleeps `work_s`."""

    def __init__(self, work_s: float) -> None:
        self.latencies_ms: list[float] = []
        self.in_flight = self.peak = 0
        self._lock = threading.Lock()
        endpoint = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                now = time.time_ns()
                sent = int(base64.b64decode(orjson.loads(body)["message"]["data"]))
                with endpoint._lock:
                    endpoint.latencies_ms.append((now - sent) / 1e6)
                    endpoint.in_flight += 1
                    endpoint.peak = max(endpoint.peak, endpoint.in_flight)
                time.sleep(work_s)
                with endpoint._lock:
                    endpoint.in_flight -= 1
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.port = free_port()
        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)

    @contextmanager
    def serving(self) -> Iterator[str]:
        thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        thread.start()
        try:
            yield f"http://127.0.0.1:{self.port}/"
        finally:
            self._server.shutdown()
            self._server.server_close()

    def reset(self) -> None:
        with self._lock:
            self.latencies_ms.clear()
            self.peak = 0


def _pct(xs: list[float], q: int) -> float:
    return statistics.quantiles(xs, n=100, method="inclusive")[q - 1] if len(xs) > 1 else xs[0]


def push_floor(
    project: str, rates: list[float], seconds: float, work_s: float
) -> list[dict[str, Any]]:
    from google.cloud import pubsub_v1

    publisher = pubsub_v1.PublisherClient(
        publisher_options=pubsub_v1.types.PublisherOptions(enable_message_ordering=True),
        batch_settings=pubsub_v1.types.BatchSettings(max_latency=0.001),
    )
    subscriber = pubsub_v1.SubscriberClient()
    endpoint = _Endpoint(work_s)
    rows = []
    with endpoint.serving() as url:
        for ordered in (True, False):
            for rate in rates:
                name = f"floor-{'ordered' if ordered else 'unordered'}-{rate:g}".replace(".", "_")
                topic = f"projects/{project}/topics/{name}"
                publisher.create_topic(name=topic)
                subscriber.create_subscription(
                    request={
                        "name": f"projects/{project}/subscriptions/{name}",
                        "topic": topic,
                        "push_config": {"push_endpoint": url},
                        "enable_message_ordering": ordered,
                        "ack_deadline_seconds": 60,
                    }
                )
                endpoint.reset()
                n = max(2, int(rate * seconds))
                t0 = time.monotonic()
                for i in range(n):
                    if (delay := t0 + i / rate - time.monotonic()) > 0:
                        time.sleep(delay)
                    key = f"k{i % KEYS}" if ordered else ""
                    publisher.publish(topic, str(time.time_ns()).encode(), ordering_key=key)
                deadline = time.monotonic() + 60
                while len(endpoint.latencies_ms) < n and time.monotonic() < deadline:
                    time.sleep(0.05)
                lat = list(endpoint.latencies_ms)
                rows.append(
                    {
                        "ordered": ordered,
                        "rate": rate,
                        "sent": n,
                        "received": len(lat),
                        "p50_ms": _pct(lat, 50) if lat else None,
                        "p99_ms": _pct(lat, 99) if lat else None,
                        "peak_in_flight": endpoint.peak,
                    }
                )
                subscriber.delete_subscription(
                    subscription=f"projects/{project}/subscriptions/{name}"
                )
    return rows


def _longer(xs: list[float], n: int) -> bool:
    return len(xs) > n


def firestore_floor(project: str, writes: int) -> dict[str, float]:
    from tickcast import clients

    db = clients.firestore_client(project)
    doc = {
        "v": 1,
        "symbol": "FLOOR",
        "bar": {"t": 1, "o": 1.0, "h": 1.0, "l": 1.0, "c": 1.0, "v": 1.0, "vwap": 1.0, "n": 1},
        "features": {f"f{i}": 1.0 for i in range(14)},
        "trace": {"event": 1},
    }
    commits = []
    for i in range(writes):
        ref = db.collection("floor").document(f"S{i % KEYS}")
        t = time.perf_counter()
        batch = db.batch()
        batch.set(ref, doc)
        batch.set(ref.collection("predictions").document(f"{i:015d}"), doc)
        batch.commit()
        commits.append((time.perf_counter() - t) * 1000)
    seen: list[float] = []
    cond = threading.Condition()

    def on_change(*_: Any) -> None:
        with cond:
            seen.append(time.perf_counter())
            cond.notify_all()

    watch = db.collection("floor").on_snapshot(on_change)
    try:
        with cond:
            cond.wait_for(lambda: bool(seen), timeout=10)  # the initial snapshot
        listens = []
        for i in range(writes // 2):
            with cond:
                before = len(seen)
            t = time.perf_counter()
            db.collection("floor").document(f"S{i % KEYS}").set({**doc, "i": i})
            with cond:
                if cond.wait_for(partial(_longer, seen, before), timeout=10):
                    listens.append((seen[before] - t) * 1000)
    finally:
        watch.unsubscribe()  # type: ignore[no-untyped-call]
    return {
        "commit_p50_ms": _pct(commits, 50),
        "commit_p99_ms": _pct(commits, 99),
        "listen_p50_ms": _pct(listens, 50),
        "listen_p99_ms": _pct(listens, 99),
        "writes": float(writes),
    }


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="tickcast bench floor", description=__doc__.split("\n\n")[0] if __doc__ else None
    )
    p.add_argument("--rates", default="20,100,200", help="push messages/s, e.g. 20,100,200")
    p.add_argument("--seconds", type=float, default=10.0, help="seconds per push rate")
    p.add_argument("--work-ms", type=float, default=5.0, help="time the endpoint takes per push")
    p.add_argument("--writes", type=int, default=200, help="Firestore commits to time")
    p.add_argument("--json", type=Path, help="write the figures here")
    return p


def main(argv: list[str] | None = None) -> int:
    p = build_parser()
    args = p.parse_args(argv)
    try:
        rates = [float(x) for x in args.rates.split(",")]
    except ValueError:
        p.error(f"--rates: expected numbers like 20,100,200, got {args.rates!r}")
    if any(r <= 0 for r in rates) or args.seconds <= 0 or args.work_ms < 0 or args.writes < 4:
        p.error("--rates and --seconds must be positive, --work-ms >= 0, --writes >= 4")
    with (
        tempfile.TemporaryDirectory(prefix="tickcast-floor-") as tmp,
        private_backends(Path(tmp)) as base,
    ):
        os.environ.update(base.env())
        from tickcast import clients

        clients.reset()
        push = push_floor("bench", rates, args.seconds, args.work_ms / 1000)
        fs = firestore_floor("bench", args.writes)
    print(
        f"\nPub/Sub emulator push, endpoint sleeping {args.work_ms:g} ms, {args.seconds:g} s per rate\n"
    )
    print("| subscription | msgs/s | received | p50 ms | p99 ms | most in flight |")
    print("|---|---:|---:|---:|---:|---:|")
    for r in push:
        kind = f"ordered, {KEYS} keys" if r["ordered"] else "unordered"
        p50 = "-" if r["p50_ms"] is None else f"{r['p50_ms']:.0f}"
        p99 = "-" if r["p99_ms"] is None else f"{r['p99_ms']:.0f}"
        print(
            f"| {kind} | {r['rate']:g} | {r['received']}/{r['sent']} | {p50} | {p99} | {r['peak_in_flight']} |"
        )
    print(
        f"\nFirestore emulator, {args.writes} sequential commits: batch of two documents "
        f"p50 {fs['commit_p50_ms']:.1f} ms, p99 {fs['commit_p99_ms']:.1f} ms; "
        f"write -> on_snapshot p50 {fs['listen_p50_ms']:.1f} ms, p99 {fs['listen_p99_ms']:.1f} ms"
    )
    p50s = [r["p50_ms"] for r in push if r["p50_ms"] is not None]
    p99s = [r["p99_ms"] for r in push if r["p99_ms"] is not None]
    if p50s and p99s:
        listen = fs["commit_p50_ms"] + fs["listen_p50_ms"]
        print(
            f"\nfloor of the local pipeline, no tickcast code (3 push hops + a commit + a "
            f"listener): p50 {3 * min(p50s) + listen:.0f}-{3 * max(p50s) + listen:.0f} ms; "
            f"one push hop alone has p99 {min(p99s):.0f}-{max(p99s):.0f} ms"
        )
    if args.json:
        args.json.write_bytes(
            orjson.dumps({"push": push, "firestore": fs}, option=orjson.OPT_INDENT_2)
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
