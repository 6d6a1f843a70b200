"""What every Pub/Sub-triggered entry point shares: decode, run, dead-letter bad input.

A `PermanentError` is acked after its message reaches the dead-letter topic;
anything else propagates, functions-framework answers 5xx, Pub/Sub redelivers.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson

from tickcast import gctune, log
from tickcast.config import Settings, settings
from tickcast.errors import PermanentError
from tickcast.pubsub import PushedMessage, dead_letter, decode_push

Handler = Callable[[PushedMessage, Settings], object]


def run(stage: str, event_data: Any, handler: Handler) -> None:
    s = settings()
    log.configure(s.log_level)
    gctune.apply_once()
    try:
        msg = decode_push(event_data)
    except PermanentError as exc:
        dead_letter(
            s,
            orjson.dumps(event_data, default=str),
            stage=stage,
            reason=exc.reason,
            error=exc.message,
        )
        return
    try:
        handler(msg, s)
    except PermanentError as exc:
        dead_letter(
            s,
            msg.data,
            stage=stage,
            reason=exc.reason,
            error=exc.message,
            extra={
                "message_id": msg.message_id,
                **{f"orig_{k}": v for k, v in msg.attributes.items()},
            },
        )
