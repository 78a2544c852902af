#!/usr/bin/env bash
# The project's two entry points; README.md documents them.
#   bash scripts/run.sh demo [ARGS...]   set up .venv, then run `tracegraph demo`
#   bash scripts/run.sh test [ARGS...]   set up .venv, then lint, type-check and test
# Setup is idempotent: a fresh machine with only python3 gets a virtual environment
# with torch pinned to 2.13.0 (CPU build) by constraints.txt.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
VENV=.venv

setup() {
    local extras=$1
    local stamp="$VENV/.tracegraph-setup-$extras"
    if [ -f "$stamp" ] && [ "$stamp" -nt pyproject.toml ] && [ "$stamp" -nt constraints.txt ]; then
        return
    fi
    if [ ! -x "$VENV/bin/python" ]; then
        "$PYTHON" -m venv "$VENV"
    fi
    # torch first and alone, pinned, so nothing can pull a CUDA build.
    "$VENV/bin/pip" install --quiet -c constraints.txt "torch==2.13.0"
    "$VENV/bin/pip" install --quiet -c constraints.txt -e ".[$extras]"
    touch "$stamp"
}

cmd=${1:-}
shift || true
case "$cmd" in
    demo)
        setup demo
        exec "$VENV/bin/tracegraph" demo "$@"
        ;;
    test)
        setup test
        echo "== ruff"
        "$VENV/bin/ruff" check src tests benchmarks examples
        echo "== mypy"
        "$VENV/bin/mypy"
        echo "== pytest"
        exec "$VENV/bin/pytest" -n 2 "$@"
        ;;
    *)
        echo "usage: bash scripts/run.sh {demo|test} [ARGS...]" >&2
        exit 2
        ;;
esac
