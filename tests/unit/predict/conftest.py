from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest


def _golden_features() -> dict[str, float | None]:
    """The ready bar of tests/data/push_features.json, the contract tests' golden payload."""
    push = json.loads(
        (Path(__file__).resolve().parents[2] / "data" / "push_features.json").read_text()
    )
    features: dict[str, float | None] = json.loads(base64.b64decode(push["message"]["data"]))[
        "features"
    ]
    return features


READY: dict[str, float | None] = _golden_features()


@pytest.fixture(scope="session")
def features() -> dict[str, float | None]:
    return dict(READY)
