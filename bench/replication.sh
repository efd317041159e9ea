#!/usr/bin/env bash
# Benchmark: wbackup's replication of a repository holding several thousand pack files
# when (almost) nothing changed — a run adds one snapshot file — against one plain
# `rsync -a --delete` of the same repository over ssh, alternated in the same run.
# wbackup's figure is its "replicate home" step, timed from the run's --json events,
# plus the listing of the source it uses (taken by the forget step just before).
#
# usage: bench/replication.sh [ROUNDS]      (PACKS=4000; SHARED=path/to/shared/bench)
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${1:-5}
PACKS=${PACKS:-4000}
. bench/lab.sh
L=$OUT/lab
KEEP_LAST=1000 lab "$L" 1 laptop home
REPO=$L/nodes/home/backup/home/restic

wb_run() { "$WB" --config "$L/config.toml" run --no-verify --password-file "$PW" "$@"; }
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
# The replicate step reuses the listing of the source that the forget step took just
# before; that listing is timed here the same way (one command over a shared connection)
# and added to wbackup's figure.
CM=$OUT/cm
ssh -F "$L/ssh_config" -o ControlMaster=yes -o ControlPath="$CM" -fN home
listing() {
  ssh -F "$L/ssh_config" -o ControlPath="$CM" home \
    "sha256sum < '$REPO/config' > /dev/null; find '$REPO' -mindepth 2 -type f -printf 'file %P %s %T@\n' > /dev/null"
}
wbs=(); rss=()
for i in $(seq "$ROUNDS"); do
  w=$(wb_run --json | step_seconds | tail -n 1)
  t0=$(now); listing; t1=$(now); "${RSYNC[@]}"; t2=$(now)
  l=$(calc "$t1 - $t0"); r=$(calc "$t2 - $t1"); w=$(calc "$w + $l")
  wbs+=("$w"); rss+=("$r")
  printf 'round %d: wbackup replicate step + source listing %.3fs (listing %.3fs), rsync -a --delete %.3fs, ratio %.2f\n' "$i" "$w" "$l" "$r" "$(calc "$w / $r")"
done
ssh -F "$L/ssh_config" -o ControlPath="$CM" -O exit home 2>/dev/null || true
mw=$(median "${wbs[@]}"); mr=$(median "${rss[@]}")
printf 'median of %d: wbackup %.3fs, rsync -a --delete %.3fs, ratio %.2f (goal <= 1.0)\n' "$ROUNDS" "$mw" "$mr" "$(calc "$mw / $mr")"
