#!/usr/bin/env bash
# Lint, format check and type check of the project's own code (generated stubs excluded).
set -euo pipefail
cd "$(dirname "$0")/.."
code=(server models clients scripts tests bench)
.venv/bin/ruff check "${code[@]}"
.venv/bin/ruff format --check "${code[@]}"
.venv/bin/mypy server models clients/python/vigil_client scripts
