"""`tickcast cost` prices what infra/terraform deploys, environment by environment.

Each environment's deployment in tickcast.deploy.cost.DEPLOYMENTS (min
instances, concurrency, CPU and memory per function, the bridge's always-on
instances and size, the VPC connector, Redis, the feed connectors, the clock's
schedule) is recomputed here from envs/ENV.tfvars over the variables'
defaults, and the clock's fan-out from topology.json, the file Terraform reads.
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from tfparse import TF, Module, block, load_tfvars

from tickcast.deploy import cost


def _gib(memory: str) -> float:
    m = re.fullmatch(r"(\d+(?:\.\d+)?)(Mi|Gi)", memory)
    assert m, memory
    return float(m.group(1)) / (1024 if m.group(2) == "Mi" else 1)


def _optional_defaults(var: dict[str, Any]) -> dict[str, Any]:
    """optional(type, default) attributes of an object variable's type."""
    return {
        name: json.loads(value) if value[:1] in '"0123456789' else value
        for name, value in re.findall(r"(\w+)\s*=\s*optional\(\w+,\s*([^)]+)\)", str(var["type"]))
    }


def _clock_per_minute(schedule: str) -> float:
    if schedule == "* * * * *":
        return 1.0
    m = re.fullmatch(r"\*/(\d+) \* \* \* \*", schedule)
    assert m, f"teach this test the schedule {schedule!r}"
    return 1 / int(m.group(1))


def deployment_from_terraform(root: Module, env: str | None) -> cost.Deployment:
    tfvars = load_tfvars(TF / "envs" / f"{env}.tfvars") if env else {}

    def value(name: str) -> Any:
        return tfvars[name] if name in tfvars else root.variables[name]["default"]

    fdefaults = _optional_defaults(root.variables["function_scaling"])
    functions = {}
    for name in root.locals["functions"]:
        spec = {**fdefaults, **value("function_scaling").get(name, {})}
        functions[name] = cost.FunctionScale(
            int(spec["min_instances"]),
            int(spec["concurrency"]),
            float(spec["cpu"]),
            _gib(spec["memory"]),
        )
    bridge = {**_optional_defaults(root.variables["bridge_scaling"]), **value("bridge_scaling")}
    feeds = value("feeds")
    fd = _optional_defaults(root.variables["feeds"])
    feed_cpu = {float(f.get("cpu", fd["cpu"])) for f in feeds.values()} or {1.0}
    feed_gib = {_gib(f.get("memory", fd["memory"])) for f in feeds.values()} or {0.5}
    assert len(feed_cpu) == len(feed_gib) == 1, "feeds of different sizes: model them apart"
    clock = root.resources["google_cloud_scheduler_job.clock"]
    return cost.Deployment(
        functions=functions,
        bridge_instances=int(bridge["min_instances"]),
        bridge_vcpu=float(bridge["cpu"]),
        bridge_gib=_gib(bridge["memory"]),
        connector_instances=int(value("connector_instances")["min"]),
        redis_gb=int(value("redis_memory_size_gb")),
        feeds=len(feeds),
        feed_vcpu=feed_cpu.pop(),
        feed_gib=feed_gib.pop(),
        clock_per_minute=_clock_per_minute(clock["schedule"]),
    )


@pytest.mark.parametrize("env", ["dev", "prod"])
def test_each_environment_is_priced_as_deployed(root: Module, env: str) -> None:
    assert cost.DEPLOYMENTS[env] == deployment_from_terraform(root, env)


def test_the_defaults_are_the_terraform_variables_defaults(root: Module) -> None:
    assert cost.DEPLOYMENTS["default"] == deployment_from_terraform(root, None)
    # And Assumptions' own defaults are that deployment (feeds aside: one is assumed).
    d = cost.DEPLOYMENTS["default"]
    a = cost.Assumptions()
    assert cost.Assumptions.for_deployment(d, feeds=a.feeds) == a


def test_every_environment_is_known() -> None:
    envs = {p.stem for p in (TF / "envs").glob("*.tfvars")}
    assert envs <= set(cost.DEPLOYMENTS), envs - set(cost.DEPLOYMENTS)


def test_the_clock_invokes_every_function_it_is_routed_to(root: Module) -> None:
    routes = json.loads(
        (TF / "../../src/tickcast/deploy/topology.json").read_text(encoding="utf-8")
    )["routes"]
    clock_functions = sorted(r["function"] for r in routes if r["topic"] == "clock")
    assert clock_functions == ["features", "predict"]
    assert cost.push_subscriptions()["clock"] == len(clock_functions)
    assert (
        block(root.resources["google_cloud_scheduler_job.clock"]["pubsub_target"])["topic_name"]
        == '${module.topics.ids["clock"]}'
    )
    # One message per tick per design: per tick, invocations are raw + ticks + bars + clock pushes.
    r = cost.estimate(cost.Workload(symbols=1, ticks_per_second=1.0, bar_seconds=60))
    assert r.per_tick.rates["function invocations/s"] == pytest.approx(
        1.0 + 1.0 + 1 / 60 + len(clock_functions) / 60
    )


def test_prod_prices_its_warm_instances_and_its_redis(capsys: pytest.CaptureFixture[str]) -> None:
    import argparse

    p = argparse.ArgumentParser(prog="tickcast")
    cost.register(p.add_subparsers(dest="command", required=True))
    args = p.parse_args(
        ["cost", "--env", "prod", "--symbols", "20", "--ticks-per-second", "100", "--json"]
    )
    assert args.func(args) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["redis_gb"] == cost.DEPLOYMENTS["prod"].redis_gb
    items = {line["item"]: line for line in data["batched"]["lines"]}
    warm = items["min instances kept warm (7, idle rate)"]  # ingest 1, features 2, predict 4
    assert warm["usd"] > 0
    assert "ws_bridge, 2 always-on instance(s)" in items
    assert data["assumptions"]["predict"]["gib"] == 1.0
    assert data["assumptions"]["feeds"] == 0
    # dev keeps nothing warm and no bridge instance.
    args = p.parse_args(["cost", "--env", "dev", "--symbols", "20", "--ticks-per-second", "100"])
    assert args.func(args) == 0
    table = capsys.readouterr().out
    assert "min instances kept warm" not in table
    assert "ws_bridge, 0 always-on instance(s)" in table
