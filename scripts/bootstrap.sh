#!/usr/bin/env bash
# Bootstraps what `make demo` and `make test` need on a fresh machine:
# redis-server (apt-get when missing), Java 17 and the gcloud SDK's emulators;
# with --test also chromium (apt-get when missing), which runs the dashboard's
# browser test, tests/e2e/test_dashboard_browser.py: `make demo` does not need it.
# The virtualenv and Python packages are the Makefile's job. Terraform is not
# needed by either: the tests that run it (tests/unit/deploy, marker
# `terraform`) are skipped without it, and pytest says so in one line.
set -euo pipefail

need_apt=()
command -v redis-server >/dev/null 2>&1 || need_apt+=(redis-server)
if [ "${1:-}" = "--test" ]; then
  command -v chromium >/dev/null 2>&1 || need_apt+=(chromium)
fi
command -v java >/dev/null 2>&1 || need_apt+=(openjdk-17-jre-headless)
if [ ${#need_apt[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ] && ! command -v sudo >/dev/null 2>&1; then
    echo "bootstrap: missing ${need_apt[*]} and not root: install them with apt-get" >&2
    exit 1
  fi
  SUDO=$([ "$(id -u)" -eq 0 ] && echo "" || echo sudo)
  echo "bootstrap: installing ${need_apt[*]} with apt-get"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi

if ! command -v gcloud >/dev/null 2>&1; then
  echo "bootstrap: the Google Cloud SDK (gcloud) is required for the Pub/Sub and Firestore emulators" >&2
  exit 1
fi
sdk=${CLOUDSDK_ROOT_DIR:-$(dirname "$(dirname "$(readlink -f "$(command -v gcloud)")")")}
missing=()
[ -x "$sdk/platform/pubsub-emulator/bin/cloud-pubsub-emulator" ] || missing+=(pubsub-emulator)
[ -x "$sdk/platform/cloud-firestore-emulator/cloud_firestore_emulator" ] || missing+=(cloud-firestore-emulator)
if [ ${#missing[@]} -gt 0 ]; then
  echo "bootstrap: installing gcloud components ${missing[*]}"
  gcloud components install --quiet "${missing[@]}" || {
    echo "bootstrap: could not install ${missing[*]}; with a packaged SDK use apt-get install google-cloud-cli-pubsub-emulator google-cloud-cli-firestore-emulator" >&2
    exit 1
  }
fi
java -version 2>&1 | head -n 1 | grep -Eq '"(1[7-9]|[2-9][0-9])' || {
  echo "bootstrap: the emulators need Java 17 or newer; found: $(java -version 2>&1 | head -n 1)" >&2
  exit 1
}
