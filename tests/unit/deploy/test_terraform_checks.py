"""scripts/check-terraform.sh: `terraform fmt -check` and checkov over infra/terraform.

Select with `pytest tests/unit/deploy/test_terraform_checks.py`. They need the
terraform binary (marker `terraform`): without it they are skipped and the run
ends with one line naming them (conftest.py), never silently. Checkov is
installed by the script itself on first use.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
SCRIPT = ROOT / "scripts" / "check-terraform.sh"


def run_checks(tf_dir: Path | None = None) -> subprocess.CompletedProcess[str]:
    cmd = ["bash", str(SCRIPT)] + ([str(tf_dir)] if tf_dir else [])
    # The first run installs checkov into .venv-checkov.
    return subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=900, check=False)


pytestmark = pytest.mark.terraform


def test_terraform_is_installed() -> None:
    assert shutil.which("terraform"), "terraform is not on PATH"


def test_fmt_and_checkov_pass() -> None:
    proc = run_checks()
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out
    assert "Failed checks: 0" in out, out


def test_the_script_fails_on_bad_formatting_and_on_a_checkov_finding(tmp_path: Path) -> None:
    tf = tmp_path / "terraform"
    shutil.copytree(ROOT / "infra" / "terraform", tf, ignore=shutil.ignore_patterns(".terraform*"))
    (tf / "bad.tf").write_text(
        'resource "google_storage_bucket_iam_member" "oops" {\n'
        "  bucket = google_storage_bucket.artifacts.name\n"
        '  role = "roles/storage.objectViewer"\n'
        '  member    = "allUsers"\n'
        "}\n"
    )
    proc = run_checks(tf)
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0, out
    assert "formatting differs" in out, out
    assert "CKV_GCP_28" in out, out
