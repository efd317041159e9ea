#!/usr/bin/env bash
# Benchmark (issue 14): what relaying copies through the orchestrator costs on links with
# real speeds. On the lab of bench/netlab.sh (laptop 50/20 Mbit/s, home 100/20, server
# 1000/1000; laptop is the orchestrator), HOME_MB of new data on home and SERVER_MB on
# server, then one `wbackup run`. Measured in the same run:
#   - the run's replication time (its replicate steps, from --json events) and the bytes
#     laptop's link carried during them, against the new data's size;
#   - the baseline: the same new repository files carried straight between the two nodes
#     (rsync from home to server and from server to home, side by side, each over its own
#     link), which is what direct copies with hops side by side would at best cost.
# prints: replication seconds, baseline seconds, their ratio; bytes through laptop's link
# per byte of new data (today about 2: in and out again; the goal of direct copies is 0).
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
head -c $((HOME_MB << 20)) /dev/urandom > "$L/nodes/home/data/new.bin"
head -c $((SERVER_MB << 20)) /dev/urandom > "$L/nodes/server/data/new.bin"

# The repositories' files before the run, to name what the run added.
snap() { (cd "$L/nodes/$1/backup/$1/restic" && find . -type f | sort); }
snap home > "$L.home.before"; snap server > "$L.server.before"

read -r tx0 rx0 < <(bench/netlab.sh bytes "$L" laptop)
# The run, each event stamped as it arrives: replication is from the first replicate
# step's start to the last one's finish.
repl=$(python3 - bench/netlab.sh "$L" "$WB" "$PW" <<'PY'
import json, subprocess, sys, time
netlab, lab, wb, pw = sys.argv[1:5]
p = subprocess.Popen([netlab, "run", lab, wb, "--config", lab + "/config.toml", "run",
                      "--no-verify", "--json", "--password-file", pw],
                     stdout=subprocess.PIPE, text=True)
first = last = None
for line in p.stdout:
    t = time.monotonic()
    e = json.loads(line)
    if e.get("kind") != "replicate":
        continue
    if e["event"] == "StepStarted" and first is None:
        first = t
    elif e["event"] == "StepFinished":
        if e["outcome"]["result"] != "passed":
            sys.exit(f"replication failed: {e}")
        last = t
if p.wait() != 0 or first is None or last is None:
    sys.exit("the run failed")
print(f"{last - first:.2f}")
PY
)
read -r tx1 rx1 < <(bench/netlab.sh bytes "$L" laptop)

# The new files of home's and server's repositories.
snap home | comm -13 "$L.home.before" - > "$L.home.new"
snap server | comm -13 "$L.server.before" - > "$L.server.new"
new_bytes=$(( $( (cd "$L/nodes/home/backup/home/restic" && xargs -d '\n' cat < "$L.home.new") | wc -c) \
  + $( (cd "$L/nodes/server/backup/server/restic" && xargs -d '\n' cat < "$L.server.new") | wc -c) ))
through=$(( (tx1 - tx0) + (rx1 - rx0) ))

# The baseline: the same files straight between home and server, side by side.
ns_of() { echo "wb$(cat "$L/netlab.id")-$1"; }
t0=$(now)
ip netns exec "$(ns_of home)" rsync -a --files-from="$L.home.new" -e "ssh -F $L/ssh_config" \
  "$L/nodes/home/backup/home/restic/" "server:$L/direct-home/" &
ip netns exec "$(ns_of server)" rsync -a --files-from="$L.server.new" -e "ssh -F $L/ssh_config" \
  "$L/nodes/server/backup/server/restic/" "home:$L/direct-server/" &
wait
t1=$(now)
echo "new data: $(calc "$new_bytes / 1048576") MiB; through laptop's link during the run: $(calc "$through / 1048576") MiB ($(calc "$through / $new_bytes") per byte of new data; goal of direct copies: 0)"
base=$(calc "$t1 - $t0")
echo "replication in the run (relayed through laptop): ${repl} s; baseline (the new files straight between home and server, side by side): ${base} s; ratio $(calc "$repl / $base")"
