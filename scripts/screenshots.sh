#!/bin/sh
# Refreshes docs/screenshots/*.png: the window on a sample 3-node configuration, idle,
# during a run, and after a run where one node's backup failed and another node was
# unreachable. Runs offscreen; no display or network needed.
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
HOME="$work" XDG_RUNTIME_DIR="$work" QT_QPA_PLATFORM=offscreen \
    "$target_dir/debug/examples/gui-screenshots" "$work/out" "$work/config.toml"
cp "$work/out"/*.png docs/screenshots/
ls -l docs/screenshots
