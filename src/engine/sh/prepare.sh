# prepare: what a node has and lacks, and its layout, in one command.
# Arguments: REPO MINUTES NPATHS PATH... DIR...
#   REPO     the node's own repository (may not exist)
#   MINUTES  quarantine folders older than this are purged (and a cut-short restore
#            drill's scratch, beside the quarantine, is removed)
#   NPATHS   how many source PATHs follow (their `~` already expanded)
#   DIR...   the layout to create; the first is the quarantine folder
# Prints one fact per line:
#   missing TOOL | repo exists | snapshot ID | no-path INDEX (0-based, of PATH...)
#   readonly | unwritable | mkdir failed | free KB
# What it creates is private to the user (umask 077). Messages are read in English.
export LC_ALL=C
umask 077
repo=$1; minutes=$2; npaths=$3; shift 3
for t in restic rsync; do command -v "$t" >/dev/null 2>&1 || echo "missing $t"; done
[ -f "$repo/config" ] && echo "repo exists" && find -L "$repo/snapshots/" -type f -printf 'snapshot %f\n' 2>/dev/null
i=0
while [ "$i" -lt "$npaths" ]; do
  { [ -e "$1" ] || [ -L "$1" ]; } || echo "no-path $i"
  shift; i=$((i + 1))
done
probe="$1/.wbackup-probe.$$"
if ! err=$(mkdir -p -- "$@" 2>&1); then
  case $err in *"Read-only file system"*) echo readonly ;; *) echo "mkdir failed" ;; esac
elif ! err=$( (: > "$probe") 2>&1); then
  case $err in *"Read-only file system"*) echo readonly ;; *) echo unwritable ;; esac
else
  rm -f -- "$probe"
fi
df -Pk -- "$1" 2>/dev/null | awk 'NR==2 {print "free " $4}'
find "$1" -mindepth 2 -maxdepth 2 -type d -mmin +"$minutes" -exec rm -rf -- {} + 2>/dev/null
# The scratch of a restore drill that was cut short (one run at a time: none is running).
drill="${1%/.quarantine}/.wbackup-drill"
if [ -d "$drill" ] && [ ! -L "$drill" ]; then
  find "$drill" -mindepth 1 -maxdepth 1 -name 'drill.*' -exec rm -rf -- {} + 2>/dev/null
fi
true
