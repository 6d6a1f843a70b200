"""`tickcast bench e2e --ceiling 250,500,...`: the highest rate each pipeline keeps up with.

Each pipeline (null, then real) runs once on the shared backends and is warmed
up (uncounted) first; the rate steps up through the list, `--step-seconds` each,
with fresh symbols per step so every step's bars and volumes stand alone. A step
passes when the pipeline kept up (`e2e.kept_up`: the last third's bars arrived
and the lag did not grow) and, for the real pipeline, every tick was counted
into a bar. The ramp stops at the first step that fails; the ceiling is the
highest passing rate actually fed.

Two loads ramp differently:

* `--ceiling 250,500,...` (ticks/s over `--symbols`): the bars per second stay
  fixed and each message grows: per-tick work (ingest's parsing, validation and
  dedupe, features' bars, the bytes of every hop);
* `--ceiling-symbols 4,8,...` (each symbol at `--symbol-rate` ticks/s): each step
  adds symbols, so bars per second grow (one per symbol per bar): per-message and
  per-bar work (pushes, predict's Firestore round trips, the bridge). The ceiling
  is then in symbols, i.e. bars per bar period.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tickcast.bench import e2e
from tickcast.local.stack import Ports

ARRIVAL_S = 5.0  # a bar later than this after the feed stopped counts as missing
# Issue 16 point 2: the real pipeline's ceiling at least this fraction of the null one's.
RATIO_TARGET = 0.8


@dataclass(frozen=True)
class Step:
    rate: float  # asked
    fed: float  # ticks/s actually published
    messages_s: float
    up: e2e.KeptUp
    counted: bool | None  # every tick in a bar (real only)
    symbols: int = 0  # with --ceiling-symbols: this step's symbol count, the load ramped

    @property
    def ok(self) -> bool:
        return self.up.ok and self.counted is not False

    @property
    def load(self) -> float:
        """What the ramp raises: symbols with --ceiling-symbols, else ticks/s fed."""
        return float(self.symbols) if self.symbols else self.fed


def plan(args: argparse.Namespace) -> list[tuple[float, int]]:
    """(ticks/s, symbols) of each step."""
    if args.ceiling_symbols:
        return [(n * args.symbol_rate, n) for n in args.ceiling_symbols]
    return [(rate, args.symbols) for rate in args.ceiling]


def ramp(
    name: str, backends: Ports, args: argparse.Namespace, sources: dict[str, Path], state: Path
) -> list[Step]:
    steps: list[Step] = []
    with e2e.running_stack(name, backends, args, sources, state) as (stack, s):
        # Time for the last bars to close (grace, clock lag) and to arrive.
        drain = args.bar_seconds + (s.bar_grace_ms + s.clock_lag_ms) / 1000 + ARRIVAL_S
        # Uncounted: a stack's first requests (imports, clients, the emulator's first
        # pushes) took seconds, which made the first step's first third slow and so
        # hid growth. Long enough for bars closed by trades to go through every hop.
        warm = e2e.Run(f"{name} warm-up")
        warm_s = 3 * args.bar_seconds + s.bar_grace_ms / 1000
        steps_plan = plan(args)
        first_rate, first_symbols = steps_plan[0]
        warm_symbols = [f"W{k:02d}" for k in range(first_symbols)]
        e2e.drive(stack, s, warm, warm_symbols, first_rate, args.window_ms, warm_s, drain)
        for i, (rate, n_symbols) in enumerate(steps_plan):
            run = e2e.Run(f"{name}@{rate:g}", grace_ms=e2e.close_grace_ms(name, s))
            symbols = [f"C{i}S{k:02d}" for k in range(n_symbols)]
            e2e.drive(stack, s, run, symbols, rate, args.window_ms, args.step_seconds, drain)
            up = e2e.kept_up(run, args.bar_seconds)
            counted = None
            if name == "real":
                # A pipeline that fell behind gets a short wait: the ramp stops there anyway.
                wait = args.drain_timeout if up.ok else 5.0
                run.volume_out = e2e.history_volumes(s, symbols, run.volume_in, wait)
                counted = not run.shortfall()
            step = Step(
                rate,
                run.published_ticks / run.seconds,
                run.published_msgs / run.seconds,
                up,
                counted,
                n_symbols if args.ceiling_symbols else 0,
            )
            steps.append(step)
            tail = (
                ""
                if counted is None
                else (", every tick counted" if counted else ", ticks missing")
            )
            at = f"{n_symbols} symbols, " if args.ceiling_symbols else ""
            print(f"  {name} at {at}{step.fed:,.0f} ticks/s: {up.text()}{tail}", flush=True)
            if not step.ok:
                break
    return steps


def ceiling(steps: list[Step]) -> tuple[float | None, bool]:
    """(highest passing load, whether a step failed above it: False = only a lower bound)."""
    passed = [st.load for st in steps if st.ok]
    return (max(passed) if passed else None), (not steps[-1].ok if steps else False)


def report(ramps: dict[str, list[Step]], args: argparse.Namespace) -> dict[str, Any]:
    by_symbols = bool(args.ceiling_symbols)
    what = (
        f"symbols ramped at {args.symbol_rate:g} ticks/s each"
        if by_symbols
        else f"{args.symbols} symbols"
    )
    unit = "symbols" if by_symbols else "ticks/s"
    print(
        f"\nceiling: {what}, {args.bar_seconds}s bars, one raw message per "
        f"{args.window_ms:.0f} ms, {args.step_seconds:.0f} s per step, "
        f"{e2e.delivery_text(args)}\n"
    )
    print(
        "| pipeline | symbols | ticks/s fed | raw msgs/s | last-third bars | p50 end-to-end ms, "
        "first third -> last | p90 last third | ticks counted | step |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---|")
    out: dict[str, Any] = {"config": vars(args) | {"func": None}, "ramps": {}}
    for name, steps in ramps.items():
        for st in steps:
            p90 = "-" if st.up.p90_ms is None else f"{st.up.p90_ms:,.0f}"
            first = "-" if st.up.first_p50_ms is None else f"{st.up.first_p50_ms:,.0f}"
            last = "-" if st.up.last_p50_ms is None else f"{st.up.last_p50_ms:,.0f}"
            counted = "n/a" if st.counted is None else ("all" if st.counted else "MISSING")
            n_sym = st.symbols or args.symbols
            print(
                f"| {name} | {n_sym} | {st.fed:,.0f} | {st.messages_s:,.1f} "
                f"| {st.up.received}/{st.up.expected} "
                f"| {first} -> {last} | {p90} | {counted} | {'pass' if st.ok else 'FAIL'} |"
            )
        top, bounded = ceiling(steps)
        out["ramps"][name] = {
            "unit": unit,
            "ceiling": top,
            "ceiling_ticks_s": None if by_symbols else top,
            "bounded": bounded,
            "steps": [
                vars(st) | {"up": vars(st.up) | {"growth_ms": st.up.growth_ms}, "ok": st.ok}
                for st in steps
            ],
        }
    print()
    for name, r in out["ramps"].items():
        top = r["ceiling"]
        shown = "none passed" if top is None else f"{top:,.0f} {unit}"
        print(
            f"{name} ceiling: {shown}"
            + ("" if r["bounded"] else " (never fell behind: a lower bound)")
        )
    real = out["ramps"].get("real", {}).get("ceiling")
    null = out["ramps"].get("null", {})
    if real is not None and null.get("ceiling"):
        ratio = real / null["ceiling"]
        if ratio >= RATIO_TARGET:
            verdict = "PASS"
        elif null["bounded"]:
            verdict = "MISS"
        else:
            verdict = "inconclusive (the null ceiling is a lower bound)"
        line = (
            f"real ceiling >= {RATIO_TARGET}x null ceiling: {real:,.0f} / "
            f"{null['ceiling']:,.0f} {unit} = {ratio:.2f}x -> {verdict}"
        )
        print(f"\ntarget: {line}")
        out["ratio"] = ratio
        out["verdict"] = line
    elif "real" in out["ramps"] and "null" in out["ramps"]:

        def fmt(x: float | None) -> str:
            return "none passed" if not x else f"{x:,.0f} {unit}"

        line = (
            f"real ceiling >= {RATIO_TARGET}x null ceiling: no ratio (real "
            f"{fmt(real)}, null {fmt(null.get('ceiling'))}) -> MISS"
        )
        print(f"\ntarget: {line}")
        out["verdict"] = line
    return out
