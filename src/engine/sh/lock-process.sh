# Whether the process that holds a restic lock still runs, seen from the node that holds
# the repository: "running" or "gone" when this machine is the lock's host (restic names
# it by `uname -n`), "elsewhere" when it is another machine (nothing can be told here).
# Arguments: HOST PID
if [ "$(uname -n)" != "$1" ]; then
    echo elsewhere
elif kill -0 "$2" 2>/dev/null || [ -d "/proc/$2" ]; then
    echo running
else
    echo gone
fi
