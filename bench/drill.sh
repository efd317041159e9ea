#!/usr/bin/env bash
# Benchmark: the restore drill of `wbackup verify` against a plain `restic restore` of the
# same files on the same node, alternated in the same run; then the time a due
# verification adds to a run (`run --verify` against `run --no-verify`, alternated).
#
# With [verify] files and max_bytes above the snapshot's size, a drill restores the whole
# latest snapshot, so both sides restore exactly the same files from home's copy of
# laptop's repository, on home. wbackup's figures: the proof's drill seconds (restic
# restore into a scratch folder plus sha256 of every file there: what the issue's goal of
# 1.3 is about) and the whole `wbackup verify` of that copy (connecting, listing the
# snapshot, comparing with the owner's live files, the rotating data read). The baseline:
# `restic restore latest` into a fresh folder on home, in one ssh command.
#
# usage: bench/drill.sh [ROUNDS] [MB]     (defaults 3 and 40; SHARED=path/to/shared/bench)
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${1:-3}
MB=${2:-40}
. bench/lab.sh
L=$OUT/lab
lab "$L" "$MB" laptop home
printf '[verify]\nfiles = 1000000\nmax_bytes = "100GiB"\n' >> "$L/config.toml"
wb() { "$WB" --config "$L/config.toml" "$@" --password-file "$PW"; }
wb run --no-verify > /dev/null
COPY=$L/nodes/home/backup/laptop/restic
plain() {
  ssh -F "$L/ssh_config" home "d=\$(mktemp -d '$L/nodes/home/backup/plain.XXXXXX') && restic -r '$COPY' --no-lock --password-file '$PW' restore latest --target \"\$d\" > /dev/null && rm -rf \"\$d\""
}
drill_seconds() {
  python3 -c 'import json, sys; p = json.load(sys.stdin)[0]; assert p["proven"], p; print(p["seconds"])'
}
echo "snapshot: $(find "$L/nodes/laptop/data" -type f | wc -l) files, $(du -sm "$L/nodes/laptop/data" | cut -f1) MB"
plains=(); drills=(); verifies=()
for _ in $(seq "$ROUNDS"); do
  t0=$(now); plain; t1=$(now)
  plains+=("$(calc "$t1 - $t0")")
  t0=$(now); d=$(wb verify --node home --repo laptop --json | drill_seconds); t1=$(now)
  drills+=("$d"); verifies+=("$(calc "$t1 - $t0")")
done
p=$(median "${plains[@]}"); d=$(median "${drills[@]}"); v=$(median "${verifies[@]}")
printf 'plain restic restore on home:      %6.2fs   (median of %s)\n' "$p" "$ROUNDS"
printf 'drill (restore + sha256 on home):  %6.2fs   ratio %.2f\n' "$d" "$(calc "$d / $p")"
printf 'whole verify of that copy:         %6.2fs   ratio %.2f\n' "$v" "$(calc "$v / $p")"

without=(); with=()
for _ in $(seq "$ROUNDS"); do
  t0=$(now); wb run --no-verify > /dev/null; t1=$(now)
  without+=("$(calc "$t1 - $t0")")
  t0=$(now); wb run --verify > /dev/null; t1=$(now)
  with+=("$(calc "$t1 - $t0")")
done
a=$(median "${without[@]}"); b=$(median "${with[@]}")
printf 'run --no-verify:                   %6.2fs\n' "$a"
printf 'run --verify (4 copies proven):    %6.2fs   ratio %.2f, verification adds %.2fs\n' "$b" "$(calc "$b / $a")" "$(calc "$b - $a")"
