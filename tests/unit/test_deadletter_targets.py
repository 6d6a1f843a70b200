"""Where `tickcast deadletter replay` sends a dead letter, and with which attributes."""

from __future__ import annotations

from tickcast.ops.deadletter import original_attributes, target


def test_each_stage_goes_back_to_the_topic_it_consumes() -> None:
    assert target({"stage": "ingest", "reason": "invalid_json"}) == "raw"
    assert target({"stage": "features", "reason": "invalid_ticks_message"}) == "ticks"
    assert target({"stage": "predict", "reason": "x"}) == "features"
    # clock messages feed features and predict: recognised by their own attribute
    assert target({"stage": "predict", "reason": "x", "orig_kind": "clock"}) == "clock"
    assert target({"stage": "features", "reason": "x", "orig_kind": "clock"}) == "clock"


def test_records_and_unknown_stages_are_not_replayed() -> None:
    assert target({"stage": "features", "reason": "correction_not_applied"}).startswith("not")
    assert target({"stage": "ingest", "reason": "invalid_envelope"}).startswith("not")
    assert target({"stage": "bridge", "reason": "x"}) == "unknown stage 'bridge'"


def test_original_attributes_drop_the_dead_letter_ones() -> None:
    attrs = {
        "stage": "ingest",
        "reason": "invalid_json",
        "error": "bad",
        "message_id": "42",
        "orig_format": "polygon",
        "orig_kind": "trade",
    }
    assert original_attributes(attrs) == {"format": "polygon", "kind": "trade"}


def test_pubsubs_own_dead_letters_go_back_along_their_route() -> None:
    source = "CloudPubSubDeadLetterSourceSubscription"
    sub = "projects/p/subscriptions/tickcast-"
    assert target({source: sub + "raw-ingest"}) == "raw"
    assert target({source: sub + "features-predict"}) == "features"
    assert target({source: sub + "clock-features"}) == "clock"
    assert target({source: "projects/p/subscriptions/x-raw-ingest"}).startswith("dead-lettered")
    assert target({source: "projects/p/subscriptions/x-raw-ingest"}, "x-") == "raw"
    attrs = {source: sub + "ticks-features", "CloudPubSubDeadLetterSourceDeliveryCount": "10"}
    assert original_attributes({**attrs, "format": "alpaca"}) == {"format": "alpaca"}
