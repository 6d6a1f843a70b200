"""Everything one bridge instance shares between its connections."""

from __future__ import annotations

import asyncio
import itertools
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

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
    started: float = field(default_factory=time.time)
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    @classmethod
    def build(cls, cfg: Settings, source: Source) -> Bridge:
        # Threads start on first use: building the bridge starts none.
        replays = ThreadPoolExecutor(cfg.ws_replay_workers, thread_name_prefix="bridge-replay")
        lookups = ThreadPoolExecutor(cfg.ws_lookup_workers, thread_name_prefix="bridge-lookup")

        async def read_history(
            symbol: str, after: int, until: int, limit: int
        ) -> list[dict[str, Any]]:
            loop = asyncio.get_running_loop()
            return await loop.run_in_executor(lookups, source.history, symbol, after, until, limit)

        hub = Hub(read_history, heartbeat_s=cfg.ws_heartbeat_s)
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
        )

    def next_id(self) -> str:
        return f"c{next(self._ids)}"

    def shutdown(self) -> None:
        for pool in (self.replays, self.lookups):
            pool.shutdown(wait=False, cancel_futures=True)

    @property
    def ready(self) -> bool:
        return (
            bool(self.listeners)
            and all(lst.healthy for lst in self.listeners)
            and not self.drainer.draining
        )
