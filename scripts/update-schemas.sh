#!/usr/bin/env bash
# Regenerate the published JSON Schemas in schemas/ from the spec models.
set -euo pipefail
cd "$(dirname "$0")/.."
for kind in project model environment; do
  python -m mlopsctl schema "$kind" > "schemas/$kind.schema.json"
done
echo "schemas/ updated"
