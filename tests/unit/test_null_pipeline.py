"""The null pipeline of `tickcast bench e2e` answers the clock like the real one
answers it, with a 2xx: a 500 per clock message was retried by the emulator and
loaded the very pipeline that serves as the reference."""

from __future__ import annotations

import base64

import pytest
from cloudevents.http import CloudEvent

from tickcast.bench import null_main


def clock_event() -> CloudEvent:
    data = {
        "message": {
            "data": base64.b64encode(b'{"kind": "clock"}').decode(),
            "attributes": {"kind": "clock"},
            "messageId": "1",
        },
        "subscription": "projects/p/subscriptions/tickcast-clock-predict",
    }
    attrs = {"type": "google.cloud.pubsub.topic.v1.messagePublished", "source": "//pubsub"}
    return CloudEvent(attrs, data)


@pytest.mark.parametrize("handler", ["features", "predict"])
def test_a_clock_message_is_acknowledged_without_work(handler: str) -> None:
    assert getattr(null_main, handler)(clock_event()) is None  # the old predict: KeyError 'trace'
