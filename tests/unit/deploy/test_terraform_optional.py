"""Terraform is optional: `make demo` never needs it, `make test` names what it skipped."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]


def test_bootstrap_does_not_require_terraform() -> None:
    text = (ROOT / "scripts" / "bootstrap.sh").read_text(encoding="utf-8")
    code = [line for line in text.splitlines() if not line.lstrip().startswith("#")]
    assert not any("terraform" in line for line in code), "bootstrap.sh must not need terraform"


def test_without_terraform_the_checks_are_skipped_and_named_in_one_line(tmp_path: Path) -> None:
    # A PATH with this Python only: no terraform on it.
    bindir = tmp_path / "bin"
    bindir.mkdir()
    (bindir / "python").symlink_to(sys.executable)
    env = {k: v for k, v in os.environ.items() if k != "PYTEST_ADDOPTS"}
    env["PATH"] = str(bindir)
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-p",
            "no:cacheprovider",
            "-q",
            "tests/unit/deploy/test_terraform_checks.py",
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out
    lines = [line for line in out.splitlines() if line.startswith("terraform not found on PATH")]
    assert len(lines) == 1, out
    for name in (
        "test_terraform_is_installed",
        "test_fmt_and_checkov_pass",
        "test_the_script_fails_on_bad_formatting_and_on_a_checkov_finding",
    ):
        assert name in lines[0], lines[0]
    assert "3 skipped" in out, out
