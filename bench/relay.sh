#!/usr/bin/env bash
# Benchmark (issue 14): relayed copies against direct copies with copies side by side, on
# links with real speeds. On the lab of bench/netlab.sh (laptop 50/20 Mbit/s, home 100/20,
# server 1000/1000; laptop is the orchestrator), two rounds in the same invocation, each
# with HOME_MB of new data on home and SERVER_MB on server and one `wbackup run`:
#   1. relayed (today's default: every copy between home and server goes through laptop's
#      copy), one step at a time;
#   2. `[replication] direct = true` and `jobs = "auto"`, after one such round that
#      measured the links (the plan then chooses each copy's source by them).
# For each: the run's replication time (first replicate step's start to the last one's
# finish, from --json events) and the bytes laptop's link carried during it per byte of
# new data. Also measured in the same invocation, the floor: the round-1 new files carried
# straight between home and server with plain rsync, side by side.
# prints the times, the ratio direct / relayed (issue's goal ≤ 0.5) and bytes through
# laptop's link per byte of new data (relayed about 2; direct about 1, laptop's own
# copies), and of those the bytes laptop sent: copies between the two others when relayed
# (about 1), none of them direct (goal 0).
#
# usage: bench/relay.sh [HOME_MB] [SERVER_MB]     (defaults 200 and 50, as the issue says)
set -euo pipefail
HOME_MB=${1:-200}
SERVER_MB=${2:-50}
. bench/lab.sh
L=$OUT/netlab
trap 'bench/netlab.sh down "$L" >/dev/null 2>&1 || true; rm -rf "$OUT"' EXIT
mkdir -p "$L"
bench/netlab.sh up "$L" >/dev/null
for n in laptop home server; do bash "$SHARED/mkdata.sh" "$L/nodes/$n/data" 2 20 1 >/dev/null; done
wb() { bench/netlab.sh run "$L" "$WB" --config "$L/config.toml" "$@"; }
wb run --no-verify --password-file "$PW" > "$L.first" 2>&1 || { cat "$L.first"; exit 1; }

# The repositories' files, to name what a run added.
snap() { (cd "$L/nodes/$1/backup/$1/restic" && find . -type f | sort); }

# round NAME: new data, one run; sets REPL (seconds) and THROUGH_PER_BYTE.
round() {
  local name=$1
  head -c $((HOME_MB << 20)) /dev/urandom > "$L/nodes/home/data/new-$name.bin"
  head -c $((SERVER_MB << 20)) /dev/urandom > "$L/nodes/server/data/new-$name.bin"
  snap home > "$L.home.before"; snap server > "$L.server.before"
  local tx0 rx0 tx1 rx1
  read -r tx0 rx0 < <(bench/netlab.sh bytes "$L" laptop)
  REPL=$(python3 bench/replication-time.py bench/netlab.sh run "$L" "$WB" --config "$L/config.toml" "$PW")
  read -r tx1 rx1 < <(bench/netlab.sh bytes "$L" laptop)
  snap home | comm -13 "$L.home.before" - > "$L.home.new"
  snap server | comm -13 "$L.server.before" - > "$L.server.new"
  local new_bytes
  new_bytes=$(( $( (cd "$L/nodes/home/backup/home/restic" && xargs -d '\n' cat < "$L.home.new") | wc -c) \
    + $( (cd "$L/nodes/server/backup/server/restic" && xargs -d '\n' cat < "$L.server.new") | wc -c) ))
  THROUGH_PER_BYTE=$(awk "BEGIN { print (($tx1 - $tx0) + ($rx1 - $rx0)) / $new_bytes }")
  # laptop holds no new data: what it sends is copies between the two others (relayed),
  # or listings and protocol (direct).
  SENT_PER_BYTE=$(awk "BEGIN { print ($tx1 - $tx0) / $new_bytes }")
  echo "$name: new data $(calc "$new_bytes / 1048576") MiB; replication ${REPL} s; through laptop's link ${THROUGH_PER_BYTE} bytes per byte of new data, of which sent ${SENT_PER_BYTE}"
}

round relayed
relayed=$REPL

# The floor: round 1's new files straight between home and server, side by side.
ns_of() { echo "wb$(cat "$L/netlab.id")-$1"; }
t0=$(now)
ip netns exec "$(ns_of home)" rsync -a --files-from="$L.home.new" -e "ssh -F $L/ssh_config" \
  "$L/nodes/home/backup/home/restic/" "server:$L/direct-home/" &
ip netns exec "$(ns_of server)" rsync -a --files-from="$L.server.new" -e "ssh -F $L/ssh_config" \
  "$L/nodes/server/backup/server/restic/" "home:$L/direct-server/" &
wait
t1=$(now)
floor=$(calc "$t1 - $t0")
echo "floor: round 1's new files straight between home and server with rsync, side by side: ${floor} s"

# Direct copies, one step per node at once.
{ printf 'jobs = "auto"\n'; sed 's/^\[nodes\.laptop\]$/[replication]\ndirect = true\n&/' "$L/config.toml"; } > "$L/config.new"
mv "$L/config.new" "$L/config.toml"
# A first direct round measures the links (logs/links.toml on laptop); the second is
# planned from them: home's new data leaves home once, server feeds laptop.
round learning
wb plan | grep -o 'copies made in the order [^:]*' || echo "the plan chose no sources from the links"
round direct
echo "ratio direct / relayed: $(calc "$REPL / $relayed") (issue's goal ≤ 0.5); relayed / floor: $(calc "$relayed / $floor"); direct / floor: $(calc "$REPL / $floor")"
