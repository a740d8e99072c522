#!/usr/bin/env bash
# Fresh machine to running demo: install into .venv, then `mlopsctl demo`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
exec .venv/bin/mlopsctl demo "$@"
