"""scripts/deploy.sh refuses bad invocations before touching anything (it cannot run here)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
SCRIPT = ROOT / "scripts" / "deploy.sh"


def deploy(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if k != "TICKCAST_STATE_BUCKET"} | env
    return subprocess.run(
        ["bash", str(SCRIPT), *args],
        cwd=ROOT,
        env=environ,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize("args", [(), ("staging",), ("dev", "prod")])
def test_usage(args: tuple[str, ...]) -> None:
    proc = deploy(*args)
    assert proc.returncode == 2
    assert "usage: scripts/deploy.sh dev|prod" in proc.stderr


def test_needs_a_state_bucket() -> None:
    proc = deploy("dev")
    assert proc.returncode != 0
    assert "TICKCAST_STATE_BUCKET" in proc.stderr


def test_every_environment_has_tfvars() -> None:
    for env in ("dev", "prod"):
        assert (ROOT / "infra" / "terraform" / "envs" / f"{env}.tfvars").is_file()
