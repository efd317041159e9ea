#!/bin/sh
# Refreshes docs/screenshots/*.png:
# - idle, running, after-failure, failure-log: the window offscreen on a sample 3-node
#   configuration, fed a synthetic run (home's backup fails, the NAS is unreachable);
#   the same with -dark (WBACKUP_PALETTE=dark) and -200 (QT_SCALE_FACTOR=2) in their names;
# - e2e-passed, e2e-preflight, e2e-unreachable: the real binary under Xvfb on a lab of
#   sshd nodes (tests/gui_e2e.rs): after a real run; one node's sshd stopped, the
#   preflight question before anything is written; and after the run without it;
# - e2e-running, e2e-stalled: the real window under Xvfb backing up 600 MB on a lab node
#   (tests/gui_progress.rs): live progress with a time left, then its restic frozen;
# - restore: the Restore view offscreen on a 2-node lab, a file picked (tests/gui_restore.rs);
# - copies: the Copies view offscreen on a lab after real runs and verification
#   (tests/gui_copies.rs);
# - setup, setup-connection-failed: the Setup view on a lab, machines tested (under Xvfb)
#   and a failed test of three machines (tests/gui_setup.rs).
set -eu
cd "$(dirname "$0")/.."
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
chmod 700 "$work"
mkdir -p "$work/out" "$work/docs" docs/screenshots
cat > "$work/config.toml" <<TOML
orchestrator = "laptop"
base_dir = "~/backup"

[nodes.laptop]
paths = ["~/Documents", "~/Projects"]

[nodes.home]
addresses = ["192.168.1.10", "home.example.org"]
paths = ["~/"]

[nodes.nas]
addresses = ["nas.lan"]
base_dir = "/srv/backup"
TOML
cargo build --quiet --example gui-screenshots
target_dir=${CARGO_TARGET_DIR:-target}
# One home each (its own logbook and remembered window): the light palette, a dark one
# forced, and 200 % scale (twice the pixels: text and icons must stay sharp).
shots() { # SUFFIX [VAR=VALUE...]
    suffix=$1
    shift
    mkdir -p "$work/home$suffix"
    env HOME="$work/home$suffix" XDG_STATE_HOME="$work/home$suffix/state" XDG_RUNTIME_DIR="$work" \
        QT_QPA_PLATFORM=offscreen WBACKUP_PALETTE=light "$@" \
        "$target_dir/debug/examples/gui-screenshots" "$work/out" "$work/config.toml" "$suffix"
}
shots ""
shots -dark WBACKUP_PALETTE=dark
shots -200 QT_SCALE_FACTOR=2
cp "$work/out"/*.png docs/screenshots/
WBACKUP_E2E_SHOTS="$PWD/docs/screenshots" cargo test --quiet --test gui_e2e
WBACKUP_E2E_SHOTS="$PWD/docs/screenshots" cargo test --quiet --test gui_progress
WBACKUP_RESTORE_SHOT="$PWD/docs/screenshots/restore.png" cargo test --quiet --test gui_restore
WBACKUP_COPIES_SHOT="$PWD/docs/screenshots/copies.png" cargo test --quiet --test gui_copies
WBACKUP_SETUP_SHOTS="$PWD/docs/screenshots" cargo test --quiet --test gui_setup
ls -l docs/screenshots
