"""Pub/Sub edges: decode a pushed message, publish durably, dead-letter bad input."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from tickcast import clients, log
from tickcast.config import Settings, Topic
from tickcast.errors import PermanentError

_log = log.get("pubsub")


@dataclass(frozen=True)
class PushedMessage:
    data: bytes
    attributes: dict[str, str] = field(default_factory=dict)
    message_id: str = ""
    publish_time_ns: int = 0


def _parse_time_ns(value: str | None) -> int:
    if not value:
        return 0
    try:
        # RFC 3339 with up to nanoseconds; microseconds are enough for a trace hop.
        return int(datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp() * 1e6) * 1000
    except ValueError:
        return 0


def decode_push(data: Mapping[str, Any] | None) -> PushedMessage:
    """The CloudEvent data functions-framework builds from a Pub/Sub push body."""
    message = (data or {}).get("message")
    if not isinstance(message, Mapping):
        raise PermanentError("invalid_envelope", "CloudEvent data has no Pub/Sub 'message'")
    try:
        body = base64.b64decode(message.get("data") or "", validate=True)
    except (binascii.Error, ValueError, TypeError) as exc:
        raise PermanentError("invalid_envelope", f"message data is not base64: {exc}") from None
    attrs = message.get("attributes") or {}
    return PushedMessage(
        data=body,
        attributes={str(k): str(v) for k, v in attrs.items()},
        message_id=str(message.get("messageId") or message.get("message_id") or ""),
        publish_time_ns=_parse_time_ns(message.get("publishTime") or message.get("publish_time")),
    )


def publish(
    s: Settings,
    topic: Topic,
    payloads: list[tuple[bytes, str, dict[str, str]]],
    timeout_s: float = 30.0,
) -> None:
    """Publish (data, ordering_key, attributes) tuples and wait until Pub/Sub has them all.

    Waiting before we return is what makes the push ack safe: an error raises,
    the push gets a 5xx and the input is redelivered.
    """
    if not payloads:
        return
    pub = clients.publisher(s.publish_latency_ms)
    path = s.topic_path(topic)
    futures = [
        (key, pub.publish(path, data, ordering_key=key, **attrs)) for data, key, attrs in payloads
    ]
    failed: Exception | None = None
    for key, fut in futures:
        try:
            fut.result(timeout=timeout_s)
        except Exception as exc:
            # An ordering key is paused after a failure until resumed explicitly.
            if key:
                pub.resume_publish(path, key)
            failed = failed or exc
    if failed is not None:
        raise failed


def dead_letter(
    s: Settings,
    data: bytes,
    *,
    stage: str,
    reason: str,
    error: str,
    extra: Mapping[str, str] | None = None,
) -> None:
    attrs = {"stage": stage, "reason": reason, "error": error[:1024], **(extra or {})}
    publish(s, "deadletter", [(data, "", attrs)])
    _log.warning("dead-lettered", extra={"stage": stage, "reason": reason, "error": error[:300]})
