#!/usr/bin/env bash
# The whole test suite on a fresh machine: install, start the real services (Docker engine,
# Prometheus), then lint, type-check, check the import contracts and run every test. Every stage
# runs; the exit code is non-zero when any stage failed. Extra arguments go to pytest.
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
echo "==> import contracts (lint-imports)"
# Contracts are in pyproject.toml (faces through *.api, no textual/rich/click in the core, no
# package cycles); every one listed here fails the run when broken.
enforced_contracts=(core-without-terminal-ui faces-through-api no-package-cycles)
contract_args=()
for contract in "${enforced_contracts[@]}"; do contract_args+=(--contract "$contract"); done
.venv/bin/lint-imports --no-cache --no-logo "${contract_args[@]}" || failed+=(lint-imports)
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
