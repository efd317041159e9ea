# Lists what this node holds of the named repositories: completely, or says it could not.
# Arguments: BASE_DIR REPO...
# Prints "now SECONDS", then for each repository folder that exists: "repo NAME",
# "config SHA256" (or "badconfig" when it cannot be read) and "configmd5 MD5" (a bucket's
# listing shows a config's MD5: the same config needs no download there), one
# "entry TYPE SIZE MTIME PATH" per file, and last "complete NAME" or "incomplete NAME"
# (a folder could not be read, a link loops: find said why on stderr). Symbolic links are
# followed, as restic follows them (people move a repository or its data/ to a bigger disk
# and link it back). A newline in a name shows as '?', so every fact stays on one line.
# A repository folder that is a link to nothing prints "dangling NAME".
# On the way it keeps each repository's staging folder fit to receive into: a link there
# is removed, and so is anything in it that is neither a regular file nor a folder.
base=$1; shift
t=$(mktemp) || exit 3
trap 'rm -f -- "$t"' EXIT
echo "now $(date +%s)"
for r in "$@"; do
  d="$base/$r/restic"
  s="$base/.wbackup-incoming/$r"
  if [ -L "$s" ] || { [ -e "$s" ] && [ ! -d "$s" ]; }; then rm -f -- "$s"; fi
  if [ -d "$s" ]; then find "$s" -mindepth 1 ! -type f ! -type d -delete; fi
  if [ ! -e "$d" ]; then
    if [ -L "$d" ]; then echo "dangling $r"; fi
    continue
  fi
  echo "repo $r"
  if [ -e "$d/config" ] || [ -L "$d/config" ]; then
    if sum=$(sha256sum < "$d/config"); then echo "config ${sum%% *}"; else echo "badconfig"; fi
    if sum=$(md5sum < "$d/config"); then echo "configmd5 ${sum%% *}"; fi
  fi
  if find -L "$d/" -mindepth 1 ! -type d -printf '%y %s %T@ %P\0' > "$t"; then
    tr '\n\0' '?\n' < "$t" | sed 's/^/entry /'
    echo "complete $r"
  else
    echo "incomplete $r"
  fi
done
