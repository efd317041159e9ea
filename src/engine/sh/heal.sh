# Replaces damaged files of a restic repository with sound ones carried into STAGE.
# Arguments: STAGE REPO QUARANTINE
# stdin: the names to replace, one per line as restic names them.
# Each staged file's SHA-256 must equal its name ("corrupt NAME SHA" otherwise: that
# file is not installed and the damaged one stays, status 4). Every sound one is flushed,
# then for each name the damaged file moves into QUARANTINE (kept, same relative path)
# and the sound one takes its place by one rename; "healed NAME" each ("unkept NAME" first
# when the damaged file could not be moved: it is then only replaced). The staging folder is
# removed at the end, whatever happens. "refused WHY" (status 6): nothing done.
stage=$1; repo=$2; q=$3
pattern='(keys|index|snapshots)/[0-9a-f]{64}|data/[0-9a-f]{2}/[0-9a-f]{64}'
flush() { sync -f -- "$1" 2>/dev/null || sync; }
w=$(mktemp -d) || exit 3
trap 'rm -rf -- "$w"; cd / && rm -rf -- "$stage"' EXIT
cat > "$w/names" || exit 3
odd=$(grep -Evx "$pattern" "$w/names" | head -n 1)
if [ -n "$odd" ]; then echo "refused a name restic never writes: $odd"; exit 6; fi
if [ -L "$stage" ]; then echo "refused $stage is a symbolic link"; exit 6; fi
cd -- "$stage" || exit 3
status=0
while IFS= read -r f; do
  if [ -L "$f" ] || [ ! -f "$f" ]; then echo "corrupt $f missing"; status=4; continue; fi
  got=$(sha256sum < "$f" | cut -c1-64)
  n=${f##*/}
  if [ "$got" != "$n" ]; then echo "corrupt $f $got"; status=4; continue; fi
  flush "$f"
  d=${f%/*}
  mkdir -p -- "$q/$d" "$repo/$d" || exit 5
  if [ -e "$repo/$f" ] || [ -L "$repo/$f" ]; then
    # A second name in the quarantine, so that the repository never lacks the file: the
    # rename below replaces it at once. Across disks, moved (a copy, which an unreadable
    # file defeats: then it is only replaced).
    ln -f -- "$repo/$f" "$q/$f" 2>/dev/null || mv -f -- "$repo/$f" "$q/$f" 2>/dev/null ||
      echo "unkept $f"
  fi
  mv -f -- "$f" "$repo/$f" || exit 5
  flush "$repo/$d"
  echo "healed $f"
done < "$w/names"
exit $status
