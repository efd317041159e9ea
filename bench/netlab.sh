#!/usr/bin/env bash
# A lab whose links have real speeds (issue 14, item 1): every simulated node in a network
# namespace of its own, joined to one bridge by a veth pair, each direction of each link
# held to a rate with tc (a token bucket, `tbf`), an sshd inside every node but the
# orchestrator, and a wbackup configuration for them. wbackup itself runs inside the
# orchestrator's namespace, so what it sends and receives crosses the orchestrator's
# shaped link, as it would on a laptop on Wi-Fi.
#
# usage:
#   bench/netlab.sh up LAB [NODE:DOWN/UP[:MS] ...]
#                                               make the lab in folder LAB (default nodes
#                                               laptop:50/20:30 home:100/20:10
#                                               server:1000/1000:20: Mbit/s down and up, ms
#                                               of delay each way; the first node is the
#                                               orchestrator)
#   bench/netlab.sh run LAB CMD ARGS...         run a command in the orchestrator's namespace
#                                               (e.g. `wbackup --config LAB/config.toml run`)
#   bench/netlab.sh bytes LAB NODE              bytes sent and received on NODE's link so far
#   bench/netlab.sh down LAB                    stop the sshds, delete the namespaces and bridge
#
# Only addresses inside the lab's own subnet (10.213.N.0/24, N from the lab's id) and its
# own namespaces are used. `down` is safe to run twice and after a failed `up`; `up` tears
# down what it made when it fails half-way.
#
# Delay needs the `netem` qdisc. Where the kernel has it, each direction gets its rate and
# delay from netem; where it does not (this project's machines: "Specified qdisc kind is
# unknown"), the rate comes from a token bucket (`tbf`) and the links have no delay:
# `up` says which.
set -Eeuo pipefail

die() { echo "netlab: $*" >&2; exit 2; }

lab_id() { # a short id for the lab's namespace and interface names (IFNAMSIZ is 15)
    printf '%s' "$(cd "$1" && pwd)" | sha256sum | cut -c1-5
}

# Names of the lab's parts.
ns() { echo "wb$ID-$1"; }
host_if() { echo "wb$ID$2"; } # the bridge's end of node index $2's veth

down() {
    local L=$1
    [ -f "$L/netlab.id" ] || return 0
    ID=$(cat "$L/netlab.id")
    for p in "$L"/sshd_*.pid; do
        [ -f "$p" ] && kill "$(cat "$p")" 2>/dev/null || true
    done
    if [ -f "$L/netlab.nodes" ]; then
        while read -r n _; do
            ip netns del "$(ns "$n")" 2>/dev/null || true
        done < "$L/netlab.nodes"
    fi
    ip link del "wb${ID}br" 2>/dev/null || true
    rm -f "$L/netlab.id"
}

has_netem() { # whether this kernel has the netem qdisc (tried on a throwaway veth)
    local probe="wbnetem$$"
    ip link add "$probe" type veth peer name "${probe}p" || return 1
    local ok=1
    tc qdisc add dev "$probe" root netem delay 1ms 2>/dev/null && ok=0
    ip link del "$probe"
    return $ok
}

shape() { # shape NS IFACE MBIT MS: egress of IFACE (in namespace NS, "" for the root one)
    local n=$1 dev=$2 mbit=$3 ms=$4
    local in=()
    [ -n "$n" ] && in=(ip netns exec "$n")
    if [ "$NETEM" = yes ]; then
        "${in[@]}" tc qdisc replace dev "$dev" root netem delay "${ms}ms" rate "${mbit}mbit" limit 10000
        return
    fi
    # burst: at least one full-size packet and 10 ms worth of the rate.
    local burst=$(( mbit * 1000000 / 8 / 100 ))
    [ "$burst" -lt 15000 ] && burst=15000
    "${in[@]}" tc qdisc replace dev "$dev" root tbf rate "${mbit}mbit" burst "$burst" latency 200ms
}

