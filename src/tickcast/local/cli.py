"""`tickcast local up|down` and `tickcast demo`."""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import asdict, fields
from pathlib import Path

import orjson

from tickcast.local.processes import stop_group
from tickcast.local.stack import LocalStack, Ports, StackError
from tickcast.local.topology import DELIVERIES

DEFAULT_PROJECT = "tickcast-local"


def repo_root() -> Path:
    """The checkout whose functions/ we serve: the cwd or a parent, else the package's."""
    for d in (Path.cwd(), *Path.cwd().parents):
        if (d / "functions" / "ingest" / "main.py").exists():
            return d
    here = Path(__file__).resolve().parents[3]
    if (here / "functions" / "ingest" / "main.py").exists():
        return here
    raise StackError(
        "cannot find the tickcast checkout (functions/ingest/main.py): run from the repository"
    )


def state_dir(args: argparse.Namespace, root: Path) -> Path:
    return Path(args.state_dir) if args.state_dir else root / ".tickcast"


def _lock_path(state: Path) -> Path:
    return state / "local.json"


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def running(state: Path) -> dict[str, object] | None:
    path = _lock_path(state)
    if not path.exists():
        return None
    info: dict[str, object] = orjson.loads(path.read_bytes())
    pid = info.get("pid")
    if isinstance(pid, int) and _pid_alive(pid):
        return info
    return None


def add_state_argument(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--state-dir",
        default=os.environ.get("TICKCAST_LOCAL_STATE_DIR"),
        help="where the lock, logs and local.env go (env TICKCAST_LOCAL_STATE_DIR, default .tickcast)",
    )


def add_stack_arguments(p: argparse.ArgumentParser) -> None:
    add_state_argument(p)
    ports = Ports.from_env(os.environ)
    for f in fields(Ports):
        p.add_argument(
            f"--{f.name}-port",
            type=int,
            default=getattr(ports, f.name),
            metavar="PORT",
            help=f"(env TICKCAST_LOCAL_{f.name.upper()}_PORT, default {getattr(ports, f.name)})",
        )
    p.add_argument(
        "--project",
        default=os.environ.get("GOOGLE_CLOUD_PROJECT", DEFAULT_PROJECT),
        help="project id the emulators use",
    )
    p.add_argument(
        "--bar-seconds",
        type=int,
        default=int(os.environ.get("TICKCAST_BAR_SECONDS", "60")),
        help="bar length",
    )
    p.add_argument(
        "--delivery",
        choices=DELIVERIES,
        default=os.environ.get("TICKCAST_LOCAL_DELIVERY", "push"),
        help="push: the emulator pushes to the functions (at most 2 in flight per "
        "subscription); pull: tickcast's dispatcher pulls and posts the same push body "
        "(env TICKCAST_LOCAL_DELIVERY, default push)",
    )
    p.add_argument(
        "--dispatch-concurrency",
        type=int,
        default=int(os.environ.get("TICKCAST_LOCAL_DISPATCH_CONCURRENCY", "16")),
        metavar="N",
        help="with --delivery pull: requests in flight per subscription "
        "(env TICKCAST_LOCAL_DISPATCH_CONCURRENCY, default 16)",
    )


def stack_from_args(args: argparse.Namespace, root: Path) -> LocalStack:
    ports = Ports(**{f.name: getattr(args, f"{f.name}_port") for f in fields(Ports)})
    for f in fields(Ports):
        if not 0 < getattr(ports, f.name) < 65536:
            raise StackError(f"--{f.name}-port must be between 1 and 65535")
    if args.bar_seconds <= 0:
        raise StackError("--bar-seconds must be positive")
    if args.delivery not in DELIVERIES:
        raise StackError(f"--delivery must be one of {', '.join(DELIVERIES)}")
    if args.dispatch_concurrency <= 0:
        raise StackError("--dispatch-concurrency must be positive")
    return LocalStack(
        root=root,
        state_dir=state_dir(args, root),
        ports=ports,
        project=args.project,
        bar_seconds=args.bar_seconds,
        delivery=args.delivery,
        dispatch_concurrency=args.dispatch_concurrency,
    )


@contextlib.contextmanager
def stack_running(stack: LocalStack) -> Iterator[LocalStack]:
    """Start, record ourselves in the lock file, and always stop what we started."""
    info = running(stack.state_dir)
    if info is not None:
        raise StackError(
            f"a local stack is already running (pid {info['pid']}); "
            "use it (source .tickcast/local.env) or stop it with `tickcast local down`"
        )
    lock = _lock_path(stack.state_dir)
    lock.parent.mkdir(parents=True, exist_ok=True)
    # Claim the lock before starting anything: a second `up` is refused at once.
    lock.write_bytes(
        orjson.dumps({"pid": os.getpid(), "ports": asdict(stack.ports), "children": {}})
    )
    try:
        stack.start()
        lock.write_bytes(
            orjson.dumps(
                {"pid": os.getpid(), "ports": asdict(stack.ports), "children": stack.pids()}
            )
        )
        stack.write_env_file(stack.state_dir / "local.env")
        yield stack
    finally:
        stack.stop()
        for stale in (lock, stack.state_dir / "local.env"):
            with contextlib.suppress(FileNotFoundError):
                stale.unlink()


