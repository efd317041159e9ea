# Installs one hop's staged files into a replica, then applies the deletion pass.
# Arguments: STAGE REPO CONFIG_SHA256 QUARANTINE PHASE...   (PHASE...: restic's write order)
# stdin: "+ PATH" for each staged file to install, "- PATH" for each file to move into the
# quarantine; PATH as restic names its files, nothing else is accepted.
# Prints "checked PATH" as each staged file's content is read, "in-place PHASE N" as each
# phase lands, "quarantined PHASE N", "corrupt PATH SHA"
# for a staged file whose content does not match its name (status 4: nothing after its
# phase is installed), "refused WHY" (status 6: nothing done).
# Every staged file's SHA-256 is checked against its name and flushed; then the files move
# under their real names phase by phase (keys before config, so that a replica that has a
# config can always be opened), each phase flushed before the next; then the removed files
# go to the quarantine in the reverse order. The staging folder is emptied at the end:
# leftovers of an interrupted hop are never moved in. The bookkeeping lives in a fresh
# private folder, never in staging, so nothing planted there is written through.
stage=$1; repo=$2; want=$3; q=$4; shift 4
flush() { sync -f -- "$1" 2>/dev/null || sync; }
# move LIST FROM TO: the files LIST names (paths relative to FROM), folder by folder.
move() {
  for d in $(sed 's|/[^/]*$||' "$1" | sort -u); do
    mkdir -p -- "$3/$d" || return 1
    grep "^$d/[0-9a-f]*\$" "$1" | (cd "$2" && xargs -d '\n' -r mv -f -t "$3/$d" --) || return 1
  done
}
w=$(mktemp -d) || exit 3
trap 'rm -rf -- "$w"' EXIT
cat > "$w/list" || exit 3
odd=$(grep -Evx '[+-] (config|(keys|index|snapshots)/[0-9a-f]{64}|data/[0-9a-f]{2}/[0-9a-f]{64})' "$w/list" | head -n 1)
if [ -n "$odd" ]; then echo "refused a name restic never writes: $odd"; exit 6; fi
if [ -L "$stage" ]; then echo "refused $stage is a symbolic link"; exit 6; fi
mkdir -p -- "$stage" "$repo" && cd "$stage" || exit 3
# Only regular files are ever installed: anything else in staging was not put there by us.
find . -mindepth 1 ! -type f ! -type d -delete
: > "$w/good"; : > "$w/bad"
sed -n 's|^+ \([a-z]*/.*\)$|\1|p' "$w/list" > "$w/add"
if [ -s "$w/add" ]; then
  # "checked PATH" as each file is read, so a long check is seen to move.
  { xargs -d '\n' sha256sum -- < "$w/add" || echo failed > "$w/failed"; } |
    while IFS= read -r l; do printf '%s\n' "$l" >> "$w/sums"; echo "checked ${l#*  }"; done
  if [ -e "$w/failed" ]; then exit 3; fi
  awk -v good="$w/good" -v bad="$w/bad" '{ n = $2; sub(/.*\//, "", n); if ($1 == n) print $2 > good; else { print $2 > bad; print "corrupt " $2 " " $1 } }' "$w/sums"
  xargs -d '\n' -r rm -f -- < "$w/bad"
  flush .
fi
for phase in "$@"; do
  if [ "$phase" = config ]; then
    # After the keys: a replica whose config is in place can always be opened.
    grep -qx '+ config' "$w/list" || continue
    got=$(sha256sum < config | cut -c1-64)
    if [ "$got" != "$want" ]; then echo "corrupt config $got"; rm -f config; exit 4; fi
    flush config
    [ -e "$repo/config" ] || mv config "$repo/config" || exit 5
    flush "$repo"
    echo "in-place config 1"
    continue
  fi
  grep "^$phase/" "$w/good" > "$w/now"
  if [ -s "$w/now" ]; then
    move "$w/now" "$stage" "$repo" || exit 5
    flush "$repo"
    echo "in-place $phase $(wc -l < "$w/now")"
  fi
  if grep -q "^$phase/" "$w/bad"; then exit 4; fi
done
back=; for phase in "$@"; do [ "$phase" = config ] || back="$phase $back"; done
for phase in $back; do
  sed -n "s|^- \\($phase/.*\\)\$|\\1|p" "$w/list" | while IFS= read -r f; do
    if [ -e "$repo/$f" ]; then echo "$f"; fi
  done > "$w/now"
  if [ -s "$w/now" ]; then
    move "$w/now" "$repo" "$q" || exit 5
    flush "$repo"
    echo "quarantined $phase $(wc -l < "$w/now")"
  fi
done
cd / && rm -rf -- "$stage"
