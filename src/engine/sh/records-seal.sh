# Flushes a node's records folder and makes it private again (a user may have loosened it).
# Arguments: DIR
d=$1
chmod 700 "$d" && chmod -R go-rwx "$d" || exit 3
sync -f -- "$d" 2>/dev/null || sync
