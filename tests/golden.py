"""The contract tests' golden payload, shared by the tests that need a ready bar.

`tests/data/push_features.json` is the push envelope of one closed bar whose
features are all ready; its feature vector is what a live model scores.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path

PUSH_FEATURES = Path(__file__).resolve().parent / "data" / "push_features.json"


def golden_features() -> dict[str, float | None]:
    """The ready bar's feature vector (a fresh dict: callers may change it)."""
    push = json.loads(PUSH_FEATURES.read_text())
    features: dict[str, float | None] = json.loads(base64.b64decode(push["message"]["data"]))[
        "features"
    ]
    return features


READY: dict[str, float | None] = golden_features()
