"""The restore drill of docs/OPERATIONS.md on the Firestore emulator: export, wipe,
import, and the bridge serves the same history (and the same latest) as before.

Export and wipe use the emulator's REST admin endpoints (ops/emulator_backup.py);
the import starts a fresh emulator with `--import-data`, as a restore in the cloud
brings up the database from a backup or an export."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from google.auth.credentials import AnonymousCredentials
from google.cloud import firestore

from tickcast.bench.sample import prediction_doc
from tickcast.bridge.app import create_app
from tickcast.config import Settings
from tickcast.local.processes import Proc, free_port, http_status
from tickcast.local.stack import Ports, emulator_commands
from tickcast.ops import emulator_backup
from tickcast.predict import store

pytestmark = pytest.mark.emulator

PROJECT = "tickcast-drill"
SYMBOL = "DRILL"
SEQS = [i * 1000 for i in range(1, 26)]


def _emulator(tmp: Path, name: str, extra: list[str] | None = None) -> tuple[Proc, str]:
    port = free_port()
    ports = Ports(
        **{n: 1 for n in ("redis", "pubsub", "ingest", "features", "predict", "bridge")},
        firestore=port,
    )
    argv = emulator_commands(ports, PROJECT)["firestore"]
    if extra:
        argv = emulator_backup.import_argv(argv, Path(extra[0]))
    proc = Proc(name, argv, tmp / f"{name}.log")
    proc.start()
    proc.wait_ready(lambda: http_status(f"http://127.0.0.1:{port}/") == 200, 90)
    return proc, f"127.0.0.1:{port}"


def _client(host: str, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setenv("FIRESTORE_EMULATOR_HOST", host)  # read when the client is built
    return firestore.Client(project=PROJECT, credentials=AnonymousCredentials())  # type: ignore[no-untyped-call]


def _served(db: Any, monkeypatch: pytest.MonkeyPatch) -> tuple[int, Any, list[Any]]:
    """What the bridge serves for SYMBOL: latest status/doc and the whole history."""
    cfg = Settings.from_env(
        {"GOOGLE_CLOUD_PROJECT": PROJECT, "TICKCAST_WS_ALLOW_UNAUTHENTICATED": "true"}
    )
    app = create_app(cfg, db)
    with TestClient(app) as client:
        deadline = time.monotonic() + 30
        while client.get("/readyz").status_code != 200:
            assert time.monotonic() < deadline, "listeners never synced"
            time.sleep(0.05)
        latest = client.get(f"/v1/symbols/{SYMBOL}")
        history = client.get(f"/v1/symbols/{SYMBOL}/predictions", params={"limit": 100}).json()
        doc = latest.json()
        if isinstance(doc.get("trace"), dict):
            doc["trace"].pop("bridge", None)  # when this bridge published it: not data
        return latest.status_code, doc, history


@pytest.fixture
def procs() -> Iterator[list[Proc]]:
    started: list[Proc] = []
    yield started
    for p in started:
        p.stop()


def test_export_wipe_import_and_the_bridge_serves_the_same_history(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, procs: list[Proc]
) -> None:
    first, host = _emulator(tmp_path, "firestore-a")
    procs.append(first)
    db = _client(host, monkeypatch)
    for seq in SEQS:
        store.write(db, SYMBOL, seq, prediction_doc(SYMBOL, seq))
    status, latest, history = _served(db, monkeypatch)
    assert status == 200 and latest["seq"] == SEQS[-1]
    assert [d["seq"] for d in history] == SEQS

    metadata = emulator_backup.export(host, PROJECT, tmp_path / "backup")
    assert metadata.suffix == ".overall_export_metadata"
    emulator_backup.wipe(host, PROJECT)
    wiped = _served(db, monkeypatch)
    assert wiped[0] == 404 and wiped[2] == []  # the loss the drill recovers from

    second, host2 = _emulator(tmp_path, "firestore-b", [str(metadata)])
    procs.append(second)
    restored = _served(_client(host2, monkeypatch), monkeypatch)
    assert restored == (status, latest, history)
