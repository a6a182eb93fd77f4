#!/usr/bin/env bash
# Everything CI runs: set-up, lint and types, then the whole test suite (slow tests included).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
scripts/check.sh
.venv/bin/python -m pytest -q "$@"
