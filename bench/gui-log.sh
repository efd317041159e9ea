#!/bin/sh
# The window's log benchmark: 1,000,000 lines through the backend into the log model,
# first with the real window open offscreen, then the backend alone. Prints lines/s,
# peak RSS, the longest event-loop stall, and the ratio to a plain Vec<String> baseline.
# Usage: bench/gui-log.sh [LINES]
set -eu
cd "$(dirname "$0")/.."
cargo build --quiet --release --example gui-log-bench
target_dir=${CARGO_TARGET_DIR:-target}
for mode in window model; do
    "$target_dir/release/examples/gui-log-bench" "$mode" "${1:-1000000}"
done
