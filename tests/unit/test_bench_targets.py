"""Issue 16's relative targets as `bench e2e` prints them: PASS/MISS from the
run's own figures, the demo's load named, the 0.8x ceiling ratio."""

from __future__ import annotations

import argparse

from tickcast.bench import ceiling, e2e


def _run(name: str, end_to_end_ms: list[float]) -> e2e.Run:
    run = e2e.Run(name)
    run.hops["end_to_end"] = list(end_to_end_ms)
    return run


def _args(**over: object) -> argparse.Namespace:
    base = vars(e2e.build_parser().parse_args([])) | {"demo_load": True}
    return e2e.latency_args(argparse.Namespace(**(base | over)))


def test_p50_within_50_ms_of_null_at_the_demo_load_passes() -> None:
    lines = e2e.target_lines([_run("null", [300.0] * 9), _run("real", [340.0] * 9)], _args())
    line = next(x for x in lines if "null p50" in x)
    assert "+ 50 ms at the demo's load" in line and line.endswith("PASS")


def test_p50_more_than_50_ms_over_null_misses() -> None:
    lines = e2e.target_lines([_run("null", [300.0] * 9), _run("real", [360.0] * 9)], _args())
    assert next(x for x in lines if "null p50" in x).endswith("MISS")


def test_another_load_is_named_as_not_the_demos() -> None:
    args = _args(demo_load=False, rate=100.0, symbols=20)
    assert not e2e.is_demo_load(args)
    lines = e2e.target_lines([_run("null", [300.0] * 9), _run("real", [300.0] * 9)], args)
    assert "NOT at the demo's load" in next(x for x in lines if "null p50" in x)


def test_demo_load_overrides_only_the_latency_runs() -> None:
    args = argparse.Namespace(
        **vars(e2e.build_parser().parse_args(["--demo-load", "--symbols", "20"]))
    )
    lat = e2e.latency_args(args)
    assert e2e.is_demo_load(lat) and lat.symbols == 2 and args.symbols == 20


def _step(fed: float, ok: bool) -> ceiling.Step:
    up = e2e.KeptUp(10, 10 if ok else 0, 100.0, 100.0 if ok else 5_000.0, 120.0)
    return ceiling.Step(rate=fed, fed=fed, messages_s=1.0, up=up, counted=True if ok else None)


def _ramps(real: float, null: float) -> dict[str, list[ceiling.Step]]:
    return {
        "null": [_step(null, True), _step(null * 2, False)],
        "real": [_step(real, True), _step(real * 2, False)],
    }


def test_ceiling_ratio_target_is_0_8() -> None:
    args = e2e.build_parser().parse_args(["--ceiling", "500,1000"])
    assert ceiling.report(_ramps(800, 1000), args)["verdict"].endswith("0.80x -> PASS")
    assert ceiling.report(_ramps(700, 1000), args)["verdict"].endswith("0.70x -> MISS")


def test_no_real_ceiling_is_a_miss_not_silence() -> None:
    args = e2e.build_parser().parse_args(["--ceiling", "500"])
    ramps = {"null": [_step(500, True)], "real": [_step(500, False)]}
    assert ceiling.report(ramps, args)["verdict"].endswith("-> MISS")


def test_every_stack_gets_its_own_project_even_from_a_second_copy_of_the_module() -> None:
    """`python -m tickcast.bench.e2e` ran the module as `__main__` while `ceiling`
    imported `tickcast.bench.e2e`: two copies, two counters from 0, and the ceiling
    stack reused the latency stack's project (its subscriptions pushed to the stopped
    stack: 0 bars in every ceiling step of `bench all`)."""
    import importlib.util
    import sys

    from tickcast.bench import e2e

    spec = importlib.util.spec_from_file_location("e2e_as_main", e2e.__file__)
    assert spec is not None and spec.loader is not None
    copy = importlib.util.module_from_spec(spec)
    sys.modules["e2e_as_main"] = copy  # dataclasses look their module up there
    try:
        spec.loader.exec_module(copy)
    finally:
        del sys.modules["e2e_as_main"]
    names = {e2e.stack_project("null"), copy.stack_project("null"), e2e.stack_project("null")}
    assert len(names) == 3
