#!/usr/bin/env bash
# Benchmark (issue 14): a whole cycle on 6 nodes, one step at a time (`--jobs 1`) against
# `--jobs auto` (one step per node at once), on a lab of bench/netlab.sh whose links have
# real speeds: laptop 50/20 Mbit/s (the orchestrator), home 100/20, server 1000/1000,
# nas 1000/100, office 100/40, vps 1000/1000, copies `direct`. Rounds alternate the two
# ways on the same lab; before each run MB megabytes of fresh random data land on every
# node, so both carry the same work: six backups, checks, forgets, and 30 copies. A first
# run (not timed) creates the repositories, and a second (not timed) lets every copy
# measure its link. From there each way plans from the links as its own runs measured them
# (`links.toml` kept aside per way), as for a person who always runs one way: rates
# measured one copy at a time say little about copies that share the nodes' CPUs and
# links, and the other way round.
#
# prints each run's whole-cycle time, and the ratio auto / sequential (median over the
# rounds; issue's goal <= 0.4).
#
# usage: bench/auto.sh [ROUNDS] [MB]      (default 1 round of each, 20 MB per node)
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${1:-1}
MB=${2:-20}
. bench/lab.sh
L=$OUT/netlab
trap 'bench/netlab.sh down "$L" >/dev/null 2>&1 || true; [ -n "${BENCH_KEEP:-}" ] || rm -rf "$OUT"' EXIT
mkdir -p "$L"
NODES=(laptop home server nas office vps)
bench/netlab.sh up "$L" laptop:50/20 home:100/20 server:1000/1000 nas:1000/100 \
  office:100/40 vps:1000/1000 >/dev/null
printf '[replication]\ndirect = true\n' >> "$L/config.toml"
for n in "${NODES[@]}"; do bash "$SHARED/mkdata.sh" "$L/nodes/$n/data" 2 20 1 >/dev/null; done

grow() {  # fresh, incompressible data on every node
  for n in "${NODES[@]}"; do head -c "${MB}M" /dev/urandom > "$L/nodes/$n/data/new-$1.bin"; done
}
LINKS=$L/nodes/laptop/backup/logs/links.toml
cycle() {  # cycle JOBS: one whole run, from JOBS's own links; prints its seconds
  local t0
  [ ! -f "$L/links-$1.toml" ] || cp "$L/links-$1.toml" "$LINKS"
  t0=$(now)
  bench/netlab.sh run "$L" "$WB" --config "$L/config.toml" run --no-verify --jobs "$1" \
    --password-file "$PW" > "$OUT/run.out" 2>&1 || { cat "$OUT/run.out" >&2; exit 1; }
  calc "$(now) - $t0"
  [ ! -f "$LINKS" ] || cp "$LINKS" "$L/links-$1.toml"
}
steps() {  # where the last cycle's time went: per kind, its steps' summed time in their span
  python3 bench/step-times.py "$(ls -t "$L"/nodes/laptop/backup/logs/*.json | head -n 1)"
}
cycle auto >/dev/null                 # the repositories
grow learn; cycle auto >/dev/null     # every link measured
cp "$LINKS" "$L/links-1.toml"         # both ways start from that measurement
seq=(); auto=()
for r in $(seq "$ROUNDS"); do
  grow "s$r"; s=$(cycle 1); seq+=("$s"); SEQ_STEPS=$(steps)
  grow "a$r"; a=$(cycle auto); auto+=("$a")
  echo "round $r: sequential ${s} s, auto ${a} s"
  echo "  sequential: $SEQ_STEPS"
  echo "  auto:       $(steps)"
done
median() { printf '%s\n' "$@" | sort -g | awk '{v[NR]=$1} END {print (NR % 2) ? v[(NR+1)/2] : (v[NR/2] + v[NR/2+1]) / 2}'; }
ms=$(median "${seq[@]}"); ma=$(median "${auto[@]}")
echo "6 nodes, ${MB} MB new on each: sequential ${ms} s, jobs = \"auto\" ${ma} s, ratio $(calc "$ma / $ms") (issue's goal <= 0.4)"
