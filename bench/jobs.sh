#!/usr/bin/env bash
# Benchmark: a 3-node cycle in which every node has new data to back up, run one step at
# a time (`wbackup run`, the default) against `wbackup run --jobs 3`, alternated in the
# same run on two identical labs of real sshd nodes on 127.0.0.1. Each round adds MB
# megabytes of fresh random data on every node of both labs before the two runs.
#
# usage: bench/jobs.sh [ROUNDS] [MB]     (SHARED=path/to/shared/bench, default ../shared/bench)
# prints: seconds per cycle for both and their ratio (jobs 3 / sequential, median of
# ROUNDS). Needs: restic, rsync, sshd, python3 (for the data generator).
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${1:-5}
MB=${2:-40}
. bench/lab.sh

A=$OUT/sequential; B=$OUT/parallel
lab "$A" 10 laptop home server; lab "$B" 10 laptop home server

run_in() {  # run_in LAB [ARGS...]
  local L=$1; shift
  "$WB" --config "$L/config.toml" run --no-verify --password-file "$PW" "$@" > "$L.out" 2>&1 \
    || { echo "wbackup failed in $L:"; cat "$L.out"; exit 1; }
}
grow() {  # fresh, incompressible data on every node of both labs
  for L in "$A" "$B"; do for n in laptop home server; do
    head -c "${MB}M" /dev/urandom > "$L/nodes/$n/data/new-$1.bin"
  done; done
}
run_in "$A"; run_in "$B" --jobs 3   # first cycle: repositories created

seq_t=(); par_t=()
for i in $(seq "$ROUNDS"); do
  grow "$i"
  if (( i % 2 )); then
    t0=$(now); run_in "$A"; t1=$(now); run_in "$B" --jobs 3; t2=$(now)
    seq_t+=("$(calc "$t1 - $t0")"); par_t+=("$(calc "$t2 - $t1")")
  else
    t0=$(now); run_in "$B" --jobs 3; t1=$(now); run_in "$A"; t2=$(now)
    par_t+=("$(calc "$t1 - $t0")"); seq_t+=("$(calc "$t2 - $t1")")
  fi
  printf 'round %d (+%d MB per node): sequential %.2fs  --jobs 3 %.2fs  ratio %.2f\n' \
    "$i" "$MB" "${seq_t[-1]}" "${par_t[-1]}" "$(calc "${par_t[-1]} / ${seq_t[-1]}")"
done
ms=$(median "${seq_t[@]}"); mp=$(median "${par_t[@]}")
printf 'cycle with new data (median of %d): sequential %.2fs, --jobs 3 %.2fs, ratio %.2f\n' "$ROUNDS" "$ms" "$mp" "$(calc "$mp / $ms")"
