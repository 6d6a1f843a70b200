"""Everything one bridge instance shares between its connections."""

from __future__ import annotations

import asyncio
import itertools
import os
import time
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from tickcast import log
from tickcast.bridge import trades as live
from tickcast.bridge.admission import Admission
from tickcast.bridge.auth import Authenticator, KeyRing
from tickcast.bridge.drain import Drainer
from tickcast.bridge.hub import Hub
from tickcast.bridge.listener import CollectionListener
from tickcast.bridge.metrics import Metrics
from tickcast.bridge.principal import Principal, local
from tickcast.bridge.replay import ReplayBudgets, ReplayLimits
from tickcast.bridge.source import Source
from tickcast.bridge.watchdog import Watchdog
from tickcast.config import Settings

_log = log.get("bridge")


@dataclass
class Bridge:
    cfg: Settings
    source: Source
    hub: Hub
    keys: KeyRing
    auth: Authenticator
    admission: Admission
    metrics: Metrics
    drainer: Drainer
    local_principal: Principal
    replays: ThreadPoolExecutor
    lookups: ThreadPoolExecutor
    replay: ReplayBudgets
    # Every key_recheck_s the api_keys documents of open connections are read again, so a
    # revocation closes sockets within that bound even when the api_keys listener is stuck.
    key_recheck_s: float
    # Alerts are live-only: the alerts listener covers those created in the last
    # alerts_window_s and is restarted once per window to move it forward.
    alerts_window_s: float
    listeners: list[CollectionListener] = field(default_factory=list)
    watchdog: Watchdog | None = None
    # Channel `trades`: one tickcast-ticks subscription per instance (trades.py); None
    # when switched off (TICKCAST_WS_TRADES) or Pub/Sub is not reachable (unit tests).
    trades_on: bool = False
    trades: live.TicksFeed | None = None
    _trades_task: asyncio.Task[None] | None = None
    started: float = field(default_factory=time.time)
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    @classmethod
    def build(
        cls, cfg: Settings, source: Source, environ: Mapping[str, str] | None = None
    ) -> Bridge:
        env = os.environ if environ is None else environ
        # Threads start on first use: building the bridge starts none.
        replays = ThreadPoolExecutor(cfg.ws_replay_workers, thread_name_prefix="bridge-replay")
        lookups = ThreadPoolExecutor(cfg.ws_lookup_workers, thread_name_prefix="bridge-lookup")

        async def read_history(
            symbol: str, after: int, until: int, limit: int
        ) -> list[dict[str, Any]]:
            loop = asyncio.get_running_loop()
            return await loop.run_in_executor(lookups, source.history, symbol, after, until, limit)

        hub = Hub(read_history, heartbeat_s=cfg.ws_heartbeat_s, trades_rate=cfg.ws_trades_rate)
        keys = KeyRing()
        return cls(
            cfg=cfg,
            source=source,
            hub=hub,
            keys=keys,
            auth=Authenticator(cfg, source, keys, executor=lookups),
            admission=Admission(),
            metrics=Metrics(),
            drainer=Drainer(hub, cfg.ws_drain_s),
            local_principal=local(cfg),
            replays=replays,
            lookups=lookups,
            replay=ReplayBudgets(ReplayLimits.from_settings(cfg)),
            key_recheck_s=cfg.ws_key_recheck_s,
            alerts_window_s=cfg.ws_alerts_window_s,
            trades_on=live.enabled(cfg, env),
        )

    def next_id(self) -> str:
        return f"c{next(self._ids)}"

    async def start_trades(self, loop: asyncio.AbstractEventLoop) -> None:
        """At start-up: this instance's tickcast-ticks subscription, opened in the
        background and retried with backoff (locally the topics may be created after the
        bridge starts). Meanwhile the other channels serve and `trades` stays silent."""
        if not self.trades_on or self.trades is not None:
            return
        feed = self.trades = live.TicksFeed(self.cfg, self.hub.on_ticks, loop)
        self._trades_task = loop.create_task(self._open_trades(feed))

    async def _open_trades(self, feed: live.TicksFeed) -> None:
        delay = live.RETRY_FIRST_S
        while self.trades is feed:
            try:
                await asyncio.to_thread(feed.start)
                return
            except Exception as exc:
                feed.last_error = str(exc)
                feed.attempts += 1
                log_at = _log.warning if feed.attempts < 5 else _log.error
                log_at(
                    "trades subscription failed, retrying",
                    extra={"error": str(exc), "retry_s": delay},
                )
            await asyncio.sleep(delay)
            delay = min(delay * 2, live.RETRY_MAX_S)

    def stop_trades(self) -> None:
        feed, self.trades = self.trades, None
        if self._trades_task is not None:
            self._trades_task.cancel()
        if feed is not None:
            feed.stop()

    def shutdown(self) -> None:
        self.stop_trades()
        for pool in (self.replays, self.lookups):
            pool.shutdown(wait=False, cancel_futures=True)

    @property
    def ready(self) -> bool:
        return (
            bool(self.listeners)
            and all(lst.healthy for lst in self.listeners)
            and not self.drainer.draining
        )
