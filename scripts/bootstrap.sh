#!/usr/bin/env bash
# Create .venv with mlopsctl and its test tools installed (idempotent). Used by demo.sh and test.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  echo "==> creating .venv with $($PYTHON --version)"
  "$PYTHON" -m venv .venv
fi
stamp=.venv/.mlopsctl-installed
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  echo "==> installing mlopsctl and its test tools into .venv"
  # (the grep drops pip's notes about unused local index folders on some machines)
  .venv/bin/python -m pip install -q --upgrade pip 2>&1 | grep -v "^WARNING: Location" || true
  .venv/bin/python -m pip install -q -e '.[test]' 2>&1 | grep -v "^WARNING: Location" || true
  .venv/bin/python -c "import mlopsctl.cli.main" || { echo "mlopsctl did not install into .venv" >&2; exit 1; }
  touch "$stamp"
fi
