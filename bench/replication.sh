#!/usr/bin/env bash
# Benchmark: wbackup's replication of a repository holding several thousand pack files
# when (almost) nothing changed — a run adds one snapshot file — against one plain
# `rsync -a --delete` of the same repository over ssh, alternated in the same run.
# wbackup's figure is its "replicate home" step, timed from the run's --json events.
#
# usage: bench/replication.sh [ROUNDS]      (PACKS=4000; SHARED=path/to/shared/bench)
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${1:-5}
PACKS=${PACKS:-4000}
SHARED=${SHARED:-$(cd .. && pwd)/shared/bench}
[ -f "$SHARED/mkdata.sh" ] || { echo "no mkdata.sh in $SHARED (set SHARED=)" >&2; exit 2; }
cargo build --release --quiet
WB=$PWD/target/release/wbackup
OUT=$(mktemp -d /tmp/wb-rbench-XXXX)
trap 'for p in "$OUT"/*/sshd_*.pid; do [ -f "$p" ] && kill "$(cat "$p")" 2>/dev/null; done; rm -rf "$OUT"' EXIT
. bench/lab.sh
L=$OUT/lab
KEEP_LAST=1000 lab "$L" 1 laptop home
PW=$OUT/pw; echo "bench password" > "$PW"; chmod 600 "$PW"
REPO=$L/nodes/home/backup/home/restic

wb_run() { "$WB" --config "$L/config.toml" run --password-file "$PW" "$@"; }
wb_run > /dev/null
# Several thousand pack-shaped files (named by the SHA-256 of their content, as restic
# names packs; restic check calls them "additional files", which is not an error).
python3 - "$REPO" "$PACKS" <<'PY'
import hashlib, os, random, sys
repo, n = sys.argv[1], int(sys.argv[2])
r = random.Random(5)
for _ in range(n):
    b = r.randbytes(r.randint(2000, 6000))
    h = hashlib.sha256(b).hexdigest()
    os.makedirs(f"{repo}/data/{h[:2]}", exist_ok=True)
    with open(f"{repo}/data/{h[:2]}/{h}", "wb") as f:
        f.write(b)
PY
wb_run > /dev/null
MIRROR=$OUT/mirror
RSYNC=(rsync -a --delete -e "ssh -F $L/ssh_config" "home:$REPO/" "$MIRROR/")
"${RSYNC[@]}"
echo "repository: $(find "$REPO" -type f | wc -l) files"

step_seconds() {  # the replicate step's duration in a run's --json stream
  python3 -c '
import json, sys, time
start = None
for line in sys.stdin:
    e = json.loads(line)
    if e["event"] == "StepStarted" and e["kind"] == "replicate":
        start = time.monotonic()
    elif e["event"] == "StepFinished" and start is not None:
        print("%.3f" % (time.monotonic() - start)); start = None
'
}
wbs=(); rss=()
for i in $(seq "$ROUNDS"); do
  w=$(wb_run --json | step_seconds | tail -n 1)
  t0=$(now); "${RSYNC[@]}"; t1=$(now)
  r=$(calc "$t1 - $t0")
  wbs+=("$w"); rss+=("$r")
  printf 'round %d: wbackup replicate step %.3fs, rsync -a --delete %.3fs, ratio %.2f\n' "$i" "$w" "$r" "$(calc "$w / $r")"
done
mw=$(median "${wbs[@]}"); mr=$(median "${rss[@]}")
printf 'median of %d: wbackup %.3fs, rsync -a --delete %.3fs, ratio %.2f (goal <= 1.0)\n' "$ROUNDS" "$mw" "$mr" "$(calc "$mw / $mr")"
