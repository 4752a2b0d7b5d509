#!/usr/bin/env bash
# The project's test command (the README's): formatting and lints first (cheap, and
# a warning fails CI), the GitHub workflow through actionlint, the outside example
# (its lints and tests, built with line tables and without), then every test,
# optimised, each test in its own process (heap-measuring tests need the process to
# themselves).
# Installs cargo-nextest first if this machine does not have it (or has one older
# than .config/nextest.toml requires), and the CI tools (actionlint, junitparser:
# ci/tools.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
if ! cargo nextest show-config version >/dev/null 2>&1; then
    cargo install cargo-nextest --locked
fi
cargo fmt --all --check
# The outside example (examples/outside-crate): a crate of its own, with its own
# Cargo.lock and tokio, using the harness as a user's crate does. It shares nothing
# with the workspace's build (another lock file, another profile), so it builds and
# runs beside the workspace's clippy and test build, in its own target directory
# (cargo locks one per build), filling the cores their serial stretches leave idle;
# its output follows theirs.
outside() {
    local o=(--manifest-path examples/outside-crate/Cargo.toml --target-dir target/outside)
    cargo fmt --manifest-path examples/outside-crate/Cargo.toml --check
    CARGO_PROFILE_RELEASE_DEBUG=0 cargo clippy "${o[@]}" --all-targets --release --locked -- -D warnings
    # As most crates build: cargo's default release profile, no line tables anywhere.
    # Its tests check the "where" names the owning code either way (and the one-line
    # hint), so they run twice: without line tables, then with them in the example's
    # own code (a package override: only its units rebuild, not its dependencies).
    CARGO_PROFILE_RELEASE_DEBUG=0 cargo test "${o[@]}" --release --locked
    CARGO_PROFILE_RELEASE_DEBUG=0 cargo test "${o[@]}" --release --locked \
        --config 'profile.release.package.outside-crate.debug="line-tables-only"'
}
mkdir -p target
outside > target/outside.log 2>&1 &
outside_pid=$!
# A failing step below ends the script: the outside example's build ends with it.
trap 'pkill -P "$outside_pid" 2>/dev/null; kill "$outside_pid" 2>/dev/null; true' EXIT
cargo clippy --workspace --all-targets --release -- -D warnings
venv=$(ci/tools.sh)
"$venv/bin/actionlint" .github/workflows/*.yml
# Every test's build, and libsoak_preload.so with it (a cdylib is no integration
# test's dependency, so nextest would not build it): `--lib --tests` resolves
# features as the test build does (dev-dependencies included), so the library
# links against the units the tests use; `-p soak-preload` alone resolves its own
# and rebuilt the harness's whole dependency tree (3 min).
cargo build --workspace --release --lib --tests
status=0
wait "$outside_pid" || status=$?
echo "--- the outside example (examples/outside-crate) ---"
cat target/outside.log
if [ "$status" -ne 0 ]; then
    echo "ci/test.sh: the outside example failed (exit $status): its output is above" >&2
    exit "$status"
fi
# One test thread more than cores: the live tests (one at a time, .config/nextest.toml)
# spend most of their ~12 s waiting on wall-clock traffic, so two replays beside one
# keep both cores busy.
exec cargo nextest run --workspace --release --no-fail-fast --test-threads "$(($(nproc) + 1))" "$@"
