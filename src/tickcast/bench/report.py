"""`tickcast bench all`: run every benchmark and regenerate docs/BENCHMARKS.md.

Each suite runs in its own process (so one does not disturb another's timing)
and prints its figures beside its reference; the document holds the machine,
the date, each exact command and its complete output. Hand-written analysis of
the figures lives in docs/PERFORMANCE.md, which this command does not touch.
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from tickcast.bench.indicators import cpu_model
from tickcast.local.cli import repo_root


@dataclass(frozen=True)
class Suite:
    name: str
    title: str
    module: str
    full: tuple[str, ...]
    quick: tuple[str, ...]
    about: str
    cli: str = ""  # the `tickcast bench` suite, when not `name`


SUITES: tuple[Suite, ...] = (
    Suite(
        "indicators", "Indicators, one by one", "tickcast.bench.indicators",
        ("--points", "200000"), ("--points", "20000", "--repeat", "1"),
        "Each indicator per update against talipp on the same seeded random walk, "
        "interleaved in segments and best of N runs; TA-Lib batch per point as the floor; "
        "tracemalloc peak bytes of one instance.",
    ),
    Suite(
        "features", "Features: five-indicator kernel and the stage through Redis",
        "tickcast.bench.features",
        (), ("--points", "20000", "--repeat", "1", "--messages", "200", "--stage-repeat", "1"),
        "The five classic indicators updated together per tick against talipp and "
        "talib.stream; then the features stage (parse, bars, indicators, one EVALSHA) "
        "against a real redis-server at 1, 16, 128 and 1,024 ticks per message, beside a "
        "bare round trip of the same payload. Targets are printed with PASS/MISS.",
    ),
    Suite(
        "predict", "Predict: one prediction beside a bare numpy dot", "tickcast.bench.predict",
        (), ("--calls", "2000", "--check", "200"),
        "The stage's per-bar model path (registry lookup, features dict to the Prediction "
        "object, no Firestore) for the live default logreg-daily and the ensemble, on "
        "realistic feature vectors, interleaved call by call with numpy.dot of the same "
        "weights and standardised inputs; then the earlier per-call numpy path. p50/p99 per "
        "call, every Prediction first checked identical to that numpy path. The target is "
        "printed with PASS/MISS.",
    ),
    Suite(
        "dedupe", "Ingest dedupe: Redis memory per tick/s, old scheme and new",
        "tickcast.bench.dedupe",
        (), ("--rate", "2000", "--seconds", "3", "--symbols", "50"),
        "A synthetic Zipf feed of trades and quotes through the old dedupe scheme (a key per "
        "tick id) and ingest's Deduper on a private redis-server: used_memory per tick/s of "
        "steady state at each scheme's TTL.",
    ),
    Suite(
        "bridge", "ws_bridge fan-out", "tickcast.bench.bridge",
        ("--connections", "10000"), ("--connections", "200", "--rounds", "3", "--interval", "0.3"),
        "The real bridge app under uvicorn in a child process, N authenticated WebSocket "
        "clients on loopback, one document per symbol per round; fan-out latency, memory "
        "per connection, CPU, and the SIGTERM drain (every client must get 1012).",
    ),
    Suite(
        "e2e", "Pipeline end to end, beside a null pipeline", "tickcast.bench.e2e",
        ("--rate", "100", "--symbols", "20", "--duration", "30", "--window-ms", "100",
         "--grace-ms", "2000", "--check-volume"),
        ("--rate", "20", "--symbols", "4", "--duration", "5", "--window-ms", "100",
         "--grace-ms", "2000", "--check-volume"),
        "The whole local stack on the emulators, then the same stack with handlers that only "
        "forward (same topics, same Firestore write): per-hop latency from the trace, "
        "and bar volumes in Firestore checked against the input.",
    ),
    Suite(
        "floor", "The emulators alone: the floor under every end-to-end figure",
        "tickcast.bench.floor",
        (), ("--rates", "20", "--seconds", "2", "--writes", "20"),
        "Pub/Sub emulator push to a loopback endpoint that only sleeps 5 ms (ordered and "
        "unordered, at three rates), a Firestore two-document commit and a write seen by "
        "a listener: what three push hops, predict's write and the bridge's listener cost "
        "with no tickcast code.",
    ),
    Suite(
        "ceiling", "Latency at the demo's load and the pipeline ceiling, in one invocation",
        "tickcast.bench.e2e",
        ("--demo-load", "--duration", "30", "--ceiling-symbols", "4,6,8,10,12,14,16,20,24",
         "--symbol-rate", "25", "--step-seconds", "20", "--window-ms", "1000",
         "--grace-ms", "2000"),
        ("--demo-load", "--duration", "5", "--ceiling-symbols", "2,4", "--symbol-rate", "5",
         "--step-seconds", "6", "--window-ms", "250", "--grace-ms", "2000"),
        "Null, then real, at `make demo`'s load (latency per hop), then on the shared "
        "emulators the symbols step up (each at 25 ticks/s, 1 s bars: one bar per symbol "
        "per second, so every hop's messages per second grow with them) with fresh symbols "
        "per step until the pipeline falls behind (its lag grows by more than 1 s from the "
        "first third of the step to the last, or under 90% of the last third's bars arrive) "
        "or, for real, loses a tick. Issue 16's two targets (real p50 within 50 ms of null "
        "at the demo's load, real ceiling at least 0.8x null) are printed with PASS/MISS. "
        "The emulator pushes at most 2 requests per subscription at a time.",
        cli="e2e",
    ),
    Suite(
        "pull", "The same, delivered by tickcast's pull dispatcher instead of emulator push",
        "tickcast.bench.e2e",
        ("--delivery", "pull", "--demo-load", "--duration", "30",
         "--ceiling-symbols", "4,8,12,16,20,24,32,40", "--symbol-rate", "25",
         "--step-seconds", "20", "--window-ms", "1000", "--grace-ms", "2000"),
        ("--delivery", "pull", "--demo-load", "--duration", "5", "--ceiling-symbols", "2,4",
         "--symbol-rate", "5", "--step-seconds", "6", "--window-ms", "250",
         "--grace-ms", "2000"),
        "`tickcast local up --delivery pull` for both pipelines: tickcast's dispatcher "
        "streaming-pulls each subscription and posts the push envelope with 16 requests in "
        "flight per subscription, one per ordering key: the emulator's push limit removed.",
        cli="e2e",
    ),
    Suite(
        "ticks", "The pipeline ceiling in ticks per message: per-tick work",
        "tickcast.bench.e2e",
        ("--ceiling", "6400,12800,19200,25600,32000,38400,44800", "--step-seconds", "20",
         "--symbols", "4", "--window-ms", "1000", "--grace-ms", "2000"),
        ("--ceiling", "200,400", "--step-seconds", "6", "--symbols", "2", "--window-ms", "250",
         "--grace-ms", "2000"),
        "4 symbols (4 bars a second whatever the rate) and one raw message a second that "
        "grows with the rate: what rises is the work per tick (ingest's parsing, validation "
        "and dedupe claims, features' bars, the bytes each hop carries), not per bar. The "
        "null ingest only reshapes JSON; ingest's per-tick cost alone is `tickcast bench "
        "ingest`.",
        cli="e2e",
    ),
    Suite(
        "ingest", "Ingest per tick, beside the null ingest", "tickcast.bench.ingest",
        (), ("--ticks", "400", "--symbols", "3", "--messages", "3"),
        "One raw Alpaca message of 12,800 trades over 4 symbols through the ingest stage "
        "(parse and validate, filter, dedupe claims on a private redis-server, ticks "
        "messages serialised; publishing captured), with CPython's collector defaults and "
        "with tickcast.gctune as a function applies it, interleaved with the null "
        "pipeline's ingest on the same messages.",
    ),
    Suite(
        "soak", "Soak: steady load, memory sampled", "tickcast.bench.soak",
        ("--minutes", "10", "--rate", "50", "--symbols", "5"),
        ("--minutes", "1", "--warmup-s", "15", "--interval-s", "2", "--rate", "20",
         "--symbols", "3"),
        "The real pipeline at a steady rate with every process's RSS sampled; the bound is "
        "printed before the run starts.",
    ),
)  # fmt: skip


def _mem_gib() -> str:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return f"{int(line.split()[1]) / 2**20:.1f} GiB"
    except OSError:
        pass
    return "unknown"


def _git(root: Path) -> str:
    def run(*args: str) -> str:
        return subprocess.run(
            ["git", *args], cwd=root, capture_output=True, text=True, check=False
        ).stdout.strip()

    head = run("rev-parse", "--short", "HEAD") or "unknown"
    return head + (" (with uncommitted changes)" if run("status", "--porcelain", "-uno") else "")


def machine(root: Path) -> list[str]:
    from tickcast import indicators

    return [
        f"- **Date**: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC; commit {_git(root)}",
        f"- **Machine**: {os.cpu_count()} vCPU ({cpu_model()}), {_mem_gib()} RAM, "
        f"{platform.system()} {platform.release()}",
        f"- **Python**: {platform.python_implementation()} {platform.python_version()}; "
        f"indicators built as `{indicators.BACKEND}`",
        f"- **Load average** at the start: {' / '.join(f'{x:.2f}' for x in os.getloadavg())}",
    ]


def run_suite(suite: Suite, quick: bool) -> tuple[str, str, int, float]:
    args = suite.quick if quick else suite.full
    cmd = f"tickcast bench {suite.cli or suite.name} {' '.join(args)}".rstrip()
    print(f"bench all: {cmd}", file=sys.stderr, flush=True)
    t0 = time.monotonic()
    proc = subprocess.run(
        [sys.executable, "-m", suite.module, *args], capture_output=True, text=True, check=False
    )
    rc = proc.returncode or (0 if proc.stdout.strip() else 70)  # no figures is a failure
    out = proc.stdout.rstrip() + (f"\n{proc.stderr.rstrip()}" if rc else "")
    return cmd, out, rc, time.monotonic() - t0


VERDICTS = ("PASS", "MISS", "FAIL", "inconclusive")


def verdict_lines(text: str) -> list[str]:
    """The lines of a suite's output that judge a target: each suite prints its own
    targets beside the measured figure (`... -> PASS`), never a bare verdict."""
    lines = [
        line.strip()
        for line in text.splitlines()
        if not line.lstrip().startswith("|")  # a table row (a ceiling step), not a target
        and any(re.search(rf"\b{v}\b", line) for v in VERDICTS)
    ]
    return list(dict.fromkeys(lines))  # a suite that repeats its targets at the end


def summary(verdicts: list[tuple[str, list[str]]]) -> list[str]:
    """The targets section at the top: every PASS/MISS line of every suite, by suite."""
    rows = ["## Targets", "", "Every target line the suites below printed, as printed:", ""]
    for name, lines in verdicts:
        rows += [f"- **{name}**: " + ("; ".join(lines) if lines else "no target line printed")]
    return [*rows, ""]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="tickcast bench all", description=__doc__.split("\n\n")[0])
    p.add_argument("--out", type=Path, default=None, help="default: docs/BENCHMARKS.md")
    p.add_argument("--quick", action="store_true", help="small sizes: checks the machinery")
    p.add_argument("--only", nargs="+", choices=[s.name for s in SUITES], help="these suites")
    args = p.parse_args(argv)
    root = repo_root()
    out = args.out or root / "docs" / "BENCHMARKS.md"
    doc = [
        "# Benchmarks",
        "",
        "Generated by `tickcast bench all`"
        + (" --quick (small sizes: not figures to quote)" if args.quick else "")
        + "; do not edit by hand. What the figures mean, and what was tried: "
        "[PERFORMANCE.md](PERFORMANCE.md).",
        "",
        *machine(root),
        "",
    ]
    failed = []
    sections: list[str] = []
    verdicts: list[tuple[str, list[str]]] = []
    for suite in SUITES:
        if args.only and suite.name not in args.only:
            continue
        cmd, text, rc, secs = run_suite(suite, args.quick)
        if rc:
            failed.append(f"{suite.name} (exit {rc})")
        verdicts.append((cmd, verdict_lines(text)))
        sections += [
            f"## {suite.title}",
            "",
            suite.about,
            "",
            f"Command (from the repository root, in the dev virtualenv; {secs:.0f} s, exit {rc}):",
            "",
            "```",
            cmd,
            "```",
            "",
            "```",
            text,
            "```",
            "",
        ]
    doc += [*summary(verdicts), *sections]
    doc.append(f"Load average at the end: {' / '.join(f'{x:.2f}' for x in os.getloadavg())}.")
    out.write_text("\n".join(doc) + "\n")
    print(
        f"bench all: wrote {out}" + (f"; failed: {', '.join(failed)}" if failed else ""),
        file=sys.stderr,
    )
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
