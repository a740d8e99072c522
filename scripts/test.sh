#!/usr/bin/env bash
# The whole test suite on a fresh machine: install, start the real services (Docker engine,
# Prometheus), then lint, type-check and run every test. Every stage runs; the exit code is
# non-zero when any stage failed. Extra arguments go to pytest.
set -uo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh || exit 1
echo "==> starting real services"
bash scripts/services.sh || exit 1
failed=()
echo "==> ruff"
.venv/bin/ruff check mlopsctl tests bench && .venv/bin/ruff format --check mlopsctl tests bench || failed+=(ruff)
echo "==> mypy"
.venv/bin/mypy mlopsctl || failed+=(mypy)
echo "==> pytest"
.venv/bin/python -m pytest "$@"
code=$?
# pytest's 5 means no test ran, which is a failure here too
((code == 0)) || failed+=("pytest (exit $code)")
if ((${#failed[@]})); then
  echo "FAILED: ${failed[*]}"
  exit 1
fi
echo "all checks passed"
