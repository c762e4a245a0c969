#!/usr/bin/env bash
# Create .venv and install the locked dependencies (skipped when the lock has not changed).
# Sourced by scripts/run.sh and scripts/test.sh.
set -euo pipefail
PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
lock_hash=$(sha256sum requirements.lock | cut -d' ' -f1)
if [ "$(cat .venv/.lock-hash 2>/dev/null || true)" != "$lock_hash" ]; then
  echo "Installing locked dependencies into .venv ..."
  # (grep drops this machine's notes about absent local package mirrors)
  .venv/bin/python -m pip install --quiet --disable-pip-version-check --require-hashes \
    -r requirements.lock 2> >(grep -v "is ignored: it is neither a file nor a directory" >&2)
  echo "$lock_hash" > .venv/.lock-hash
fi