up() {
    local L=$1; shift
    [ "$(id -u)" = 0 ] || die "network namespaces need root"
    command -v ip >/dev/null && command -v tc >/dev/null || die "ip and tc are needed (apt install iproute2)"
    local specs=("$@")
    [ ${#specs[@]} -gt 0 ] || specs=(laptop:50/20:30 home:100/20:10 server:1000/1000:20)
    NETEM=no
    has_netem && NETEM=yes
    mkdir -p "$L" /run/sshd
    L=$(cd "$L" && pwd)
    [ -f "$L/netlab.id" ] && die "$L holds a lab already: bench/netlab.sh down $L first"
    ID=$(lab_id "$L")
    echo "$ID" > "$L/netlab.id"
    trap 'echo "netlab: up failed, tearing down" >&2; down "$L"' ERR
    local subnet=$(( 16#${ID:0:2} ))
    : > "$L/netlab.nodes"
    ip link add "wb${ID}br" type bridge
    ip link set "wb${ID}br" up
    [ -f "$L/id" ] || ssh-keygen -q -t ed25519 -N '' -f "$L/id"
    cp "$L/id.pub" "$L/authorized_keys"
    : > "$L/ssh_config"
    local i=0 first=""
    for spec in "${specs[@]}"; do
        [[ $spec =~ ^([a-z][a-z0-9-]*):([0-9]+)/([0-9]+)(:([0-9]+))?$ ]] \
            || die "$spec: NODE:DOWN/UP[:MS] (a lower-case name, Mbit/s, ms)"
        local n=${BASH_REMATCH[1]} down_mbit=${BASH_REMATCH[2]} up_mbit=${BASH_REMATCH[3]}
        local ms=${BASH_REMATCH[5]:-0}
        i=$((i + 1))
        local addr="10.213.$subnet.$i" hif
        hif=$(host_if "$n" "$i")
        ip netns add "$(ns "$n")"
        echo "$n $addr $down_mbit $up_mbit $ms $hif" >> "$L/netlab.nodes"
        ip link add "$hif" type veth peer name eth0 netns "$(ns "$n")"
        ip link set "$hif" master "wb${ID}br" up
        ip netns exec "$(ns "$n")" ip link set lo up
        ip netns exec "$(ns "$n")" ip addr add "$addr/24" dev eth0
        ip netns exec "$(ns "$n")" ip link set eth0 up
        # What leaves the bridge's end reaches the node: its download; what leaves eth0
        # inside the namespace is its upload.
        shape "" "$hif" "$down_mbit" "$ms"
        shape "$(ns "$n")" eth0 "$up_mbit" "$ms"
        mkdir -p "$L/nodes/$n/data" "$L/nodes/$n/backup"
        if [ -z "$first" ]; then
            first=$n
            continue
        fi
        [ -f "$L/hostkey_$n" ] || ssh-keygen -q -t ed25519 -N '' -f "$L/hostkey_$n"
        cat > "$L/sshd_$n.conf" <<CONF
Port 22
ListenAddress $addr
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
CONF
        ip netns exec "$(ns "$n")" /usr/sbin/sshd -f "$L/sshd_$n.conf" -E "$L/sshd_$n.log"
        printf 'Host %s\n  HostName %s\n' "$n" "$addr" >> "$L/ssh_config"
    done
    cat >> "$L/ssh_config" <<CONF
Host *
  User $(id -un)
  IdentityFile $L/id
  IdentitiesOnly yes
  UserKnownHostsFile $L/known_hosts
  StrictHostKeyChecking accept-new
  BatchMode yes
CONF
    {
        printf 'orchestrator = "%s"\n[ssh]\nconfig_file = "%s"\n' "$first" "$L/ssh_config"
        while read -r n _; do
            printf '[nodes.%s]\nbase_dir = "%s"\npaths = ["%s"]\n' "$n" "$L/nodes/$n/backup" "$L/nodes/$n/data"
            [ "$n" = "$first" ] || printf 'addresses = ["%s"]\n' "$n"
        done < "$L/netlab.nodes"
    } > "$L/config.toml"
    trap - ERR
    echo "netlab up in $L (namespaces wb$ID-*, subnet 10.213.$subnet.0/24)"
    [ "$NETEM" = yes ] || echo "  no delay on any link: this kernel has no netem qdisc (rates only, by tbf)"
    while read -r n addr d u ms _; do
        [ "$NETEM" = yes ] || ms=0
        echo "  $n $addr: down $d Mbit/s, up $u Mbit/s, $ms ms each way"
    done < "$L/netlab.nodes"
    echo "try: bench/netlab.sh run $L wbackup --config $L/config.toml run"
}

run() {
    local L=$1; shift
    [ -f "$L/netlab.id" ] || die "no lab in $L"
    ID=$(cat "$L/netlab.id")
    local first
    first=$(head -n1 "$L/netlab.nodes" | cut -d' ' -f1)
    exec ip netns exec "$(ns "$first")" "$@"
}

bytes() { # prints "SENT RECEIVED" for NODE's link, as the node's eth0 counts them
    local L=$1 n=$2
    ID=$(cat "$L/netlab.id")
    ip netns exec "$(ns "$n")" cat /sys/class/net/eth0/statistics/tx_bytes /sys/class/net/eth0/statistics/rx_bytes | paste -sd' '
}

[ $# -ge 2 ] || die "usage: bench/netlab.sh up|run|bytes|down LAB ..."
cmd=$1; shift
case $cmd in
    up) up "$@" ;;
    run) run "$@" ;;
    bytes) bytes "$@" ;;
    down) down "$1" ;;
    *) die "unknown command $cmd" ;;
esac
