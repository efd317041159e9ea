#!/usr/bin/env bash
# Benchmark: a no-change 3-node cycle of `wbackup run` against the original tool's work
# as plain commands (shared/bench/seed-baseline.sh), alternated in the same run, on two
# identical labs of real sshd nodes on 127.0.0.1. Also counts, per run, the ssh logins
# each remote node's sshd accepted and the restic processes each node started (a
# `restic` shim first on every node's PATH, set by sshd's SetEnv).
#
# usage: bench/cycle.sh [ROUNDS]        (SHARED=path/to/shared/bench, default ../shared/bench)
# prints: seconds per cycle for both, their ratio (wbackup / seed, median of ROUNDS), and
# the counts. Needs: restic, rsync, sshd, python3 (for the data generator).
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${1:-5}
SHARED=${SHARED:-$(cd .. && pwd)/shared/bench}
[ -f "$SHARED/seed-baseline.sh" ] || { echo "no seed-baseline.sh in $SHARED (set SHARED=)" >&2; exit 2; }
. bench/lab.sh

A=$OUT/seed; B=$OUT/wbackup
lab "$A" 30 laptop home server; lab "$B" 30 laptop home server

count() { wc -l < "$1" | tr -d ' '; }
logins() { grep -c "Accepted publickey" "$1/sshd_$2.log" || true; }

run_seed() { PATH=$A/shim/laptop:$PATH bash "$SHARED/seed-baseline.sh" "$A" "$PW" > "$OUT/seed.out" 2>&1; }
run_wb() { PATH=$B/shim/laptop:$PATH "$WB" --config "$B/config.toml" run --no-verify --password-file "$PW" > "$OUT/wb.out" 2>&1; }

t0=$(now); run_seed; t1=$(now); run_wb; t2=$(now)
first_seed=$(calc "$t1 - $t0"); first_wb=$(calc "$t2 - $t1")

seeds=(); wbs=()
for i in $(seq "$ROUNDS"); do
  for L in "$A" "$B"; do for n in laptop home server; do : > "$L/restic-calls-$n"; done; done
  la=$(logins "$A" home); lb=$(logins "$B" home)
  t0=$(now); run_seed || { echo "seed baseline failed:"; cat "$OUT/seed.out"; exit 1; }; t1=$(now)
  run_wb || { echo "wbackup failed:"; cat "$OUT/wb.out"; exit 1; }; t2=$(now)
  seeds+=("$(calc "$t1 - $t0")"); wbs+=("$(calc "$t2 - $t1")")
  ha=$(( $(logins "$A" home) - la )); hb=$(( $(logins "$B" home) - lb ))
  printf 'round %d: seed %.2fs  wbackup %.2fs  ratio %.2f | ssh logins/remote node: seed %d, wbackup %d | restic calls laptop/home/server: seed %s/%s/%s, wbackup %s/%s/%s\n' \
    "$i" "${seeds[-1]}" "${wbs[-1]}" "$(calc "${wbs[-1]} / ${seeds[-1]}")" "$ha" "$hb" \
    "$(count "$A/restic-calls-laptop")" "$(count "$A/restic-calls-home")" "$(count "$A/restic-calls-server")" \
    "$(count "$B/restic-calls-laptop")" "$(count "$B/restic-calls-home")" "$(count "$B/restic-calls-server")"
done
ms=$(median "${seeds[@]}"); mw=$(median "${wbs[@]}")
printf 'first cycle: seed %.2fs, wbackup %.2fs, ratio %.2f\n' "$first_seed" "$first_wb" "$(calc "$first_wb / $first_seed")"
printf 'no-change cycle (median of %d): seed %.2fs, wbackup %.2fs, ratio %.2f (goal <= 0.8)\n' "$ROUNDS" "$ms" "$mw" "$(calc "$mw / $ms")"
