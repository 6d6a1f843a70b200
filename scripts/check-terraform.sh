#!/usr/bin/env bash
# Offline checks of the Terraform: `terraform fmt -check` and checkov.
#
#   scripts/check-terraform.sh [TERRAFORM_DIR]     (default: infra/terraform)
#
# `terraform init/validate/plan` are not run: they need the google provider,
# which cannot be downloaded where this runs. tests/unit/deploy parses the HCL
# for the wiring instead. Checkov lives in its own venv (.venv-checkov), pinned,
# created on first use; it is too heavy for the project's .venv.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TF_DIR="${1:-$ROOT/infra/terraform}"
CHECKOV_VERSION="3.3.30"
VENV="${TICKCAST_CHECKOV_VENV:-$ROOT/.venv-checkov}"
PYTHON="${PYTHON:-python3}"

fail() { echo "check-terraform: $*" >&2; exit 1; }

[ -d "$TF_DIR" ] || fail "no such directory: $TF_DIR"
command -v terraform >/dev/null 2>&1 || fail "terraform is not on PATH (the Makefile installs it)"

if [ "$("$VENV/bin/checkov" --version 2>/dev/null || true)" != "$CHECKOV_VERSION" ]; then
  echo "check-terraform: installing checkov $CHECKOV_VERSION into $VENV" >&2
  "$PYTHON" -m venv "$VENV" || fail "cannot create $VENV"
  "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check "checkov==$CHECKOV_VERSION" \
    || fail "cannot install checkov $CHECKOV_VERSION"
fi

status=0

echo "== terraform fmt -check -recursive $TF_DIR"
if ! terraform fmt -check -recursive -diff "$TF_DIR"; then
  echo "check-terraform: formatting differs; run: terraform fmt -recursive $TF_DIR" >&2
  status=1
fi

echo "== checkov $CHECKOV_VERSION"
# --skip-download: no calls to the Prisma Cloud API (guidelines, policy updates);
# external modules are never fetched (all modules here are local).
if ! "$VENV/bin/checkov" -d "$TF_DIR" --framework terraform --quiet --compact \
  --skip-download --download-external-modules false; then
  status=1
fi

exit "$status"
