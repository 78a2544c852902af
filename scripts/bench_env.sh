#!/usr/bin/env bash
# The benchmark environments (benchmarks/README.md documents them); neither is the
# project's .venv, and neither is needed by the tests.
#   bash scripts/bench_env.sh pyro      .venv-bench: torch 2.13.0 (CPU, pinned) + pyro-ppl 1.9.2
#   bash scripts/bench_env.sh numpyro   .venv-numpyro: jax (CPU) + numpyro 0.22, no torch
# Idempotent: an environment that exists is only completed.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}

pyro_env() {
    local venv=.venv-bench
    [ -x "$venv/bin/python" ] || "$PYTHON" -m venv "$venv"
    # torch first and alone, pinned, so nothing can pull a CUDA build.
    "$venv/bin/pip" install --quiet -c constraints.txt "torch==2.13.0"
    "$venv/bin/pip" install --quiet -c constraints.txt -e ".[bench]"
    "$venv/bin/python" -c "import torch, pyro; print('torch', torch.__version__, 'pyro', pyro.__version__)"
}

numpyro_env() {
    local venv=.venv-numpyro
    [ -x "$venv/bin/python" ] || "$PYTHON" -m venv "$venv"
    # jax's default wheels are the CPU build; numpyro does not need torch.
    "$venv/bin/pip" install --quiet "jax[cpu]" "numpyro==0.22.0"
    "$venv/bin/python" -c "import jax, numpyro; print('jax', jax.__version__, 'numpyro', numpyro.__version__)"
}

case "${1:-}" in
    pyro) pyro_env ;;
    numpyro) numpyro_env ;;
    *)
        echo "usage: bash scripts/bench_env.sh {pyro|numpyro}" >&2
        exit 2
        ;;
esac
