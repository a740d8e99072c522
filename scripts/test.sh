#!/usr/bin/env bash
# The whole test suite on a fresh machine: install, start the real services (Docker engine,
# Prometheus), then lint, type-check and run every test. Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
echo "==> starting real services"
bash scripts/services.sh
echo "==> ruff"
.venv/bin/ruff check mlopsctl tests bench
.venv/bin/ruff format --check mlopsctl tests bench
echo "==> mypy"
.venv/bin/mypy mlopsctl
echo "==> pytest"
.venv/bin/python -m pytest "$@"
