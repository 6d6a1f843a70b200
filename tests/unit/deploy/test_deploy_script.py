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


def test_bridge_image_is_built_as_the_build_account() -> None:
    import re

    from tfparse import TF, Module

    text = SCRIPT.read_text(encoding="utf-8")
    root = Module.load(TF)
    submit = text[text.index("gcloud builds submit") :].split("\n\n")[0]
    assert '--service-account "projects/$PROJECT/serviceAccounts/$BUILD_SA"' in submit
    assert '--config "$ROOT/infra/cloudbuild/ws-bridge.yaml"' in submit
    # The context is staged where the build account may read (sources/).
    assert '--gcs-source-staging-dir "gs://$ARTIFACTS_BUCKET/sources/' in submit
    sa = root.resources["google_service_account.function_build"]["account_id"]
    assert sa == "${var.name_prefix}-fn-build"
    assert 'BUILD_SA="$PREFIX-fn-build@$PROJECT.iam.gserviceaccount.com"' in text
    bucket = root.resources["google_storage_bucket.artifacts"]["name"]
    assert bucket == "${var.project_id}-${var.name_prefix}-artifacts"
    assert 'ARTIFACTS_BUCKET="$PROJECT-$PREFIX-artifacts"' in text
    config = (ROOT / "infra" / "cloudbuild" / "ws-bridge.yaml").read_text(encoding="utf-8")
    assert "logging: CLOUD_LOGGING_ONLY" in config  # required with a user-specified account
    # Every -target of the prerequisite apply exists.
    for target in re.findall(r"-target=([\w.]+)", text):
        assert target in root.resources, target
    assert "-target=time_sleep.build_iam_propagation" in text
