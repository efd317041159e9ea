#!/usr/bin/env bash
# The whole test suite, as CI runs it: formatting, lints with warnings denied, every test
# (unit, real restic/rsync/sshd lab runs, the window's tests), then the Debian package
# installed and checked (scripts/check-deb.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
export XDG_RUNTIME_DIR=${XDG_RUNTIME_DIR:-$(mktemp -d)}
chmod 700 "$XDG_RUNTIME_DIR"
cargo fmt --check
cargo clippy --all-targets --locked -- -D warnings
cargo test --locked --no-fail-fast
# The package holds the binary the tests just ran: a release build would cost minutes
# more and check the same packaging.
WBACKUP_BIN=${CARGO_TARGET_DIR:-target}/debug/wbackup scripts/check-deb.sh
