# Reads the files of a restic repository and finds those whose content no longer matches
# their name (restic names every file but the config by its content's SHA-256).
# Arguments: REPO
# stdin: the names to read, one per line as restic names them; nothing: every file.
# Prints "bad NAME SHA" for a file whose content has another hash, "unreadable NAME" for
# one that cannot be read, "missing NAME" for a name asked that is not there, then
# "read N" (how many files were read). Status 6 ("refused WHY") for a name restic never
# writes: nothing is read then. Writes nothing anywhere but a private scratch folder.
repo=$1
pattern='(keys|index|snapshots)/[0-9a-f]{64}|data/[0-9a-f]{2}/[0-9a-f]{64}'
w=$(mktemp -d) || exit 3
trap 'rm -rf -- "$w"' EXIT
cat > "$w/asked" || exit 3
cd -- "$repo" || exit 3
if [ -s "$w/asked" ]; then
  odd=$(grep -Evx "$pattern" "$w/asked" | head -n 1)
  if [ -n "$odd" ]; then echo "refused a name restic never writes: $odd"; exit 6; fi
  sort -u "$w/asked" > "$w/names"
else
  # -L: restic reads through links, and so do we.
  find -L keys index snapshots data -type f 2>/dev/null | grep -Ex "$pattern" | sort > "$w/names"
fi
: > "$w/here"
while IFS= read -r f; do
  if [ -e "$f" ]; then echo "$f" >> "$w/here"; else echo "missing $f"; fi
done < "$w/names"
# sha256sum goes on past a file it cannot read and leaves it out of its output.
xargs -d '\n' -r sha256sum -- < "$w/here" > "$w/sums" 2>/dev/null
awk -v sums="$w/sums" '
  BEGIN { while ((getline l < sums) > 0) { split(l, p, "  "); got[p[2]] = p[1] } }
  { n = $0; sub(/.*\//, "", n)
    if (!($0 in got)) print "unreadable " $0
    else if (got[$0] != n) print "bad " $0 " " got[$0] }
' "$w/here"
echo "read $(wc -l < "$w/here" | tr -d ' ')"
