# Sourced by the benchmarks, from the project's root: builds the release binary ($WB,
# unless WB is set),
# makes a scratch folder ($OUT, removed on exit with every sshd started in it unless
# BENCH_KEEP is set) and a password file ($PW), and defines `lab`: simulated nodes on
# 127.0.0.1 (one sshd per remote node, own port and host key, a `restic` shim first on
# each node's PATH that counts invocations), test data from shared/bench/mkdata.sh, and
# a wbackup config for them. SHARED names the folder holding mkdata.sh.
SHARED=${SHARED:-$(cd .. && pwd)/shared/bench}
[ -f "$SHARED/mkdata.sh" ] || { echo "no mkdata.sh in $SHARED (set SHARED=)" >&2; exit 2; }
# WB may name another build (a network-bound benchmark does not need the release one).
if [ -z "${WB:-}" ]; then
  cargo build --release --quiet
  WB=$PWD/target/release/wbackup
fi
OUT=$(mktemp -d /tmp/wb-bench-XXXX)
trap 'for p in "$OUT"/*/sshd_*.pid; do [ -f "$p" ] && kill "$(cat "$p")" 2>/dev/null; done; [ -n "${BENCH_KEEP:-}" ] || rm -rf "$OUT"' EXIT
PW=$OUT/pw; echo "bench password" > "$PW"; chmod 600 "$PW"
mkdir -p /run/sshd
PORT=$(( 23000 + RANDOM % 2000 ))

lab() {  # lab DIR MB NODE...: the first node is local (the orchestrator), the others get an sshd
  local L=$1 mb=$2; shift 2; local nodes=("$@"); mkdir -p "$L"
  ssh-keygen -q -t ed25519 -N '' -f "$L/id"; cp "$L/id.pub" "$L/authorized_keys"; : > "$L/ssh_config"
  for n in "${nodes[@]}"; do
    mkdir -p "$L/nodes/$n/data" "$L/nodes/$n/backup" "$L/shim/$n"
    printf '#!/bin/sh\necho x >> %s\nexec /usr/bin/restic "$@"\n' "$L/restic-calls-$n" > "$L/shim/$n/restic"
    chmod +x "$L/shim/$n/restic"; : > "$L/restic-calls-$n"
    bash "$SHARED/mkdata.sh" "$L/nodes/$n/data" "$mb" $((mb * 10)) 7
    [ "$n" = "${nodes[0]}" ] && continue
    PORT=$((PORT+1))
    ssh-keygen -q -t ed25519 -N '' -f "$L/hostkey_$n"
    cat > "$L/sshd_$n.conf" <<CONF
Port $PORT
ListenAddress 127.0.0.1
HostKey $L/hostkey_$n
PidFile $L/sshd_$n.pid
AuthorizedKeysFile $L/authorized_keys
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin prohibit-password
StrictModes no
UsePAM no
LogLevel VERBOSE
MaxStartups 100
MaxSessions 100
SetEnv PATH=$L/shim/$n:/usr/local/bin:/usr/bin:/bin
CONF
    /usr/sbin/sshd -f "$L/sshd_$n.conf" -E "$L/sshd_$n.log"
    printf 'Host %s\n  HostName 127.0.0.1\n  Port %s\n' $n $PORT >> "$L/ssh_config"
  done
  cat >> "$L/ssh_config" <<CONF
Host *
  IdentityFile $L/id
  IdentitiesOnly yes
  UserKnownHostsFile $L/known_hosts
  StrictHostKeyChecking accept-new
  BatchMode yes
CONF
  { printf 'orchestrator = "%s"\n[ssh]\nconfig_file = "%s"\n[retention]\nkeep_last = %s\nkeep_daily = 7\n' "${nodes[0]}" "$L/ssh_config" "${KEEP_LAST:-3}"
    for n in "${nodes[@]}"; do
      printf '[nodes.%s]\nbase_dir = "%s"\npaths = ["%s"]\n' "$n" "$L/nodes/$n/backup" "$L/nodes/$n/data"
      [ "$n" = "${nodes[0]}" ] || printf 'addresses = ["%s"]\n' "$n"
    done; } > "$L/config.toml"
}

now() { date +%s.%N; }
calc() { awk "BEGIN { print $1 }"; }
median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
