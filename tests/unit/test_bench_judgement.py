"""How `bench e2e` judges whether a pipeline kept up, and what a ceiling is."""

from __future__ import annotations

import pytest

from tickcast.bench import ceiling, e2e


def _run(lags_ms: list[float], symbols: int = 2, seconds: float = 30.0) -> e2e.Run:
    """A run fed for `seconds` whose bars' closing trades are spread evenly over it."""
    run = e2e.Run("t", symbols=symbols, fed_from=100.0, fed_until=100.0 + seconds)
    run.wall_until = 1_000.0
    start = run.wall_until - seconds
    for i, lag in enumerate(lags_ms):
        run.arrivals.append((start + seconds * (i + 0.5) / len(lags_ms), lag))
    return run


def test_a_steady_lag_keeps_up_however_large() -> None:
    up = e2e.kept_up(_run([4_000.0 + 50 * (i % 3) for i in range(60)]), bar_seconds=1)
    assert up.expected == 20 and up.received == 20
    assert up.first_p50_ms == 4_050.0 and up.last_p50_ms == 4_050.0 and up.growth_ms == 0.0
    assert up.ok and up.text().startswith("kept up")


def test_a_lag_that_grows_through_the_run_falls_behind() -> None:
    lags = [200.0 + 100.0 * i for i in range(60)]  # a backlog: +2 s per third
    up = e2e.kept_up(_run(lags), bar_seconds=1)
    assert up.growth_ms is not None and up.growth_ms > e2e.GROWTH_BOUND_MS
    assert not up.ok and up.text().startswith("fell behind")


def test_a_small_drift_is_within_the_bound() -> None:
    lags = [300.0 + 10.0 * i for i in range(60)]  # +200 ms per third: noise, not a backlog
    up = e2e.kept_up(_run(lags), bar_seconds=1)
    assert up.growth_ms is not None and 0 < up.growth_ms <= e2e.GROWTH_BOUND_MS and up.ok


def test_bars_that_never_arrive_fall_behind_even_with_a_small_lag() -> None:
    run = _run([300.0] * 60)
    run.arrivals = run.arrivals[: 40 + 15]  # 15 of the last third's 20 bars
    up = e2e.kept_up(run, bar_seconds=1)
    assert up.received == 15 and not up.ok


def test_nothing_received_is_not_kept_up() -> None:
    up = e2e.kept_up(_run([]), bar_seconds=1)
    assert up.p90_ms is None and up.growth_ms is None and not up.ok


def _step(fed: float, ok: bool, counted: bool | None = None) -> ceiling.Step:
    last = 100.0 if ok else 9_000.0
    up = e2e.KeptUp(expected=10, received=10, first_p50_ms=100.0, last_p50_ms=last, p90_ms=last)
    return ceiling.Step(rate=fed, fed=fed, messages_s=1.0, up=up, counted=counted)


def test_the_ceiling_is_the_highest_passing_step_and_says_if_it_is_only_a_lower_bound() -> None:
    assert ceiling.ceiling([_step(500, True), _step(1000, True), _step(2000, False)]) == (
        1000,
        True,
    )
    assert ceiling.ceiling([_step(500, True), _step(1000, True)]) == (1000, False)
    assert ceiling.ceiling([_step(500, False)]) == (None, True)


def test_a_real_step_that_lost_ticks_fails_however_fast_it_was() -> None:
    assert not _step(500, True, counted=False).ok
    assert _step(500, True, counted=True).ok


@pytest.mark.parametrize("text", ["", "a,b", "500,250", "0,100", "-5"])
def test_bad_ceiling_rates_are_refused_in_one_line(
    text: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exc:
        e2e.parse_args(e2e.build_parser(), ["--ceiling", text])
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert "--ceiling" in err[-1]
