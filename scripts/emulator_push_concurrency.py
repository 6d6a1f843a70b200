"""How many push requests the Pub/Sub emulator keeps in flight per subscription.

Starts a Pub/Sub emulator and a loopback HTTP endpoint whose handler takes
100 ms, pushes 100 messages (unordered, then ordered over 5 keys) and prints
the wall time and the highest number of concurrent pushes seen. It bounds what
any local throughput benchmark can show: throughput <= in-flight / handler time.

    .venv/bin/python scripts/emulator_push_concurrency.py
"""

from __future__ import annotations

import os
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from tickcast.local.processes import Proc, free_port, http_status
from tickcast.local.stack import Ports, emulator_commands

HANDLER_S = 0.1
MESSAGES = 100


def main() -> None:
    port, hport = free_port(), free_port()
    cmd = emulator_commands(Ports(pubsub=port), "p")["pubsub"]
    emulator = Proc("pubsub", cmd, Path(tempfile.mkdtemp()) / "pubsub.log")
    emulator.start()
    emulator.wait_ready(lambda: http_status(f"http://127.0.0.1:{port}/") == 200, 60)
    os.environ["PUBSUB_EMULATOR_HOST"] = f"127.0.0.1:{port}"
    lock = threading.Lock()
    state = {"now": 0, "max": 0, "done": 0}

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers["Content-Length"]))
            with lock:
                state["now"] += 1
                state["max"] = max(state["max"], state["now"])
            time.sleep(HANDLER_S)
            with lock:
                state["now"] -= 1
                state["done"] += 1
            self.send_response(200)
            self.end_headers()

        def log_message(self, *_: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", hport), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    from google.cloud import pubsub_v1

    try:
        for ordered in (False, True):
            pub = pubsub_v1.PublisherClient(
                publisher_options=pubsub_v1.types.PublisherOptions(enable_message_ordering=ordered)
            )
            sub = pubsub_v1.SubscriberClient()
            topic = f"projects/p/topics/push-test-{int(ordered)}"
            pub.create_topic(name=topic)
            sub.create_subscription(
                request={
                    "name": f"projects/p/subscriptions/push-test-{int(ordered)}",
                    "topic": topic,
                    "push_config": {"push_endpoint": f"http://127.0.0.1:{hport}/"},
                    "enable_message_ordering": ordered,
                }
            )
            state.update(max=0, done=0)
            t0 = time.time()
            futures = [
                pub.publish(topic, b"x", ordering_key=f"K{i % 5}" if ordered else "")
                for i in range(MESSAGES)
            ]
            for f in futures:
                f.result()
            while state["done"] < MESSAGES and time.time() - t0 < 120:
                time.sleep(0.05)
            print(
                f"ordered={ordered}: {MESSAGES} pushes to a {HANDLER_S * 1000:.0f} ms handler took "
                f"{time.time() - t0:.1f} s; at most {state['max']} in flight"
            )
    finally:
        server.shutdown()
        emulator.stop()


if __name__ == "__main__":
    main()
