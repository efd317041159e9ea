# A restore drill on the node that holds a copy: restic restores some files of one
# snapshot into a fresh scratch folder, they are hashed there, and the folder is removed
# whatever happens (no file content crosses the network).
# Arguments: DRILL_BASE RESTIC_ARGV...   (the restore command; --target is added here)
# stdin: the repository password, for restic only.
# Prints sha256sum's lines for every file restored, paths relative to the snapshot's root
# ("./home/a/x"); restic's own words go to stderr.
base=$1; shift
mkdir -p -- "$base" && chmod 700 -- "$base" && d=$(mktemp -d "$base/drill.XXXXXX") || exit 3
trap 'cd / && rm -rf -- "$d"' EXIT
trap 'exit 130' INT TERM HUP
"$@" --target "$d/t" >&2 || exit $?
cd "$d/t" 2>/dev/null || exit 0
find . -type f -print0 | xargs -0 -r sha256sum --
