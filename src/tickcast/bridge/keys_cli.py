"""`tickcast keys create|list|revoke`: the bridge's API keys in Firestore `api_keys`.

`create` prints the token once; only its SHA-256 hash is stored. The bridge
sees a revocation within about a second (it listens on `api_keys`) and closes
that key's open connections.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

import orjson

from tickcast.bridge import apikeys
from tickcast.bridge.principal import ALL_SYMBOLS, Limits
from tickcast.config import Settings
from tickcast.errors import TickcastError
from tickcast.schema import SYMBOL_RE


def _db(cfg: Settings) -> Any:
    from tickcast import clients

    return clients.firestore_client(cfg.project_id)


def _symbols(raw: str) -> list[str]:
    items = [s.strip() for s in raw.split(",") if s.strip()]
    if items == [ALL_SYMBOLS]:
        return items
    bad = [s for s in items if not SYMBOL_RE.fullmatch(s)]
    if bad or not items:
        raise TickcastError(f"--symbols: expected '*' or symbols like AAPL,MSFT, got {raw!r}")
    return items


def _create(args: argparse.Namespace) -> int:
    cfg = Settings.from_env(os.environ)
    base = Limits.defaults(cfg)
    limits = Limits(
        args.max_connections or base.max_connections,
        args.max_subscriptions or base.max_subscriptions,
        args.rate or base.messages_per_second,
    )
    record, token = apikeys.create(_db(cfg), args.name, _symbols(args.symbols), limits)
    print(f"key id: {record.key_id}", file=sys.stderr)
    print("token (shown once, only its hash is stored):", file=sys.stderr)
    print(token)
    return 0


def _list(args: argparse.Namespace) -> int:
    records = apikeys.list_all(_db(Settings.from_env(os.environ)))
    if not args.all:
        records = [r for r in records if not r.revoked]
    if args.json:
        print(orjson.dumps([r.public() for r in records], option=orjson.OPT_INDENT_2).decode())
        return 0
    print(f"{'ID':<13} {'NAME':<24} {'SYMBOLS':<24} {'CONN':>5} {'SUBS':>6} {'MSG/S':>6}  STATE")
    for r in records:
        lim = r.limits
        symbols = ",".join(r.symbols)
        print(
            f"{r.key_id:<13} {r.name[:24]:<24} {symbols[:24]:<24} "
            f"{lim.get('max_connections', '-'):>5} {lim.get('max_subscriptions', '-'):>6} "
            f"{lim.get('messages_per_second', '-'):>6}  {'revoked' if r.revoked else 'active'}"
        )
    return 0


def _revoke(args: argparse.Namespace) -> int:
    if not apikeys.revoke(_db(Settings.from_env(os.environ)), args.key_id):
        raise TickcastError(f"no API key {args.key_id}")
    print(f"revoked {args.key_id}")
    return 0


def _positive(kind: type[int] | type[float]) -> Any:
    def parse(raw: str) -> float:
        value = kind(raw)
        if value <= 0:
            raise argparse.ArgumentTypeError("must be positive")
        return value

    return parse


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    kp = sub.add_parser("keys", help="manage the bridge's API keys (Firestore api_keys)")
    ks = kp.add_subparsers(dest="keys_command", required=True)

    cp = ks.add_parser("create", help="create a key and print its token once")
    cp.add_argument("--name", required=True, help="who the key is for")
    cp.add_argument(
        "--symbols", default=ALL_SYMBOLS, help="entitlements: AAPL,MSFT or '*' (default)"
    )
    cp.add_argument("--max-connections", type=_positive(int), help="open connections")
    cp.add_argument("--max-subscriptions", type=_positive(int), help="open subscriptions")
    cp.add_argument("--rate", type=_positive(float), help="client messages per second")
    cp.set_defaults(func=_create)

    lp = ks.add_parser("list", help="list keys (never their tokens or hashes)")
    lp.add_argument("--all", action="store_true", help="include revoked keys")
    lp.add_argument("--json", action="store_true", help="JSON instead of a table")
    lp.set_defaults(func=_list)

    rp = ks.add_parser("revoke", help="revoke a key: new connections are refused, open ones end")
    rp.add_argument("key_id", metavar="ID")
    rp.set_defaults(func=_revoke)