def _interrupt_on_sigterm() -> None:
    """`tickcast local down` sends SIGTERM: unwind like Ctrl-C so everything is stopped."""

    def handler(_signum: int, _frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, handler)


def _wait_forever() -> None:
    with contextlib.suppress(KeyboardInterrupt):
        threading.Event().wait()


def cmd_up(args: argparse.Namespace) -> int:
    _interrupt_on_sigterm()
    root = repo_root()
    stack = stack_from_args(args, root)
    with stack_running(stack):
        print("tickcast local stack is up:")
        for name, url in stack.endpoints().items():
            print(f"  {name:<20} {url}")
        if stack.reused:
            print(f"  (reused running: {', '.join(stack.reused)})")
        print(f"\nIn a second shell: source {stack.state_dir / 'local.env'}")
        print(
            "Then: tickcast replay FILE   |   tickcast tail SYMBOL ...   |   Ctrl-C here stops everything",
            flush=True,
        )
        _wait_forever()
        print("stopping…", flush=True)
    return 0


def cmd_down(args: argparse.Namespace) -> int:
    path = _lock_path(state_dir(args, repo_root()))
    if not path.exists():
        print("no local stack is running", file=sys.stderr)
        return 1
    info = orjson.loads(path.read_bytes())
    pid = int(info["pid"])
    if _pid_alive(pid):
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + args.timeout
        while _pid_alive(pid) and time.monotonic() < deadline:
            time.sleep(0.1)
    # If `up` died without cleaning up, stop the children it recorded.
    for child in (info.get("children") or {}).values():
        if _pid_alive(int(child)):
            stop_group(int(child))
    with contextlib.suppress(FileNotFoundError):
        path.unlink()
    print("local stack stopped")
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from tickcast import demo

    _interrupt_on_sigterm()
    root = repo_root()
    if args.duration is not None and args.duration <= 0:
        raise StackError("--duration must be positive")
    # Before anything starts: a bad --feed/--symbols is a one-line error.
    chosen = demo.plan(args.feed, args.symbols, os.environ)
    stack = stack_from_args(args, root)
    if not chosen.live:
        # Each demo bar is one trading day of the real series: each is its own VWAP session.
        stack.extra_env.setdefault("TICKCAST_VWAP_ANCHOR", "bar")
    print(chosen.message, flush=True)
    with stack_running(stack):
        return demo.run(stack, duration_s=args.duration, synthetic=args.synthetic, chosen=chosen)


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    local = sub.add_parser("local", help="run the whole pipeline on this machine")
    lsub = local.add_subparsers(dest="local_command", required=True)
    up = lsub.add_parser(
        "up", help="start redis-server, the emulators, the functions and the bridge"
    )
    add_stack_arguments(up)
    up.set_defaults(func=cmd_up)
    down = lsub.add_parser("down", help="stop what `tickcast local up` started")
    down.add_argument("--timeout", type=float, default=30.0)
    add_state_argument(down)
    down.set_defaults(func=cmd_down)

    demo = sub.add_parser(
        "demo", help="local stack + real market data + predictions in the terminal"
    )
    add_stack_arguments(demo)
    demo.set_defaults(bar_seconds=1)
    demo.add_argument(
        "--duration",
        type=float,
        default=None,
        help="stop after this many seconds (exit 0 only if predictions arrived)",
    )
    demo.add_argument(
        "--synthetic", type=int, default=0, help="extra random-walk symbols for volume"
    )
    demo.add_argument(
        "--feed",
        default=os.environ.get("TICKCAST_DEMO_FEED") or None,
        help="alpaca, polygon or yahoo: run the live connector when its keys are set "
        "(APCA_API_KEY_ID/APCA_API_SECRET_KEY, POLYGON_API_KEY), else replay real data "
        "(env TICKCAST_DEMO_FEED)",
    )
    demo.add_argument(
        "--symbols",
        default=os.environ.get("TICKCAST_DEMO_SYMBOLS") or None,
        help="comma-separated symbols for --feed, e.g. AAPL,MSFT (env TICKCAST_DEMO_SYMBOLS)",
    )
    demo.set_defaults(func=cmd_demo)
