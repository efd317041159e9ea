# What `wbackup doctor` asks a node: each tool's version or that it is missing, the free
# space (KiB) where its base folder is (or the nearest folder above it that exists), and
# whether the base folder is not writable.
# whether each folder to back up exists. It only reads: nothing is created or changed.
# Arguments: BASE [FOLDER...]
# Prints "restic: VERSION" or "restic: missing", the same for rsync, "free: KIB",
# "unwritable" when BASE exists but cannot be written, and "folder N: found" or
# "folder N: missing" for the Nth FOLDER (counted from 0; the folder itself is never
# printed back).
base=$1
shift
for tool in restic rsync; do
  if command -v "$tool" >/dev/null; then
    case $tool in
      restic) v=$(restic version 2>/dev/null | head -n 1) ;;
      rsync) v=$(rsync --version 2>/dev/null | head -n 1) ;;
    esac
    echo "$tool: ${v:-unknown version}"
  else
    echo "$tool: missing"
  fi
done
d=$base; while [ ! -d "$d" ]; do d=$(dirname -- "$d"); done
df -Pk -- "$d" | awk 'NR==2 {print "free: " $4}'
if [ -d "$base" ] && [ ! -w "$base" ]; then echo "unwritable"; fi
i=0
for f in "$@"; do
  if [ -e "$f" ]; then echo "folder $i: found"; else echo "folder $i: missing"; fi
  i=$((i + 1))
done
