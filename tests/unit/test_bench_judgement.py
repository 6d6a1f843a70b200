"""How `bench e2e` judges whether a pipeline kept up, and what a ceiling is."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from tickcast.bench import ceiling, e2e

T0_NS = 1_700_000_000_250_000_000  # a feed starting 250 ms into a second, as any does


def _fed(
    lag_ms: Callable[[float], float],
    *,
    seconds: float = 30.0,
    window_s: float = 1.0,
    symbols: int = 2,
    grace_ms: int = 0,
    delivered: Callable[[float], bool] = lambda _: True,
) -> e2e.Run:
    """A run fed one message per window holding a trade of every symbol, through a
    pipeline that closes a bar at the first trade at or after its end + grace and
    delivers it `lag_ms(f)` later, f the closing trade's place in the feed (0..1);
    then, after the feed, the clock closes the bars still open (no trade time)."""
    run = e2e.Run("t", symbols=symbols, fed_from=100.0)
    run.grace_ms = grace_ms
    run.sent = {}
    n = round(seconds / window_s)
    stamps = [T0_NS + round(k * window_s * 1e9) for k in range(n)]
    run.fed_until = 100.0 + (n - 1) * window_s  # the loop ends after the last message
    run.wall_until = stamps[-1] / 1e9
    bar_ns = 1_000_000_000

    def deliver(seq: int, event: int | None, f: float) -> None:
        if not delivered(f):
            return
        trace = {"clock": 1} if event is None else {"event": event}
        base = event if event is not None else stamps[-1] + 5 * bar_ns
        recv = base + round(lag_ms(f) * 1e6)
        if event is not None:
            trace |= {"ingest": event, "features": event, "predict": event, "bridge": recv}
        e2e._record(run, {"symbol": sym, "seq": seq, "trace": trace}, recv)

    for i in range(symbols):
        sym = f"S{i}"
        run.sent[sym] = list(stamps)
        opened: list[int] = []
        for k, ts in enumerate(stamps):
            for start in [b for b in opened if b + bar_ns + grace_ms * 1_000_000 <= ts]:
                opened.remove(start)
                deliver((start + bar_ns) // 1_000_000, ts, k / (n - 1))
            if ts - ts % bar_ns not in opened:
                opened.append(ts - ts % bar_ns)
        for start in opened:
            deliver((start + bar_ns) // 1_000_000, None, 1.0)
    return run


def test_a_steady_lag_keeps_up_however_large() -> None:
    up = e2e.kept_up(_fed(lambda f: 4_000.0 + 50 * (round(f * 29) % 3)), bar_seconds=1)
    assert up.expected == 20 and up.received == 20
    assert up.first_p50_ms == 4_050.0 and up.last_p50_ms == 4_050.0 and up.growth_ms == 0.0
    assert up.ok and up.text().startswith("kept up")


def test_a_lag_that_grows_through_the_run_falls_behind() -> None:
    up = e2e.kept_up(_fed(lambda f: 200.0 + 6_000.0 * f), bar_seconds=1)  # a backlog
    assert up.growth_ms is not None and up.growth_ms > e2e.GROWTH_BOUND_MS
    assert not up.ok and up.text().startswith("fell behind")


def test_a_small_drift_is_within_the_bound() -> None:
    up = e2e.kept_up(_fed(lambda f: 300.0 + 600.0 * f), bar_seconds=1)  # noise, not a backlog
    assert up.growth_ms is not None and 0 < up.growth_ms <= e2e.GROWTH_BOUND_MS and up.ok


def test_bars_that_never_arrive_fall_behind_even_with_a_small_lag() -> None:
    run = _fed(lambda f: 300.0, delivered=lambda f: f < 0.8)  # the last bars never come
    up = e2e.kept_up(run, bar_seconds=1)
    assert up.expected == 20 and up.received < 18 and not up.ok


def test_nothing_received_is_not_kept_up() -> None:
    up = e2e.kept_up(_fed(lambda f: 300.0, delivered=lambda f: False), bar_seconds=1)
    assert up.expected == 20 and up.received == 0
    assert up.p90_ms is None and up.growth_ms is None and not up.ok


def test_nothing_fed_is_not_kept_up() -> None:
    up = e2e.kept_up(e2e.Run("t"), bar_seconds=1)
    assert up.expected == 0 and not up.ok


def test_a_graced_pipeline_that_keeps_up_in_a_short_step_is_judged_as_keeping_up() -> None:
    # `--ceiling 20 --step-seconds 6 --symbols 4 --window-ms 250 --grace-ms 2000`: the
    # real pipeline's first bar closes only 2 s + a bar after the feed starts, so a
    # third of the feed (2 s) held no close: "p50 - in the first third", FAIL. And
    # 5.75 s of feed made `int(third / bar)` one bar per symbol: "8/4 bars".
    run = _fed(lambda f: 300.0, seconds=6.0, window_s=0.25, symbols=4, grace_ms=2000)
    up = e2e.kept_up(run, bar_seconds=1)
    assert up.first_p50_ms == 300.0 and up.last_p50_ms == 300.0
    assert up.expected == 8 and up.received == 8
    assert up.ok


def test_a_graced_pipeline_that_falls_behind_in_a_short_step_is_judged_so() -> None:
    grows = _fed(lambda f: 300.0 + 4_000.0 * f, seconds=6.0, window_s=0.25, grace_ms=2000)
    assert not e2e.kept_up(grows, bar_seconds=1).ok
    late = _fed(
        lambda f: 300.0, seconds=6.0, window_s=0.25, grace_ms=2000, delivered=lambda f: f < 0.9
    )
    up = e2e.kept_up(late, bar_seconds=1)
    assert up.received < up.expected and not up.ok


def test_bars_the_clock_closed_after_the_feed_are_neither_expected_nor_counted() -> None:
    run = _fed(lambda f: 300.0, grace_ms=2000)
    clock_closed = [a for a in run.arrivals if a.ms is None]
    assert len(clock_closed) == 2 * 3  # per symbol: the bars of the last 2 s + the open one
    up = e2e.kept_up(run, bar_seconds=1)
    assert up.received == up.expected and up.ok


def test_a_bar_the_clock_closed_mid_feed_has_arrived_without_a_latency() -> None:
    run = _fed(lambda f: 300.0, window_s=0.25, symbols=1)
    seqs = sorted(a.seq for a in run.arrivals)
    run.arrivals = [a for a in run.arrivals if a.seq != seqs[-3]]
    e2e._record(run, {"symbol": "S0", "seq": seqs[-3], "trace": {"clock": 1}}, 0)
    up = e2e.kept_up(run, bar_seconds=1)
    assert up.received == up.expected and up.ok


@pytest.mark.parametrize(
    ("grace_ms", "closes"),
    # (closing trade ms, bar end ms): at grace 0 the first trade of a later bar closes
    # it; at 2 s, 4.5 s closes only the bar ending at 2 s (the others: the clock's).
    [(0, [(2_100, 2_000), (3_300, 3_000), (4_500, 4_000)]), (2000, [(4_500, 2_000)])],
)
def test_expected_closes_follow_the_pipelines_rule(
    grace_ms: int, closes: list[tuple[int, int]]
) -> None:
    sent = {"A": [m * 1_000_000 for m in (4_500, 1_200, 1_900, 2_100, 3_300)]}
    got = e2e.expected_closes(sent, 1000, grace_ms)
    assert [(c.event_ns // 1_000_000, c.seq) for c in got] == closes
    assert {c.symbol for c in got} == {"A"}


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


def test_a_symbols_ramp_feeds_each_symbol_at_the_same_rate_and_its_ceiling_is_in_symbols(
    capsys: pytest.CaptureFixture[str],
) -> None:
    args = e2e.parse_args(
        e2e.build_parser(), ["--ceiling-symbols", "4,8,12", "--symbol-rate", "50"]
    )
    assert ceiling.plan(args) == [(200.0, 4), (400.0, 8), (600.0, 12)]
    by_rate = e2e.parse_args(e2e.build_parser(), ["--ceiling", "250,500", "--symbols", "6"])
    assert ceiling.plan(by_rate) == [(250.0, 6), (500.0, 6)]

    def step(n: int, ok: bool) -> ceiling.Step:
        s = _step(n * 50.0, ok, counted=True if ok else None)
        return ceiling.Step(s.rate, s.fed, s.messages_s, s.up, s.counted, symbols=n)

    ramps = {
        "null": [step(4, True), step(8, True), step(12, False)],
        "real": [step(4, True), step(8, False)],
    }
    out = ceiling.report(ramps, args)
    assert out["ramps"]["null"]["ceiling"] == 8 and out["ramps"]["null"]["bounded"]
    assert out["ramps"]["real"]["ceiling"] == 4
    assert out["verdict"].endswith("4 / 8 symbols = 0.50x -> MISS")
    printed = capsys.readouterr().out
    assert "| null | 12 | 600 |" in printed  # the symbols column: the load ramped


def test_both_ramps_at_once_are_refused_in_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        e2e.parse_args(e2e.build_parser(), ["--ceiling", "250", "--ceiling-symbols", "4"])
    assert exc.value.code == 2
    assert "give one" in capsys.readouterr().err.strip().splitlines()[-1]
