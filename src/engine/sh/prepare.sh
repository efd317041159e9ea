# prepare: what a node has and lacks, and its layout, in two commands: `check` reads
# and writes nothing, so every node can be checked before anything is written on any
# of them; `make` creates the layout and purges old quarantine folders.
# Arguments: MODE REPO MINUTES NPATHS PATH... DIR...
#   MODE     check | make
#   REPO     the node's own repository, BASE/NODE/restic (may not exist)
#   MINUTES  quarantine folders older than this are purged (and a cut-short restore
#            drill's scratch, beside the quarantine, is removed)
#   NPATHS   how many source PATHs follow (their `~` already expanded)
#   DIR...   the layout to create; the first is the quarantine folder, BASE/.quarantine
# Prints one fact per line:
#   check: missing TOOL | repo exists | snapshot ID | no-path INDEX (0-based, of PATH...)
#          holds OWNER KB (a repository under BASE, its size) | keys OWNER HASH (one
#          sha256 over its config and key files, when all could be read) | source KB
#          (the source paths' size, when REPO does not exist yet) | free KB (where BASE
#          is or will be)
#   make:  readonly | unwritable | mkdir failed | free KB
# What it creates is private to the user (umask 077). Messages are read in English.
export LC_ALL=C
umask 077
mode=$1; repo=$2; minutes=$3; npaths=$4; shift 4
free() {
  p=$1
  while [ ! -e "$p" ] && [ "$p" != / ] && [ -n "$p" ]; do p=$(dirname -- "$p"); done
  df -Pk -- "$p" 2>/dev/null | awk 'NR==2 {print "free " $4}'
}
if [ "$mode" = check ]; then
  for t in restic rsync; do command -v "$t" >/dev/null 2>&1 || echo "missing $t"; done
  [ -f "$repo/config" ] && echo "repo exists" && find -L "$repo/snapshots/" -type f -printf 'snapshot %f\n' 2>/dev/null
  # A first backup reads its source paths whole: their size bounds what it writes
  # (restic compresses and deduplicates). du is given 20 s; past that, no estimate.
  measure=; [ -f "$repo/config" ] || measure=1
  command -v timeout >/dev/null 2>&1 && limit="timeout 20" || limit=
  kb=0
  i=0
  while [ "$i" -lt "$npaths" ]; do
    if [ -e "$1" ] || [ -L "$1" ]; then
      if [ -n "$measure" ]; then
        n=$($limit du -skL -- "$1" 2>/dev/null | awk 'END {print $1}')
        case $n in ''|*[!0-9]*) measure= ;; *) kb=$((kb + n)) ;; esac
      fi
    else
      echo "no-path $i"
    fi
    i=$((i + 1)); shift
  done
  [ -n "$measure" ] && [ "$npaths" -gt 0 ] && echo "source $kb"
  base=${1%/.quarantine}
  for config in "$base"/*/restic/config; do
    owner=${config%/restic/config}
    # A repository reached through a link is not this node's: not counted.
    [ -f "$config" ] && [ ! -L "$owner" ] && [ ! -L "$owner/restic" ] || continue
    owner=${owner##*/}
    dir=${config%/config}
    du -sk -- "$dir" 2>/dev/null | awk -v o="$owner" '{print "holds " o " " $1}'
    # A password opens a repository through its config and key files alone: copies
    # whose files are the same open alike, so one trial of the password serves them all.
    sums=$(cd -- "$dir" && sha256sum -- config keys/* 2>/dev/null) &&
      printf 'keys %s %s\n' "$owner" "$(printf '%s\n' "$sums" | sha256sum | cut -d' ' -f1)"
  done
  free "$base"
  exit 0
fi
[ "$mode" = make ] || { echo "unknown mode $mode" >&2; exit 2; }
i=0
while [ "$i" -lt "$npaths" ]; do shift; i=$((i + 1)); done
probe="$1/.wbackup-probe.$$"
if ! err=$(mkdir -p -- "$@" 2>&1); then
  case $err in *"Read-only file system"*) echo readonly ;; *) echo "mkdir failed" ;; esac
elif ! err=$( (: > "$probe") 2>&1); then
  case $err in *"Read-only file system"*) echo readonly ;; *) echo unwritable ;; esac
else
  rm -f -- "$probe"
fi
free "$1"
find "$1" -mindepth 2 -maxdepth 2 -type d -mmin +"$minutes" -exec rm -rf -- {} + 2>/dev/null
# The scratch of a restore drill that was cut short (one run at a time: none is running).
drill="${1%/.quarantine}/.wbackup-drill"
if [ -d "$drill" ] && [ ! -L "$drill" ]; then
  find "$drill" -mindepth 1 -maxdepth 1 -name 'drill.*' -exec rm -rf -- {} + 2>/dev/null
fi
true
