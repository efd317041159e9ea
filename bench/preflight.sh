#!/usr/bin/env bash
# Benchmark: what preflight adds between the click and the first write (issue 12, item 1:
# goal at most 1 s on the 3-node lab, nodes checked side by side).
#
# Each round starts `wbackup run --json` on a 3-node lab of real sshd nodes on 127.0.0.1
# (repositories made by a first cycle) and stamps every event line as it arrives, from the
# moment the process was started (the click). Without preflight, a node's first write
# came right after it was reached (the old prepare made the layout in the same command);
# with it, the first write comes after the last node's checklist (`NodeChecked`: tools,
# repositories and room read, the password tried read-only on every repository), when
# `prepare.sh make` starts on every node at once. So, per round:
#   reached = the click to the last node reached (the run without preflight's first write),
#   checked = the click to the last checklist (the run with it: its first write),
# and their difference, what preflight adds, and their ratio.
#
# usage: bench/preflight.sh [ROUNDS]      (SHARED=path/to/shared/bench)
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${1:-7}
. bench/lab.sh

L=$OUT/lab
lab "$L" 10 laptop home server
"$WB" --config "$L/config.toml" run --no-verify --password-file "$PW" > "$L.first" 2>&1 \
  || { echo "the first cycle failed:"; cat "$L.first"; exit 1; }

stamp() {  # prints "REACHED CHECKED" in seconds from the start of one run
  python3 - "$WB" "$L/config.toml" "$PW" <<'PY'
import json, subprocess, sys, time
wb, config, pw = sys.argv[1:4]
t0 = time.monotonic()
p = subprocess.Popen([wb, "--config", config, "run", "--json", "--no-verify",
                      "--password-file", pw], stdout=subprocess.PIPE, text=True)
reached, checked = {}, {}
for line in p.stdout:
    t = time.monotonic() - t0
    e = json.loads(line)
    if e["event"] == "NodeReached":
        reached[e["node"]] = t
    elif e["event"] == "NodeChecked":
        checked[e["node"]] = t
if p.wait() != 0 or len(reached) != 3 or len(checked) != 3:
    sys.exit(f"run failed or incomplete: reached {reached}, checked {checked}")
print(f"{max(reached.values()):.3f} {max(checked.values()):.3f}")
PY
}

r_t=(); c_t=(); added=()
for i in $(seq "$ROUNDS"); do
  read -r r c < <(stamp)
  r_t+=("$r"); c_t+=("$c"); added+=("$(calc "$c - $r")")
  printf 'round %d: last node reached %.3fs, last checklist (first write) %.3fs: preflight adds %.3fs, ratio %.2f\n' \
    "$i" "$r" "$c" "${added[-1]}" "$(calc "$c / $r")"
done
mr=$(median "${r_t[@]}"); mc=$(median "${c_t[@]}"); ma=$(median "${added[@]}")
printf 'click to first write (median of %d): without preflight %.3fs, with it %.3fs, ratio %.2f; preflight adds %.3fs (goal <= 1 s: %s)\n' \
  "$ROUNDS" "$mr" "$mc" "$(calc "$mc / $mr")" "$ma" "$(awk "BEGIN { print ($ma <= 1.0) ? \"met\" : \"NOT met\" }")"
