"""Everything one bridge instance shares between its connections."""

from __future__ import annotations

import asyncio
import itertools
import time
from dataclasses import dataclass, field
from typing import Any

from tickcast.bridge.admission import Admission
from tickcast.bridge.auth import Authenticator, KeyRing
from tickcast.bridge.drain import Drainer
from tickcast.bridge.hub import Hub
from tickcast.bridge.listener import CollectionListener
from tickcast.bridge.metrics import Metrics
from tickcast.bridge.principal import Principal, local
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
    listeners: list[CollectionListener] = field(default_factory=list)
    watchdog: Watchdog | None = None
    started: float = field(default_factory=time.time)
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    @classmethod
    def build(cls, cfg: Settings, source: Source) -> Bridge:
        async def read_history(
            symbol: str, after: int, until: int, limit: int
        ) -> list[dict[str, Any]]:
            return await asyncio.to_thread(source.history, symbol, after, until, limit)

        hub = Hub(read_history, heartbeat_s=cfg.ws_heartbeat_s)
        keys = KeyRing()
        return cls(
            cfg=cfg,
            source=source,
            hub=hub,
            keys=keys,
            auth=Authenticator(cfg, source, keys),
            admission=Admission(),
            metrics=Metrics(),
            drainer=Drainer(hub, cfg.ws_drain_s),
            local_principal=local(cfg),
        )

    def next_id(self) -> str:
        return f"c{next(self._ids)}"

    @property
    def ready(self) -> bool:
        return (
            bool(self.listeners)
            and all(lst.healthy for lst in self.listeners)
            and not self.drainer.draining
        )
