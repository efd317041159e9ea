#!/usr/bin/env bash
# Benchmark (issue 13): copies in a bucket against one plain `rclone sync`. A 3-node lab
# of bench/lab.sh (MB of data per node; laptop is the orchestrator and the uploader) and
# `rclone serve s3` on 127.0.0.1 (a real S3 API over a folder). A first run without the
# bucket brings every node's copies up to date; then, with the bucket added:
#   - first upload: a `wbackup run` whose replication uploads the three repositories;
#   - no-change pass: the next `wbackup run` (no data changed: each repository gains the
#     run's snapshot and nothing else);
# each timed as the sum of the run's rclone calls (the bucket's share; the run's whole
# replication, SSH hops of its new snapshots included, is printed beside it), against
# `rclone sync` of the same three repository folders from laptop to another prefix of the
# same server, right after each
# (the second sync carries the same new snapshots). Requests per pass are counted in the
# server's log (`serve s3 -vv` logs one line per S3 request: "serve s3: GET OBJECT ...").
#
# BWLIMIT=2.5M gives wbackup (`[rclone] bwlimit`) and the plain sync (`--bwlimit`) the
# same uplink, for example a home line's 20 Mbit/s; without it both run at loopback speed,
# where rclone's fixed costs per call are all there is to measure.
#
# usage: [BWLIMIT=RATE] bench/bucket.sh [MB]      (default 50; SHARED=path/to/shared/bench)
set -euo pipefail
cd "$(dirname "$0")/.."
MB=${1:-50}
. bench/lab.sh
L=$OUT/lab
lab "$L" "$MB" laptop home office >/dev/null
"$WB" --config "$L/config.toml" run --no-verify --password-file "$PW" > "$OUT/run0" 2>&1 \
  || { cat "$OUT/run0"; exit 1; }

S3PORT=$(( 26000 + RANDOM % 2000 ))
KEY=wbackupbenchkey; SECRET=wbackupbenchsecret0123
mkdir -p "$OUT/s3/bucket"
rclone serve s3 -vv --config /dev/null --addr "127.0.0.1:$S3PORT" --auth-key "$KEY,$SECRET" \
  "$OUT/s3" 2> "$OUT/serve.log" &
SERVE=$!
trap 'kill $SERVE 2>/dev/null; for p in "$OUT"/*/sshd_*.pid; do [ -f "$p" ] && kill "$(cat "$p")" 2>/dev/null; done; [ -n "${BENCH_KEEP:-}" ] || rm -rf "$OUT"' EXIT
until grep -q "Starting s3 server" "$OUT/serve.log"; do sleep 0.1; done
RC=$OUT/rclone.conf
printf '[lab]\ntype = s3\nprovider = Rclone\nendpoint = http://127.0.0.1:%s\naccess_key_id = %s\nsecret_access_key = %s\n' \
  "$S3PORT" "$KEY" "$SECRET" > "$RC"
BW=()
if [ -n "${BWLIMIT:-}" ]; then BW=(--bwlimit "$BWLIMIT"); fi
printf '[rclone]\nconfig_file = "%s"\n%s[nodes.cloud]\nrclone = "lab:bucket/wb"\n' "$RC" \
  "${BWLIMIT:+bwlimit = \"$BWLIMIT\"
}" >> "$L/config.toml"

# Every rclone call, wbackup's and the plain sync's, goes through this timer: the bucket's
# share of a run is the sum of its rclone calls' times (steps run one at a time), without
# the SSH hops the run also makes.
# The rclone binary itself: a version manager's shim (pyenv's adds 0.14 s to each call)
# would be measured as wbackup's and the sync's cost.
REAL=$( (pyenv which rclone || command -v rclone) 2>/dev/null | head -n 1)
export REAL RCLONE_LOG=$OUT/rclone-calls
mkdir -p "$OUT/shim"
cat > "$OUT/shim/rclone" <<'SHIM'
#!/bin/sh
t0=$(date +%s.%N); "$REAL" "$@"; rc=$?
echo "$t0 $(date +%s.%N)" >> "$RCLONE_LOG"; exit $rc
SHIM
chmod +x "$OUT/shim/rclone"; export PATH=$OUT/shim:$PATH
: > "$RCLONE_LOG"
calls() {  # "seconds processes" of the rclone calls since the last time asked
  awk '{s += $2 - $1; n++} END {printf "%.2f %d\n", s, n}' "$RCLONE_LOG"; : > "$RCLONE_LOG"
}
requests() { grep -cE 'serve s3: [A-Z]{3,}( [A-Z]+)*( |$)' "$OUT/serve.log" || true; }
replication() {  # one run; prints the seconds of its replication
  WB_PATH=$PATH python3 bench/replication-time.py "$WB" --config "$L/config.toml" "$PW"
}
sync_all() {  # rclone sync of the three repositories; prints its seconds
  local t0; t0=$(now)
  for r in laptop home office; do
    rclone --config "$RC" "${BW[@]}" sync "$L/nodes/laptop/backup/$r/restic" "lab:bucket/plain/$r/restic"
  done
  calc "$(now) - $t0"
}

r0=$(requests); whole1=$(replication); read -r first p1 <<< "$(calls)"; r1=$(requests)
sync_all >/dev/null; read -r sfirst q1 <<< "$(calls)"; r2=$(requests)
whole2=$(replication); read -r again p2 <<< "$(calls)"; r3=$(requests)
sync_all >/dev/null; read -r sagain q2 <<< "$(calls)"; r4=$(requests)

size=$(du -sb "$L/nodes/laptop/backup"/{laptop,home,office}/restic | awk '{s+=$1} END {print s}')
files=$(find "$L/nodes/laptop/backup"/{laptop,home,office}/restic -type f | wc -l)
diff -r "$OUT/s3/bucket/wb/home/restic" "$L/nodes/laptop/backup/home/restic" >/dev/null \
  || { echo "the bucket's copy of home differs from the source" >&2; exit 1; }
echo "3 repositories: $files files, $((size >> 20)) MiB"
row() {  # label wbackup sync goal requests... processes... whole-replication
  printf '%-15s wbackup %6.2f s   rclone sync %6.2f s   ratio %.2f (goal <= %s)   requests %d vs %d   rclone processes %d vs %d   (the run'"'"'s whole replication, SSH hops included: %.2f s)\n' \
    "$1" "$2" "$3" "$(calc "$2 / $3")" "$4" "$5" "$6" "$7" "$8" "$9"
}
row "first upload:" "$first" "$sfirst" 1.1 $((r1 - r0)) $((r2 - r1)) "$p1" "$q1" "$whole1"
row "no-change pass:" "$again" "$sagain" 1.5 $((r3 - r2)) $((r4 - r3)) "$p2" "$q2" "$whole2"
