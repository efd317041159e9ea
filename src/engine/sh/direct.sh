# Run on the node that holds a copy's source (a direct copy, engine/replication/direct.rs):
# pushes the names on stdin to the target's staging folder with rsync over ssh, through
# the agent the orchestrator forwarded for this one connection. The target's host key is
# the one the orchestrator knows, passed in and written to a private temporary file for
# ssh's check (never accepted blindly); the file goes when the script ends.
# Arguments: KNOWN_HOST_LINES RSYNC_SHELL RSYNC_ARGS...
# RSYNC_SHELL is rsync's -e value without its known hosts file, each word quoted for rsync.
set -u
kh=$(mktemp /tmp/wbackup-known.XXXXXXXX) || exit 70
trap 'rm -f "$kh"' EXIT
printf '%s\n' "$1" > "$kh" || exit 70
rshell="$2 -o 'UserKnownHostsFile=$kh'"
shift 2
# rsync in the background so that an interruption reaches it (the shell would otherwise
# wait for it to end); its stdin is the list of names.
exec 3<&0
rsync -e "$rshell" "$@" <&3 &
pid=$!
trap 'kill "$pid" 2>/dev/null' INT TERM HUP
while :; do
    wait "$pid"
    rc=$?
    kill -0 "$pid" 2>/dev/null || break
done
exit "$rc"
