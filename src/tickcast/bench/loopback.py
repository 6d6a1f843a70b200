"""A real uvicorn server for the bridge on 127.0.0.1, in a background thread.

Tests and the benchmark use it to get real sockets (TCP backpressure, ping
timeouts) with the same uvicorn settings as production (serve.py). It only
ever binds the loopback interface.
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from types import TracebackType
from typing import Any

import uvicorn

from tickcast.bridge.serve import uvicorn_config
from tickcast.config import Settings

HOST = "127.0.0.1"
START_TIMEOUT_S = 30.0


class LoopbackServer:
    def __init__(self, app: Any, cfg: Settings, **uvicorn_options: Any) -> None:
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind((HOST, 0))
        self.port: int = self._sock.getsockname()[1]
        options = {"log_level": "warning", **uvicorn_options}
        self.server = uvicorn.Server(uvicorn_config(app, cfg, HOST, self.port, **options))
        self.loop: asyncio.AbstractEventLoop | None = None
        self._thread = threading.Thread(target=self._run, name="bridge-loopback", daemon=True)

    @property
    def url(self) -> str:
        return f"ws://{HOST}:{self.port}/ws"

    @property
    def http(self) -> str:
        return f"http://{HOST}:{self.port}"

    def _run(self) -> None:
        async def serve() -> None:
            self.loop = asyncio.get_running_loop()
            await self.server.serve(sockets=[self._sock])

        asyncio.run(serve())

    def __enter__(self) -> LoopbackServer:
        self._thread.start()
        deadline = time.monotonic() + START_TIMEOUT_S
        while not self.server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the loopback bridge did not start")
            time.sleep(0.01)
        return self

    def __exit__(
        self,
        _t: type[BaseException] | None,
        _e: BaseException | None,
        _tb: TracebackType | None,
    ) -> None:
        self.server.should_exit = True
        self._thread.join(timeout=START_TIMEOUT_S)
        self._sock.close()
