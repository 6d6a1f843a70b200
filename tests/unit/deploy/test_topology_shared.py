"""The local stack and Terraform deploy the same push topology, from one file.

src/tickcast/deploy/topology.json holds the routes, their ordering, the
subscription names, ack deadline, retry backoff and dead-letter attempts.
Terraform reads it (jsondecode(file(...))) and `tickcast local up` reads it
(tickcast.local.topology). These tests check that neither side has a value
of its own: each subscription Terraform would create, rendered from its
expressions, equals the request the local stack sends the emulator.
"""

from __future__ import annotations

import json
from typing import Any

from tfparse import ROOT, TF, Module, block

from tickcast.config import Settings
from tickcast.local import topology as local

JSON = ROOT / "src" / "tickcast" / "deploy" / "topology.json"


def _terraform_subscriptions(root: Module, event_function: Module) -> dict[str, dict[str, Any]]:
    """What Terraform creates per route, evaluated from its expressions and the JSON."""
    data = json.loads(JSON.read_text(encoding="utf-8"))
    call = root.modules["functions"]
    sub = event_function.resources["google_pubsub_subscription.push"]
    # The expressions that carry each value from the JSON to the subscription.
    assert call["subscriptions"].startswith("${{for r in local.topology.routes : r.topic => {")
    assert 'name = "${var.topic_prefix}${r.subscription}"' in call["subscriptions"]
    assert "ordered = r.ordered" in call["subscriptions"]
    assert sub["name"] == "${each.value.name}"
    assert sub["enable_message_ordering"] == "${each.value.ordered}"
    assert call["timeout_seconds"] == "${local.topology.push.ack_deadline_seconds}"
    assert sub["ack_deadline_seconds"] == "${var.timeout_seconds}"
    assert call["retry_minimum_backoff"] == "${local.topology.push.minimum_backoff_seconds}s"
    assert call["retry_maximum_backoff"] == "${local.topology.push.maximum_backoff_seconds}s"
    retry = block(sub["retry_policy"])
    assert retry == {
        "minimum_backoff": "${var.retry_minimum_backoff}",
        "maximum_backoff": "${var.retry_maximum_backoff}",
    }
    assert call["max_delivery_attempts"] == "${local.topology.push.max_delivery_attempts}"
    dlq = block(sub["dead_letter_policy"])
    assert dlq["max_delivery_attempts"] == "${var.max_delivery_attempts}"

    prefix = Settings().topic_prefix
    push = data["push"]
    return {
        f"{prefix}{r['subscription']}": {
            "topic": f"{prefix}{r['topic']}",
            "function": r["function"],
            "ordered": r["ordered"],
            "ack_deadline_seconds": push["ack_deadline_seconds"],
            "minimum_backoff_seconds": push["minimum_backoff_seconds"],
            "maximum_backoff_seconds": push["maximum_backoff_seconds"],
            "max_delivery_attempts": push["max_delivery_attempts"],
        }
        for r in data["routes"]
    }


def _local_subscriptions() -> dict[str, dict[str, Any]]:
    s = Settings()
    out = {}
    for route in local.topology().routes:
        req = local.subscription_request(s, "p", route, f"http://x/{route.function}")
        out[req["name"].rsplit("/", 1)[1]] = {
            "topic": req["topic"].rsplit("/", 1)[1],
            "function": req["push_config"]["push_endpoint"].rsplit("/", 1)[1],
            "ordered": req["enable_message_ordering"],
            "ack_deadline_seconds": req["ack_deadline_seconds"],
            "minimum_backoff_seconds": req["retry_policy"]["minimum_backoff"]["seconds"],
            "maximum_backoff_seconds": req["retry_policy"]["maximum_backoff"]["seconds"],
            "max_delivery_attempts": req["dead_letter_policy"]["max_delivery_attempts"],
        }
    return out


def test_terraform_reads_the_topology_file(root: Module) -> None:
    expr = root.locals["topology"]
    assert expr == '${jsondecode(file("${path.module}/../../src/tickcast/deploy/topology.json"))}'
    assert (TF / "../../src/tickcast/deploy/topology.json").resolve() == JSON
    # The installed package carries the same file (package data), so `local up` reads it too.
    from importlib import resources

    packaged = resources.files("tickcast.deploy").joinpath("topology.json").read_text("utf-8")
    assert json.loads(packaged) == json.loads(JSON.read_text(encoding="utf-8"))


def test_local_and_deployed_subscriptions_are_equal(root: Module, event_function: Module) -> None:
    deployed = _terraform_subscriptions(root, event_function)
    assert _local_subscriptions() == deployed
    assert len(deployed) == 5


def test_the_dead_letter_inspection_subscription_is_shared(root: Module) -> None:
    inspect = root.resources["google_pubsub_subscription.deadletter_inspect"]
    assert inspect["name"] == "${var.topic_prefix}${local.topology.deadletter_inspect.subscription}"
    assert (
        inspect["ack_deadline_seconds"]
        == "${local.topology.deadletter_inspect.ack_deadline_seconds}"
    )
    s = Settings()
    data = json.loads(JSON.read_text(encoding="utf-8"))
    assert local.deadletter_subscription(s).endswith(
        f"/{s.topic_prefix}{data['deadletter_inspect']['subscription']}"
    )


def test_no_delivery_value_is_set_anywhere_else() -> None:
    """Neither side keeps a literal of its own (the drift this file replaced)."""
    text = "\n".join(p.read_text(encoding="utf-8") for p in TF.rglob("*.tf"))
    for name in ("max_delivery_attempts", "retry_backoff", "subscription_prefix"):
        assert f'variable "{name}"' not in Module.load(TF).files.get("variables.tf", ""), name
    assert "-to-" not in text.replace("-to-end", "")
    code = (ROOT / "src" / "tickcast" / "local" / "topology.py").read_text(encoding="utf-8")
    assert '"seconds": 1}' not in code and '"seconds": 30}' not in code
    assert 'ack_deadline_seconds": 60' not in code
    for env in ("dev", "prod"):
        tfvars = (TF / "envs" / f"{env}.tfvars").read_text(encoding="utf-8")
        assert "max_delivery_attempts" not in tfvars and "retry_backoff" not in tfvars


def test_the_parser_reads_every_field() -> None:
    data = json.loads(JSON.read_text(encoding="utf-8"))
    data["push"]["maximum_backoff_seconds"] = 45
    data["routes"][0]["subscription"] = "renamed"
    t = local.parse(data)
    assert t.maximum_backoff_seconds == 45
    assert t.routes[0].subscription == "renamed"
    assert [(r.topic, r.function, r.ordered) for r in local.topology().routes] == list(
        local.PUSH_ROUTES
    )
