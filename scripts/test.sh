#!/usr/bin/env bash
# Everything CI runs: set-up, lint and types, then the whole test suite: the fast loop first
# (in-process server, fake models), then the slow tests with the real models.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
scripts/check.sh
# pytest exits 5 when a selection holds no test (e.g. `scripts/test.sh tests/test_e2e.py` has no fast ones).
pytest() { .venv/bin/python -m pytest -q "$@" || [ $? -eq 5 ]; }
pytest -m "not slow" "$@"
pytest -m slow "$@"
