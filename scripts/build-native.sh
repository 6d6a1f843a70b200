#!/usr/bin/env bash
# Compile tickcast.indicators with mypyc, in place (what `make native` runs).
#
#   scripts/build-native.sh            # (re)build
#   scripts/build-native.sh --clean    # remove the compiled modules: pure Python again
#   VERBOSE=1 scripts/build-native.sh  # show mypyc's and the compiler's output on failure
#
# Every indicator module except __init__.py, _backend.py (they choose the
# build at import time) and registry.py (a dict and one cold function) goes
# into one mypyc group: a shim extension next to each module's .py and the
# group's shared library src/tickcast_indicators__mypyc.*.so. The library sits
# beside the tickcast package, not inside it, because mypyc derives the
# __file__ of modules imported from compiled code as <library dir>/<dotted
# path>; src/ is on sys.path (the editable install's .pth) so it imports.
# CPython tries extension modules before source, so once built they are used;
# tickcast/indicators/_backend.py falls back to the .py files if any source is
# newer than the build.
#
# The build runs in a temporary directory (mypy cache, generated C, objects);
# only the finished .so files are copied into src/. No C compiler, no mypyc or
# any build error: one warning line on stderr, exit 0, no compiled module
# left, so the pure-Python modules are used. The stamp
# src/tickcast/indicators/.native-stamp (make's target) is written either way.
set -uo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PKG="$ROOT/src/tickcast/indicators"
PYTHON="${PYTHON:-$ROOT/.venv/bin/python}"
STAMP="$PKG/.native-stamp"
GROUP=tickcast_indicators # library: src/${GROUP}__mypyc<EXT_SUFFIX>
# Kept in sync with INTERPRETED in src/tickcast/indicators/_backend.py.
INTERPRETED=" __init__.py _backend.py registry.py "

remove_compiled() {
    rm -f "$PKG"/*.so "$ROOT/src/${GROUP}__mypyc".*.so "$STAMP"
}

fallback() {
    echo "build-native: WARNING: $*; tickcast.indicators runs as pure Python (same results, slower; make native retries)" >&2
    echo "python: $*" >"$STAMP"
    exit 0
}

if [[ "${1:-}" == "--clean" ]]; then
    remove_compiled
    exit 0
fi

# Never leave a stale or partial build behind, whatever happens next.
remove_compiled

if ! command -v "${CC:-cc}" >/dev/null 2>&1 && ! command -v gcc >/dev/null 2>&1; then
    fallback "no C compiler (${CC:-cc} or gcc) found"
fi
if ! "$PYTHON" -c "import mypyc.build, setuptools" >/dev/null 2>&1; then
    fallback "$PYTHON cannot import mypyc.build and setuptools"
fi

modules=()
for f in "$PKG"/*.py; do
    name="$(basename "$f")"
    [[ "$INTERPRETED" == *" $name "* ]] || modules+=("$f")
done

TMP="$(mktemp -d "${TMPDIR:-/tmp}/tickcast-native.XXXXXX")" || fallback "mktemp failed"
trap 'rm -rf "$TMP"' EXIT
LOG="$TMP/build.log"
# The build is stamped with its start time: a source edited while it runs
# stays newer than the .so files, so both make and _backend see it as stale.
touch "$TMP/started"
started=$SECONDS

# The working directory is the temporary one so setuptools never reads the
# project's pyproject.toml or writes next to it; mypy gets the project config.
if ! (cd "$TMP" && "$PYTHON" - "$ROOT" "$GROUP" "${modules[@]}" >"$LOG" 2>&1) <<'EOF'; then
import os
import sys

from setuptools import setup

from mypyc.build import mypycify

root, group, modules = sys.argv[1], sys.argv[2], sys.argv[3:]
tmp = os.getcwd()
setup(
    name="tickcast-indicators-native",
    script_args=["build_ext", "--build-lib", f"{tmp}/lib", "--build-temp", f"{tmp}/obj"],
    ext_modules=mypycify(
        [f"--config-file={root}/pyproject.toml", f"--cache-dir={tmp}/mypy-cache", *modules],
        group_name=group,
        target_dir=f"{tmp}/c",
    ),
)
EOF
    [[ "${VERBOSE:-0}" == 0 ]] || cat "$LOG" >&2
    reason="$( (grep -m1 'error:' "$LOG" || tail -n1 "$LOG") | cut -c1-240)"
    fallback "mypyc build failed ($reason; VERBOSE=1 shows the whole log)"
fi

shims=("$TMP"/lib/tickcast/indicators/*.so)
libs=("$TMP"/lib/"${GROUP}"__mypyc.*.so)
if [[ ! -e "${libs[0]}" || ${#shims[@]} -ne ${#modules[@]} ]]; then
    fallback "mypyc built ${#shims[@]} modules of ${#modules[@]}, library: ${libs[*]##*/}"
fi
if ! cp "${shims[@]}" "$PKG/" || ! cp "${libs[@]}" "$ROOT/src/"; then
    remove_compiled
    fallback "could not copy the built modules into src/"
fi
touch -r "$TMP/started" "$PKG"/*.so "$ROOT/src/${GROUP}"__mypyc.*.so
echo "mypyc: ${#modules[@]} modules compiled in $((SECONDS - started)) s" >"$STAMP"
touch -r "$TMP/started" "$STAMP"
echo "build-native: ${#modules[@]} modules of tickcast.indicators compiled with mypyc in $((SECONDS - started)) s"
